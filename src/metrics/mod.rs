//! Counters shared by all workers of a process, and the stderr progress line.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::event::{EventTime, RejectKind};

mod histogram;
mod reference;

pub use histogram::{Histogram, HistogramSummary};
pub use reference::{add_reference_errors, reference_errors, ReferenceProblem};

/// A worker's watermark slot before it has published one.
const UNSET: u64 = 0;
/// A worker's watermark slot once its sources have ended.
const RELEASED: u64 = u64::MAX;

/// Process-wide counters. Workers add per batch, never per record.
pub struct Metrics {
    pub records_in: AtomicU64,
    pub accepted: AtomicU64,
    pub filtered: AtomicU64,
    /// Records skipped after a restart because their windows were already committed.
    pub skipped: AtomicU64,
    /// Records behind their partition's watermark by no more than the allowed lateness.
    pub late_accepted: AtomicU64,
    pub windows_out: AtomicU64,
    /// Rows that emit a window again with a new value (revision 1 and up).
    pub corrections: AtomicU64,
    /// Ticks of symbols that no sector held, each counted once (see `dataflow::sector`).
    pub unmapped_ticks: AtomicU64,
    rejects: [AtomicU64; RejectKind::ALL.len()],
    /// Per worker: the event time its sources hold the frontier at.
    watermarks: Vec<AtomicU64>,
    /// Per worker: nanoseconds spent running its operators.
    busy_nanos: Vec<AtomicU64>,
    /// Per input partition: records read and watermark.
    partitions: Mutex<BTreeMap<(String, usize), PartitionStats>>,
    /// PostgreSQL commits: seconds each, and rows each.
    pub commit_seconds: Histogram,
    pub commit_rows: Histogram,
    /// Kafka sink: result rows and value bytes the broker acknowledged, failed deliveries,
    /// and messages sent but not yet acknowledged.
    pub kafka_sink_rows: AtomicU64,
    pub kafka_sink_bytes: AtomicU64,
    pub kafka_sink_delivery_errors: AtomicU64,
    pub kafka_sink_in_flight: AtomicI64,
    /// Why the last commit attempt failed, while it is being retried (`None`: it succeeded).
    sink_failure: Mutex<Option<String>>,
    started: Instant,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// Kafka consumer lag per (topic, partition): messages between what the application has taken
/// and the partition's end as the broker last reported it in a fetch response. Process-wide,
/// as librdkafka's statistics callbacks have no handle on a run.
static KAFKA_LAG: Mutex<BTreeMap<(String, i32), i64>> = Mutex::new(BTreeMap::new());

/// Records a partition's consumer lag (from librdkafka statistics).
pub fn set_kafka_lag(topic: &str, partition: i32, lag: i64) {
    let mut map = KAFKA_LAG.lock().unwrap_or_else(|p| p.into_inner());
    map.insert((topic.to_string(), partition), lag);
}

/// Every partition's consumer lag as last reported, by (topic, partition).
pub fn kafka_lags() -> BTreeMap<(String, i32), i64> {
    KAFKA_LAG.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// What the metrics endpoint shows of one input partition.
#[derive(Clone, Debug, Default)]
pub struct PartitionStats {
    pub records_in: u64,
    /// Milliseconds since the epoch; 0 before the first record.
    pub watermark_ms: u64,
}

/// A point-in-time copy of the counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub records_in: u64,
    pub accepted: u64,
    pub filtered: u64,
    pub skipped: u64,
    pub late_accepted: u64,
    pub windows_out: u64,
    pub corrections: u64,
    pub rejects: u64,
    pub late: u64,
    /// The lowest watermark over this process's workers; `None` before any or after all ended.
    pub watermark: Option<EventTime>,
    pub elapsed: Duration,
}

impl Metrics {
    pub fn new(workers: usize) -> Arc<Metrics> {
        Arc::new(Metrics {
            records_in: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            late_accepted: AtomicU64::new(0),
            windows_out: AtomicU64::new(0),
            corrections: AtomicU64::new(0),
            unmapped_ticks: AtomicU64::new(0),
            rejects: Default::default(),
            watermarks: (0..workers).map(|_| AtomicU64::new(UNSET)).collect(),
            busy_nanos: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            partitions: Mutex::new(BTreeMap::new()),
            commit_seconds: Histogram::new(&[
                0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            commit_rows: Histogram::new(&[1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0]),
            kafka_sink_rows: AtomicU64::new(0),
            kafka_sink_bytes: AtomicU64::new(0),
            kafka_sink_delivery_errors: AtomicU64::new(0),
            kafka_sink_in_flight: AtomicI64::new(0),
            sink_failure: Mutex::new(None),
            started: Instant::now(),
        })
    }

    pub fn add_rejects(&self, kind: RejectKind, n: u64) {
        self.rejects[kind as usize].fetch_add(n, Relaxed);
    }

    pub fn rejects(&self, kind: RejectKind) -> u64 {
        self.rejects[kind as usize].load(Relaxed)
    }

    /// Records where worker `index` holds its sources' frontier (`None`: released).
    pub fn set_watermark(&self, index: usize, at: Option<EventTime>) {
        if let Some(slot) = self.watermarks.get(index % self.watermarks.len().max(1)) {
            slot.store(at.map_or(RELEASED, |t| t.0.max(1)), Relaxed);
        }
    }

    /// Adds operator running time of worker `index`.
    pub fn add_busy(&self, index: usize, spent: Duration) {
        if let Some(slot) = self.busy_nanos.get(index % self.busy_nanos.len().max(1)) {
            slot.fetch_add(spent.as_nanos() as u64, Relaxed);
        }
    }

    /// Records what a partition has read and where its watermark is.
    pub fn update_partition(&self, key: &(String, usize), records: u64, watermark_ms: u64) {
        let mut map = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        let stats = match map.get_mut(key) {
            Some(s) => s,
            None => map.entry(key.clone()).or_default(),
        };
        stats.records_in += records;
        stats.watermark_ms = watermark_ms;
    }

    /// Notes that a commit failed and is being retried (`Some(why)`), or that one succeeded.
    pub fn set_sink_failure(&self, failure: Option<String>) {
        *self.sink_failure.lock().unwrap_or_else(|p| p.into_inner()) = failure;
    }

    /// Why commits are failing, while they are.
    pub fn sink_failure(&self) -> Option<String> {
        self.sink_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A copy of every input partition's figures, by (source, partition).
    pub fn partitions(&self) -> BTreeMap<(String, usize), PartitionStats> {
        self.partitions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::with_capacity(4096);
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            &mut out,
            "tickflow_records_in_total",
            "Records read (lines or messages), all sources.",
            self.records_in.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_records_accepted_total",
            "Records used in event time.",
            self.accepted.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_records_filtered_total",
            "Readings dropped by the outlier filter.",
            self.filtered.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_records_skipped_total",
            "Records skipped after a restart, their windows already committed.",
            self.skipped.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_windows_out_total",
            "Result rows emitted.",
            self.windows_out.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_late_accepted_total",
            "Records behind their partition's watermark by no more than the allowed lateness, used.",
            self.late_accepted.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_corrections_total",
            "Rows emitting an already emitted window again with a new revision.",
            self.corrections.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_unmapped_ticks_total",
            "Ticks of symbols in no sector of the --reference mapping, each counted once, at the tumbling window [kL-L, kL) it falls in.",
            self.unmapped_ticks.load(Relaxed),
        );
        let _ = writeln!(out, "# HELP tickflow_rejects_total Rejected records, late ones included, by reason.\n# TYPE tickflow_rejects_total counter");
        for kind in RejectKind::ALL {
            let _ = writeln!(
                out,
                "tickflow_rejects_total{{reason=\"{}\"}} {}",
                kind.code(),
                self.rejects(kind)
            );
        }
        let parts = self.partitions();
        let _ = writeln!(out, "# HELP tickflow_partition_records_in_total Records read, per input partition.\n# TYPE tickflow_partition_records_in_total counter");
        for ((source, partition), s) in &parts {
            let _ = writeln!(
                out,
                "tickflow_partition_records_in_total{{source=\"{}\",partition=\"{partition}\"}} {}",
                label(source),
                s.records_in
            );
        }
        let _ = writeln!(out, "# HELP tickflow_watermark_seconds Event-time watermark per input partition (Unix seconds).\n# TYPE tickflow_watermark_seconds gauge");
        for ((source, partition), s) in &parts {
            let _ = writeln!(
                out,
                "tickflow_watermark_seconds{{source=\"{}\",partition=\"{partition}\"}} {}",
                label(source),
                s.watermark_ms as f64 / 1e3
            );
        }
        let _ = writeln!(out, "# HELP tickflow_watermark_lag_seconds Wall time minus the watermark, per input partition.\n# TYPE tickflow_watermark_lag_seconds gauge");
        for ((source, partition), s) in &parts {
            if s.watermark_ms > 0 {
                let lag = now_ms as f64 / 1e3 - s.watermark_ms as f64 / 1e3;
                let _ = writeln!(out, "tickflow_watermark_lag_seconds{{source=\"{}\",partition=\"{partition}\"}} {lag}", label(source));
            }
        }
        let lags = kafka_lags();
        let _ = writeln!(out, "# HELP tickflow_kafka_consumer_lag Messages not yet read, per topic and partition (from fetch responses).\n# TYPE tickflow_kafka_consumer_lag gauge");
        for ((topic, partition), lag) in &lags {
            let _ = writeln!(
                out,
                "tickflow_kafka_consumer_lag{{topic=\"{}\",partition=\"{partition}\"}} {lag}",
                label(topic)
            );
        }
        let _ = writeln!(out, "# HELP tickflow_worker_busy_seconds_total Time each worker spent running operators.\n# TYPE tickflow_worker_busy_seconds_total counter");
        for (i, n) in self.busy_nanos.iter().enumerate() {
            let _ = writeln!(
                out,
                "tickflow_worker_busy_seconds_total{{worker=\"{i}\"}} {}",
                n.load(Relaxed) as f64 / 1e9
            );
        }
        self.commit_seconds.render(
            "tickflow_sink_commit_seconds",
            "Commit latency of the sink that keeps progress (PostgreSQL, Kafka or Redis).",
            &mut out,
        );
        self.commit_rows.render(
            "tickflow_sink_commit_rows",
            "Rows per commit of the sink that keeps progress.",
            &mut out,
        );
        counter(
            &mut out,
            "tickflow_kafka_sink_rows_total",
            "Result rows the Kafka sink's broker acknowledged.",
            self.kafka_sink_rows.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_kafka_sink_bytes_total",
            "Bytes of message values the Kafka sink's broker acknowledged.",
            self.kafka_sink_bytes.load(Relaxed),
        );
        counter(
            &mut out,
            "tickflow_kafka_sink_delivery_errors_total",
            "Messages the Kafka sink failed to deliver (each fails its commit).",
            self.kafka_sink_delivery_errors.load(Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP tickflow_kafka_sink_in_flight Messages sent by the Kafka sink and not yet acknowledged.\n# TYPE tickflow_kafka_sink_in_flight gauge\ntickflow_kafka_sink_in_flight {}",
            self.kafka_sink_in_flight.load(Relaxed).max(0)
        );
        reference::render(&mut out);
        let _ = writeln!(out, "# HELP tickflow_uptime_seconds Seconds since start.\n# TYPE tickflow_uptime_seconds gauge\ntickflow_uptime_seconds {}", self.started.elapsed().as_secs_f64());
        out
    }

    pub fn snapshot(&self) -> Snapshot {
        let rejects: Vec<u64> = self.rejects.iter().map(|c| c.load(Relaxed)).collect();
        let watermark = self
            .watermarks
            .iter()
            .map(|w| w.load(Relaxed))
            .filter(|&w| w != UNSET && w != RELEASED)
            .min()
            .map(EventTime);
        Snapshot {
            records_in: self.records_in.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            late_accepted: self.late_accepted.load(Relaxed),
            windows_out: self.windows_out.load(Relaxed),
            corrections: self.corrections.load(Relaxed),
            rejects: rejects.iter().sum(),
            late: rejects[RejectKind::Late as usize],
            watermark,
            elapsed: self.started.elapsed(),
        }
    }
}

/// Prints a progress line to stderr every `every` until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    pub fn start(metrics: Arc<Metrics>, every: Duration) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tickflow-progress".into())
            .spawn(move || {
                let mut last = metrics.snapshot();
                let tick = Duration::from_millis(50);
                let mut waited = Duration::ZERO;
                while !flag.load(Relaxed) {
                    std::thread::sleep(tick);
                    waited += tick;
                    if waited < every {
                        continue;
                    }
                    waited = Duration::ZERO;
                    let now = metrics.snapshot();
                    let _ = writeln!(std::io::stderr(), "{}", progress_line(&last, &now));
                    last = now;
                }
            })
            .expect("spawning a thread at startup");
        Progress {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `progress: events_in=... events_per_s=... windows_out=... rejects=... late=... watermark=...`
pub fn progress_line(last: &Snapshot, now: &Snapshot) -> String {
    let secs = (now.elapsed - last.elapsed).as_secs_f64().max(1e-9);
    let rate = (now.records_in - last.records_in) as f64 / secs;
    let watermark = now
        .watermark
        .map_or_else(|| "-".to_string(), |w| w.to_string());
    format!(
        "progress: events_in={} events_per_s={:.0} windows_out={} rejects={} late={} filtered={} watermark={}",
        now.records_in, rate, now.windows_out, now.rejects, now.late, now.filtered, watermark
    )
}

/// Escapes a Prometheus label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
