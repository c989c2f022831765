//! Counters shared by all workers of a process, and the stderr progress line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::{EventTime, RejectKind};

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
    pub windows_out: AtomicU64,
    rejects: [AtomicU64; RejectKind::ALL.len()],
    /// Per worker: the event time its sources hold the frontier at.
    watermarks: Vec<AtomicU64>,
    started: Instant,
}

/// A point-in-time copy of the counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    pub records_in: u64,
    pub accepted: u64,
    pub filtered: u64,
    pub skipped: u64,
    pub windows_out: u64,
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
            windows_out: AtomicU64::new(0),
            rejects: Default::default(),
            watermarks: (0..workers).map(|_| AtomicU64::new(UNSET)).collect(),
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
            windows_out: self.windows_out.load(Relaxed),
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
