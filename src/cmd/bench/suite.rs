//! `tickflow bench --suite`: the benchmark matrix, each configuration in a process of its own
//! so that its peak resident memory can be read.

use std::process::Command;
use std::time::Instant;

use serde::Serialize;
use tickflow::cli::BenchArgs;

use super::child::{latencies, run_measured, summary_counts};
use super::memory::{memory_per_key, MemoryResult};
use super::topics::{delete_topics, kafka_topic};

/// One measured configuration of the suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteResult {
    pub source: &'static str,
    pub sink: &'static str,
    pub workers: usize,
    pub window: &'static str,
    pub keys: usize,
    pub events: u64,
    pub rows: u64,
    pub seconds: f64,
    pub events_per_sec: f64,
    pub peak_rss_mb: f64,
    /// Window end to PostgreSQL commit, when the sink is PostgreSQL.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Everything the suite measured.
#[derive(Debug, Clone, Serialize)]
struct Report<'a> {
    runs: &'a [SuiteResult],
    memory: &'a [MemoryResult],
}

/// Configurations that would make more rows than this are skipped: 1,000,000 keys with 1 h/1 s
/// windows make billions (every event feeds 3,600 windows), hours of work and, to a file,
/// hundreds of gigabytes.
const MAX_ROWS_WRITTEN: u64 = 50_000_000;
const MAX_ROWS_DISCARDED: u64 = 500_000_000;

/// About how many rows a run makes: each active key emits a window per slide over the span of
/// event time it covers, or fewer when it has few events. The generator spaces events 500 us
/// apart in event time.
fn estimated_rows(keys: usize, events: u64, length: &str, slide: &str) -> u64 {
    let secs = |d: &str| humantime::parse_duration(d).map_or(1.0, |d| d.as_secs_f64());
    let (length, slide) = (secs(length), secs(slide).max(0.001));
    let per_window = (length / slide).max(1.0);
    let active = (keys as u64).min(events).max(1) as f64;
    let events_per_key = (events as f64 / active).max(1.0);
    let span = events as f64 * 0.0005;
    let windows_per_key = (events_per_key * per_window).min((span + length) / slide);
    (active * windows_per_key) as u64
}

/// Event time of the suite's first tick, in every source.
pub const START: &str = "2025-11-20T09:30:00Z";

/// `tickflow produce` of the suite's ticks (as the generator source makes them) to `to`.
pub fn produce(exe: &std::path::Path, to: &str, keys: usize, events: u64) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["produce", "--to", to, "--rate", "0", "--start", START])
        .args([
            "--events",
            &events.to_string(),
            "--symbols",
            &keys.to_string(),
        ]);
    cmd
}

/// A window shape: its label, length and slide.
type WindowShape = (&'static str, &'static str, &'static str);

/// Runs the matrix and prints a table (or JSON with `--json`).
pub fn run_suite(args: &BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let (events, windows, keys): (u64, &[WindowShape], &[usize]) = if args.quick {
        (
            200_000,
            &[("10s/1s", "10s", "1s"), ("60s/1s", "60s", "1s")],
            &[100, 10_000],
        )
    } else {
        (
            2_000_000,
            &[
                ("10s/1s", "10s", "1s"),
                ("60s/1s", "60s", "1s"),
                ("1h/1s", "1h", "1s"),
            ],
            &[100, 10_000, 1_000_000],
        )
    };
    let dir = tempfile_dir()?;
    let mut sinks: Vec<(&'static str, String)> = vec![
        ("discard", "discard".into()),
        ("file", format!("file:{}", dir.join("out.jsonl").display())),
    ];
    if let Some(url) = &args.pg {
        sinks.push(("postgres", url.clone()));
    }
    let mut results = Vec::new();
    for &k in keys {
        // The same ticks as a file, for the file source.
        let file = dir.join(format!("ticks-{k}.jsonl"));
        let produced = produce(&exe, "stdout", k, events).output()?;
        std::fs::write(&file, produced.stdout)?;
        let mut sources = vec![
            ("generator", "generator".to_string()),
            ("file", format!("file:{}", file.display())),
        ];
        if let Some(broker) = &args.kafka {
            sources.push(("kafka", kafka_topic(&exe, broker, k, events)?));
        }
        for &(window, length, slide) in windows {
            for &workers in &args.workers {
                for (source, source_uri) in &sources {
                    let (source, source_uri) = (*source, source_uri.clone());
                    for (sink, sink_uri) in &sinks {
                        let rows = estimated_rows(k, events, length, slide);
                        let limit = if *sink == "discard" {
                            MAX_ROWS_DISCARDED
                        } else {
                            MAX_ROWS_WRITTEN
                        };
                        if rows > limit {
                            if !args.json {
                                println!(
                                    "{source:<10} {sink:<9} {workers:>3} {window:>7} {k:>9} skipped: about {rows} rows"
                                );
                            }
                            continue;
                        }
                        let mut cmd = Command::new(&exe);
                        cmd.args([
                            "run",
                            "--source",
                            &source_uri,
                            "--sink",
                            sink_uri,
                            "--progress",
                        ])
                        .args([
                            "-w",
                            &workers.to_string(),
                            "--window",
                            length,
                            "--slide",
                            slide,
                        ])
                        .args([
                            "--rate",
                            "0",
                            "--events",
                            &events.to_string(),
                            "--symbols",
                            &k.to_string(),
                        ])
                        .args(["--kind", "ticks", "--start", START])
                        .args([
                            "--rejects",
                            dir.join("rejects.jsonl")
                                .to_str()
                                .unwrap_or("rejects.jsonl"),
                        ]);
                        if source == "kafka" {
                            cmd.arg("--exit-at-end");
                        }
                        if *sink == "postgres" {
                            // Fresh tables each time: measure inserts, not upserts over old rows.
                            super::drop_bench_schema(sink_uri)?;
                            cmd.args(["--pg-schema", super::BENCH_SCHEMA, "--pipeline", "bench"]);
                        }
                        let started = Instant::now();
                        let (stderr, peak_kb) = run_measured(cmd)?;
                        let seconds = started.elapsed().as_secs_f64();
                        let (read, rows) = summary_counts(&stderr);
                        let (p50_ms, p99_ms) = latencies(&stderr);
                        let result = SuiteResult {
                            source,
                            sink,
                            workers,
                            window,
                            keys: k,
                            events: read,
                            rows,
                            seconds,
                            events_per_sec: read as f64 / seconds,
                            peak_rss_mb: peak_kb as f64 / 1024.0,
                            p50_ms,
                            p99_ms,
                        };
                        if !args.json {
                            print_row(&result, results.is_empty());
                        }
                        results.push(result);
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(broker) = &args.kafka {
        delete_topics(broker, keys);
    }
    let memory = memory_per_key(&exe, args)?;
    if args.json {
        let report = Report {
            runs: &results,
            memory: &memory,
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

fn print_row(r: &SuiteResult, header: bool) {
    if header {
        println!(
            "{:<10} {:<9} {:>3} {:>7} {:>9} {:>10} {:>10} {:>8} {:>12} {:>9} {:>8} {:>8}",
            "source",
            "sink",
            "w",
            "window",
            "keys",
            "events",
            "rows",
            "seconds",
            "events/s",
            "rss MB",
            "p50 ms",
            "p99 ms"
        );
    }
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    println!(
        "{:<10} {:<9} {:>3} {:>7} {:>9} {:>10} {:>10} {:>8.2} {:>12.0} {:>9.1} {:>8} {:>8}",
        r.source,
        r.sink,
        r.workers,
        r.window,
        r.keys,
        r.events,
        r.rows,
        r.seconds,
        r.events_per_sec,
        r.peak_rss_mb,
        ms(r.p50_ms),
        ms(r.p99_ms)
    );
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("tickflow-suite-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_rows_to_skip_the_impossible() {
        // Measured: 10,000 keys, 200,000 events, 10 s/1 s made 1,050,000 rows.
        let est = estimated_rows(10_000, 200_000, "10s", "1s");
        assert!((500_000..2_000_000).contains(&est), "{est}");
        assert!(estimated_rows(1_000_000, 2_000_000, "1h", "1s") > MAX_ROWS_DISCARDED);
        assert!(estimated_rows(100, 2_000_000, "1h", "1s") < MAX_ROWS_WRITTEN);
    }
}
