//! Rescaling: results never depend on the worker count, and a pipeline killed at one worker
//! or process count finishes at another exactly-once; files that changed in between are
//! continued or refused as the README says.
//!
//! PostgreSQL is `TICKFLOW_TEST_PG` (default `postgres://root@127.0.0.1:5432/test`). Under
//! `CI=true` a missing server fails these tests; elsewhere they say SKIPPED and pass.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::*;
use postgres::Client;

/// Ticks (event time, line) in time order with a record 20 s behind right after each place
/// where a worker's byte range used to begin (at 2, 3 and 4 workers), and at 40 more places:
/// late or not depends only on the split the record falls in.
fn events_with_late_records_at_old_boundaries() -> Vec<(u64, String)> {
    let mut r = Rng(5);
    let mut events: Vec<(u64, String)> = (0..12_000u64)
        .map(|i| {
            let t = T0 + i * 10 - r.below(1_000).min(i * 10);
            let price = 100.0 + r.below(900) as f64 / 10.0;
            (
                t,
                tick_line(t, &format!("S{}", r.below(5)), price, 1 + r.below(9)),
            )
        })
        .collect();
    let len: usize = events.iter().map(|(_, l)| l.len() + 1).sum();
    let mut cuts: Vec<usize> = [2, 3, 4]
        .iter()
        .flat_map(|&w| (1..w).map(move |i| len * i / w))
        .chain((1..40).map(|i| len * i / 40))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    // The index of the first line starting at or after each cut, from the back so earlier
    // indexes stay valid.
    let mut starts = Vec::with_capacity(events.len());
    let mut offset = 0;
    for (_, line) in &events {
        starts.push(offset);
        offset += line.len() + 1;
    }
    for &cut in cuts.iter().rev() {
        let at = starts.partition_point(|&s| s < cut).min(events.len() - 1);
        let t = events[at.saturating_sub(1)].0 - 20_000;
        events.insert(at, (t, tick_line(t, "LATE", 1.0, 1)));
    }
    events
}

/// The late records an independent recomputation finds: per split of `split_bytes`, a record
/// behind (max event time seen in its split - 5 s) is late. Returns their byte offsets.
fn late_offsets(events: &[(u64, String)], split_bytes: u64) -> Vec<u64> {
    let mut max_seen: BTreeMap<u64, u64> = BTreeMap::new();
    let mut late = Vec::new();
    let mut offset = 0u64;
    for (t, line) in events {
        let seen = max_seen.entry(offset / split_bytes).or_insert(0);
        if *t < seen.saturating_sub(5_000) {
            late.push(offset);
        } else {
            *seen = (*seen).max(*t);
        }
        offset += line.len() as u64 + 1;
    }
    late
}

/// The results on stdout, sorted, and the offsets of the late rejects.
fn stdout_run(input: &Path, dir: &Path, workers: &str) -> (Vec<String>, Vec<u64>) {
    let rejects = dir.join(format!("rejects-{workers}.jsonl"));
    let out = run_ok(&[
        "--source",
        &file_uri(input),
        "-w",
        workers,
        "--rejects",
        rejects.to_str().unwrap(),
        "--quiet",
    ]);
    let mut lines: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    let mut late: Vec<u64> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["reason"] == "late")
        .map(|v| v["offset"].as_u64().unwrap())
        .collect();
    late.sort_unstable();
    (lines, late)
}

#[test]
fn results_are_bit_identical_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let events = events_with_late_records_at_old_boundaries();
    let lines: Vec<String> = events.iter().map(|(_, l)| l.clone()).collect();
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let len = std::fs::metadata(&input).unwrap().len();
    let want_late = late_offsets(&events, tickflow::source::split_bytes_for(len));
    assert!(want_late.len() > 20, "{} late", want_late.len());
    let (one, late_one) = stdout_run(&input, dir.path(), "1");
    assert!(one.len() > 500, "{} rows", one.len());
    assert_eq!(late_one, want_late, "lateness decided per split");
    for workers in ["2", "3", "4"] {
        let (rows, late) = stdout_run(&input, dir.path(), workers);
        assert!(rows == one, "-w {workers} differs from -w 1");
        assert_eq!(late, want_late, "-w {workers}");
    }
}

fn pg_run(input: &Path, schema: &str, workers: &[&str]) -> std::process::Command {
    let mut c = tickflow();
    c.args(["run", "--source", &file_uri(input), "--sink", &pg_url()])
        .args(["--pg-schema", schema, "--pipeline", "rescale"])
        .args(workers);
    c
}

fn run_to_end(input: &Path, schema: &str, workers: &[&str]) -> String {
    let out = pg_run(input, schema, workers)
        .arg("--progress")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{workers:?} into {schema}: {stderr}");
    stderr
}

fn committed(client: &mut Client, schema: &str) -> Option<i64> {
    let sql = format!(
        "SELECT min(committed_below_ms) FROM {schema}.tickflow_progress \
         WHERE pipeline = 'rescale' AND source = '' AND partition < 0"
    );
    client.query_one(&sql, &[]).ok().and_then(|r| r.get(0))
}

/// Starts a run, waits until it has committed something of its own, then kills it (SIGKILL)
/// `delay` later; returns whether the kill left progress part-way through the input.
fn kill_mid_run(
    client: &mut Client,
    input: &Path,
    schema: &str,
    workers: &[&str],
    delay: Duration,
) -> bool {
    let before = committed(client, schema);
    let child = pg_run(input, schema, workers)
        .args(["--pg-commit-interval", "20ms", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(client, schema) == before
        && child.0.try_wait().unwrap().is_none()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(delay);
    let _ = child.0.kill();
    let _ = child.0.wait();
    committed(client, schema).is_some_and(|c| c > 0 && c < i64::MAX)
}

/// Killed twice at -w 2, finished at -w 3, run again at -w 1 (nothing left to do): the tables
/// equal an uninterrupted run at -w 1, every column, and no reject is repeated.
#[test]
fn a_file_pipeline_killed_at_two_workers_finishes_at_three() {
    let Some(mut client) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut client, "rsclean"),
        fresh_schema(&mut client, "rskilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 300_000, 2_000);
    run_to_end(&input, &clean, &["-w", "1"]);
    assert!(count(&mut client, &clean, "symbol_averages") > 100_000);
    let mut mid_run = 0;
    for delay in [40, 150] {
        let two = ["-w", "2"];
        mid_run += usize::from(kill_mid_run(
            &mut client,
            &input,
            &killed,
            &two,
            Duration::from_millis(delay),
        ));
    }
    assert!(mid_run > 0, "no kill landed between commits");
    let sql = format!(
        "SELECT count(*) FROM {killed}.tickflow_progress WHERE partition >= 0 AND splits >= 65536"
    );
    let splits: i64 = client.query_one(&sql, &[]).unwrap().get(0);
    assert!(
        splits > 2,
        "progress is kept per split, not per worker: {splits}"
    );
    run_to_end(&input, &killed, &["-w", "3"]);
    assert_same_results(&mut client, &clean, &killed);
    assert!(assert_same_rejects(&mut client, &clean, &killed) > 1_000);
    let again = run_to_end(&input, &killed, &["-w", "1"]);
    assert!(
        again.contains("tickflow: 0 events"),
        "nothing left to do: {again}"
    );
    assert_same_results(&mut client, &clean, &killed);
    assert_same_rejects(&mut client, &clean, &killed);
}

/// A file that grew while the pipeline was stopped is read on: the appended lines count as if
/// they had been there all along. Once the pipeline has finished, growing or shrinking the
/// file is refused with the way out.
#[test]
fn a_file_that_changed_between_runs_is_continued_or_refused() {
    let Some(mut client) = pg() else { return };
    let (clean, grown) = (
        fresh_schema(&mut client, "rsgclean"),
        fresh_schema(&mut client, "rsgrown"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 300_000, 2_000);
    let first = std::fs::read(&input).unwrap();
    let mut more = Vec::new();
    for i in 0..2_000u64 {
        writeln!(
            more,
            "{}",
            tick_line(T0 + 700_000 + i * 5, "GROWN", 50.0, 1)
        )
        .unwrap();
    }
    let whole = dir.path().join("whole.jsonl");
    std::fs::write(&whole, [first.as_slice(), &more].concat()).unwrap();
    let split_bytes = tickflow::source::split_bytes_for;
    assert_eq!(
        split_bytes(first.len() as u64),
        split_bytes((first.len() + more.len()) as u64),
        "the same cut, so the runs can be compared"
    );
    run_to_end(&whole, &clean, &["-w", "2"]);
    assert!(kill_mid_run(
        &mut client,
        &input,
        &grown,
        &["-w", "2"],
        Duration::ZERO
    ));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap()
        .write_all(&more)
        .unwrap();
    run_to_end(&input, &grown, &["-w", "3"]);
    assert_same_results(&mut client, &clean, &grown);

    // Finished: appending a split's worth more is refused, and so is a truncated file.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap()
        .write_all(&more.repeat(8))
        .unwrap();
    let out = pg_run(&input, &grown, &["-w", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("grew to") && stderr.contains("--restart"),
        "{stderr}"
    );
    std::fs::write(&input, &first[..first.len() / 2]).unwrap();
    let out = pg_run(&input, &grown, &["-w", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("truncated or replaced"), "{stderr}");
    assert_same_results(&mut client, &clean, &grown);
}
