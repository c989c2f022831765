//! Operator tests in process: the real ingest, exchange and window operators run inside timely,
//! fed by timely inputs or scripted partitions, checked against a naive oracle (as
//! differential-dataflow's reduce reference tests do). Fixed seeds, explicit event times, no
//! sleeps and no timing assertions.

mod harness;
mod ingest;
mod oracle;
mod windows;
