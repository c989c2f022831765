//! Where a restart begins, from the progress rows a sink saved in earlier commits.
//!
//! Progress is keyed by input partition (a Kafka partition, a file's split), never by worker,
//! so a restart may use any worker count. Each process of a cluster also saves the frontier it
//! committed and the cluster's size; a restart with another number of processes takes the
//! saved cluster's frontier, and the sink rewrites the process rows for the new cluster in one
//! atomic step ([`super::Store::reshape`]) before anything is committed.

use std::collections::HashMap;

use super::progress::{PartitionKey, Resume};

/// What a pipeline committed before: where a restart begins.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restart {
    /// Every window ending below this was committed.
    pub committed_below: u64,
    pub partitions: HashMap<PartitionKey, Resume>,
    /// Per source, the size its splits were cut at (files only).
    pub split_bytes: HashMap<String, u64>,
    /// Processes of the cluster that saved the progress (0: saved by an older tickflow).
    pub saved_processes: usize,
}

/// One saved progress row, as a sink stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Saved {
    /// Where one input partition resumes.
    Partition {
        key: PartitionKey,
        resume: Resume,
        /// The size its source's splits were cut at (see [`super::Point::split_bytes`]).
        split_bytes: u64,
    },
    /// The frontier one process of the cluster has committed.
    Process {
        process: usize,
        /// Processes of its cluster (0: saved by an older tickflow, which kept no count).
        processes: usize,
        committed_below: u64,
    },
}

/// Saved progress that no restart can continue.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProgressConflict {
    #[error("saved progress of pipeline {pipeline:?} mixes clusters of {a} and {b} processes; pass --restart to start over")]
    Clusters {
        pipeline: String,
        a: usize,
        b: usize,
    },
    #[error("saved progress of pipeline {pipeline:?} cuts {source_name} into splits of both {a} and {b} bytes; pass --restart to start over")]
    Splits {
        pipeline: String,
        source_name: String,
        a: u64,
        b: u64,
    },
}

impl Restart {
    /// The restart `saved` describes for a run of `processes` processes; `None` when nothing
    /// was saved.
    ///
    /// The committed frontier is the lowest over the saved cluster's processes: a process
    /// without a row has committed nothing, so the whole cluster starts over from its windows.
    /// A partition saved twice (a sink that keeps progress per process) resumes at the earlier
    /// point: resuming earlier only reads records that the restart skips or needs.
    pub fn from_saved(
        pipeline: &str,
        saved: impl IntoIterator<Item = Saved>,
        processes: usize,
    ) -> Result<Option<Restart>, ProgressConflict> {
        let mut restart = Restart::default();
        let mut frontiers: Vec<(usize, u64)> = Vec::new();
        let mut any = false;
        for row in saved {
            any = true;
            match row {
                Saved::Process {
                    process,
                    processes: of,
                    committed_below,
                } => {
                    match (restart.saved_processes, of) {
                        (_, 0) => {}
                        (0, _) => restart.saved_processes = of,
                        (a, b) if a != b => {
                            let pipeline = pipeline.to_string();
                            return Err(ProgressConflict::Clusters { pipeline, a, b });
                        }
                        _ => {}
                    }
                    frontiers.push((process, committed_below));
                }
                Saved::Partition {
                    key,
                    resume,
                    split_bytes,
                } => {
                    if split_bytes > 0 {
                        let known = restart.split_bytes.entry(key.0.clone());
                        let a = *known.or_insert(split_bytes);
                        if a != split_bytes {
                            return Err(ProgressConflict::Splits {
                                pipeline: pipeline.to_string(),
                                source_name: key.0,
                                a,
                                b: split_bytes,
                            });
                        }
                    }
                    let slot = restart.partitions.entry(key).or_insert(resume);
                    if resume.offset < slot.offset {
                        *slot = resume;
                    }
                }
            }
        }
        if !any {
            return Ok(None);
        }
        // Progress from before clusters saved their size was only ever continued by a cluster
        // of the same size.
        let cluster = match restart.saved_processes {
            0 => processes.max(1),
            n => n,
        };
        let rows = frontiers.iter().filter(|(p, _)| *p < cluster);
        let committed = rows.clone().map(|(_, below)| *below).min();
        restart.committed_below = if rows.count() < cluster {
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

    /// The saved split size of `source`, the furthest resume offset of any of its splits (it
    /// was read at least that far) and how many splits it had (the highest saved index + 1).
    pub fn saved_cut(&self, source: &str) -> Option<(u64, u64, usize)> {
        let split_bytes = *self.split_bytes.get(source)?;
        let saved = self.partitions.iter().filter(|((s, _), _)| s == source);
        let read_to = saved.clone().map(|(_, r)| r.offset).max().unwrap_or(0);
        let splits = saved.map(|((_, i), _)| i + 1).max().unwrap_or(0);
        Some((split_bytes, read_to, splits))
    }

    /// Whether the process rows must be rewritten for a cluster of `processes`.
    pub fn reshapes(&self, processes: usize) -> bool {
        self.saved_processes != 0 && self.saved_processes != processes.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTime;

    fn partition(source: &str, index: usize, offset: u64, split_bytes: u64) -> Saved {
        Saved::Partition {
            key: (source.into(), index),
            resume: Resume {
                offset,
                max_seen: Some(EventTime(offset * 10)),
            },
            split_bytes,
        }
    }

    fn process(process: usize, processes: usize, committed_below: u64) -> Saved {
        Saved::Process {
            process,
            processes,
            committed_below,
        }
    }

    #[test]
    fn nothing_saved_is_a_fresh_start() {
        assert_eq!(Restart::from_saved("p", [], 1), Ok(None));
    }

    #[test]
    fn the_cluster_resumes_from_its_slowest_process() {
        let saved = [
            partition("file:/a", 0, 100, 1 << 16),
            partition("kafka://b/t", 3, 7, 0),
            process(0, 2, 9_000),
            process(1, 2, 5_000),
        ];
        let r = Restart::from_saved("p", saved, 2)
            .expect("consistent")
            .expect("saved");
        assert_eq!(r.committed_below, 5_000);
        assert_eq!(r.resume("file:/a", 0).map(|r| r.offset), Some(100));
        assert_eq!(r.resume("kafka://b/t", 3).map(|r| r.offset), Some(7));
        assert_eq!(r.resume("kafka://b/t", 0), None);
        assert_eq!(r.saved_cut("file:/a"), Some((1 << 16, 100, 1)));
        assert_eq!(r.saved_cut("kafka://b/t"), None);
        assert!(!r.reshapes(2));
    }

    #[test]
    fn a_process_that_never_committed_holds_everyone_at_zero() {
        let saved = [partition("file:/a", 0, 100, 1 << 16), process(0, 2, 9_000)];
        let r = Restart::from_saved("p", saved, 2)
            .expect("consistent")
            .expect("saved");
        assert_eq!(r.committed_below, 0);
    }

    #[test]
    fn another_cluster_size_takes_the_saved_clusters_frontier() {
        let saved = [process(0, 2, 9_000), process(1, 2, 5_000)];
        for now in [1, 3] {
            let r = Restart::from_saved("p", saved.clone(), now)
                .expect("consistent")
                .expect("saved");
            assert_eq!(r.committed_below, 5_000, "{now} processes");
            assert!(r.reshapes(now));
        }
        let one = [process(0, 1, 7_000)];
        let r = Restart::from_saved("p", one, 2)
            .expect("ok")
            .expect("saved");
        assert_eq!(r.committed_below, 7_000, "one process saved all of it");
    }

    #[test]
    fn a_partition_saved_twice_resumes_at_the_earlier_point() {
        let saved = [
            partition("kafka://b/t", 0, 50, 0),
            partition("kafka://b/t", 0, 20, 0),
            process(0, 1, 1_000),
        ];
        let r = Restart::from_saved("p", saved, 1)
            .expect("ok")
            .expect("saved");
        assert_eq!(r.resume("kafka://b/t", 0).map(|r| r.offset), Some(20));
    }

    #[test]
    fn conflicting_progress_is_refused() {
        let clusters = [process(0, 2, 1), process(1, 3, 1)];
        assert!(matches!(
            Restart::from_saved("p", clusters, 1),
            Err(ProgressConflict::Clusters { .. })
        ));
        let cuts = [
            partition("file:/a", 0, 1, 1 << 16),
            partition("file:/a", 1, 1, 1 << 17),
        ];
        assert!(matches!(
            Restart::from_saved("p", cuts, 1),
            Err(ProgressConflict::Splits { .. })
        ));
    }
}
