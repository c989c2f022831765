//! The latest few rejected lines per reason, for the live page (counts stay in the metrics).

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use crate::event::RejectKind;

/// Rejected lines kept per reason.
pub const PER_REASON: usize = 5;
/// Bytes of a raw line kept (the rest is cut at a character boundary).
pub const RAW_BYTES: usize = 1024;

/// One rejected line as the page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RecentReject {
    pub source: String,
    pub partition: usize,
    pub line: u64,
    /// Byte offset (files, sockets) or message offset (Kafka).
    pub offset: u64,
    pub received_at: SystemTime,
    pub detail: String,
    pub raw: String,
}

/// The last [`PER_REASON`] rejects of each reason, newest last.
#[derive(Default)]
pub struct RecentRejects {
    by_reason: Mutex<[VecDeque<RecentReject>; RejectKind::ALL.len()]>,
}

impl RecentRejects {
    /// Holds the lock for a batch of [`RecentGuard::note`]s.
    pub fn lock(&self) -> RecentGuard<'_> {
        RecentGuard(self.by_reason.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The kept rejects of `kind`, oldest first.
    pub fn latest(&self, kind: RejectKind) -> Vec<RecentReject> {
        let by_reason = self.by_reason.lock().unwrap_or_else(|p| p.into_inner());
        by_reason[kind as usize].iter().cloned().collect()
    }
}

/// The rejects' lock, held while a batch is noted.
pub struct RecentGuard<'a>(MutexGuard<'a, [VecDeque<RecentReject>; RejectKind::ALL.len()]>);

impl RecentGuard<'_> {
    /// Keeps a reject, dropping the oldest of its reason beyond [`PER_REASON`]; `raw` is
    /// copied only up to [`RAW_BYTES`].
    pub fn note(&mut self, kind: RejectKind, reject: impl FnOnce() -> RecentReject) {
        let ring = &mut self.0[kind as usize];
        if ring.len() == PER_REASON {
            ring.pop_front();
        }
        let mut reject = reject();
        if reject.raw.len() > RAW_BYTES {
            let mut cut = RAW_BYTES;
            while !reject.raw.is_char_boundary(cut) {
                cut -= 1;
            }
            reject.raw.truncate(cut);
        }
        ring.push_back(reject);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(line: u64, raw: &str) -> RecentReject {
        RecentReject {
            source: "file:x".into(),
            partition: 0,
            line,
            offset: line * 10,
            received_at: SystemTime::UNIX_EPOCH,
            detail: "d".into(),
            raw: raw.into(),
        }
    }

    #[test]
    fn keeps_the_latest_few_per_reason_and_cuts_long_lines() {
        let recent = RecentRejects::default();
        {
            let mut guard = recent.lock();
            for line in 1..=8 {
                guard.note(RejectKind::Late, || reject(line, "x"));
            }
            guard.note(RejectKind::Malformed, || reject(9, &"é".repeat(600)));
        }
        let late: Vec<u64> = recent
            .latest(RejectKind::Late)
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(late, vec![4, 5, 6, 7, 8]);
        let malformed = recent.latest(RejectKind::Malformed);
        assert_eq!(malformed[0].raw, "é".repeat(RAW_BYTES / 2));
        assert!(recent.latest(RejectKind::Truncated).is_empty());
    }
}
