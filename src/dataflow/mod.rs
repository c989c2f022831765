//! The timely dataflow: sources -> pre-combine -> exchange by key -> windows -> sinks.

mod aggregate;
mod combine;
mod emit;
mod ingest;
mod partial;
mod quiet_stdout;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use aggregate::Windows;
pub use combine::Combiner;
pub use emit::Emit;
pub use ingest::ingest;
pub use partial::Partial;

use crate::config::Pipeline;
use crate::event::EventTime;
use crate::metrics::{Metrics, Progress, Snapshot};
use crate::sink::{RejectSink, SinkError, TextSink};
use crate::source::SourceSpec;

/// Where a cluster's processes are (timely's `-n -p -h`).
#[derive(Clone, Debug)]
pub struct Cluster {
    pub processes: usize,
    pub process: usize,
    pub addresses: Vec<String>,
}

/// How to run a pipeline, beyond the pipeline itself.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Print a progress line to stderr this often.
    pub progress: Option<Duration>,
    pub cluster: Option<Cluster>,
}

/// An error that stopped a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("cannot open source {source_name}: {message}")]
    Source {
        source_name: String,
        message: String,
    },
    #[error("cannot start workers: {0}")]
    Start(String),
    #[error("{0}")]
    Failed(String),
}

/// State shared by all workers of a process.
pub struct Shared {
    pub pipeline: Pipeline,
    pub metrics: Arc<Metrics>,
    pub rejects: RejectSink,
    pub sinks: Vec<TextSink>,
    /// Set by Ctrl-C or a fatal error: sources end, windows flush, the run exits.
    pub shutdown: Arc<AtomicBool>,
    /// Partials sent by sources and not yet taken in by window operators.
    pub in_flight: AtomicI64,
    /// Per worker: the lowest watermark of its non-idle partitions (`u64::MAX`: none active).
    active: Vec<AtomicU64>,
    errors: Mutex<Vec<String>>,
}

const NONE_ACTIVE: u64 = u64::MAX;

impl Shared {
    /// Records a fatal error and asks every source to stop.
    pub fn fail(&self, message: String) {
        tracing::error!(%message, "stopping the run");
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
        self.shutdown.store(true, Relaxed);
    }

    /// Asks every source to stop without an error (Ctrl-C, a closed stdout).
    pub fn stop(&self) {
        self.shutdown.store(true, Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    fn local(&self, worker: usize) -> usize {
        worker % self.active.len()
    }

    pub fn publish_watermark(&self, worker: usize, at: Option<EventTime>) {
        self.metrics.set_watermark(self.local(worker), at);
        if at.is_none() {
            self.active[self.local(worker)].store(NONE_ACTIVE, Relaxed);
        }
    }

    pub fn set_active_watermark(&self, worker: usize, at: Option<u64>) {
        self.active[self.local(worker)].store(at.unwrap_or(NONE_ACTIVE), Relaxed);
    }

    /// The lowest watermark among other workers that have an active partition.
    pub fn slowest_active_watermark(&self, worker: usize) -> Option<u64> {
        let me = self.local(worker);
        self.active
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .map(|(_, w)| w.load(Relaxed))
            .filter(|&w| w != NONE_ACTIVE)
            .min()
    }
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub metrics: Snapshot,
    pub interrupted: bool,
}

/// Runs `pipeline` to the end of its input (or until `shutdown` is set) and flushes every window.
pub fn run(
    pipeline: Pipeline,
    options: RunOptions,
    shutdown: Arc<AtomicBool>,
) -> Result<RunSummary, RunError> {
    for source in &pipeline.sources {
        if let SourceSpec::File(path) = source {
            std::fs::File::open(path).map_err(|e| RunError::Source {
                source_name: source.to_string(),
                message: format!("{e}; check the path and permissions"),
            })?;
        }
    }
    let sinks = pipeline
        .sinks
        .iter()
        .map(|s| TextSink::open(s, pipeline.format))
        .collect::<Result<Vec<_>, _>>()?;
    let rejects = match &pipeline.rejects {
        Some(path) => RejectSink::file(path)?,
        None => RejectSink::stderr(),
    };
    let workers = pipeline.workers;
    let metrics = Metrics::new(workers);
    let shared = Arc::new(Shared {
        pipeline,
        metrics: metrics.clone(),
        rejects,
        sinks,
        shutdown: shutdown.clone(),
        in_flight: AtomicI64::new(0),
        active: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        errors: Mutex::new(Vec::new()),
    });
    let progress = options
        .progress
        .map(|every| Progress::start(metrics.clone(), every));
    let communication = match &options.cluster {
        Some(c) => timely::CommunicationConfig::Cluster {
            threads: workers,
            process: c.process,
            addresses: c.addresses.clone(),
            report: false,
            zerocopy: false,
        },
        None if workers == 1 => timely::CommunicationConfig::Thread,
        None => timely::CommunicationConfig::Process(workers),
    };
    let (allocators, others) = {
        let _quiet = options
            .cluster
            .is_some()
            .then(quiet_stdout::StdoutToStderr::new);
        communication.try_build().map_err(RunError::Start)?
    };
    let worker_shared = shared.clone();
    let guards = timely::execute::execute_from(
        allocators,
        others,
        timely::WorkerConfig::default(),
        move |worker| {
            let shared = worker_shared.clone();
            worker.dataflow::<u64, _, _>(move |scope| {
                ingest(scope, shared.clone())
                    .windows(shared.clone())
                    .emit(shared);
            });
        },
    )
    .map_err(RunError::Start)?;
    let panicked: Vec<String> = guards.join().into_iter().filter_map(Result::err).collect();
    drop(progress);
    for sink in &shared.sinks {
        match sink.flush() {
            Err(e) if !e.is_broken_pipe() => return Err(e.into()),
            _ => {}
        }
    }
    shared.rejects.flush()?;
    if let Some(p) = panicked.first() {
        return Err(RunError::Failed(format!("a worker failed: {p}")));
    }
    let errors = shared.errors.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(first) = errors.first() {
        return Err(RunError::Failed(first.clone()));
    }
    Ok(RunSummary {
        metrics: metrics.snapshot(),
        interrupted: shutdown.load(Relaxed),
    })
}
