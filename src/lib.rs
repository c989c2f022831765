//! tickflow: event-time moving averages and category means over streams, on timely dataflow.

pub mod event;
pub mod source;
pub mod window;
