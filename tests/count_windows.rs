//! Count windows end to end: rows equal sorting each key's records and taking the last N, on
//! 1, 2 and 4 workers; N beyond the records seen; refused with allowed lateness; kill -9 into
//! PostgreSQL equals an uninterrupted run.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::*;
use postgres::Client;
use serde_json::{json, Value};

/// RFC 3339 as tickflow writes it: milliseconds only when there are some.
fn rfc(ms: u64) -> String {
    let s = iso(ms);
    match ms % 1000 {
        0 => format!("{}Z", &s[..19]),
        m => format!("{}.{m:03}Z", &s[..19]),
    }
}

/// Event time, price or value, volume.
type Record = (u64, f64, u64);

/// The naive answer: per key, records sorted by (time, value, volume); at the end `e` of every
/// slide holding a record, the last `n` records before `e`. Means are summed naively (checked
/// to a relative 1e-12), counts, extremes and times exactly.
fn oracle(events: &[Ev], n: usize, slide: u64) -> BTreeMap<RowKey, Value> {
    let mut by_key: BTreeMap<(&str, &str), Vec<Record>> = BTreeMap::new();
    for e in events {
        match e {
            Ev::Tick {
                t,
                key,
                price,
                volume,
            } => by_key
                .entry(("symbol_average", key))
                .or_default()
                .push((*t, *price, *volume)),
            Ev::Reading { t, key, value } if *value < 90.0 => by_key
                .entry(("category_mean", key))
                .or_default()
                .push((*t, *value, 0)),
            Ev::Reading { .. } => {}
        }
    }
    let mut out = BTreeMap::new();
    for ((kind, key), mut records) in by_key {
        records.sort_by(|a, b| (a.0, a.1, a.2).partial_cmp(&(b.0, b.1, b.2)).unwrap());
        let mut ends: Vec<u64> = records.iter().map(|r| (r.0 / slide + 1) * slide).collect();
        ends.dedup();
        for end in ends {
            let before: Vec<_> = records.iter().filter(|r| r.0 < end).collect();
            let last = &before[before.len().saturating_sub(n)..];
            let count = last.len() as u64;
            let sum: f64 = last.iter().map(|r| r.1).sum();
            let row = if kind == "symbol_average" {
                let volume: u64 = last.iter().map(|r| r.2).sum();
                let notional: f64 = last.iter().map(|r| r.1 * r.2 as f64).sum();
                json!({"kind": kind, "symbol": key, "window_start": rfc(last[0].0),
                    "window_end": rfc(end), "avg_price": sum / count as f64,
                    "min_price": last.iter().map(|r| r.1).fold(f64::INFINITY, f64::min),
                    "max_price": last.iter().map(|r| r.1).fold(f64::NEG_INFINITY, f64::max),
                    "vwap": (volume > 0).then(|| notional / volume as f64),
                    "ticks": count, "volume": volume})
            } else {
                json!({"kind": kind, "category": key, "window_start": rfc(last[0].0),
                    "window_end": rfc(end), "mean_value": sum / count as f64, "readings": count})
            };
            out.insert((kind.to_string(), key.to_string(), rfc(end)), row);
        }
    }
    out
}

/// Disordered ticks and readings (within the 5 s out-of-orderness, so none is late on any
/// file split), many at the same millisecond: the rows equal the oracle for N = 5 and for an N
/// larger than any key's records, on 1, 2 and 4 workers.
#[test]
fn rows_equal_the_last_n_records_on_1_2_and_4_workers() {
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(5, 20_000, 3_000, 0);
    let input = write_lines(dir.path(), "in.jsonl", &lines_of(&events));
    for n in [5usize, 100_000] {
        let want = oracle(&events, n, 1_000);
        let mut first: Option<Vec<u8>> = None;
        for workers in ["1", "2", "4"] {
            let out = run_ok(&[
                "--source",
                &file_uri(&input),
                "--count-window",
                &n.to_string(),
                "-w",
                workers,
            ]);
            assert_rows_close(&want, &rows(&out.stdout), 1e-12);
            let mut sorted: Vec<&[u8]> = out.stdout.split(|&b| b == b'\n').collect();
            sorted.sort_unstable();
            let sorted = sorted.concat();
            match &first {
                None => first = Some(sorted),
                Some(f) => assert!(f == &sorted, "-w {workers} differs from -w 1"),
            }
        }
    }
}

/// Ticks at one millisecond come in two different orders: the same rows either way.
#[test]
fn ties_at_one_millisecond_do_not_depend_on_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec![
        tick_line(T0 + 500, "A", 3.0, 1),
        tick_line(T0 + 500, "A", 1.0, 1),
        tick_line(T0 + 500, "A", 2.0, 7),
        tick_line(T0 + 500, "A", 2.0, 5),
    ];
    let a = write_lines(dir.path(), "a.jsonl", &lines);
    lines.reverse();
    let b = write_lines(dir.path(), "b.jsonl", &lines);
    let run = |p: &Path| run_ok(&["--source", &file_uri(p), "--count-window", "2"]).stdout;
    let (x, y) = (run(&a), run(&b));
    assert_eq!(x, y);
    // The last two by (price, volume) are (2.0, 7) and (3.0, 1).
    let row = &rows(&x)[&("symbol_average".into(), "A".into(), rfc(T0 + 1_000))];
    assert_eq!(
        (row["min_price"].as_f64(), row["max_price"].as_f64()),
        (Some(2.0), Some(3.0))
    );
    assert_eq!(row["volume"], 8);
}

#[test]
fn refused_with_allowed_lateness() {
    let out = tickflow()
        .args(["run", "--count-window", "60", "--allowed-lateness", "5s"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("count windows take no corrections"), "{err}");
}

fn into_pg(input: &Path, schema: &str) -> std::process::Command {
    let mut c = tickflow();
    c.args(["run", "--source", &file_uri(input), "--sink", &pg_url()])
        .args(["--pg-schema", schema, "--pipeline", "count", "-w", "2"])
        .args([
            "--count-window",
            "60",
            "--quiet",
            "--pg-commit-interval",
            "20ms",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

fn committed(client: &mut Client, schema: &str) -> Option<i64> {
    client
        .query_opt(
            &format!("SELECT committed_below_ms FROM {schema}.tickflow_progress WHERE pipeline = 'count' AND partition = -1"),
            &[],
        )
        .ok()
        .flatten()
        .map(|r| r.get(0))
}

/// kill -9 at several moments, restarting each time: the tables equal an uninterrupted run's,
/// every column.
#[test]
fn kill_9_and_restart_equals_an_uninterrupted_run() {
    let Some(mut client) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut client, "countclean"),
        fresh_schema(&mut client, "countkilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 200_000, 500);
    assert!(into_pg(&input, &clean).status().unwrap().success());
    assert!(count(&mut client, &clean, "symbol_averages") > 10_000);
    let mut mid_run = 0;
    for (after_commit, delay_ms) in [(true, 0), (false, 300), (true, 60), (true, 20)] {
        let before = committed(&mut client, &killed);
        let mut child = into_pg(&input, &killed).spawn().unwrap();
        if after_commit {
            let deadline = Instant::now() + Duration::from_secs(60);
            while committed(&mut client, &killed) == before
                && child.try_wait().unwrap().is_none()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if committed(&mut client, &killed).is_some_and(|c| c > 0 && c < i64::MAX) {
            mid_run += 1;
        }
    }
    assert!(mid_run > 0, "no kill landed between commits");
    assert!(into_pg(&input, &killed).status().unwrap().success());
    assert_same_results(&mut client, &clean, &killed);
    assert_same_rejects(&mut client, &clean, &killed);
}
