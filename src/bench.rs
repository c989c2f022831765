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
    if let Some(topic) = &args.drain {
        return drain_bench(topic, args);
    }
    if args.suite {
        return crate::bench_suite::run_suite(args);
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
            // One name for every configuration: the benchmark's tables belong to one pipeline.
            spec.name = Some("bench".into());
            spec.postgres.schema = Some(args.pg_schema.clone());
            spec.exit_at_end = Some(true);
            let (events, windows_out, seconds) = measure(Pipeline::from_spec(spec)?)?;
            let result = BenchResult {
                source: args.source.clone(),
                workers,
                window: args.window.clone(),
                slide: args.slide.clone(),
                sink: crate::sink::SinkSpec::parse(&args.sink)
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

/// Drains a topic with one bare consumer per worker thread, partitions assigned as the
/// Kafka source assigns them, and reports messages per second.
fn drain_bench(uri: &str, args: &BenchArgs) -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

    let spec = uri
        .strip_prefix("kafka://")
        .and_then(|rest| crate::source::KafkaConfig::parse(rest, &Default::default()))
        .ok_or_else(|| anyhow::anyhow!("--drain takes kafka://BROKER/TOPIC"))?;
    let partitions = crate::source::list_partitions(&spec)?;
    for &workers in &args.workers {
        let started = Instant::now();
        let threads: Vec<_> = (0..workers)
            .map(|w| {
                // The same spread over threads as the Kafka source's over workers.
                let mine: Vec<_> = partitions
                    .iter()
                    .filter(|tp| {
                        let t = spec.topics.iter().position(|t| *t == tp.topic).unwrap_or(0);
                        crate::source::kafka_owner(t, tp.partition, workers) == w
                    })
                    .cloned()
                    .collect();
                let config = crate::source::kafka_client_config(&spec.brokers, &spec.options);
                std::thread::spawn(move || -> anyhow::Result<u64> {
                    if mine.is_empty() {
                        return Ok(0);
                    }
                    let consumer: BaseConsumer = config.create()?;
                    let mut list = TopicPartitionList::new();
                    for tp in &mine {
                        list.add_partition_offset(&tp.topic, tp.partition, Offset::Beginning)?;
                    }
                    consumer.assign(&list)?;
                    let (mut count, mut ended) = (0u64, 0usize);
                    while ended < mine.len() {
                        match consumer.poll(std::time::Duration::from_millis(100)) {
                            Some(Ok(_)) => count += 1,
                            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
                            Some(Err(e)) => return Err(e.into()),
                            None => {}
                        }
                    }
                    Ok(count)
                })
            })
            .collect();
        let mut total = 0;
        for t in threads {
            total += t
                .join()
                .map_err(|_| anyhow::anyhow!("a drain thread panicked"))??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "drain {uri}: {workers} consumer(s), {total} messages in {secs:.3} s = {:.0} messages/s",
            total as f64 / secs
        );
    }
    Ok(())
}
