//! Exactly-once delivery: the protocol between the dataflow's sources and any sink that can
//! make rows and progress durable together. It knows neither the dataflow nor a database.
//!
//! How it works:
//! 1. Sources note, for each input partition, the earliest record that still feeds an open
//!    window, and publish it to a [`ProgressBook`] (`progress.rs`).
//! 2. Workers send rows, rejects and frontier notes to a [`Delivery`] committer
//!    (`committer.rs`), which commits everything below the workers' lowest frontier, with every
//!    partition's resume point, through a [`Store`] (`store.rs`): all of it or nothing.
//! 3. After a durable commit the committed frontier is published (sources prune their
//!    progress below it) and after-commit hooks run (Kafka consumer-group offsets, which are
//!    for lag monitoring only).
//! 4. On restart, the store's saved progress becomes a [`Restart`] (`restart.rs`): sources seek
//!    back to their resume points, skip records that fed only committed windows, and restore
//!    their clocks so lateness is decided as before. Progress is keyed by input partition, so
//!    the restart may use any number of workers and processes.
//!
//! A sink that cannot commit atomically (Kafka without transactions) may still use the
//! committer: it saves progress only after its rows are acknowledged, so a crash repeats rows,
//! and repeats are identical because results are deterministic.

mod committer;
mod place;
mod progress;
mod restart;
mod store;

pub use committer::{
    recover, AfterCommit, CommitterConfig, CommitterStopped, Delivery, DeliveryError,
    DeliveryStats, ToCommitter,
};
pub use place::Place;
pub use progress::{
    all_windows_below, PartitionKey, PartitionProgress, Point, ProgressBook, Resume,
};
pub use restart::{ProgressConflict, Restart, Saved};
pub use store::{Batch, Store, END};
