//! The timely dataflow: sources -> pre-combine -> exchange by key -> windows -> sinks.

mod aggregate;
mod combine;
mod control;
mod count;
mod emit;
mod first_lines;
mod gossip;
mod ingest;
mod partial;
mod prepare;
mod quiet_stdout;
mod sector;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::operators::Concat;

pub use aggregate::Windows;
pub use combine::Combiner;
pub use control::RunControl;
pub use count::CountWindowsOp;
pub use emit::Emit;
pub use gossip::{gossip, WatermarkBoard};
pub use ingest::{ingest, IngestContext, IngestSettings, Resumption};
pub use partial::{Key, Partial};
pub use prepare::{prepare, PreparedRun};
pub use sector::Sectors;

use crate::config::Pipeline;
use crate::delivery::DeliveryStats;
use crate::metrics::{Progress, Snapshot};
use crate::sink::postgres::PgError;
use crate::sink::SinkError;
use crate::source::SourceError;

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
    /// Forget progress saved in PostgreSQL and start from the beginning.
    pub restart: bool,
    /// Serve the live page, its JSON, Prometheus `/metrics`, `/healthz` and `/readyz` here.
    pub http_addr: Option<String>,
}

/// An error that stopped a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Postgres(#[from] PgError),
    #[error(transparent)]
    Redis(#[from] crate::sink::redis::RedisError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("cannot serve --http-addr {address}: {error}; is another program using that port?")]
    Http {
        address: String,
        error: std::io::Error,
    },
    #[error("cannot start workers: {0}")]
    Start(String),
    #[error("{0}")]
    Failed(String),
}

/// `out.jsonl` for process 1 becomes `out-p1.jsonl`.
pub fn per_process(path: &std::path::Path, process: usize) -> std::path::PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-p{process}.{}", ext.to_string_lossy()),
        None => format!("{stem}-p{process}"),
    };
    path.with_file_name(name)
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub metrics: Snapshot,
    pub interrupted: bool,
    /// What the PostgreSQL sink committed, if there was one.
    pub postgres: Option<DeliveryStats>,
}

/// Runs `pipeline` to the end of its input (or until `shutdown` is set) and flushes every window.
pub fn run(
    pipeline: Pipeline,
    options: RunOptions,
    shutdown: Arc<AtomicBool>,
) -> Result<RunSummary, RunError> {
    execute(prepare(pipeline, options, shutdown)?)
}

/// Runs a prepared pipeline's workers until their input ends, then finishes every sink.
pub fn execute(run: PreparedRun) -> Result<RunSummary, RunError> {
    let cx = run.ingest.clone();
    let progress = run
        .progress
        .map(|every| Progress::start(cx.metrics.clone(), every));
    let workers = run.workers;
    let communication = match &run.cluster {
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
        let _quiet = run
            .cluster
            .is_some()
            .then(quiet_stdout::StdoutToStderr::new);
        communication.try_build().map_err(RunError::Start)?
    };
    let (window, resume_below, chart) = (run.window, run.resume_below, run.chart.clone());
    let reference = run.reference.clone();
    let worker_cx = cx.clone();
    let guards = timely::execute::execute_from(
        allocators,
        others,
        timely::WorkerConfig::default(),
        move |worker| {
            let cx = worker_cx.clone();
            let chart = chart.clone();
            let reference = reference.clone();
            worker.dataflow::<u64, _, _>(move |scope| {
                gossip::gossip(scope, cx.watermarks.clone());
                let (in_flight, metrics) = (cx.in_flight.clone(), cx.metrics.clone());
                let partials = ingest(scope, cx.clone());
                let rows = match window.count() {
                    Some(n) => partials.count_windows(window, n, resume_below, in_flight, metrics),
                    None => partials.windows(window, resume_below, in_flight, metrics),
                };
                let rows = match reference {
                    Some(reference) => {
                        let sectors =
                            rows.sectors(window, reference, cx.metrics.clone(), cx.control.clone());
                        rows.concat(sectors)
                    }
                    None => rows,
                };
                rows.emit(cx.sinks.clone(), cx.control.clone(), chart);
            });
        },
    )
    .map_err(RunError::Start)?;
    let panicked: Vec<String> = guards.join().into_iter().filter_map(Result::err).collect();
    drop(progress);
    let postgres = cx.sinks.finish()?;
    if let Some(p) = panicked.first() {
        return Err(RunError::Failed(format!("a worker failed: {p}")));
    }
    if let Some(first) = cx.control.first_error() {
        return Err(RunError::Failed(first));
    }
    Ok(RunSummary {
        metrics: cx.metrics.snapshot(),
        interrupted: cx.control.stopping(),
        postgres,
    })
}
