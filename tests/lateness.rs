//! Allowed lateness end to end: late records within D correct their windows, the last revision
//! of every window equals the independent reference over every accepted record (any -w), the
//! edges of D, the CSV column, and PostgreSQL (the column added to an old table, kill -9).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::python::*;
use common::*;
use postgres::Client;
use serde_json::Value;

/// Every window's last revision (the row without its `revision`), checking on the way that each
/// window's revisions go 0, 1, 2, ... in the order they were written.
fn last_revisions(stdout: &[u8]) -> (BTreeMap<RowKey, Value>, usize) {
    let mut last: BTreeMap<RowKey, (u64, Value)> = BTreeMap::new();
    let mut revised = 0;
    for line in String::from_utf8_lossy(stdout).lines() {
        let mut v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let revision = v["revision"]
            .as_u64()
            .unwrap_or_else(|| panic!("no revision: {line}"));
        let row = v.as_object_mut().expect("an object");
        row.remove("revision");
        let key = (
            row["kind"].as_str().unwrap().to_string(),
            row.get("symbol")
                .or_else(|| row.get("category"))
                .and_then(Value::as_str)
                .unwrap()
                .to_string(),
            row["window_end"].as_str().unwrap().to_string(),
        );
        let want = last.get(&key).map_or(0, |(previous, _)| previous + 1);
        assert_eq!(revision, want, "revision out of order: {line}");
        revised += usize::from(revision > 0);
        last.insert(key, (revision, v));
    }
    (
        last.into_iter().map(|(k, (_, v))| (k, v)).collect(),
        revised,
    )
}

/// `n` ticks of symbol `PAD` at `t`: several reads of a file (256 KiB each), so what follows
/// them is read after the windows the lines before them completed were emitted.
fn padding(n: usize, t: u64) -> Vec<String> {
    (0..n)
        .map(|i| tick_line(t, "PAD", 1.0 + i as f64, 1))
        .collect()
}

/// The reference's rows for `input` with an out-of-orderness of `ooo_s` seconds (the
/// reference accepts a record behind max-seen by at most that: max_out_of_orderness + D).
fn reference(py: &Python, input: &Path, ooo_s: u64) -> BTreeMap<RowKey, Value> {
    let out = py
        .script("scripts/reference.py")
        .arg(input)
        .args(["--ooo", &ooo_s.to_string()])
        .output()
        .expect("running the reference");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    rows(&out.stdout)
}

/// Records 30 s behind the stream (2% of them) are within D = 40 s on every file split: the
/// last revisions equal the reference over all records, bit for bit, on 1, 2 and 4 workers.
#[test]
fn last_revisions_equal_the_reference_on_1_2_and_4_workers() {
    let Some(py) = python(&[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(13, 30_000, 3_000, 20);
    let input = write_lines(dir.path(), "in.jsonl", &lines_of(&events));
    let want = reference(&py, &input, 5 + 40);
    for workers in ["1", "2", "4"] {
        let out = run_ok(&[
            "--source",
            &file_uri(&input),
            "--allowed-lateness",
            "40s",
            "-w",
            workers,
        ]);
        let (got, revised) = last_revisions(&out.stdout);
        // How many corrections there are depends on how the input is read; one worker reads
        // its split in many pieces, so some windows must have been corrected.
        assert!(workers != "1" || revised > 0, "no corrections");
        assert_rows_close(&want, &got, 0.0);
    }
}

/// With D = 20 s some of the 30 s late records are still late: rejected, as a one-partition
/// reference with out-of-orderness 5 + 20 s decides, and the windows hold the rest.
#[test]
fn records_further_behind_than_d_are_late_rejects() {
    let Some(py) = python(&[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(29, 20_000, 3_000, 20);
    let input = write_lines(dir.path(), "in.jsonl", &lines_of(&events));
    let rejects = dir.path().join("rejects.jsonl");
    let out = run_ok(&[
        "--source",
        &file_uri(&input),
        "--allowed-lateness",
        "20s",
        "--rejects",
        rejects.to_str().unwrap(),
    ]);
    let (got, _) = last_revisions(&out.stdout);
    assert_rows_close(&reference(&py, &input, 25), &got, 0.0);
    let (_, late) = oracle(&events, 60_000, 1_000, 25_000, 90.0);
    let rejected = std::fs::read_to_string(&rejects).unwrap();
    assert!(late > 50, "the input should hold late records");
    assert_eq!(rejected.lines().count(), late);
    assert!(rejected.contains("by more than the allowed lateness 20s"));
}

/// A record exactly D behind its partition's watermark counts and corrects its window; one
/// millisecond more is late. Without the option nothing carries a revision.
#[test]
fn exactly_d_behind_counts_and_a_millisecond_more_is_late() {
    let dir = tempfile::tempdir().unwrap();
    // Watermark after the second line: T0 + 100 s - 5 s; D = 10 s.
    let behind = T0 + 100_000 - 5_000 - 10_000;
    let lines = [
        vec![
            tick_line(T0 + 1_000, "A", 10.0, 1),
            tick_line(T0 + 100_000, "A", 20.0, 1),
        ],
        padding(10_000, T0 + 100_000),
        vec![
            tick_line(behind, "A", 30.0, 1),
            tick_line(behind - 1, "A", 40.0, 1),
        ],
    ]
    .concat();
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let args = |extra: &'static [&'static str]| {
        let mut a = vec![
            "--source".to_string(),
            file_uri(&input),
            "--window".into(),
            "10s".into(),
            "--slide".into(),
            "10s".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let with: Vec<String> = args(&["--allowed-lateness", "10s"]);
    let out = run_ok(&with.iter().map(String::as_str).collect::<Vec<_>>());
    let (got, _) = last_revisions(&out.stdout);
    let late_window = got
        .values()
        .find(|v| v["symbol"] == "A" && v["avg_price"] == 30.0)
        .expect("the record exactly D behind has a window");
    assert_eq!(late_window["ticks"], 1);
    assert!(got
        .values()
        .all(|v| v["symbol"] != "A" || v["max_price"] != 40.0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("by more than the allowed lateness"));
    let without = args(&[]);
    let out = run_ok(&without.iter().map(String::as_str).collect::<Vec<_>>());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("revision"));
    assert!(!text.contains(r#""symbol":"A","window_start":"2025-11-20T09:31:20Z""#));
}

/// CSV gains a trailing `revision` column with the option, and only then.
#[test]
fn csv_has_a_trailing_revision_column() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        vec![
            tick_line(T0 + 10_000, "A", 10.0, 1),
            tick_line(T0 + 20_000, "A", 20.0, 1),
        ],
        // More than one poll of stdin (up to 1 MiB), so the window closes before the late tick.
        padding(30_000, T0 + 20_000),
        vec![tick_line(T0 + 12_000, "A", 30.0, 1)],
    ]
    .concat();
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let base = ["--format", "csv", "--window", "5s"];
    let text = through_stdin(
        &input,
        &[&base[..], &["--allowed-lateness", "30s"]].concat(),
    );
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .ends_with(",mean_value,readings,revision"));
    let cells: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(cells.iter().all(|c| c.len() == 14));
    assert!(cells.iter().any(|c| c[13] == "1"), "{text}");
    let header = through_stdin(&input, &base);
    assert!(header
        .lines()
        .next()
        .unwrap()
        .ends_with(",mean_value,readings"));
}

/// Runs tickflow over `input` fed through stdin: one partition, read in chunks, so windows
/// are emitted while later lines are still to come.
fn through_stdin(input: &Path, args: &[&str]) -> String {
    let out = tickflow()
        .args(["run", "--source", "stdin"])
        .args(args)
        .stdin(std::fs::File::open(input).unwrap())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn into_pg(input: &Path, schema: &str, workers: &str, extra: &[&str]) -> std::process::Command {
    from_into_pg(&file_uri(input), schema, workers, extra)
}

fn from_into_pg(
    source: &str,
    schema: &str,
    workers: &str,
    extra: &[&str],
) -> std::process::Command {
    let mut c = tickflow();
    c.args(["run", "--source", source, "--sink", &pg_url()])
        .args(["--pg-schema", schema, "--pipeline", "late", "-w", workers])
        .args(["--allowed-lateness", "40s", "--quiet"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn committed(client: &mut Client, schema: &str) -> Option<i64> {
    client
        .query_opt(
            &format!("SELECT committed_below_ms FROM {schema}.tickflow_progress WHERE pipeline = 'late' AND partition = -1"),
            &[],
        )
        .ok()
        .flatten()
        .map(|r| r.get(0))
}

/// kill -9 at several moments with D = 40 s, restarting each time: the tables' values equal an
/// uninterrupted run's (revision numbers may differ: they depend on timing), and both equal
/// the reference's.
#[test]
fn kill_9_with_allowed_lateness_equals_an_uninterrupted_run() {
    let Some(mut client) = pg() else { return };
    let Some(py) = python(&[]) else { return };
    let (clean, killed) = (
        fresh_schema(&mut client, "lateclean"),
        fresh_schema(&mut client, "latekilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(41, 200_000, 3_000, 20);
    let input = write_lines(dir.path(), "in.jsonl", &lines_of(&events));
    let status = into_pg(&input, &clean, "2", &[]).status().unwrap();
    assert!(status.success());
    let revised: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {clean}.symbol_averages WHERE revision > 0"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(revised > 100, "only {revised} corrected rows");
    let mut mid_run = 0;
    for (after_commit, delay_ms) in [(true, 0), (false, 300), (true, 60), (true, 20)] {
        let before = committed(&mut client, &killed);
        let mut child = into_pg(&input, &killed, "2", &["--pg-commit-interval", "20ms"])
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
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
    assert!(into_pg(&input, &killed, "2", &[])
        .status()
        .unwrap()
        .success());
    let want = table_rows(&mut client, &clean);
    assert_rows_close(&want, &table_rows(&mut client, &killed), 0.0);
    assert_rows_close(&reference(&py, &input, 45), &want, 0.0);
    assert_same_rejects(&mut client, &clean, &killed);
}

/// A table an earlier version created, without `revision`, gains the column at start-up and
/// keeps its rows.
#[test]
fn an_existing_table_gains_the_revision_column() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "oldtable");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.symbol_averages (symbol text NOT NULL, \
             window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, avg_price float8 NOT NULL, \
             min_price float8 NOT NULL, max_price float8 NOT NULL, vwap float8, ticks int8 NOT NULL, \
             volume int8 NOT NULL, PRIMARY KEY (symbol, window_end)); \
             INSERT INTO {schema}.symbol_averages VALUES ('OLD', now(), now(), 1, 1, 1, 1, 1, 1)"
        ))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        vec![
            tick_line(T0 + 10_000, "A", 10.0, 1),
            tick_line(T0 + 20_000, "A", 20.0, 1),
        ],
        // More than one poll of stdin (up to 1 MiB), so the window closes before the late tick.
        padding(30_000, T0 + 20_000),
        vec![tick_line(T0 + 12_000, "A", 30.0, 1)],
    ]
    .concat();
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    // Through stdin, one partition read in chunks (a file would be several splits, and the
    // window would close only after every split was read, so the late tick would be no
    // correction).
    let out = from_into_pg("stdin", &schema, "1", &["--window", "5s"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<(String, i32, i64)> = client
        .query(
            &format!("SELECT symbol, revision, ticks FROM {schema}.symbol_averages WHERE symbol <> 'PAD' ORDER BY symbol, window_end"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(rows.last().map(|r| r.0.as_str()), Some("OLD"));
    assert_eq!(rows.last().map(|r| r.1), Some(0), "old rows get revision 0");
    // The window [T0 + 10 s, T0 + 15 s) took the late tick as a correction.
    assert!(
        rows.iter().any(|r| r.0 == "A" && r.1 == 1 && r.2 == 2),
        "{rows:?}"
    );
}
