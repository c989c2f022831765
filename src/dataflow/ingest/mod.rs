//! The source operator: reads this worker's partitions, parses, decides lateness, pre-combines.
//!
//! How it works, per activation:
//! 1. Each partition is polled once (a bounded read: one file chunk, a few stdin chunks, a few
//!    thousand generated events), so every partition and the rest of the dataflow make progress;
//!    but a file split already begun waits while another of the worker's splits is behind it in
//!    event time (see `Open::ahead_of`).
//! 2. Each line is parsed; rejects are kept with their position. A record older than its
//!    partition's watermark, or than the time this worker's output already promised, is late.
//!    After a restart, a record whose windows were all committed is skipped (it still moves
//!    the clock, so lateness repeats exactly).
//! 3. Accepted records are added to per-(key, pane) partials, sent at the held capability,
//!    whose time is at most every accepted record's event time. With exactly-once output,
//!    each partition also notes where it would resume (see `delivery::progress`).
//! 4. The capability is then downgraded to the lowest watermark of the partitions that are not
//!    idle; a worker whose partitions are all idle (or that has none yet) follows the cluster's
//!    slowest active worker (`gossip.rs`) so it never stalls the others; a worker whose
//!    partitions have all ended, with none more to come, drops it.

mod accept;
mod rejects;

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::{Scope, Stream};

use self::accept::{Accept, Counts, PendingReject};
use super::first_lines::FirstLines;
use super::gossip::WatermarkBoard;
use super::{Combiner, Partial, RunControl};
use crate::config::ReadingFilter;
use crate::delivery::{PartitionKey, PartitionProgress, ProgressBook, Restart, Resume};
use crate::event::{EventTime, FieldNames, Horizon, LineParser, RejectKind};
use crate::live::RecentRejects;
use crate::metrics::Metrics;
use crate::row::RejectRow;
use crate::sink::Sinks;
use crate::source::{Discover, Partition, PartitionClock, Poll, PreparedSources};
use crate::window::WindowSpec;

/// Partials in flight between sources and window operators (per process) above which sources
/// pause: memory stays bounded when a worker or sink falls behind.
const MAX_IN_FLIGHT: i64 = 1 << 18;
/// Longest a source sleeps before re-checking idleness, shutdown and other workers.
const MAX_NAP: Duration = Duration::from_millis(100);

/// How records are read and judged.
#[derive(Clone, Debug)]
pub struct IngestSettings {
    pub fields: FieldNames,
    pub filter: ReadingFilter,
    pub window: WindowSpec,
    pub max_out_of_orderness: Duration,
    pub idle_timeout: Duration,
    pub max_line_bytes: usize,
    /// Event times further ahead of the wall clock than this are rejects.
    pub max_future: Duration,
}

/// Where a restart resumes, and where partitions publish their resume points; both `None`
/// without exactly-once output.
#[derive(Default)]
pub struct Resumption {
    pub restart: Option<Restart>,
    pub book: Option<Arc<ProgressBook>>,
}

impl Resumption {
    fn saved(&self, source: &str, index: usize) -> Option<Resume> {
        self.restart.as_ref().and_then(|r| r.resume(source, index))
    }
}

/// Everything the ingest operator reads from and reports to.
pub struct IngestContext {
    pub sources: Arc<PreparedSources>,
    pub settings: IngestSettings,
    pub resumption: Arc<Resumption>,
    /// Rejects go to the sinks that keep them; their durable frontier lets progress be pruned.
    pub sinks: Arc<Sinks>,
    pub metrics: Arc<Metrics>,
    /// With `--http-addr`: the latest rejected lines per reason, for the live page.
    pub recent_rejects: Option<Arc<RecentRejects>>,
    pub watermarks: Arc<WatermarkBoard>,
    /// Partials sent and not yet taken in by window operators, in this process.
    pub in_flight: Arc<AtomicI64>,
    pub control: RunControl,
}

struct Open {
    reader: Box<dyn Partition>,
    key: PartitionKey,
    clock: PartitionClock,
    /// Resume bookkeeping, when results are committed exactly-once.
    progress: Option<PartitionProgress>,
    done: bool,
    /// The last poll found nothing to read.
    waiting: bool,
    /// Non-blank lines read so far.
    lines_read: u64,
    /// Whether its first lines are all rejects (see `first_lines.rs`).
    first_lines: FirstLines,
}

impl Open {
    /// Whether this is a file split, already begun, whose watermark is ahead of `slowest`:
    /// it waits while the splits behind it are read (watermark alignment, as Flink's), so
    /// windows close, commit and free their state while a file is read instead of all at its
    /// end. Lateness is each split's own, so the order of reading changes no result.
    fn ahead_of(&self, slowest: Option<u64>) -> bool {
        self.reader.split_bytes() > 0
            && self.clock.max_seen().is_some()
            && slowest.is_some_and(|s| self.clock.watermark().0 > s)
    }

    /// A partition as it starts: at its saved progress, if a restart has some.
    fn new(cx: &IngestContext, reader: Box<dyn Partition>, now: Instant) -> Open {
        let key = (reader.source().to_string(), reader.index());
        let max_seen = cx.resumption.saved(&key.0, key.1).and_then(|r| r.max_seen);
        let progress = cx.resumption.book.as_ref().map(|_| {
            PartitionProgress::new(
                Resume {
                    offset: reader.position(),
                    max_seen,
                },
                reader.split_bytes(),
            )
        });
        Open {
            reader,
            key,
            clock: PartitionClock::resumed(cx.settings.max_out_of_orderness, now, max_seen),
            progress,
            done: false,
            waiting: false,
            lines_read: 0,
            first_lines: FirstLines::default(),
        }
    }
}

/// Builds the ingest operator of this worker.
pub fn ingest<'s>(scope: Scope<'s, u64>, cx: Arc<IngestContext>) -> Stream<'s, u64, Vec<Partial>> {
    let worker = scope.index();
    let workers = scope.peers();
    source(scope, "Ingest", move |cap, info| {
        let activator = scope.activator_for(info.address.clone());
        let sync = scope.worker().sync_activator_for(info.address.to_vec());
        let wake = move || {
            let _ = sync.activate();
        };
        let mut state = Ingest::open(cx, worker, workers, wake);
        let mut cap = Some(cap);
        activator.activate();
        move |output| {
            let Some(held) = cap.as_mut() else {
                return;
            };
            let began = Instant::now();
            let cx = state.cx.clone();
            let _busy = BusyTimer(&cx.metrics, worker, began);
            if cx.in_flight.load(Relaxed) > MAX_IN_FLIGHT {
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
                cx.in_flight.fetch_add(sent, Relaxed);
            }
            state.flush_counts();
            match state.frontier(*held.time()) {
                Some(t) => {
                    if t > *held.time() {
                        held.downgrade(&t);
                    }
                    cx.metrics.set_watermark(worker, Some(EventTime(t)));
                    if any_ready {
                        activator.activate();
                    } else {
                        activator.activate_after(nap.min(MAX_NAP));
                    }
                }
                None => {
                    cx.metrics.set_watermark(worker, None);
                    cx.watermarks.finish(worker, state.reached());
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
    reject_rows: Vec<RejectRow>,
    /// The parser with what it learned from the last line (date, layout), kept across
    /// activations.
    parser: LineParser,
    cx: Arc<IngestContext>,
    worker: usize,
}

impl Ingest {
    fn open(
        cx: Arc<IngestContext>,
        worker: usize,
        workers: usize,
        wake: impl Fn() + Send + Sync + Clone + 'static,
    ) -> Ingest {
        let resume_at = |s: &str, i: usize| cx.resumption.saved(s, i).map(|r| r.offset);
        let (readers, discover) = cx
            .sources
            .open(worker, workers, wake, &resume_at)
            .unwrap_or_else(|e| {
                cx.control.fail(e.to_string());
                (Vec::new(), Vec::new())
            });
        let now = Instant::now();
        let partitions = readers
            .into_iter()
            .map(|reader| Open::new(&cx, reader, now))
            .collect();
        Ingest {
            partitions,
            discover,
            combiner: Combiner::default(),
            counts: Counts::default(),
            pending_rejects: Vec::new(),
            reject_rows: Vec::new(),
            parser: LineParser::new(cx.settings.fields.clone()),
            cx,
            worker,
        }
    }

    /// Polls every live partition once; returns whether any has more ready, and how long the
    /// others asked to wait.
    fn read(&mut self, promised: u64) -> (bool, Duration) {
        let cx = self.cx.clone();
        let stopping = cx.control.stopping();
        let now = Instant::now();
        for d in &mut self.discover {
            match d.discover(&|s, i| cx.resumption.saved(s, i).map(|r| r.offset)) {
                Ok(readers) => self
                    .partitions
                    .extend(readers.into_iter().map(|r| Open::new(&cx, r, now))),
                Err(e) => cx.control.fail(e),
            }
        }
        let mut any_ready = false;
        let mut nap = MAX_NAP;
        let settings = &cx.settings;
        let committed_below = cx.resumption.restart.as_ref().map(|r| r.committed_below);
        // The wall clock once per activation, not per record.
        let horizon = Horizon::now(settings.max_future);
        let behind = self.slowest_split();
        for index in 0..self.partitions.len() {
            let part = &mut self.partitions[index];
            if part.done {
                continue;
            }
            if stopping {
                part.done = true;
                continue;
            }
            if part.ahead_of(behind) {
                any_ready = true;
                continue;
            }
            let before = self.counts.records_in;
            let mut ctx = Accept {
                clock: &mut part.clock,
                progress: part.progress.as_mut(),
                combiner: &mut self.combiner,
                counts: &mut self.counts,
                rejects: &mut self.pending_rejects,
                settings,
                promised,
                committed_below,
                horizon,
                parser: &mut self.parser,
            };
            let poll = part.reader.poll(&mut |item| ctx.item(item));
            if self.counts.records_in > before {
                part.clock.touch(now);
            }
            cx.metrics.update_partition(
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
                Poll::Done => {
                    part.done = true;
                    if let Some(e) = part.reader.failure() {
                        cx.control.fail(e.to_string());
                    }
                }
            }
            let lines = self.counts.records_in - before;
            if !self.pending_rejects.is_empty() {
                self.resolve_rejects(index);
            }
            let part = &mut self.partitions[index];
            part.lines_read += lines;
            let source = part.reader.source();
            if let Some(warning) =
                part.first_lines
                    .check(source, part.lines_read, part.done, &settings.fields)
            {
                eprintln!("{warning}");
            }
        }
        // Rejects go out before progress is published, so the committer always holds a reject
        // before any resume point passes it.
        self.send_rejects();
        if let Some(book) = &cx.resumption.book {
            let prune_below = cx.sinks.durable_below().unwrap_or(0);
            for part in &mut self.partitions {
                if let Some(progress) = part.progress.as_mut() {
                    progress.advance(Resume {
                        offset: part.reader.position(),
                        max_seen: part.clock.max_seen(),
                    });
                    progress.prune(&settings.window, prune_below);
                    book.publish(&part.key, progress);
                }
            }
        }
        (any_ready, nap)
    }

    /// The lowest watermark of this worker's live file splits, which hold its frontier back.
    fn slowest_split(&self) -> Option<u64> {
        self.partitions
            .iter()
            .filter(|p| !p.done && p.reader.split_bytes() > 0)
            .map(|p| p.clock.watermark().0)
            .min()
    }

    /// Where this worker's output frontier can move: `None` once every partition has ended.
    fn frontier(&self, held: u64) -> Option<u64> {
        let live: Vec<&Open> = self.partitions.iter().filter(|p| !p.done).collect();
        let more_may_come =
            !self.cx.control.stopping() && self.discover.iter().any(|d| !d.finished());
        if live.is_empty() && !more_may_come {
            return None;
        }
        let now = Instant::now();
        let idle_timeout = self.cx.settings.idle_timeout;
        let active = live
            .iter()
            .filter(|p| !(p.waiting && p.reader.caught_up() && p.clock.is_idle(now, idle_timeout)))
            .map(|p| p.clock.watermark().0)
            .min();
        let reached = self.reached();
        self.cx.watermarks.report(self.worker, active, reached);
        // With every live partition idle (or none yet), stop holding anyone back: follow the
        // cluster (see `gossip.rs`).
        let target = active
            .or_else(|| self.cx.watermarks.follow(self.worker))
            .unwrap_or(held);
        Some(target.max(held))
    }

    /// The furthest watermark any of this worker's partitions (ended ones included) reached.
    fn reached(&self) -> Option<u64> {
        self.partitions.iter().map(|p| p.clock.watermark().0).max()
    }

    fn flush_counts(&mut self) {
        let c = std::mem::take(&mut self.counts);
        let m = &self.cx.metrics;
        m.records_in.fetch_add(c.records_in, Relaxed);
        m.accepted.fetch_add(c.accepted, Relaxed);
        m.filtered.fetch_add(c.filtered, Relaxed);
        m.skipped.fetch_add(c.skipped, Relaxed);
        m.late_accepted.fetch_add(c.late_accepted, Relaxed);
        for kind in RejectKind::ALL {
            if c.rejects[kind as usize] > 0 {
                m.add_rejects(kind, c.rejects[kind as usize]);
            }
        }
    }
}

/// Adds the time until it is dropped to a worker's busy time.
pub(crate) struct BusyTimer<'a>(pub &'a Metrics, pub usize, pub Instant);

impl Drop for BusyTimer<'_> {
    fn drop(&mut self) {
        self.0.add_busy(self.1, self.2.elapsed());
    }
}
