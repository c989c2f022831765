//! Where a restart begins, from the progress rows a sink saved in earlier commits.

use std::collections::HashMap;

use super::progress::{PartitionKey, Resume};

/// What a pipeline committed before: where a restart begins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restart {
    /// Every window ending below this was committed.
    pub committed_below: u64,
    pub partitions: HashMap<PartitionKey, Resume>,
}

/// One saved progress row, as a sink stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Where one input partition resumes.
    Partition {
        key: PartitionKey,
        resume: Resume,
        /// Input splits of the run that saved it (a file's partitions are byte ranges of it).
        splits: usize,
    },
    /// The frontier one process of the cluster has committed.
    Process {
        process: usize,
        committed_below: u64,
    },
}

/// A restart that cannot continue what was saved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("pipeline {pipeline:?} was committed with {saved} input splits (workers), this run has {now}; run with -w {saved}, or pass --restart to start over")]
pub struct SplitsChanged {
    pub pipeline: String,
    pub saved: usize,
    pub now: usize,
}

impl Restart {
    /// The restart `saved` describes for a run of `processes` processes and `splits` input
    /// splits; `None` when nothing was saved.
    ///
    /// The committed frontier is the lowest over the processes: a process without a row has
    /// committed nothing, so the whole cluster starts over from its windows.
    pub fn from_saved(
        pipeline: &str,
        saved: impl IntoIterator<Item = Saved>,
        processes: usize,
        splits: usize,
    ) -> Result<Option<Restart>, SplitsChanged> {
        let mut restart = Restart::default();
        let mut committed: Option<u64> = None;
        let mut process_rows = 0usize;
        let mut any = false;
        for row in saved {
            any = true;
            match row {
                Saved::Process {
                    committed_below, ..
                } => {
                    committed = Some(committed.map_or(committed_below, |c| c.min(committed_below)));
                    process_rows += 1;
                }
                Saved::Partition {
                    key,
                    resume,
                    splits: saved_splits,
                } => {
                    // A file's partitions are byte ranges per worker; a Kafka partition is itself.
                    if key.0.starts_with("file:") && saved_splits != splits {
                        return Err(SplitsChanged {
                            pipeline: pipeline.to_string(),
                            saved: saved_splits,
                            now: splits,
                        });
                    }
                    restart.partitions.insert(key, resume);
                }
            }
        }
        if !any {
            return Ok(None);
        }
        restart.committed_below = if process_rows < processes.max(1) {
            0
        } else {
            committed.unwrap_or(0)
        };
        Ok(Some(restart))
    }

    /// Where partition `index` of `source` resumes, if it saved progress.
    pub fn resume(&self, source: &str, index: usize) -> Option<Resume> {
        self.partitions.get(&(source.to_string(), index)).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTime;

    fn partition(source: &str, index: usize, offset: u64, splits: usize) -> Saved {
        Saved::Partition {
            key: (source.into(), index),
            resume: Resume {
                offset,
                max_seen: Some(EventTime(offset * 10)),
            },
            splits,
        }
    }

    #[test]
    fn nothing_saved_is_a_fresh_start() {
        assert_eq!(Restart::from_saved("p", [], 1, 2), Ok(None));
    }

    #[test]
    fn the_cluster_resumes_from_its_slowest_process() {
        let saved = [
            partition("file:/a", 0, 100, 4),
            partition("kafka://b/t", 3, 7, 4),
            Saved::Process {
                process: 0,
                committed_below: 9_000,
            },
            Saved::Process {
                process: 1,
                committed_below: 5_000,
            },
        ];
        let r = Restart::from_saved("p", saved, 2, 4)
            .expect("same splits")
            .expect("saved");
        assert_eq!(r.committed_below, 5_000);
        assert_eq!(r.resume("file:/a", 0).map(|r| r.offset), Some(100));
        assert_eq!(r.resume("kafka://b/t", 3).map(|r| r.offset), Some(7));
        assert_eq!(r.resume("kafka://b/t", 0), None);
    }

    #[test]
    fn a_process_that_never_committed_holds_everyone_at_zero() {
        let saved = [
            partition("file:/a", 0, 100, 4),
            Saved::Process {
                process: 0,
                committed_below: 9_000,
            },
        ];
        let r = Restart::from_saved("p", saved, 2, 4)
            .expect("same splits")
            .expect("saved");
        assert_eq!(r.committed_below, 0);
    }

    #[test]
    fn file_splits_must_not_change_but_kafka_partitions_may() {
        let err = Restart::from_saved("p", [partition("file:/a", 0, 1, 2)], 1, 3)
            .expect_err("a file split of 2 is not one of 3");
        assert_eq!((err.saved, err.now), (2, 3));
        assert!(Restart::from_saved("p", [partition("kafka://b/t", 0, 1, 2)], 1, 3).is_ok());
    }
}
