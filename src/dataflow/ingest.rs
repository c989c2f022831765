//! The source operator: reads this worker's partitions, parses, decides lateness, pre-combines.
//!
//! How it works, per activation:
//! 1. Each partition is polled once (a bounded read: one file chunk, a few stdin chunks, a few
//!    thousand generated events), so every partition and the rest of the dataflow make progress.
//! 2. Each line is parsed; rejects are kept with their position. A record older than its
//!    partition's watermark, or than the time this worker's output already promised, is late.
//!    After a restart, a record whose windows were all committed is skipped (it still moves
//!    the clock, so lateness repeats exactly).
//! 3. Accepted records are added to per-(key, pane) partials, sent at the held capability,
//!    whose time is at most every accepted record's event time. With exactly-once PostgreSQL
//!    output, each partition also notes where it would resume (see `progress.rs`).
//! 4. The capability is then downgraded to the lowest watermark of the partitions that are not
//!    idle; a worker whose partitions are all idle (or that has none yet) follows the cluster's
//!    slowest active worker (`gossip.rs`) so it never stalls the others; a worker whose
//!    partitions have all ended, with none more to come, drops it.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

use super::progress::{all_windows_below, PartitionKey, PartitionProgress, Resume};
use super::{Combiner, Partial, Shared};
use crate::config::Pipeline;
use crate::event::{parse_line_at, EventTime, Horizon, Record, RejectKind, Rejection};
use crate::sink::postgres::{RejectRow, ToWriter};
use crate::sink::{encode_reject, RejectRecord};
use crate::source::{open_partitions, Discover, Item, Partition, PartitionClock, Poll, Position};
use crate::window::{ReadingAgg, TickAgg};

/// Partials in flight between sources and window operators (per process) above which sources
/// pause: memory stays bounded when a worker or sink falls behind.
const MAX_IN_FLIGHT: i64 = 1 << 18;
/// Longest a source sleeps before re-checking idleness, shutdown and other workers.
const MAX_NAP: Duration = Duration::from_millis(100);

struct Open {
    reader: Box<dyn Partition>,
    key: PartitionKey,
    clock: PartitionClock,
    /// Resume bookkeeping, when results are committed exactly-once.
    progress: Option<PartitionProgress>,
    done: bool,
    /// The last poll found nothing to read.
    waiting: bool,
}

impl Open {
    /// A partition as it starts: at its saved progress, if a restart has some.
    fn new(shared: &Shared, reader: Box<dyn Partition>, now: Instant) -> Open {
        let key = (reader.source().to_string(), reader.index());
        let max_seen = saved(shared, &key.0, key.1).and_then(|r| r.max_seen);
        let progress = shared.book.as_ref().map(|_| {
            PartitionProgress::new(Resume {
                offset: reader.position(),
                max_seen,
            })
        });
        Open {
            reader,
            key,
            clock: PartitionClock::resumed(shared.pipeline.max_out_of_orderness, now, max_seen),
            progress,
            done: false,
            waiting: false,
        }
    }
}

/// Where a partition's saved progress says it resumes, after a restart.
fn saved(shared: &Shared, source: &str, index: usize) -> Option<Resume> {
    shared
        .restart
        .as_ref()
        .and_then(|r| r.partitions.get(&(source.to_string(), index)).copied())
}

#[derive(Default)]
struct Counts {
    records_in: u64,
    accepted: u64,
    filtered: u64,
    skipped: u64,
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
        let metrics = shared.metrics.clone();
        let mut state = Ingest::open(shared.clone(), worker, workers, wake);
        let mut cap = Some(cap);
        activator.activate();
        move |output| {
            let Some(held) = cap.as_mut() else {
                return;
            };
            let began = Instant::now();
            let _busy = BusyTimer(&metrics, worker, began);
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
                    state.shared.watermarks.finish(worker, state.reached());
                    cap = None;
                }
            }
        }
    })
}

struct Ingest {
    partitions: Vec<Open>,
    /// Where partitions that appear while running come from (accepted connections).
    discover: Vec<Box<dyn Discover>>,
    combiner: Combiner,
    counts: Counts,
    pending_rejects: Vec<PendingReject>,
    reject_json: Vec<u8>,
    reject_rows: Vec<RejectRow>,
    pg: Option<crossbeam_channel::Sender<ToWriter>>,
    shared: Arc<Shared>,
    worker: usize,
}

impl Ingest {
    fn open(
        shared: Arc<Shared>,
        worker: usize,
        workers: usize,
        wake: impl Fn() + Send + Sync + Clone + 'static,
    ) -> Ingest {
        let p = &shared.pipeline;
        let options = crate::source::SourceOptions {
            generator: p.generator.clone(),
            max_line_bytes: p.max_line_bytes,
            kafka: p.kafka.clone(),
            kafka_partitions: shared.kafka_partitions.clone(),
            kafka_watches: shared.kafka_watches.clone(),
            listeners: shared.listeners.clone(),
            exit_at_end: p.kafka.exit_at_end,
            stop: shared.shutdown.clone(),
        };
        let (readers, discover) =
            open_partitions(&p.sources, &options, worker, workers, wake, &|s, i| {
                saved(&shared, s, i).map(|r| r.offset)
            })
            .unwrap_or_else(|e| {
                shared.fail(e.to_string());
                (Vec::new(), Vec::new())
            });
        let now = Instant::now();
        let partitions = readers
            .into_iter()
            .map(|reader| Open::new(&shared, reader, now))
            .collect();
        Ingest {
            partitions,
            discover,
            combiner: Combiner::default(),
            counts: Counts::default(),
            pending_rejects: Vec::new(),
            reject_json: Vec::new(),
            reject_rows: Vec::new(),
            pg: shared.pg_sender(),
            shared,
            worker,
        }
    }

    /// Polls every live partition once; returns whether any has more ready, and how long the
    /// others asked to wait.
    fn read(&mut self, promised: u64) -> (bool, Duration) {
        let stopping = self.shared.stopping();
        let now = Instant::now();
        let shared = self.shared.clone();
        for d in &mut self.discover {
            match d.discover(&|s, i| saved(&shared, s, i).map(|r| r.offset)) {
                Ok(readers) => self
                    .partitions
                    .extend(readers.into_iter().map(|r| Open::new(&shared, r, now))),
                Err(e) => shared.fail(e),
            }
        }
        let mut any_ready = false;
        let mut nap = MAX_NAP;
        let pipeline = &shared.pipeline;
        let committed_below = shared.restart.as_ref().map(|r| r.committed_below);
        let prune_below = shared.committed_below.load(Relaxed);
        // The wall clock once per activation, not per record.
        let horizon = Horizon::now(pipeline.max_future);
        for index in 0..self.partitions.len() {
            let part = &mut self.partitions[index];
            if part.done {
                continue;
            }
            if stopping {
                part.done = true;
                continue;
            }
            let before = self.counts.records_in;
            let mut ctx = Accept {
                clock: &mut part.clock,
                progress: part.progress.as_mut(),
                combiner: &mut self.combiner,
                counts: &mut self.counts,
                rejects: &mut self.pending_rejects,
                pipeline,
                promised,
                committed_below,
                horizon,
            };
            let poll = part.reader.poll(&mut |item| ctx.item(item));
            if self.counts.records_in > before {
                part.clock.touch(now);
            }
            self.shared.metrics.update_partition(
                &part.key,
                self.counts.records_in - before,
                part.clock.watermark().0,
            );
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
                self.resolve_rejects(index);
            }
        }
        // Rejects go out before progress is published, so the writer always holds a reject
        // before any resume point passes it.
        self.send_rejects();
        if let Some(book) = &shared.book {
            for part in &mut self.partitions {
                if let Some(progress) = part.progress.as_mut() {
                    progress.advance(Resume {
                        offset: part.reader.position(),
                        max_seen: part.clock.max_seen(),
                    });
                    progress.prune(&pipeline.window, prune_below);
                    book.publish(&part.key, progress);
                }
            }
        }
        (any_ready, nap)
    }

    /// Where this worker's output frontier can move: `None` once every partition has ended.
    fn frontier(&self, held: u64) -> Option<u64> {
        let live: Vec<&Open> = self.partitions.iter().filter(|p| !p.done).collect();
        let more_may_come = !self.shared.stopping() && self.discover.iter().any(|d| !d.finished());
        if live.is_empty() && !more_may_come {
            return None;
        }
        let now = Instant::now();
        let idle_timeout = self.shared.pipeline.idle_timeout;
        let active = live
            .iter()
            .filter(|p| !(p.waiting && p.reader.caught_up() && p.clock.is_idle(now, idle_timeout)))
            .map(|p| p.clock.watermark().0)
            .min();
        let reached = self.reached();
        self.shared.watermarks.report(self.worker, active, reached);
        // With every live partition idle (or none yet), stop holding anyone back: follow the
        // cluster (see `gossip.rs`).
        let target = active
            .or_else(|| self.shared.watermarks.follow(self.worker))
            .unwrap_or(held);
        Some(target.max(held))
    }

    /// The furthest watermark any of this worker's partitions (ended ones included) reached.
    fn reached(&self) -> Option<u64> {
        self.partitions.iter().map(|p| p.clock.watermark().0).max()
    }

    fn flush_counts(&mut self) {
        let c = std::mem::take(&mut self.counts);
        let m = &self.shared.metrics;
        m.records_in.fetch_add(c.records_in, Relaxed);
        m.accepted.fetch_add(c.accepted, Relaxed);
        m.filtered.fetch_add(c.filtered, Relaxed);
        m.skipped.fetch_add(c.skipped, Relaxed);
        for kind in RejectKind::ALL {
            if c.rejects[kind as usize] > 0 {
                m.add_rejects(kind, c.rejects[kind as usize]);
            }
        }
    }

    /// Gives the pending rejects of partition `index` their line numbers and encodes them for
    /// every rejects output.
    fn resolve_rejects(&mut self, index: usize) {
        let received_at = SystemTime::now();
        let shown = EventTime(
            received_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        )
        .to_string();
        let replayable = self.shared.pipeline.replayable();
        let part = &mut self.partitions[index];
        for r in self.pending_rejects.drain(..) {
            self.counts.rejects[r.rejection.kind as usize] += 1;
            let line = part.reader.absolute_line(r.position);
            if self.shared.rejects.is_some() {
                encode_reject(
                    &RejectRecord {
                        source: part.reader.source(),
                        partition: part.reader.index(),
                        line,
                        offset: r.position.offset,
                        received_at: shown.clone(),
                        reason: r.rejection.kind.code(),
                        detail: &r.rejection.detail,
                        raw: &r.raw,
                    },
                    &mut self.reject_json,
                );
            }
            if self.pg.is_some() {
                // A source read afresh each run gets the run's start time in its name, so its
                // positions do not collide with an earlier run's.
                let source = if replayable {
                    part.reader.source().to_string()
                } else {
                    format!("{}@{}", part.reader.source(), self.shared.run_id)
                };
                self.reject_rows.push(RejectRow {
                    source,
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
    }

    /// Writes the encoded rejects to every rejects output.
    fn send_rejects(&mut self) {
        if !self.reject_json.is_empty() {
            if let Some(out) = &self.shared.rejects {
                if let Err(e) = out.write_encoded(&self.reject_json) {
                    self.shared.fail(e.to_string());
                }
            }
            self.reject_json.clear();
        }
        if !self.reject_rows.is_empty() {
            let rows = std::mem::take(&mut self.reject_rows);
            if let Some(pg) = &self.pg {
                if pg.send(ToWriter::Rejects(rows)).is_err() {
                    self.shared.fail("the PostgreSQL writer stopped".into());
                }
            }
        }
    }
}

/// What handling one item of one partition needs.
struct Accept<'a> {
    clock: &'a mut PartitionClock,
    progress: Option<&'a mut PartitionProgress>,
    combiner: &'a mut Combiner,
    counts: &'a mut Counts,
    rejects: &'a mut Vec<PendingReject>,
    pipeline: &'a Pipeline,
    /// The time of the capability held: no record earlier than this may be sent.
    promised: u64,
    /// After a restart: windows ending below this were committed by an earlier run.
    committed_below: Option<u64>,
    /// Parsed lines with event times beyond this are rejects (generated records never are).
    horizon: Horizon,
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
            Item::Line(line, position) => {
                match parse_line_at(line, &self.pipeline.fields, &self.horizon) {
                    Ok(record) => self.record(&record, position, || lossy(line)),
                    Err(rejection) => self.reject(position, rejection, lossy(line)),
                }
            }
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

    fn record(&mut self, record: &Record<'_>, position: Position, raw: impl FnOnce() -> String) {
        let t = record.time();
        if self.clock.is_late(t) || t.0 < self.promised {
            let watermark = EventTime(self.clock.watermark().0.max(self.promised));
            let detail = format!("event time {t} is behind the partition's watermark {watermark}");
            self.reject(position, Rejection::new(RejectKind::Late, detail), raw());
            return;
        }
        let max_seen_before = self.clock.max_seen();
        self.clock.observe(t);
        let pane = self.pipeline.window.pane(t);
        if self
            .committed_below
            .is_some_and(|below| all_windows_below(&self.pipeline.window, pane, below))
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
            Record::Reading(r) if self.pipeline.filter.keeps(r.value) => {
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

    fn reject(&mut self, position: Position, rejection: Rejection, raw: String) {
        self.rejects.push(PendingReject {
            position,
            rejection,
            raw,
        });
    }
}

/// Adds the time until it is dropped to a worker's busy time.
pub(crate) struct BusyTimer<'a>(pub &'a crate::metrics::Metrics, pub usize, pub Instant);

impl Drop for BusyTimer<'_> {
    fn drop(&mut self) {
        self.0.add_busy(self.1, self.2.elapsed());
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
