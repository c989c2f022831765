//! The suite's memory part: peak resident memory per active key, from runs of two lengths.

use std::process::Command;

use serde::Serialize;
use tickflow::cli::BenchArgs;

use super::child::run_measured;
use super::suite::START;

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

/// Peak memory with every key active (each ticks once per event-second, 10 s/1 s windows),
/// for a run and one twice as long: state is bounded by the window's panes, so the two peaks
/// should match.
pub fn memory_per_key(
    exe: &std::path::Path,
    args: &BenchArgs,
) -> anyhow::Result<Vec<MemoryResult>> {
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
