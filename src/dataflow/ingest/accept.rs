//! Judging one item of a partition: parse, lateness, the restart skip, the outlier filter,
//! then into the pre-combiner.

use crate::delivery::{all_windows_below, PartitionProgress};
use crate::event::{Horizon, LineParser, Record, RejectKind, Rejection};
use crate::source::{Item, PartitionClock, Position};
use crate::window::{ReadingAgg, ReadingRecord, TickAgg, TickRecord};

use super::super::{Combiner, Partial};
use super::IngestSettings;
use crate::event::EventTime;

#[derive(Default)]
pub(super) struct Counts {
    pub records_in: u64,
    pub accepted: u64,
    pub filtered: u64,
    pub skipped: u64,
    /// Accepted although behind the watermark, by no more than the allowed lateness.
    pub late_accepted: u64,
    pub rejects: [u64; RejectKind::ALL.len()],
}

/// A reject waiting for its partition to resolve the line number.
pub(super) struct PendingReject {
    pub position: Position,
    pub rejection: Rejection,
    pub raw: String,
}

/// What handling one item of one partition needs.
pub(super) struct Accept<'a> {
    pub clock: &'a mut PartitionClock,
    pub progress: Option<&'a mut PartitionProgress>,
    pub combiner: &'a mut Combiner,
    pub counts: &'a mut Counts,
    pub rejects: &'a mut Vec<PendingReject>,
    pub settings: &'a IngestSettings,
    /// The time of the capability held: no record earlier than this may be sent.
    pub promised: u64,
    /// After a restart: windows ending below this were committed by an earlier run.
    pub committed_below: Option<u64>,
    /// Parsed lines with event times beyond this are rejects (generated records never are).
    pub horizon: Horizon,
    /// This worker's parser: the last ISO-8601 date and line layout it read, reused while
    /// lines keep them.
    pub parser: &'a mut LineParser,
}

impl Accept<'_> {
    pub fn item(&mut self, item: Item<'_>) {
        // A blank line carries no record: not counted, not a reject.
        if let Item::Line(line, _) = &item {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
        }
        self.counts.records_in += 1;
        match item {
            Item::Line(line, position) => match self.parser.parse(line, &self.horizon) {
                Ok(record) => self.record(&record, position, || lossy(line)),
                Err(rejection) => self.reject(position, rejection, lossy(line)),
            },
            Item::Oversized(prefix, position) => {
                let detail = format!(
                    "line longer than {} bytes (max_line_bytes); first {} bytes kept",
                    self.settings.max_line_bytes,
                    prefix.len()
                );
                self.reject(
                    position,
                    Rejection::new(RejectKind::LineTooLong, detail),
                    lossy(prefix),
                );
            }
            Item::Record(record, position) => {
                self.record(&record, position, || format!("{record:?}"))
            }
            Item::Truncated(bytes, position) => self.reject(
                position,
                Rejection::new(
                    RejectKind::Truncated,
                    "the connection closed in the middle of this line",
                ),
                lossy(bytes),
            ),
        }
    }

    /// A record behind its partition's watermark (or the time this worker already promised)
    /// by more than the allowed lateness D is late; within D it is accepted and corrects the
    /// windows it belongs to. Only the partition's own order (and, for a partition that was
    /// idle, the promise) decides, so a replay decides the same.
    fn record(&mut self, record: &Record<'_>, position: Position, raw: impl FnOnce() -> String) {
        let t = record.time();
        let watermark = EventTime(self.clock.watermark().0.max(self.promised));
        if t < watermark {
            let lateness = self.settings.window.allowed_lateness();
            if t.0.saturating_add(lateness.as_millis() as u64) < watermark.0 {
                let detail = if lateness.is_zero() {
                    format!("event time {t} is behind the partition's watermark {watermark}")
                } else {
                    format!(
                        "event time {t} is behind the partition's watermark {watermark} by more than the allowed lateness {}",
                        crate::human::duration(lateness)
                    )
                };
                self.reject(position, Rejection::new(RejectKind::Late, detail), raw());
                return;
            }
            self.counts.late_accepted += 1;
        }
        let max_seen_before = self.clock.max_seen();
        self.clock.observe(t);
        if self.settings.window.count().is_some() {
            self.count_record(record);
            return;
        }
        let pane = self.settings.window.pane(t);
        if self
            .committed_below
            .is_some_and(|below| all_windows_below(&self.settings.window, pane, below))
        {
            self.counts.skipped += 1;
            return;
        }
        self.counts.accepted += 1;
        let used = match record {
            Record::Tick(tick) => {
                self.combiner
                    .add_tick(&tick.symbol, pane, TickAgg::of(tick.price, tick.volume));
                true
            }
            Record::Reading(r) if self.settings.filter.keeps(r.value) => {
                self.combiner
                    .add_reading(&r.category, pane, ReadingAgg::of(r.value));
                true
            }
            Record::Reading(_) => {
                self.counts.filtered += 1;
                false
            }
        };
        if let (true, Some(progress)) = (used, self.progress.as_deref_mut()) {
            progress.note(pane, position.offset, max_seen_before);
        }
    }

    /// A record for count windows: passed on whole. Nothing is noted for resuming, and nothing
    /// skipped after a restart: partitions replay from their start (`delivery::progress`).
    fn count_record(&mut self, record: &Record<'_>) {
        self.counts.accepted += 1;
        let t = record.time();
        let partial = match record {
            Record::Tick(tick) => Partial::TickRecord {
                symbol: tick.symbol.to_string(),
                record: TickRecord {
                    t,
                    price: tick.price,
                    volume: tick.volume,
                },
            },
            Record::Reading(r) if self.settings.filter.keeps(r.value) => Partial::ReadingRecord {
                category: r.category.to_string(),
                record: ReadingRecord { t, value: r.value },
            },
            Record::Reading(_) => {
                self.counts.filtered += 1;
                return;
            }
        };
        self.combiner.add_record(partial);
    }

    fn reject(&mut self, position: Position, rejection: Rejection, raw: String) {
        self.rejects.push(PendingReject {
            position,
            rejection,
            raw,
        });
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
