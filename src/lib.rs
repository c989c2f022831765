//! tickflow: event-time moving averages and category means over streams, on timely dataflow.

pub mod check;
pub mod cli;
pub mod config;
pub mod dataflow;
pub mod delivery;
pub mod event;
pub mod exact;
pub mod human;
pub mod live;
pub mod metrics;
pub mod produce;
pub mod reference;
pub mod retry;
pub mod row;
pub mod sink;
pub mod source;
pub mod window;
