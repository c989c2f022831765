//! Where each input partition would resume after a commit: the sources' half of the protocol.
//!
//! How it works:
//! 1. A commit writes every window ending below a frontier `F` (the sink's input frontier).
//! 2. A record still matters after that commit if its pane feeds a window that is not final
//!    at `F`: one ending at or after `F - D` (D the allowed lateness, 0 by default; such a
//!    window may still be corrected, so a restart must rebuild it). For each partition, sources
//!    note, per pane, the earliest such record: its offset and the partition's max event time
//!    just before it (so lateness replays identically).
//! 3. The resume point for `F` is the earliest noted record in a pane that still matters, or,
//!    if none, the partition's read position. Restarting there, and skipping records whose
//!    windows all end below `F`, rebuilds exactly the state the run had.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::event::EventTime;
use crate::window::WindowSpec;

/// A position in a partition and the partition's clock there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resume {
    /// Offset of the first record to read (a byte offset for files).
    pub offset: u64,
    /// The largest event time accepted before that record, if any.
    pub max_seen: Option<EventTime>,
}

/// A partition's name: its source as written, and its index within the source (a Kafka
/// partition, a file's split), never a worker's.
pub type PartitionKey = (String, usize);

/// Where one partition resumes, as a commit saves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    pub key: PartitionKey,
    pub resume: Resume,
    /// The size its source's splits were cut at (a file's; 0 for a Kafka partition): saved so
    /// a restart with any worker count cuts the same splits.
    pub split_bytes: u64,
}

/// One partition's progress, kept by the worker that reads it.
#[derive(Clone, Debug)]
pub struct PartitionProgress {
    /// Pane -> the earliest accepted record in it.
    panes: BTreeMap<u64, Resume>,
    /// The read position and clock after the last record handed out.
    next: Resume,
    /// Where the partition was opened: count windows always resume here.
    start: Resume,
    /// See [`Point::split_bytes`].
    split_bytes: u64,
}

impl PartitionProgress {
    /// A partition's progress from `start`; `split_bytes` as in [`Point::split_bytes`].
    pub fn new(start: Resume, split_bytes: u64) -> Self {
        PartitionProgress {
            panes: BTreeMap::new(),
            next: start,
            start,
            split_bytes,
        }
    }

    /// Notes an accepted record in `pane` at `offset`, read when the clock stood at `max_seen`.
    #[inline]
    pub fn note(&mut self, pane: u64, offset: u64, max_seen: Option<EventTime>) {
        self.panes
            .entry(pane)
            .and_modify(|r| {
                if offset < r.offset {
                    *r = Resume { offset, max_seen };
                }
            })
            .or_insert(Resume { offset, max_seen });
    }

    /// Notes how far the partition has been read.
    pub fn advance(&mut self, next: Resume) {
        self.next = next;
    }

    /// Drops panes whose windows all end below `below` (already committed).
    pub fn prune(&mut self, spec: &WindowSpec, below: u64) {
        while let Some((&p, _)) = self.panes.first_key_value() {
            if !all_windows_below(spec, p, below) {
                break;
            }
            self.panes.pop_first();
        }
    }

    /// Where to resume once every window ending below `below` is committed. Count windows
    /// resume where the partition started: any earlier record may be among a key's last N.
    pub fn resume_for(&self, spec: &WindowSpec, below: u64) -> Resume {
        if spec.count().is_some() {
            return self.start;
        }
        self.panes
            .iter()
            .filter(|(&p, _)| !all_windows_below(spec, p, below))
            .map(|(_, r)| *r)
            .min_by_key(|r| r.offset)
            .unwrap_or(self.next)
    }
}

/// Whether every window holding pane `p` is final and committed once every row below `below`
/// is: each ends below it, by more than the allowed lateness (see [`WindowSpec::final_below`]).
#[inline]
pub fn all_windows_below(spec: &WindowSpec, pane: u64, below: u64) -> bool {
    spec.final_below(spec.end(pane + spec.panes_per_window()), below)
}

/// The progress of every partition read by this process, shared with the sink's writer.
#[derive(Default)]
pub struct ProgressBook {
    partitions: Mutex<HashMap<PartitionKey, PartitionProgress>>,
}

impl ProgressBook {
    /// Publishes a partition's progress (workers call this once per activation).
    pub fn publish(&self, key: &PartitionKey, progress: &PartitionProgress) {
        let mut map = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(key) {
            Some(slot) => slot.clone_from(progress),
            None => {
                map.insert(key.clone(), progress.clone());
            }
        }
    }

    /// Resume points of every partition for a commit of windows ending below `below`.
    pub fn resume_points(&self, spec: &WindowSpec, below: u64) -> Vec<Point> {
        let map = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let mut points: Vec<_> = map
            .iter()
            .map(|(k, p)| Point {
                key: k.clone(),
                resume: p.resume_for(spec, below),
                split_bytes: p.split_bytes,
            })
            .collect();
        points.sort_by(|a, b| a.key.cmp(&b.key));
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn resume_is_the_earliest_record_still_needed() {
        let spec = WindowSpec::new(Duration::from_secs(3), Duration::from_secs(1)).unwrap();
        let mut p = PartitionProgress::new(
            Resume {
                offset: 0,
                max_seen: None,
            },
            0,
        );
        // Records in panes 0, 2, 1 (disorder), at offsets 0, 10, 20.
        p.note(0, 0, None);
        p.note(2, 10, Some(EventTime(0)));
        p.note(1, 20, Some(EventTime(2_000)));
        p.advance(Resume {
            offset: 30,
            max_seen: Some(EventTime(2_000)),
        });
        // Pane 0 feeds windows ending at 1, 2, 3 s; once all below 3.001 s are committed it is done.
        assert_eq!(p.resume_for(&spec, 0).offset, 0);
        assert_eq!(
            p.resume_for(&spec, 3_001).offset,
            10,
            "pane 2 (offset 10) still needed"
        );
        assert_eq!(p.resume_for(&spec, 3_001).max_seen, Some(EventTime(0)));
        assert_eq!(
            p.resume_for(&spec, 5_001).offset,
            30,
            "nothing needed: read position"
        );
        p.prune(&spec, 4_001);
        assert_eq!(p.panes.len(), 1);
    }
}
