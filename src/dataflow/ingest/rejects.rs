//! Rejected lines of the source operator: numbered, noted for the live view and handed to the
//! sinks that keep them.

use std::time::SystemTime;

use super::Ingest;
use crate::live::RecentReject;
use crate::row::RejectRow;

impl Ingest {
    /// Gives the pending rejects of partition `index` their line numbers.
    pub(super) fn resolve_rejects(&mut self, index: usize) {
        let received_at = SystemTime::now();
        let keep = self.cx.sinks.wants_rejects();
        let part = &mut self.partitions[index];
        let mut recent = self.cx.recent_rejects.as_ref().map(|r| r.lock());
        for r in self.pending_rejects.drain(..) {
            self.counts.rejects[r.rejection.kind as usize] += 1;
            let line = part.reader.absolute_line(r.position);
            part.first_lines.rejected(line, &r.rejection, &r.raw);
            if let Some(recent) = recent.as_mut() {
                recent.note(r.rejection.kind, || RecentReject {
                    source: part.reader.source().to_string(),
                    partition: part.reader.index(),
                    line,
                    offset: r.position.offset,
                    received_at,
                    detail: r.rejection.detail.clone(),
                    raw: r.raw.clone(),
                });
            }
            if !keep {
                continue;
            }
            self.reject_rows.push(RejectRow {
                source: part.reader.source().to_string(),
                partition: part.reader.index(),
                position: r.position.offset,
                line,
                received_at,
                reason: r.rejection.kind.code(),
                detail: r.rejection.detail,
                raw: r.raw,
            });
        }
    }

    /// Hands the resolved rejects to every sink that keeps them.
    pub(super) fn send_rejects(&mut self) {
        if self.reject_rows.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut self.reject_rows);
        if let Err(e) = self.cx.sinks.rejects(&rows) {
            self.cx.control.fail(e.to_string());
        }
    }
}
