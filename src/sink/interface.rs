//! The one interface every sink implements, and the fan-out the dataflow writes through.

use crate::delivery::DeliveryStats;
use crate::row::{RejectRow, WindowRow};

use super::SinkError;

/// Where a pipeline's results and rejects go. Workers call it from their own threads, each
/// with its index among the process's workers.
pub trait Sink: Send + Sync {
    /// The sink as the user named it, for messages.
    fn name(&self) -> String;

    /// Writes (or queues) a batch of rows. A sink that [`takes_rows`](Sink::takes_rows) may
    /// move them out of `rows`; any other leaves them there.
    fn rows(&self, worker: usize, rows: &mut Vec<WindowRow>) -> Result<(), SinkError>;

    /// Whether [`rows`](Sink::rows) moves the rows out (a queue to a committer) rather than
    /// reading them (an encoder).
    fn takes_rows(&self) -> bool {
        false
    }

    /// Keeps rejected lines; sinks that keep none ignore them.
    fn rejects(&self, _rejects: &[RejectRow]) -> Result<(), SinkError> {
        Ok(())
    }

    /// Whether the sink keeps rejects (so the dataflow builds them only when someone does).
    fn wants_rejects(&self) -> bool {
        false
    }

    /// Worker `worker` has written every row ending below `below` (`None`: all of its rows).
    fn frontier(&self, _worker: usize, _below: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }

    /// Every window ending below this is durable in the sink; `None` for a sink that keeps
    /// no progress (stdout, files).
    fn durable_below(&self) -> Option<u64> {
        None
    }

    /// Flushes, waits for the last commit, and reports what was committed, if the sink commits.
    /// Called once, after every worker has stopped.
    fn finish(&self) -> Result<Option<DeliveryStats>, SinkError>;
}

/// Every sink of a process, written in turn: sinks that read rows first, the one that takes
/// them last (others that take rows get a copy).
pub struct Sinks {
    sinks: Vec<Box<dyn Sink>>,
    wants_rejects: bool,
}

impl Sinks {
    pub fn new(mut sinks: Vec<Box<dyn Sink>>) -> Sinks {
        sinks.sort_by_key(|s| s.takes_rows());
        let wants_rejects = sinks.iter().any(|s| s.wants_rejects());
        Sinks {
            sinks,
            wants_rejects,
        }
    }

    /// Writes `rows` to every sink, even after one fails (a closed stdout must not stop the
    /// database from getting its rows); the first failure is returned. `rows` may be empty
    /// afterwards.
    pub fn rows(&self, worker: usize, rows: &mut Vec<WindowRow>) -> Result<(), SinkError> {
        if rows.is_empty() {
            return Ok(());
        }
        let last = self.sinks.len().saturating_sub(1);
        first_error(self.sinks.iter().enumerate().map(|(i, sink)| {
            if sink.takes_rows() && i < last {
                sink.rows(worker, &mut rows.clone())
            } else {
                sink.rows(worker, rows)
            }
        }))
    }

    /// Whether any sink keeps rejects.
    pub fn wants_rejects(&self) -> bool {
        self.wants_rejects
    }

    /// Hands `rejects` to every sink that keeps them.
    pub fn rejects(&self, rejects: &[RejectRow]) -> Result<(), SinkError> {
        first_error(
            self.sinks
                .iter()
                .filter(|s| s.wants_rejects())
                .map(|s| s.rejects(rejects)),
        )
    }

    /// Tells every sink that `worker` has written every row ending below `below`.
    pub fn frontier(&self, worker: usize, below: Option<u64>) -> Result<(), SinkError> {
        first_error(self.sinks.iter().map(|s| s.frontier(worker, below)))
    }

    /// Each sink's name and, for one that keeps progress, the frontier it has committed.
    pub fn describe(&self) -> Vec<(String, Option<u64>)> {
        self.sinks
            .iter()
            .map(|s| (s.name(), s.durable_below()))
            .collect()
    }

    /// Every window below this is durable in every sink that keeps progress (`None`: none does).
    pub fn durable_below(&self) -> Option<u64> {
        self.sinks.iter().filter_map(|s| s.durable_below()).min()
    }

    /// Finishes every sink, even after one fails; the first failure other than a closed
    /// stdout is returned, else what the committing sink committed.
    pub fn finish(&self) -> Result<Option<DeliveryStats>, SinkError> {
        let mut stats = None;
        first_error(self.sinks.iter().map(|sink| match sink.finish() {
            Ok(s) => {
                stats = stats.take().or(s);
                Ok(())
            }
            Err(e) if e.is_broken_pipe() => Ok(()),
            Err(e) => Err(e),
        }))?;
        Ok(stats)
    }
}

/// Runs every result through, keeping the first error.
fn first_error(results: impl Iterator<Item = Result<(), SinkError>>) -> Result<(), SinkError> {
    let mut first = Ok(());
    for result in results {
        if let (Ok(()), Err(e)) = (&first, result) {
            first = Err(e);
        }
    }
    first
}
