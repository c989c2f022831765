//! What a sink must offer to take part in exactly-once delivery: an atomic commit of rows,
//! rejects and progress, and a way to read that progress back.

use super::progress::Point;
use super::restart::Saved;
use crate::row::{RejectRow, WindowRow};

/// Committed frontier stored once all input has ended (fits an `int8`).
pub const END: u64 = i64::MAX as u64;

/// One commit: everything below a frontier, and where each partition resumes after it.
#[derive(Debug)]
pub struct Batch<'a> {
    /// Every row ending below `below` not committed before.
    pub rows: &'a [WindowRow],
    /// Every reject read before the resume points below were taken.
    pub rejects: &'a [RejectRow],
    /// Where each input partition resumes once this commit is durable.
    pub points: &'a [Point],
    /// This process has committed every window ending below this ([`END`]: all of them).
    pub below: u64,
}

/// A sink that can make a [`Batch`] durable all at once (PostgreSQL in one transaction, Redis
/// in `MULTI`/`EXEC`). Each method is retried by the committer while
/// [`Store::is_transient`] says its error may pass, so each must be idempotent: a commit whose
/// outcome was lost is simply made again.
pub trait Store: Send {
    /// The sink's own error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// What the sink is, for messages (`postgres://root@127.0.0.1:5432/test`).
    fn describe(&self) -> String;

    /// Progress saved by earlier runs of the pipeline.
    fn saved(&mut self) -> Result<Vec<Saved>, Self::Error>;

    /// Forgets the pipeline's saved progress (`--restart`, or inputs that cannot be replayed).
    fn forget(&mut self) -> Result<(), Self::Error>;

    /// Rewrites the process rows for a cluster of `processes`, in one atomic step: rows of
    /// processes beyond it go, rows saved by a cluster of another size take `committed_below`
    /// (the saved cluster's frontier), rows already saved by a cluster of this size stay (a
    /// process of this run may have committed since). Running it again changes nothing.
    fn reshape(&mut self, processes: usize, committed_below: u64) -> Result<(), Self::Error>;

    /// Makes `batch` durable, all of it or nothing.
    fn commit(&mut self, batch: &Batch<'_>) -> Result<(), Self::Error>;

    /// The lowest frontier the other processes of the cluster have committed (`Some(0)` while
    /// any has committed nothing); `None` when this process is alone.
    fn others_committed(&mut self) -> Result<Option<u64>, Self::Error>;

    /// Whether retrying `error` may succeed (a lost connection, a server restarting).
    fn is_transient(error: &Self::Error) -> bool;
}
