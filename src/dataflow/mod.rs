//! The timely dataflow: sources -> pre-combine -> exchange by key -> windows -> sinks.

mod aggregate;
mod combine;
mod emit;
mod first_lines;
mod gossip;
mod ingest;
mod partial;
mod progress;
mod quiet_stdout;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use aggregate::Windows;
pub use combine::Combiner;
pub use emit::Emit;
pub use ingest::ingest;
pub use partial::Partial;
pub use progress::{
    all_windows_below, PartitionKey, PartitionProgress, ProgressBook, Restart, Resume,
};

use crate::config::Pipeline;
use crate::event::EventTime;
use crate::metrics::{Metrics, Progress, Snapshot};
use crate::sink::postgres::{PgError, PgSink, PgSinkOptions, Target, ToWriter, WriterStats};
use crate::sink::{RejectSink, SinkError, SinkSpec, TextSink};
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
    /// Forget progress saved in PostgreSQL and start from the beginning.
    pub restart: bool,
    /// Serve Prometheus `/metrics` and `/healthz` here.
    pub metrics_addr: Option<String>,
}

/// An error that stopped a run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Postgres(#[from] PgError),
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
    /// JSON-lines rejects output (stderr or a file); `None` when rejects go to PostgreSQL only.
    pub rejects: Option<RejectSink>,
    pub sinks: Vec<TextSink>,
    /// The PostgreSQL writer's queue; taken (closed) when the run ends.
    pg: Mutex<Option<crossbeam_channel::Sender<ToWriter>>>,
    /// Where a restart begins, read from PostgreSQL.
    pub restart: Option<Restart>,
    /// Partition progress for exactly-once commits; `None` unless PostgreSQL is written and
    /// every source is replayable.
    pub book: Option<Arc<ProgressBook>>,
    /// Every window ending below this is committed to PostgreSQL.
    pub committed_below: Arc<AtomicU64>,
    /// Tells apart the rejects of runs over sources that cannot be replayed (stdin, generator).
    pub run_id: String,
    /// The partitions of each Kafka source, listed at start-up.
    pub kafka_partitions: Vec<Vec<crate::source::TopicPartition>>,
    /// Each Kafka source's watch for partitions added while running.
    pub kafka_watches: Vec<Option<Arc<crate::source::PartitionWatch>>>,
    /// The bound listener of each `listen://` source.
    pub listeners: Vec<Arc<crate::source::Listener>>,
    /// Set by Ctrl-C or a fatal error: sources end, windows flush, the run exits.
    pub shutdown: Arc<AtomicBool>,
    /// Partials sent by sources and not yet taken in by window operators.
    pub in_flight: AtomicI64,
    /// Every worker's watermarks, shared across the cluster so idle workers follow the rest.
    pub watermarks: Arc<gossip::WatermarkBoard>,
    /// Workers in this process.
    local_workers: usize,
    errors: Mutex<Vec<String>>,
}

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

    /// A sender to the PostgreSQL writer, if there is one.
    pub fn pg_sender(&self) -> Option<crossbeam_channel::Sender<ToWriter>> {
        self.pg.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn publish_watermark(&self, worker: usize, at: Option<EventTime>) {
        self.metrics.set_watermark(worker % self.local_workers, at);
    }
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
    pub postgres: Option<WriterStats>,
}

/// Runs `pipeline` to the end of its input (or until `shutdown` is set) and flushes every window.
pub fn run(
    mut pipeline: Pipeline,
    options: RunOptions,
    shutdown: Arc<AtomicBool>,
) -> Result<RunSummary, RunError> {
    for source in &mut pipeline.sources {
        let source_name = source.to_string();
        if let SourceSpec::File(path) = source {
            let unusable = |e: std::io::Error| RunError::Source {
                source_name: source_name.clone(),
                message: format!("{e}; check the path and permissions"),
            };
            // An absolute path names the partition the same way from any working directory.
            let absolute = std::fs::canonicalize(&path).map_err(unusable)?;
            let file = std::fs::File::open(&absolute).map_err(unusable)?;
            // Linux opens a directory for reading; only the first read fails.
            if file.metadata().map_err(unusable)?.is_dir() {
                return Err(RunError::Source {
                    source_name,
                    message: format!(
                        "{} is a directory; name a file (repeat --source for several files)",
                        absolute.display()
                    ),
                });
            }
            *path = absolute;
        }
    }
    if options.metrics_addr.is_some()
        && !pipeline
            .kafka
            .settings
            .iter()
            .any(|(k, _)| k == "statistics.interval.ms")
    {
        // Consumer lag for the metrics endpoint comes from librdkafka's statistics.
        pipeline
            .kafka
            .settings
            .push(("statistics.interval.ms".into(), "1000".into()));
    }
    let mut kafka_partitions = Vec::new();
    let mut kafka_watches = Vec::new();
    for source in &pipeline.sources {
        if let SourceSpec::Kafka(k) = source {
            let listed = crate::source::list_partitions(k, &pipeline.kafka)
                .map_err(|e| RunError::Failed(e.to_string()))?;
            kafka_watches.push(crate::source::PartitionWatch::start(
                k,
                &pipeline.kafka,
                listed.clone(),
                shutdown.clone(),
            ));
            kafka_partitions.push(listed);
        }
    }
    let mut listeners = Vec::new();
    for source in &pipeline.sources {
        if let SourceSpec::Listen(address) = source {
            let listener = crate::source::Listener::bind(
                address,
                pipeline.workers,
                pipeline.max_connections,
                pipeline.max_line_bytes,
                pipeline.kafka.exit_at_end,
                shutdown.clone(),
            )
            .map_err(|e| RunError::Source {
                source_name: source.to_string(),
                message: format!("cannot listen: {e}"),
            })?;
            tracing::info!(address = %listener.local_addr(), "listening");
            listeners.push(listener);
        }
    }
    if let Some(cluster) = &options.cluster {
        // Each process writes its own file; their union is the single-process output.
        for sink in &mut pipeline.sinks {
            if let SinkSpec::File(path) = sink {
                *path = per_process(path, cluster.process);
            }
        }
    }
    let sinks = pipeline
        .sinks
        .iter()
        .map(|s| TextSink::open(s, pipeline.format))
        .collect::<Result<Vec<_>, _>>()?;
    let pg_uri = pipeline.sinks.iter().find_map(|s| match s {
        SinkSpec::Postgres(uri) => Some(uri.clone()),
        _ => None,
    });
    let rejects = match (&pipeline.rejects, &pg_uri) {
        (Some(path), _) => Some(RejectSink::file(path)?),
        (None, None) => Some(RejectSink::stderr()),
        (None, Some(_)) => None,
    };
    let workers = pipeline.workers;
    let splits = workers * options.cluster.as_ref().map_or(1, |c| c.processes);
    let first_worker = workers * options.cluster.as_ref().map_or(0, |c| c.process);
    let metrics = Metrics::new(workers);
    let _metrics_server = match &options.metrics_addr {
        Some(addr) => Some(
            crate::metrics::MetricsServer::start(addr, metrics.clone()).map_err(|e| {
                RunError::Source {
                    source_name: format!("--metrics-addr {addr}"),
                    message: format!("cannot listen: {e}"),
                }
            })?,
        ),
        None => None,
    };
    let book = Arc::new(ProgressBook::default());
    let committed_below = Arc::new(AtomicU64::new(0));
    let mut restart = None;
    let mut pg_sink = None;
    if let Some(uri) = pg_uri {
        let target = Target::parse(&uri).map_err(|e| RunError::Failed(e.to_string()))?;
        let pg = &pipeline.postgres;
        let pg_options = PgSinkOptions {
            target,
            tables: pg.tables.clone(),
            pipeline: pipeline.name.clone(),
            connect_timeout: pg.connect_timeout,
            commit_interval: pg.commit_interval,
            max_batch_rows: 100_000,
            local_workers: workers,
            splits,
            window: pipeline.window,
            metrics: Some(metrics.clone()),
            process: options.cluster.as_ref().map_or(0, |c| c.process),
        };
        let replayable = pipeline.replayable();
        if !replayable {
            tracing::info!("sources that cannot be replayed: PostgreSQL results are at-most-once across a crash");
        }
        let (client, saved) = PgSink::prepare(&pg_options, options.restart, replayable)?;
        if let Some(saved) = &saved {
            committed_below.store(saved.committed_below, Relaxed);
        }
        restart = saved;
        let kafka_specs: Vec<crate::source::KafkaSpec> = pipeline
            .sources
            .iter()
            .filter_map(|s| match s {
                SourceSpec::Kafka(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        let after_commit = crate::source::GroupCommitter::new(&kafka_specs, &pipeline.kafka).map(
            |mut group| -> crate::sink::postgres::AfterCommit {
                Box::new(move |points| {
                    let offsets: Vec<_> =
                        points.iter().map(|(k, r)| (k.clone(), r.offset)).collect();
                    group.commit(&offsets);
                })
            },
        );
        pg_sink = Some(PgSink::start(
            client,
            pg_options,
            book.clone(),
            committed_below.clone(),
            after_commit,
        ));
    }
    let exactly_once = pg_sink.is_some() && pipeline.replayable();
    let shared = Arc::new(Shared {
        pipeline,
        metrics: metrics.clone(),
        rejects,
        sinks,
        pg: Mutex::new(pg_sink.as_ref().map(PgSink::sender)),
        restart,
        book: exactly_once.then_some(book),
        committed_below,
        run_id: crate::event::EventTime(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        )
        .to_string(),
        kafka_partitions,
        kafka_watches,
        listeners,
        shutdown: shutdown.clone(),
        in_flight: AtomicI64::new(0),
        watermarks: Arc::new(gossip::WatermarkBoard::new(
            splits,
            first_worker..first_worker + workers,
        )),
        local_workers: workers,
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
                gossip::gossip(scope, shared.watermarks.clone());
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
    if let Some(rejects) = &shared.rejects {
        rejects.flush()?;
    }
    shared.pg.lock().unwrap_or_else(|p| p.into_inner()).take();
    let postgres = pg_sink.map(PgSink::finish).transpose()?;
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
        postgres,
    })
}
