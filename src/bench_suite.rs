//! `tickflow bench --suite`: the benchmark matrix, each configuration in a process of its own
//! so that its peak resident memory can be read.

use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use crate::cli::BenchArgs;

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

/// Memory held per active key, from runs of two lengths.
#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub keys: usize,
    pub window: &'static str,
    pub workers: usize,
    /// Event-seconds the run covers; every key ticks once per event-second.
    pub event_seconds: u64,
    pub events: u64,
    pub peak_rss_mb: f64,
    /// (peak - a 100-key run's peak) / keys.
    pub bytes_per_key: f64,
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
const START: &str = "2025-11-20T09:30:00Z";

/// `tickflow produce` of the suite's ticks (as the generator source makes them) to `to`.
fn produce(exe: &std::path::Path, to: &str, keys: usize, events: u64) -> Command {
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
                            let target = crate::sink::postgres::Target::parse(sink_uri)?;
                            let mut client = crate::sink::postgres::connect(
                                &target,
                                std::time::Duration::from_secs(10),
                            )?;
                            client.batch_execute("DROP SCHEMA IF EXISTS tickflow_bench CASCADE")?;
                            cmd.args(["--pg-schema", "tickflow_bench", "--pipeline", "bench"]);
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

/// Peak memory with every key active (each ticks once per event-second, 10 s/1 s windows),
/// for a run and one twice as long: state is bounded by the window's panes, so the two peaks
/// should match.
fn memory_per_key(exe: &std::path::Path, args: &BenchArgs) -> anyhow::Result<Vec<MemoryResult>> {
    let keys: usize = if args.quick { 100_000 } else { 1_000_000 };
    let workers = args.workers.iter().copied().max().unwrap_or(1);
    let run = |keys: usize, event_seconds: u64| -> anyhow::Result<(u64, f64)> {
        let events = keys as u64 * event_seconds;
        let mut cmd = Command::new(exe);
        cmd.args([
            "run",
            "--source",
            "generator",
            "--sink",
            "discard",
            "--quiet",
        ])
        .args([
            "-w",
            &workers.to_string(),
            "--window",
            "10s",
            "--slide",
            "1s",
        ])
        .args(["--rate", "0", "--kind", "ticks", "--start", START])
        .args([
            "--events",
            &events.to_string(),
            "--symbols",
            &keys.to_string(),
        ])
        .args(["--event-rate", &keys.to_string()]);
        let (_, peak_kb) = run_measured(cmd)?;
        Ok((events, peak_kb as f64 * 1024.0))
    };
    let (_, baseline) = run(100, 40)?;
    let mut out = Vec::new();
    for event_seconds in [20, 40] {
        let (events, peak) = run(keys, event_seconds)?;
        let result = MemoryResult {
            keys,
            window: "10s/1s",
            workers,
            event_seconds,
            events,
            peak_rss_mb: peak / (1024.0 * 1024.0),
            bytes_per_key: (peak - baseline).max(0.0) / keys as f64,
        };
        if !args.json {
            if out.is_empty() {
                println!(
                    "\nmemory: every key active, 10s/1s windows, generator -> discard, -w {workers}"
                );
                println!(
                    "{:>9} {:>13} {:>10} {:>9} {:>10}",
                    "keys", "event-seconds", "events", "rss MB", "bytes/key"
                );
            }
            println!(
                "{:>9} {:>13} {:>10} {:>9.1} {:>10.0}",
                result.keys,
                result.event_seconds,
                result.events,
                result.peak_rss_mb,
                result.bytes_per_key
            );
        }
        out.push(result);
    }
    Ok(out)
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

/// Runs `cmd` to completion; returns its stderr and peak resident memory in KiB.
fn run_measured(mut cmd: Command) -> anyhow::Result<(String, u64)> {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr)?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: waits for our own child and fills a zeroed rusage; the child is not waited twice.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        anyhow::bail!(
            "a benchmark run failed: {}",
            stderr.lines().last().unwrap_or("")
        );
    }
    std::mem::forget(child); // already reaped by wait4
    Ok((stderr, usage.ru_maxrss as u64))
}

/// Events read and rows out, from the run's summary line.
fn summary_counts(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains(" events in "))
        .unwrap_or("");
    let number_before = |marker: &str| -> u64 {
        line.split(marker)
            .next()
            .and_then(|head| head.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (number_before(" events in "), number_before(" windows out"))
}

/// p50 and p99 of window-end-to-commit, from the PostgreSQL summary line.
fn latencies(stderr: &str) -> (Option<f64>, Option<f64>) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("window end to commit"))
        .unwrap_or("");
    let after = |marker: &str| {
        line.split(marker)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    (after("p50 "), after("p99 "))
}

fn suite_topic(keys: usize) -> String {
    format!("tickflow-suite-{keys}-{}", std::process::id())
}

/// Creates a 4-partition topic for `keys` and fills it with the suite's ticks; its source URI.
fn kafka_topic(
    exe: &std::path::Path,
    broker: &str,
    keys: usize,
    events: u64,
) -> anyhow::Result<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let topic = suite_topic(keys);
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        crate::source::kafka_client_config(broker, &Default::default()).create()?;
    let new = NewTopic::new(&topic, 4, TopicReplication::Fixed(1));
    for result in block_on(admin.create_topics([&new], &AdminOptions::new()))? {
        result.map_err(|(t, e)| anyhow::anyhow!("creating topic {t}: {e}"))?;
    }
    let uri = format!("kafka://{broker}/{topic}");
    let status = produce(exe, &uri, keys, events)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "producing the suite's ticks to {uri} failed"
    );
    Ok(uri)
}

/// Deletes the suite's topics (best effort).
fn delete_topics(broker: &str, keys: &[usize]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let admin: Result<AdminClient<rdkafka::client::DefaultClientContext>, _> =
        crate::source::kafka_client_config(broker, &Default::default()).create();
    if let Ok(admin) = admin {
        let names: Vec<String> = keys.iter().map(|&k| suite_topic(k)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _ = block_on(admin.delete_topics(&names, &AdminOptions::new()));
    }
}

/// Runs a future to completion on this thread (rdkafka's admin futures are completed by its
/// own background thread; no async runtime is needed).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
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

    #[test]
    fn reads_the_summary_lines() {
        let err = "progress: ...\ntickflow: 200000 events in 0.10s (2000000/s), 6900 windows out, 0 rejects (0 late), 0 filtered\n\
                   tickflow: PostgreSQL: 6900 rows and 0 rejects in 3 commits (0 retried); window end to commit p50 12 ms, p99 40 ms";
        assert_eq!(summary_counts(err), (200_000, 6900));
        assert_eq!(latencies(err), (Some(12.0), Some(40.0)));
        assert_eq!(latencies("nothing"), (None, None));
    }
}
