//! The progress record the Kafka sink keeps per pipeline and process in the progress topic.

use serde::{Deserialize, Serialize};

use crate::delivery::{Resume, Saved};
use crate::event::EventTime;

/// One process's progress as the progress topic keeps it.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ProgressRecord {
    pub pipeline: String,
    pub process: usize,
    /// This process has committed every window ending below this.
    pub committed_below_ms: u64,
    /// Processes of the cluster that wrote it (0: written by an older tickflow).
    #[serde(default)]
    pub processes: usize,
    pub partitions: Vec<PartitionRecord>,
}

impl ProgressRecord {
    /// The saved rows the delivery protocol reads: the process's frontier and its partitions.
    pub(super) fn into_saved(self) -> Vec<Saved> {
        let process = Saved::Process {
            process: self.process,
            processes: self.processes,
            committed_below: self.committed_below_ms,
        };
        std::iter::once(process)
            .chain(self.partitions.into_iter().map(|p| Saved::Partition {
                key: (p.source, p.partition),
                resume: Resume {
                    offset: p.resume_offset,
                    max_seen: p.max_seen_ms.map(EventTime),
                },
                split_bytes: p.split_bytes,
            }))
            .collect()
    }
}

#[derive(Debug, Serialize, Deserialize)]
/// One partition's resume point in a [`ProgressRecord`].
pub(super) struct PartitionRecord {
    pub source: String,
    pub partition: usize,
    pub resume_offset: u64,
    pub max_seen_ms: Option<u64>,
    /// The size its source's splits were cut at (a file's; 0 for Kafka).
    #[serde(default)]
    pub split_bytes: u64,
}
