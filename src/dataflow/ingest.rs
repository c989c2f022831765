//! The source operator: reads this worker's partitions, parses, decides lateness, pre-combines.
//!
//! How it works, per activation:
//! 1. Each partition is polled once (a bounded read: one file chunk, a few stdin chunks, a few
//!    thousand generated events), so every partition and the rest of the dataflow make progress.
//! 2. Each line is parsed; rejects are kept with their position. A record older than its
//!    partition's watermark, or than the time this worker's output already promised, is late.
//! 3. Accepted records are added to per-(key, pane) partials, sent at the held capability,
//!    whose time is at most every accepted record's event time.
//! 4. The capability is then downgraded to the lowest watermark of the partitions that are not
//!    idle; a worker whose partitions are all idle follows the slowest active worker so it never
//!    stalls the others; a worker whose partitions have all ended drops it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

use super::{Combiner, Partial, Shared};
use crate::config::Pipeline;
use crate::event::{parse_line, EventTime, Record, RejectKind, Rejection};
use crate::sink::{encode_reject, RejectRecord};
use crate::source::{open_partitions, Item, Partition, PartitionClock, Poll, Position};
use crate::window::{ReadingAgg, TickAgg};

/// Partials in flight between sources and window operators (per process) above which sources
/// pause: memory stays bounded when a worker or sink falls behind.
const MAX_IN_FLIGHT: i64 = 1 << 18;
/// Longest a source sleeps before re-checking idleness, shutdown and other workers.
const MAX_NAP: Duration = Duration::from_millis(100);

struct Open {
    reader: Box<dyn Partition>,
    clock: PartitionClock,
    done: bool,
    /// The last poll found nothing to read.
    waiting: bool,
}

#[derive(Default)]
struct Counts {
    records_in: u64,
    accepted: u64,
    filtered: u64,
    rejects: [u64; RejectKind::ALL.len()],
}

/// A reject waiting for its partition to resolve the line number.
struct PendingReject {
    position: Position,
    rejection: Rejection,
    raw: String,
}

/// Builds the ingest operator of this worker.
pub fn ingest<'s>(scope: Scope<'s, u64>, shared: Arc<Shared>) -> Stream<'s, u64, Vec<Partial>> {
    let worker = scope.index();
    let workers = scope.peers();
    source(scope, "Ingest", move |cap, info| {
        let activator = scope.activator_for(info.address.clone());
        let sync = scope.worker().sync_activator_for(info.address.to_vec());
        let wake = move || {
            let _ = sync.activate();
        };
        let p = &shared.pipeline;
        let options = crate::source::SourceOptions {
            generator: p.generator.clone(),
            max_line_bytes: p.max_line_bytes,
        };
        let now = Instant::now();
        let partitions = match open_partitions(&p.sources, &options, worker, workers, wake) {
            Ok(parts) => parts,
            Err(e) => {
                shared.fail(e.to_string());
                Vec::new()
            }
        };
        let mut state = Ingest {
            partitions: partitions
                .into_iter()
                .map(|reader| Open {
                    reader,
                    clock: PartitionClock::new(p.max_out_of_orderness, now),
                    done: false,
                    waiting: false,
                })
                .collect(),
            combiner: Combiner::default(),
            counts: Counts::default(),
            pending_rejects: Vec::new(),
            reject_buf: Vec::new(),
            shared: shared.clone(),
            worker,
        };
        let mut cap = Some(cap);
        activator.activate();
        move |output| {
            let Some(held) = cap.as_mut() else {
                return;
            };
            if state.shared.in_flight.load(Relaxed) > MAX_IN_FLIGHT {
                activator.activate_after(Duration::from_micros(200));
                return;
            }
            let (any_ready, nap) = state.read(*held.time());
            if !state.combiner.is_empty() {
                let mut sent = 0i64;
                let mut session = output.session(&*held);
                for partial in state.combiner.drain() {
                    session.give(partial);
                    sent += 1;
                }
                state.shared.in_flight.fetch_add(sent, Relaxed);
            }
            state.flush_counts();
            match state.frontier(*held.time()) {
                Some(t) => {
                    if t > *held.time() {
                        held.downgrade(&t);
                    }
                    state.shared.publish_watermark(worker, Some(EventTime(t)));
                    if any_ready {
                        activator.activate();
                    } else {
                        activator.activate_after(nap.min(MAX_NAP));
                    }
                }
                None => {
                    state.shared.publish_watermark(worker, None);
                    cap = None;
                }
            }
        }
    })
}

struct Ingest {
    partitions: Vec<Open>,
    combiner: Combiner,
    counts: Counts,
    pending_rejects: Vec<PendingReject>,
    reject_buf: Vec<u8>,
    shared: Arc<Shared>,
    worker: usize,
}

impl Ingest {
    /// Polls every live partition once; returns whether any has more ready, and how long the
    /// others asked to wait.
    fn read(&mut self, promised: u64) -> (bool, Duration) {
        let stopping = self.shared.stopping();
        let now = Instant::now();
        let mut any_ready = false;
        let mut nap = MAX_NAP;
        let pipeline = &self.shared.pipeline;
        for part in self.partitions.iter_mut().filter(|p| !p.done) {
            if stopping {
                part.done = true;
                continue;
            }
            let before = self.counts.records_in;
            let mut ctx = Accept {
                clock: &mut part.clock,
                combiner: &mut self.combiner,
                counts: &mut self.counts,
                rejects: &mut self.pending_rejects,
                pipeline,
                promised,
            };
            let poll = part.reader.poll(&mut |item| ctx.item(item));
            if self.counts.records_in > before {
                part.clock.touch(now);
            }
            part.waiting = false;
            match poll {
                Poll::Ready => any_ready = true,
                Poll::Pending(wait) => {
                    part.waiting = true;
                    nap = nap.min(wait);
                }
                Poll::Done => part.done = true,
            }
            if !self.pending_rejects.is_empty() {
                write_rejects(
                    &mut self.pending_rejects,
                    part.reader.as_mut(),
                    &mut self.counts,
                    &mut self.reject_buf,
                );
            }
        }
        if !self.reject_buf.is_empty() {
            if let Err(e) = self.shared.rejects.write_encoded(&self.reject_buf) {
                self.shared.fail(e.to_string());
            }
            self.reject_buf.clear();
        }
        (any_ready, nap)
    }

    /// Where this worker's output frontier can move: `None` once every partition has ended.
    fn frontier(&self, held: u64) -> Option<u64> {
        let live: Vec<&Open> = self.partitions.iter().filter(|p| !p.done).collect();
        if live.is_empty() {
            return None;
        }
        let now = Instant::now();
        let idle_timeout = self.shared.pipeline.idle_timeout;
        let active = live
            .iter()
            .filter(|p| !(p.waiting && p.clock.is_idle(now, idle_timeout)))
            .map(|p| p.clock.watermark().0)
            .min();
        let target = match active {
            Some(t) => {
                self.shared.set_active_watermark(self.worker, Some(t));
                t
            }
            None => {
                // Every live partition is idle: stop holding anyone back. Follow the slowest
                // worker that still has input, or else move up to the furthest watermark this
                // worker's own partitions (ended ones included) have reached.
                self.shared.set_active_watermark(self.worker, None);
                self.shared
                    .slowest_active_watermark(self.worker)
                    .unwrap_or_else(|| {
                        self.partitions
                            .iter()
                            .map(|p| p.clock.watermark().0)
                            .max()
                            .unwrap_or(held)
                    })
            }
        };
        Some(target.max(held))
    }

    fn flush_counts(&mut self) {
        let c = std::mem::take(&mut self.counts);
        let m = &self.shared.metrics;
        m.records_in.fetch_add(c.records_in, Relaxed);
        m.accepted.fetch_add(c.accepted, Relaxed);
        m.filtered.fetch_add(c.filtered, Relaxed);
        for kind in RejectKind::ALL {
            if c.rejects[kind as usize] > 0 {
                m.add_rejects(kind, c.rejects[kind as usize]);
            }
        }
    }
}

/// What handling one item of one partition needs.
struct Accept<'a> {
    clock: &'a mut PartitionClock,
    combiner: &'a mut Combiner,
    counts: &'a mut Counts,
    rejects: &'a mut Vec<PendingReject>,
    pipeline: &'a Pipeline,
    /// The time of the capability held: no record earlier than this may be sent.
    promised: u64,
}

impl Accept<'_> {
    fn item(&mut self, item: Item<'_>) {
        // A blank line carries no record: not counted, not a reject.
        if let Item::Line(line, _) = &item {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
        }
        self.counts.records_in += 1;
        match item {
            Item::Line(line, position) => match parse_line(line, &self.pipeline.fields) {
                Ok(record) => self.record(&record, position, || lossy(line)),
                Err(rejection) => self.reject(position, rejection, lossy(line)),
            },
            Item::Oversized(prefix, position) => {
                let detail = format!(
                    "line longer than {} bytes (max_line_bytes); first {} bytes kept",
                    self.pipeline.max_line_bytes,
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
        }
    }

    fn record(&mut self, record: &Record<'_>, position: Position, raw: impl FnOnce() -> String) {
        let t = record.time();
        if self.clock.is_late(t) || t.0 < self.promised {
            let watermark = EventTime(self.clock.watermark().0.max(self.promised));
            let detail = format!("event time {t} is behind the partition's watermark {watermark}");
            self.reject(position, Rejection::new(RejectKind::Late, detail), raw());
            return;
        }
        self.clock.observe(t);
        self.counts.accepted += 1;
        let pane = self.pipeline.window.pane(t);
        match record {
            Record::Tick(tick) => {
                self.combiner
                    .add_tick(&tick.symbol, pane, TickAgg::of(tick.price, tick.volume))
            }
            Record::Reading(r) if self.pipeline.filter.keeps(r.value) => {
                self.combiner
                    .add_reading(&r.category, pane, ReadingAgg::of(r.value))
            }
            Record::Reading(_) => self.counts.filtered += 1,
        }
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

fn write_rejects(
    pending: &mut Vec<PendingReject>,
    reader: &mut dyn Partition,
    counts: &mut Counts,
    out: &mut Vec<u8>,
) {
    let received_at = now_rfc3339();
    for r in pending.drain(..) {
        counts.rejects[r.rejection.kind as usize] += 1;
        let line = reader.absolute_line(r.position);
        encode_reject(
            &RejectRecord {
                source: reader.source(),
                partition: reader.index(),
                line,
                offset: r.position.offset,
                received_at: received_at.clone(),
                reason: r.rejection.kind.code(),
                detail: &r.rejection.detail,
                raw: &r.raw,
            },
            out,
        );
    }
}

fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    EventTime(ms).to_string()
}
