//! Everything a run does before its workers start: sources prepared, sinks opened, saved
//! progress read, so that a bad setting fails at once and nothing half-starts.

use std::sync::atomic::{AtomicBool, AtomicI64};
use std::sync::Arc;
use std::time::Duration;

use super::gossip::WatermarkBoard;
use super::{per_process, Cluster, IngestContext, IngestSettings, Resumption, RunControl};
use super::{RunError, RunOptions};
use crate::config::Pipeline;
use crate::delivery::{AfterCommit, Place, ProgressBook, Restart, END};
use crate::live::{Chart, HttpServer, LiveView};
use crate::metrics::Metrics;
use crate::sink::kafka::{KafkaSink, KafkaSinkOptions};
use crate::sink::postgres::{PgSink, PgSinkOptions, Target};
use crate::sink::redis::{RedisSink, RedisSinkOptions};
use crate::sink::{RejectSink, Sink, SinkSpec, Sinks, TextSink};
use crate::source::{GroupCommitter, KafkaConfig, SavedCut, SourceConfig};
use crate::window::WindowSpec;

/// Rows a PostgreSQL commit takes at most (a backlog is committed in slices of this size).
const MAX_BATCH_ROWS: usize = 100_000;

/// Rows a Redis commit takes at most: Redis runs nothing else while the commit script runs,
/// so a slice is kept to a few tens of milliseconds of it.
const REDIS_MAX_BATCH_ROWS: usize = 10_000;

/// A pipeline ready to run in this process.
pub struct PreparedRun {
    pub(super) ingest: Arc<IngestContext>,
    pub(super) window: WindowSpec,
    /// With `--reference`: where the symbol -> sector mapping comes from.
    pub(super) reference: Option<crate::reference::ReferenceSpec>,
    /// After a restart: windows ending below this were committed by an earlier run.
    pub(super) resume_below: Option<u64>,
    pub(super) workers: usize,
    pub(super) cluster: Option<Cluster>,
    pub(super) progress: Option<Duration>,
    /// With `--http-addr`: what the sink operator charts.
    pub(super) chart: Option<Arc<Chart>>,
    /// Serves `--http-addr` for as long as the run lasts.
    pub(super) _http_server: Option<HttpServer>,
}

/// Prepares `pipeline` to run: checks and prepares its sources, opens its sinks (creating
/// PostgreSQL tables, reading saved progress) and starts the `--http-addr` endpoint.
pub fn prepare(
    mut pipeline: Pipeline,
    options: RunOptions,
    shutdown: Arc<AtomicBool>,
) -> Result<PreparedRun, RunError> {
    let control = RunControl::new(shutdown);
    if options.http_addr.is_some() {
        for source in &mut pipeline.sources {
            if let SourceConfig::Kafka(k) = source {
                // Consumer lag for the metrics endpoint comes from librdkafka's statistics.
                k.options
                    .settings
                    .entry("statistics.interval.ms".into())
                    .or_insert_with(|| "1000".into());
            }
        }
    }
    let workers = pipeline.workers;
    let processes = options.cluster.as_ref().map_or(1, |c| c.processes);
    let process = options.cluster.as_ref().map_or(0, |c| c.process);
    let place = Place {
        process,
        processes,
        local_workers: workers,
    };
    let metrics = Metrics::new(workers);
    // The endpoint is up before sources and sinks connect (brokers and databases may take
    // their time), so /healthz answers and /readyz says why it is not ready.
    let live = options
        .http_addr
        .as_ref()
        .map(|_| LiveView::new(pipeline.name.clone(), pipeline.window, metrics.clone()));
    let http_server = match (&options.http_addr, &live) {
        (Some(address), Some(view)) => Some(HttpServer::start(address, view.clone()).map_err(
            |error| RunError::Http {
                address: address.clone(),
                error,
            },
        )?),
        _ => None,
    };
    let mut sources = crate::source::prepare(
        &pipeline.sources,
        pipeline.max_line_bytes,
        workers,
        control.flag(),
    )?;
    let replayable = sources.replayable();
    let book = Arc::new(ProgressBook::default());
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    let mut restart = None;
    let mut durable = false;
    let mut rejects_elsewhere = false;
    for spec in &pipeline.sinks {
        match spec {
            SinkSpec::Postgres(uri) => {
                let target = Target::parse(uri).map_err(|e| RunError::Failed(e.to_string()))?;
                let pg = &pipeline.postgres;
                let pg_options = PgSinkOptions {
                    target,
                    tables: pg.tables.clone(),
                    pipeline: pipeline.name.clone(),
                    connect_timeout: pg.connect_timeout,
                    commit_interval: pg.commit_interval,
                    max_batch_rows: MAX_BATCH_ROWS,
                    window: pipeline.window,
                    metrics: Some(metrics.clone()),
                    place,
                };
                if !replayable {
                    tracing::info!("sources that cannot be replayed: PostgreSQL results are at-most-once across a crash");
                }
                let (store, saved) = PgSink::open(&pg_options, options.restart, replayable)?;
                let hooks = group_commit_hook(&pipeline).into_iter().collect();
                let run_id = (!replayable).then(run_started);
                let sink = PgSink::start(
                    store,
                    &pg_options,
                    book.clone(),
                    saved.as_ref(),
                    hooks,
                    run_id,
                );
                sinks.push(Box::new(sink));
                restart = saved;
                durable = true;
            }
            SinkSpec::Kafka(config) => {
                let kafka_options = KafkaSinkOptions {
                    config: config.clone(),
                    pipeline: pipeline.name.clone(),
                    max_batch_rows: MAX_BATCH_ROWS,
                    window: pipeline.window,
                    metrics: Some(metrics.clone()),
                    place,
                };
                let (store, saved) = KafkaSink::open(&kafka_options, options.restart, replayable)
                    .map_err(|e| RunError::Failed(e.to_string()))?;
                let hooks = group_commit_hook(&pipeline).into_iter().collect();
                let sink =
                    KafkaSink::start(store, &kafka_options, book.clone(), saved.as_ref(), hooks);
                sinks.push(Box::new(sink));
                restart = saved;
                durable = true;
                // Rejects are not written to Kafka: they go to --rejects or stderr.
                rejects_elsewhere = true;
            }
            SinkSpec::Redis(target) => {
                let redis_options = RedisSinkOptions {
                    target: target.clone(),
                    settings: pipeline.redis.clone(),
                    pipeline: pipeline.name.clone(),
                    max_batch_rows: REDIS_MAX_BATCH_ROWS,
                    window: pipeline.window,
                    metrics: Some(metrics.clone()),
                    place,
                };
                if !replayable {
                    tracing::info!("sources that cannot be replayed: Redis results are at-most-once across a crash");
                }
                let (store, saved) = RedisSink::open(&redis_options, options.restart, replayable)?;
                let hooks = group_commit_hook(&pipeline).into_iter().collect();
                let run_id = (!replayable).then(run_started);
                let sink = RedisSink::start(
                    store,
                    &redis_options,
                    book.clone(),
                    saved.as_ref(),
                    hooks,
                    run_id,
                );
                sinks.push(Box::new(sink));
                restart = saved;
                durable = true;
            }
            SinkSpec::File(path) => {
                // In a cluster each process writes its own file; their union is the output.
                let path = match &options.cluster {
                    Some(c) => per_process(path, c.process),
                    None => path.clone(),
                };
                sinks.push(Box::new(TextSink::open(
                    &SinkSpec::File(path),
                    pipeline.format,
                    pipeline.window.revises(),
                    pipeline.reference.is_some(),
                )?));
            }
            SinkSpec::Stdout | SinkSpec::Discard => {
                sinks.push(Box::new(TextSink::open(
                    spec,
                    pipeline.format,
                    pipeline.window.revises(),
                    pipeline.reference.is_some(),
                )?));
            }
        }
    }
    // Rejects go to `--rejects PATH` when given; else to the database when there is one, and
    // to stderr when there is not (a Kafka sink keeps none).
    match (&pipeline.rejects, durable && !rejects_elsewhere) {
        (Some(path), _) => sinks.push(Box::new(RejectSink::file(path)?)),
        (None, false) => sinks.push(Box::new(RejectSink::stderr())),
        (None, true) => {}
    }
    let exactly_once = durable && replayable;
    let resume_below = restart.as_ref().map(|r: &Restart| r.committed_below);
    if let Some(r) = restart.as_ref().filter(|_| exactly_once) {
        // Files are cut as their first run cut them, whatever the worker count now.
        sources.resume_files(|source| {
            r.saved_cut(source)
                .map(|(split_bytes, read_to, splits)| SavedCut {
                    split_bytes,
                    read_to,
                    splits,
                    finished: r.committed_below >= END,
                })
        })?;
    }
    let first_worker = workers * process;
    let sinks = Arc::new(Sinks::new(sinks));
    if let Some(view) = &live {
        view.opened(sinks.clone());
    }
    let ingest = IngestContext {
        sources: Arc::new(sources),
        settings: IngestSettings {
            fields: pipeline.fields.clone(),
            filter: pipeline.filter,
            window: pipeline.window,
            max_out_of_orderness: pipeline.max_out_of_orderness,
            idle_timeout: pipeline.idle_timeout,
            max_line_bytes: pipeline.max_line_bytes,
            max_future: pipeline.max_future,
        },
        resumption: Arc::new(Resumption {
            restart,
            book: exactly_once.then_some(book),
        }),
        sinks,
        metrics,
        recent_rejects: live.as_ref().map(|v| v.recent_rejects.clone()),
        watermarks: Arc::new(WatermarkBoard::new(
            workers * processes,
            first_worker..first_worker + workers,
        )),
        in_flight: Arc::new(AtomicI64::new(0)),
        control,
    };
    Ok(PreparedRun {
        ingest: Arc::new(ingest),
        window: pipeline.window,
        reference: pipeline.reference.clone(),
        resume_below,
        workers,
        cluster: options.cluster,
        progress: options.progress,
        chart: live.as_ref().map(|v| v.chart.clone()),
        _http_server: http_server,
    })
}

/// With `--group-id`, a hook that mirrors committed resume offsets into the consumer group
/// (for lag monitoring only: tickflow never reads them back).
fn group_commit_hook(pipeline: &Pipeline) -> Option<AfterCommit> {
    let specs: Vec<KafkaConfig> = pipeline.kafka_sources().cloned().collect();
    let mut group = GroupCommitter::new(&specs)?;
    Some(Box::new(move |points| {
        let offsets: Vec<_> = points
            .iter()
            .map(|p| (p.key.clone(), p.resume.offset))
            .collect();
        group.commit(&offsets);
    }))
}

/// The run's start time, naming the rejects of sources that are read afresh each run.
fn run_started() -> String {
    crate::event::EventTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    )
    .to_string()
}
