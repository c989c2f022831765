//! `tickflow bench`: whole-dataflow throughput with output discarded, per worker count.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use tickflow::cli::BenchArgs;
use tickflow::config::{Pipeline, SpecFile};
use tickflow::dataflow::{run, RunError, RunOptions};
use tickflow::source::{GeneratorSpec, Kinds};

mod child;
mod drain;
mod memory;
mod suite;
mod topics;

/// One measured configuration.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub source: String,
    pub workers: usize,
    pub window: String,
    pub slide: String,
    pub sink: String,
    pub events: u64,
    pub windows_out: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub rows_per_sec: f64,
}

/// Runs `pipeline` once with output discarded and times it.
pub fn measure(pipeline: Pipeline) -> Result<(u64, u64, f64), RunError> {
    let started = Instant::now();
    let summary = run(
        pipeline,
        RunOptions {
            restart: true,
            ..RunOptions::default()
        },
        Arc::new(AtomicBool::new(false)),
    )?;
    let secs = started.elapsed().as_secs_f64();
    Ok((
        summary.metrics.records_in,
        summary.metrics.windows_out,
        secs,
    ))
}

/// The benchmark's own schema, dropped before each measured run into PostgreSQL.
pub const BENCH_SCHEMA: &str = "tickflow_bench";

/// Drops [`BENCH_SCHEMA`] at `sink_uri` so the next run measures inserts into fresh tables,
/// not upserts over an earlier run's rows.
pub fn drop_bench_schema(sink_uri: &str) -> anyhow::Result<()> {
    let target = tickflow::sink::postgres::Target::parse(sink_uri)?;
    let mut client =
        tickflow::sink::postgres::connect(&target, std::time::Duration::from_secs(10))?;
    client.batch_execute(&format!("DROP SCHEMA IF EXISTS {BENCH_SCHEMA} CASCADE"))?;
    Ok(())
}

/// Measures every worker count in `args` and prints a table (or JSON).
pub fn run_bench(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(topic) = &args.drain {
        return drain::drain_bench(topic, args);
    }
    if args.suite {
        return suite::run_suite(args);
    }
    let mut results = Vec::new();
    for &workers in &args.workers {
        let mut best: Option<BenchResult> = None;
        for _ in 0..args.repeat.max(1) {
            let mut spec = SpecFile {
                sources: Some(vec![args.source.clone()]),
                sinks: Some(vec![args.sink.clone()]),
                workers: Some(workers),
                rejects: Some(
                    std::env::temp_dir()
                        .join("tickflow-bench-rejects.jsonl")
                        .display()
                        .to_string(),
                ),
                generator: Some(GeneratorSpec {
                    rate: 0.0,
                    events: Some(args.events),
                    symbols: args.symbols,
                    event_rate: Some(args.event_rate),
                    kinds: Kinds::Ticks,
                    ..GeneratorSpec::default()
                }),
                ..SpecFile::default()
            };
            spec.window.length = Some(args.window.clone());
            spec.window.slide = Some(args.slide.clone());
            spec.event_time.allowed_lateness = Some(args.allowed_lateness.clone());
            spec.window.count = args.count_window;
            spec.reference = args.reference.clone();
            spec.reference_table = args.reference_table.clone();
            // One name for every configuration: the benchmark's tables belong to one pipeline.
            spec.name = Some("bench".into());
            spec.postgres.schema = Some(args.pg_schema.clone());
            spec.exit_at_end = Some(true);
            spec.kafka
                .settings
                .extend(args.kafka_settings.iter().cloned());
            let pipeline = Pipeline::from_spec(spec)?;
            // Every repeat reads the whole input into fresh tables; a schema the user named is
            // never dropped, only its saved progress forgotten (`restart`).
            if tickflow::sink::postgres::is_postgres_uri(&args.sink)
                && args.pg_schema == BENCH_SCHEMA
            {
                drop_bench_schema(&args.sink)?;
            }
            let (events, windows_out, seconds) = measure(pipeline)?;
            let result = BenchResult {
                source: args.source.clone(),
                workers,
                window: args.window.clone(),
                slide: args.slide.clone(),
                sink: tickflow::sink::SinkSpec::parse(&args.sink)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|_| args.sink.clone()),
                events,
                windows_out,
                seconds,
                events_per_sec: events as f64 / seconds,
                rows_per_sec: windows_out as f64 / seconds,
            };
            if best
                .as_ref()
                .is_none_or(|b| result.events_per_sec > b.events_per_sec)
            {
                best = Some(result);
            }
        }
        results.extend(best);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        println!(
            "{:<28} {:<10} {:>7} {:>10} {:>12} {:>10} {:>9} {:>12} {:>12}",
            "source",
            "sink",
            "workers",
            "window",
            "events",
            "rows",
            "seconds",
            "events/s",
            "rows/s"
        );
        for r in &results {
            let sink = if r.sink.starts_with("postgres") {
                "postgres"
            } else {
                r.sink.as_str()
            };
            println!(
                "{:<28} {:<10} {:>7} {:>10} {:>12} {:>10} {:>9.3} {:>12.0} {:>12.0}",
                r.source,
                sink,
                r.workers,
                format!("{}/{}", r.window, r.slide),
                r.events,
                r.windows_out,
                r.seconds,
                r.events_per_sec,
                r.rows_per_sec
            );
        }
    }
    Ok(())
}
