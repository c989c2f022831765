//! The `Sink` side every sink that commits through the delivery protocol shares: rows sent to
//! its committer in bounded messages, rejects and frontier notes passed on, the committed
//! frontier read back, and the last commit waited for at the end.

use std::sync::atomic::Ordering::Relaxed;

use super::{Sink, SinkError};
use crate::delivery::{Delivery, DeliveryStats, ToCommitter};
use crate::row::{RejectRow, WindowRow};

/// Rows per message to the committer: bounded messages over a bounded queue bound the rows
/// waiting for the store.
const ROWS_PER_MESSAGE: usize = 4096;

/// A running committer seen as a sink. Which store it commits into (PostgreSQL, Kafka, Redis)
/// is the committer's business.
pub struct CommittingSink {
    delivery: Delivery,
    name: String,
    /// Whether the store keeps rejects (Kafka does not: they go to `--rejects` or stderr).
    keeps_rejects: bool,
    /// With sources read afresh each run (stdin, the generator): the run's start time, added
    /// to rejects' source names so their positions do not collide with an earlier run's.
    run_id: Option<String>,
}

impl CommittingSink {
    /// `name` is the sink as messages show it (its password redacted).
    pub fn new(
        delivery: Delivery,
        name: String,
        keeps_rejects: bool,
        run_id: Option<String>,
    ) -> CommittingSink {
        CommittingSink {
            delivery,
            name,
            keeps_rejects,
            run_id,
        }
    }

    fn send(&self, message: ToCommitter) -> Result<(), SinkError> {
        self.delivery
            .send(message)
            .map_err(|_| SinkError::Stopped(self.name.clone()))
    }
}

impl Sink for CommittingSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn takes_rows(&self) -> bool {
        true
    }

    fn rows(&self, _worker: usize, rows: &mut Vec<WindowRow>) -> Result<(), SinkError> {
        // Cut from the end, without copying: the committer keys rows by window, not order.
        while !rows.is_empty() {
            let tail = rows.split_off(rows.len().saturating_sub(ROWS_PER_MESSAGE));
            self.send(ToCommitter::Rows(tail))?;
        }
        Ok(())
    }

    fn wants_rejects(&self) -> bool {
        self.keeps_rejects
    }

    fn rejects(&self, rejects: &[RejectRow]) -> Result<(), SinkError> {
        let mut rows = rejects.to_vec();
        if let Some(run) = &self.run_id {
            for r in &mut rows {
                r.source = format!("{}@{run}", r.source);
            }
        }
        self.send(ToCommitter::Rejects(rows))
    }

    fn frontier(&self, worker: usize, below: Option<u64>) -> Result<(), SinkError> {
        self.send(ToCommitter::Frontier { worker, below })
    }

    fn durable_below(&self) -> Option<u64> {
        Some(self.delivery.committed_below().load(Relaxed))
    }

    fn finish(&self) -> Result<Option<DeliveryStats>, SinkError> {
        self.delivery
            .finish()
            .map(Some)
            .map_err(SinkError::Delivery)
    }
}
