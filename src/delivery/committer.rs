//! The committer thread: turns the workers' rows, rejects and frontier notes into atomic
//! commits of a [`Store`], each with every partition's resume point.
//!
//! How it works:
//! 1. Workers send rows, rejects and "my rows below F are all sent" notes over a bounded
//!    channel; a full channel blocks them, so a slow store slows the sources.
//! 2. The committable frontier is the lowest note over this process's workers. When it moves
//!    (and a batch is big or old enough, or input has ended), the committer first snapshots
//!    every partition's resume point for it, then drains what is queued (so every reject read
//!    before a resume point is in hand), then commits rows ending below the frontier, the
//!    rejects and the resume points as one batch.
//! 3. A large backlog goes in slices, each a complete commit at a lower frontier, so a commit
//!    stays short and so does the work a crash throws away.
//! 4. A failed commit is retried with capped backoff while the store says the error may pass.
//! 5. After each commit, the committed frontier is published (sources prune their progress
//!    below it) and the after-commit hooks run (Kafka consumer-group offsets).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::progress::{Point, ProgressBook};
use super::store::{Batch, Store, END};
use crate::retry::{retry, RetryError, RetryPolicy};
use crate::row::{RejectRow, WindowRow};
use crate::window::WindowSpec;

/// Messages from workers to the committer. A row belongs to the commit below a frontier when
/// it was sent below it ([`WindowRow::sent_at`]: its end, or later for a correction).
#[derive(Debug)]
pub enum ToCommitter {
    Rows(Vec<WindowRow>),
    Rejects(Vec<RejectRow>),
    /// Worker `worker` has sent every row it sends below `below` (`None`: all of its rows).
    Frontier {
        worker: usize,
        below: Option<u64>,
    },
}

/// Run after each durable commit with the resume points it saved.
pub type AfterCommit = Box<dyn FnMut(&[Point]) + Send>;

/// Messages queued between workers and the committer (each at most a few thousand rows):
/// with a full queue, workers wait, and so do the sources.
const QUEUE: usize = 64;

/// How the committer paces its commits.
#[derive(Clone, Debug)]
pub struct CommitterConfig {
    /// Commit at least this often while windows complete.
    pub commit_interval: Duration,
    /// Commit once this many rows wait; a backlog is cut into slices of this many.
    pub max_batch_rows: usize,
    /// Worker threads of this process (each sends its own frontier).
    pub local_workers: usize,
    pub window: WindowSpec,
    /// How long a failing commit is retried before the run gives up.
    pub patience: Duration,
}

/// What the committer did.
#[derive(Clone, Debug, Default)]
pub struct DeliveryStats {
    pub rows: u64,
    pub rejects: u64,
    pub commits: u64,
    pub retries: u64,
    /// Per committed window end: time from the sink's frontier passing it to its commit.
    pub latencies: Vec<Duration>,
}

impl DeliveryStats {
    /// The `q` quantile (0..=1) of the commit latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let i = ((l.len() as f64 - 1.0) * q).round() as usize;
        l.get(i).copied()
    }
}

/// Why delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The store failed in a way retrying cannot fix.
    #[error("{0}")]
    Store(Box<dyn std::error::Error + Send + Sync>),
    #[error("giving up on {sink} after {} of retries: {message}", crate::human::duration(*.waited))]
    GaveUp {
        sink: String,
        waited: Duration,
        message: String,
    },
    #[error(transparent)]
    Progress(#[from] super::restart::ProgressConflict),
    #[error("the committer of {0} stopped unexpectedly (a panic); see the log above")]
    Panicked(String),
}

impl DeliveryError {
    fn from_retry<E: std::error::Error + Send + Sync + 'static>(
        sink: String,
        e: RetryError<E>,
    ) -> DeliveryError {
        match e {
            RetryError::Permanent(e) => DeliveryError::Store(Box::new(e)),
            RetryError::GaveUp { last, waited } => DeliveryError::GaveUp {
                sink,
                waited,
                message: last.to_string(),
            },
        }
    }
}

/// A running committer, and the handle workers send on.
pub struct Delivery {
    /// Taken when the run ends, so the committer sees the queue close.
    tx: RwLock<Option<Sender<ToCommitter>>>,
    committed: Arc<AtomicU64>,
    thread: Mutex<Option<JoinHandle<Result<DeliveryStats, DeliveryError>>>>,
    sink: String,
}

/// The committer has stopped (its error is reported by [`Delivery::finish`]).
#[derive(Debug, thiserror::Error)]
#[error("the committer of {0} has stopped")]
pub struct CommitterStopped(pub String);

impl Delivery {
    /// Starts committing into `store`, which has committed every window below
    /// `committed_below` already (a restart) or nothing.
    pub fn start<S: Store + 'static>(
        store: S,
        config: CommitterConfig,
        book: Arc<ProgressBook>,
        committed_below: u64,
        hooks: Vec<AfterCommit>,
        metrics: Option<Arc<crate::metrics::Metrics>>,
    ) -> Delivery {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let committed = Arc::new(AtomicU64::new(committed_below));
        let sink = store.describe();
        let mut committer = Committer {
            frontiers: vec![Some(0); config.local_workers.max(1)],
            config,
            store,
            rx,
            book,
            committed: committed.clone(),
            last: committed_below,
            rows: Vec::new(),
            rejects: Vec::new(),
            stats: DeliveryStats::default(),
            hooks,
            passed: VecDeque::new(),
            metrics,
        };
        let thread = std::thread::Builder::new()
            .name("tickflow-commit".into())
            .spawn(move || committer.run())
            .expect("spawning a thread at startup");
        Delivery {
            tx: RwLock::new(Some(tx)),
            committed,
            thread: Mutex::new(Some(thread)),
            sink,
        }
    }

    /// Queues `message` for the committer, waiting while the queue is full.
    pub fn send(&self, message: ToCommitter) -> Result<(), CommitterStopped> {
        let tx = self.tx.read().unwrap_or_else(|p| p.into_inner());
        match tx.as_ref().map(|tx| tx.send(message)) {
            Some(Ok(())) => Ok(()),
            _ => Err(CommitterStopped(self.sink.clone())),
        }
    }

    /// Every window ending below this is durable (in a cluster, on every process).
    pub fn committed_below(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    /// Closes the queue and waits for the last commit. Later calls find nothing to wait for.
    pub fn finish(&self) -> Result<DeliveryStats, DeliveryError> {
        self.tx.write().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        match thread {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(DeliveryError::Panicked(self.sink.clone()))),
            None => Ok(DeliveryStats::default()),
        }
    }
}

/// Reads where a restart begins (or, with `forget`, forgets it), retrying transient failures.
/// Progress saved by a cluster of another size is rewritten for this one of `processes`
/// before the run commits anything (see `restart.rs`).
pub fn recover<S: Store>(
    store: &mut S,
    pipeline: &str,
    forget: bool,
    processes: usize,
    patience: Duration,
) -> Result<Option<super::Restart>, DeliveryError> {
    let sink = store.describe();
    let policy = || RetryPolicy::for_up_to(patience);
    if forget {
        retry(
            policy(),
            || store.forget(),
            S::is_transient,
            |e, _| tracing::warn!(error = %e, "forgetting saved progress failed; retrying"),
        )
        .map_err(|e| DeliveryError::from_retry(sink, e))?;
        return Ok(None);
    }
    let saved = retry(
        policy(),
        || store.saved(),
        S::is_transient,
        |e, _| tracing::warn!(error = %e, "reading saved progress failed; retrying"),
    )
    .map_err(|e| DeliveryError::from_retry(sink.clone(), e))?;
    let restart = super::Restart::from_saved(pipeline, saved, processes)?;
    if let Some(r) = restart.as_ref().filter(|r| r.reshapes(processes)) {
        tracing::info!(
            saved = r.saved_processes,
            now = processes,
            committed_below = r.committed_below,
            "continuing progress saved by a cluster of another size"
        );
        retry(
            policy(),
            || store.reshape(processes, r.committed_below),
            S::is_transient,
            |e, _| tracing::warn!(error = %e, "rewriting saved progress failed; retrying"),
        )
        .map_err(|e| DeliveryError::from_retry(sink, e))?;
    }
    Ok(restart)
}

struct Committer<S: Store> {
    config: CommitterConfig,
    store: S,
    rx: Receiver<ToCommitter>,
    book: Arc<ProgressBook>,
    committed: Arc<AtomicU64>,
    /// This process has committed every window ending below this.
    last: u64,
    /// Per local worker: rows below this have all arrived (`None`: all rows).
    frontiers: Vec<Option<u64>>,
    rows: Vec<WindowRow>,
    rejects: Vec<RejectRow>,
    stats: DeliveryStats,
    hooks: Vec<AfterCommit>,
    /// Frontiers seen and when, oldest first (dropped once committed): commit latency.
    passed: VecDeque<(u64, Instant)>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl<S: Store> Committer<S> {
    fn run(&mut self) -> Result<DeliveryStats, DeliveryError> {
        let mut last_commit = Instant::now();
        let mut open = true;
        while open {
            match self.rx.recv_timeout(self.config.commit_interval) {
                Ok(msg) => self.take(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            let frontier = lowest(&self.frontiers);
            let due = !open
                || last_commit.elapsed() >= self.config.commit_interval
                || self.rows.len() >= self.config.max_batch_rows;
            if due && frontier > self.last {
                while self.last < frontier {
                    let slice = slice_below(&self.rows, frontier, self.config.max_batch_rows);
                    self.commit(slice)?;
                }
                last_commit = Instant::now();
            }
        }
        Ok(self.stats.clone())
    }

    fn take(&mut self, msg: ToCommitter) {
        match msg {
            ToCommitter::Rows(mut rows) => self.rows.append(&mut rows),
            ToCommitter::Rejects(mut rejects) => self.rejects.append(&mut rejects),
            ToCommitter::Frontier { worker, below } => {
                let slot = worker % self.frontiers.len();
                self.frontiers[slot] = below;
                let now = lowest(&self.frontiers);
                if self.passed.back().is_none_or(|(f, _)| now > *f) {
                    self.passed.push_back((now, Instant::now()));
                }
            }
        }
    }

    fn commit(&mut self, below: u64) -> Result<(), DeliveryError> {
        // In a cluster, a restart begins at the lowest frontier any process committed: resume
        // points must cover every window from there (unknown: cover everything).
        let floor = match self.store.others_committed() {
            Ok(Some(others)) => below.min(others),
            Ok(None) => below,
            Err(_) => 0,
        };
        // Resume points first, then what is queued: every reject read before a resume point
        // was queued before that point was published.
        let points = self.book.resume_points(&self.config.window, floor);
        for _ in 0..self.rx.len() {
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg),
                Err(_) => break,
            }
        }
        let (now, later): (Vec<WindowRow>, Vec<WindowRow>) = std::mem::take(&mut self.rows)
            .into_iter()
            .partition(|r| r.sent_at().0 < below);
        self.rows = later;
        let rejects = std::mem::take(&mut self.rejects);
        let batch = Batch {
            rows: &now,
            rejects: &rejects,
            points: &points,
            below: below.min(END),
        };
        let (store, metrics, stats) = (&mut self.store, &self.metrics, &mut self.stats);
        let sink = store.describe();
        retry(
            RetryPolicy::for_up_to(self.config.patience),
            || {
                let attempt = Instant::now();
                let result = store.commit(&batch);
                if let (Ok(()), Some(m)) = (&result, metrics) {
                    m.commit_seconds.observe(attempt.elapsed().as_secs_f64());
                    m.commit_rows.observe(batch.rows.len() as f64);
                    m.set_sink_failure(None);
                }
                result
            },
            S::is_transient,
            |e, _| {
                tracing::warn!(error = %e, "commit failed; retrying");
                if let Some(m) = metrics {
                    m.set_sink_failure(Some(format!("{sink}: {e}")));
                }
                stats.retries += 1;
            },
        )
        .map_err(|e| DeliveryError::from_retry(sink, e))?;
        self.stats.rows += now.len() as u64;
        self.stats.rejects += rejects.len() as u64;
        self.stats.commits += 1;
        self.last = below;
        // Sources may forget what only windows below the cluster's floor needed.
        self.committed.store(floor, Relaxed);
        self.note_latencies(&now, below);
        for hook in &mut self.hooks {
            hook(&points);
        }
        Ok(())
    }

    /// Records, per distinct window end just committed, how long ago the frontier passed it.
    fn note_latencies(&mut self, rows: &[WindowRow], below: u64) {
        if below >= END {
            return; // the final flush at end of input is not a steady-state latency
        }
        let committed = Instant::now();
        let mut ends: Vec<u64> = rows.iter().map(|r| r.sent_at().0).collect();
        ends.sort_unstable();
        ends.dedup();
        for end in ends {
            if let Some((_, at)) = self.passed.iter().find(|(f, _)| *f > end) {
                self.stats.latencies.push(committed.duration_since(*at));
            }
        }
        while self.passed.len() > 1 && self.passed[1].0 <= below {
            self.passed.pop_front();
        }
    }
}

/// Every row ending below this has arrived from every local worker.
fn lowest(frontiers: &[Option<u64>]) -> u64 {
    frontiers
        .iter()
        .map(|f| f.unwrap_or(END).min(END))
        .min()
        .unwrap_or(END)
}

/// The lowest frontier up to `frontier` below which at most `max_rows` of `rows` wait (or, if
/// a single window end holds more, just past that end).
fn slice_below(rows: &[WindowRow], frontier: u64, max_rows: usize) -> u64 {
    let mut ends: Vec<u64> = rows
        .iter()
        .map(|r| r.sent_at().0)
        .filter(|&e| e < frontier)
        .collect();
    if ends.len() <= max_rows {
        return frontier;
    }
    ends.sort_unstable();
    let cut = ends[max_rows];
    if cut > ends[0] {
        cut
    } else {
        cut + 1
    }
}

#[cfg(test)]
mod tests;
