//! `tickflow bench`: whole-dataflow throughput with output discarded, per worker count.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::cli::BenchArgs;
use crate::config::{Pipeline, SpecFile};
use crate::dataflow::{run, RunError, RunOptions};
use crate::source::{GeneratorSpec, Kinds};

/// One measured configuration.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub source: String,
    pub workers: usize,
    pub window: String,
    pub slide: String,
    pub events: u64,
    pub windows_out: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
}

/// Runs `pipeline` once with output discarded and times it.
pub fn measure(pipeline: Pipeline) -> Result<(u64, u64, f64), RunError> {
    let started = Instant::now();
    let summary = run(
        pipeline,
        RunOptions::default(),
        Arc::new(AtomicBool::new(false)),
    )?;
    let secs = started.elapsed().as_secs_f64();
    Ok((
        summary.metrics.records_in,
        summary.metrics.windows_out,
        secs,
    ))
}

/// Measures every worker count in `args` and prints a table (or JSON).
pub fn run_bench(args: &BenchArgs) -> anyhow::Result<()> {
    let mut results = Vec::new();
    for &workers in &args.workers {
        let mut best: Option<BenchResult> = None;
        for _ in 0..args.repeat.max(1) {
            let mut spec = SpecFile {
                sources: Some(vec![args.source.clone()]),
                sinks: Some(vec!["discard".into()]),
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
                    kinds: Kinds::Ticks,
                    ..GeneratorSpec::default()
                }),
                ..SpecFile::default()
            };
            spec.window.length = Some(args.window.clone());
            spec.window.slide = Some(args.slide.clone());
            let (events, windows_out, seconds) = measure(Pipeline::from_spec(spec)?)?;
            let result = BenchResult {
                source: args.source.clone(),
                workers,
                window: args.window.clone(),
                slide: args.slide.clone(),
                events,
                windows_out,
                seconds,
                events_per_sec: events as f64 / seconds,
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
            "{:<28} {:>7} {:>10} {:>12} {:>9} {:>14}",
            "source", "workers", "window", "events", "seconds", "events/s"
        );
        for r in &results {
            println!(
                "{:<28} {:>7} {:>10} {:>12} {:>9.3} {:>14.0}",
                r.source,
                r.workers,
                format!("{}/{}", r.window, r.slide),
                r.events,
                r.seconds,
                r.events_per_sec
            );
        }
    }
    Ok(())
}
