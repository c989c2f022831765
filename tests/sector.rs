//! Sector rollups end to end, against a naive as-of recomputation written here: for each
//! window, every tick in it, its symbol's sector as of the window's end, summed per sector.
//! A symbol changing sector partway through, an unmapped symbol, a valid_from exactly at a
//! window end, -w 1/2/4, a mapping file changed while a live source runs, allowed lateness,
//! and kill -9 into PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::*;
use serde_json::Value;

/// Window length and slide of every run here, in milliseconds.
const L: u64 = 4_000;
const S: u64 = 1_000;

struct Tick {
    ms: u64,
    symbol: String,
    price: f64,
    volume: u64,
}

/// (symbol, sector, valid_from in ms; None: since always).
type Row = (&'static str, &'static str, Option<u64>);

/// In-order ticks (never late) over `symbols`, one every `step` ms from T0.
fn ticks(seed: u64, n: usize, step: u64, symbols: &[&str]) -> Vec<Tick> {
    let mut r = Rng(seed);
    (0..n as u64)
        .map(|i| Tick {
            ms: T0 + i * step,
            symbol: symbols[r.below(symbols.len() as u64) as usize].to_string(),
            price: 10.0 + r.below(9_000) as f64 / 100.0,
            volume: r.below(1_000),
        })
        .collect()
}

fn lines(ticks: &[Tick]) -> Vec<String> {
    ticks
        .iter()
        .map(|t| tick_line(t.ms, &t.symbol, t.price, t.volume))
        .collect()
}

fn csv(rows: &[Row]) -> String {
    let mut text = String::from("symbol,sector,valid_from\n");
    for (symbol, sector, from) in rows {
        // Dated rows alternate between Unix seconds and RFC 3339, both accepted.
        let from = match from {
            None => String::new(),
            Some(ms) if ms % 2_000 == 0 => format!("{}", ms / 1000),
            Some(ms) => format!("{}Z", iso(*ms)),
        };
        text.push_str(&format!("{symbol},{sector},{from}\n"));
    }
    text
}

/// The sector of `symbol` for the window ending at `end`: the row with the greatest
/// valid_from strictly before `end`.
fn sector_of<'a>(mapping: &'a [Row], symbol: &str, end: u64) -> Option<&'a str> {
    mapping
        .iter()
        .filter(|(s, _, from)| *s == symbol && from.is_none_or(|f| f < end))
        .max_by_key(|(_, _, from)| from.map_or(0, |f| f + 1))
        .map(|(_, sector, _)| *sector)
}

/// The naive recomputation: every sector window of `ticks` under `mapping` (`mapping_at`
/// picks the mapping by window end, for changes while running).
fn oracle<'a>(ticks: &[Tick], mapping_at: impl Fn(u64) -> &'a [Row]) -> BTreeMap<RowKey, Value> {
    let first = ticks.iter().map(|t| t.ms).min().unwrap() / S * S + S;
    let last = ticks.iter().map(|t| t.ms).max().unwrap() / S * S + L;
    let mut out = BTreeMap::new();
    let mut end = first;
    while end <= last {
        let mapping = mapping_at(end);
        let mut sectors: BTreeMap<&str, Vec<&Tick>> = BTreeMap::new();
        for t in ticks.iter().filter(|t| t.ms + L >= end && t.ms < end) {
            if let Some(sector) = sector_of(mapping, &t.symbol, end) {
                sectors.entry(sector).or_default().push(t);
            }
        }
        for (sector, ts) in sectors {
            let n = ts.len() as u64;
            let volume: u64 = ts.iter().map(|t| t.volume).sum();
            let notional: f64 = ts.iter().map(|t| t.price * t.volume as f64).sum();
            let symbols: BTreeSet<&str> = ts.iter().map(|t| t.symbol.as_str()).collect();
            let v = serde_json::json!({
                "kind": "sector_average", "sector": sector,
                "window_start": rfc(end - L), "window_end": rfc(end),
                "avg_price": ts.iter().map(|t| t.price).sum::<f64>() / n as f64,
                "min_price": ts.iter().map(|t| t.price).fold(f64::INFINITY, f64::min),
                "max_price": ts.iter().map(|t| t.price).fold(f64::NEG_INFINITY, f64::max),
                "vwap": if volume > 0 { Value::from(notional / volume as f64) } else { Value::Null },
                "ticks": n, "volume": volume, "symbols": symbols.len(),
            });
            out.insert(("sector_average".into(), sector.into(), rfc(end)), v);
        }
        end += S;
    }
    out
}

fn rfc(ms: u64) -> String {
    tickflow::event::EventTime(ms).to_string()
}

/// The sector rows among `stdout` (each window once), and every line of them as written.
fn sector_rows(stdout: &[u8]) -> (BTreeMap<RowKey, Value>, BTreeSet<String>) {
    let text = String::from_utf8_lossy(stdout);
    let sector_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"sector_average\""))
        .collect();
    let joined = sector_lines.join("\n");
    (
        rows(joined.as_bytes()),
        sector_lines.iter().map(|l| l.to_string()).collect(),
    )
}

fn window_args() -> Vec<&'static str> {
    vec!["--window", "4s", "--slide", "1s"]
}

/// The mapping of the file tests: A and B in tech, C in energy; B moves to energy at
/// T0 + 7.5 s (RFC 3339) and back at T0 + 12 s, exactly a window end (Unix seconds); D moves
/// from unmapped to energy at T0 + 9 s; Z is never mapped.
fn file_mapping() -> Vec<Row> {
    vec![
        ("A", "tech", None),
        ("B", "tech", None),
        ("C", "energy", None),
        ("B", "energy", Some(T0 + 7_500)),
        ("B", "tech", Some(T0 + 12_000)),
        ("D", "energy", Some(T0 + 9_000)),
    ]
}

#[test]
fn sectors_equal_the_naive_as_of_recomputation_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let ticks = ticks(5, 3_000, 7, &["A", "B", "C", "D", "Z"]);
    let input = write_lines(dir.path(), "ticks.jsonl", &lines(&ticks));
    let mapping = file_mapping();
    let reference = dir.path().join("sectors.csv");
    std::fs::write(&reference, csv(&mapping)).unwrap();
    let expected = oracle(&ticks, |_| &mapping);
    assert!(expected.len() > 40, "{} windows", expected.len());
    let mut outputs = Vec::new();
    for workers in ["1", "2", "4"] {
        let mut args = vec!["--source", &*file_uri(&input).leak(), "-w", workers];
        args.extend(window_args());
        args.extend(["--reference", file_uri(&reference).leak()]);
        let out = run_ok(&args);
        let (rows, lines) = sector_rows(&out.stdout);
        assert_rows_close(&rows, &expected, 1e-12);
        outputs.push(lines);
    }
    assert_eq!(outputs[0], outputs[1], "-w 1 and -w 2 differ");
    assert_eq!(outputs[0], outputs[2], "-w 1 and -w 4 differ");
}

#[test]
fn a_bad_reference_file_stops_the_run_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "t.jsonl", &lines(&ticks(1, 10, 100, &["A"])));
    let reference = dir.path().join("bad.csv");
    std::fs::write(&reference, "symbol,sector,valid_from\nA,tech,yesterday\n").unwrap();
    let out = tickflow()
        .args(["run", "--source", &file_uri(&input)])
        .args(["--reference", &file_uri(&reference)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.csv: line 2: valid_from \"yesterday\""),
        "{stderr}"
    );
}

#[test]
fn check_reads_the_reference_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "t.jsonl", &lines(&ticks(1, 10, 100, &["A"])));
    let good = dir.path().join("good.csv");
    std::fs::write(&good, csv(&file_mapping())).unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "symbol,sector\nA,tech\nB\n").unwrap();
    let check = |reference: &std::path::Path| {
        tickflow()
            .args(["check", "--source", &file_uri(&input)])
            .args(["--reference", &file_uri(reference)])
            .output()
            .unwrap()
    };
    let out = check(&good);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("good.csv: ok (6 rows, 4 symbols, 3 with valid_from)"),
        "{text}"
    );
    let out = check(&bad);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("bad.csv: FAILED: line 3: 1 fields where the header has 2"),
        "{text}"
    );
}

/// `tickflow_unmapped_ticks_total` counts each tick of a symbol in no sector once: here every
/// tick of Z, and of D before it is mapped, that lies in a window [kL - L, kL) already out.
#[test]
fn unmapped_ticks_are_counted_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("sectors.csv");
    let mapping = file_mapping();
    std::fs::write(&reference, csv(&mapping)).unwrap();
    let ticks = ticks(21, 2_000, 9, &["A", "B", "C", "D", "Z"]);
    let port = free_port();
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--source", "-", "--max-out-of-orderness", "0s"])
            .args(window_args())
            .args(["--reference", &file_uri(&reference)])
            .args(["--http-addr", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = stdout_lines(&mut child.0);
    let mut stdin = child.0.stdin.take().unwrap();
    feed(&mut stdin, &lines(&ticks));
    // Every window ending at or before the last tick is out once its row is.
    let last = ticks.last().unwrap().ms;
    let mut seen = Vec::new();
    wait_for_window(&out, &mut seen, last / S * S);
    let counted_below = last / L * L;
    let want = ticks
        .iter()
        .filter(|t| t.ms < counted_below)
        .filter(|t| sector_of(&mapping, &t.symbol, (t.ms / L + 1) * L).is_none())
        .count();
    assert!(want > 100, "{want}");
    let (_, body) = http_get(port, "/metrics").expect("the metrics endpoint answers");
    let counted: usize = body
        .lines()
        .find_map(|l| l.strip_prefix("tickflow_unmapped_ticks_total "))
        .expect("tickflow_unmapped_ticks_total is served")
        .parse()
        .unwrap();
    assert_eq!(counted, want);
}

/// Feeds `lines` to the child's stdin.
fn feed(stdin: &mut std::process::ChildStdin, lines: &[String]) {
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
}

/// Waits for a sector row of the window ending at `end` on `out`, collecting every line.
fn wait_for_window(out: &std::sync::mpsc::Receiver<String>, seen: &mut Vec<String>, end: u64) {
    let want = format!("\"window_end\":\"{}\"", rfc(end));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = out.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains("sector_average") && line.contains(&want);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no sector row for the window ending at {}", rfc(end));
}

/// A live source (stdin, fed in two parts): the reference file is rewritten between them
/// (A reclassified from tech to energy, C delisted: the file form of a tombstone). Windows
/// emitted before the change keep the old mapping; every later one has the new one, from a
/// single switch point on.
#[test]
fn a_mapping_changed_while_a_live_source_runs_applies_from_the_first_open_window() {
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<Row> = vec![
        ("A", "tech", None),
        ("B", "tech", None),
        ("C", "energy", None),
    ];
    let new: Vec<Row> = vec![("A", "energy", None), ("B", "tech", None)];
    let reference = dir.path().join("sectors.csv");
    std::fs::write(&reference, csv(&old)).unwrap();
    let all = ticks(9, 4_000, 10, &["A", "B", "C"]);
    let (first, second) = all.split_at(2_000);
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--source", "-", "--max-out-of-orderness", "0s"])
            .args(window_args())
            .args(["--reference", &file_uri(&reference)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = stdout_lines(&mut child.0);
    let mut stdin = child.0.stdin.take().unwrap();
    feed(&mut stdin, &lines(first));
    let mut seen = Vec::new();
    // The last window the first part completes.
    let completed = first.last().unwrap().ms / S * S;
    wait_for_window(&out, &mut seen, completed);
    std::fs::write(&reference, csv(&new)).unwrap();
    let before = oracle(&all, |_| &old);
    let after = oracle(&all, |_| &new);
    let shows_new = |line: &String| {
        let Some((key, row)) = sector_rows(line.as_bytes()).0.into_iter().next() else {
            return false;
        };
        after.get(&key).is_some_and(|v| close(v, &row))
            && !before.get(&key).is_some_and(|v| close(v, &row))
    };
    // Feed the second part a little at a time until a window shows the new mapping (the file
    // is looked at every fraction of a second), then the rest.
    let mut chunks = second.chunks(50);
    while !seen.iter().any(shows_new) {
        let Some(chunk) = chunks.next() else {
            panic!("the new mapping never showed")
        };
        feed(&mut stdin, &lines(chunk));
        let deadline = Instant::now() + Duration::from_millis(100);
        while let Ok(line) = out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            seen.push(line);
        }
    }
    for chunk in chunks {
        feed(&mut stdin, &lines(chunk));
    }
    drop(stdin);
    seen.extend(out.iter());
    let (got, _) = sector_rows(seen.join("\n").as_bytes());
    // Every window is one mapping's or the other's, and the switch happens once, after
    // every window emitted before the change.
    let mut switch: Option<String> = None;
    let mut ends: BTreeMap<String, bool> = BTreeMap::new();
    for (key, row) in &got {
        let in_new = after.get(key).is_some_and(|v| close(v, row));
        let in_old = before.get(key).is_some_and(|v| close(v, row));
        assert!(in_new || in_old, "{key:?} is neither mapping's: {row}");
        // A window where both mappings agree (B's tech rows when A had no tick) says nothing.
        if in_new != in_old {
            let e = ends.entry(key.2.clone()).or_insert(in_new);
            assert_eq!(*e, in_new, "window {} mixes both mappings", key.2);
        }
    }
    for (end, new) in &ends {
        match (&switch, new) {
            (None, true) => switch = Some(end.clone()),
            (Some(at), false) => panic!("window {end} has the old mapping after {at}"),
            _ => {}
        }
    }
    let switch = switch.expect("the new mapping never applied");
    assert!(switch.as_str() > rfc(completed).as_str(), "{switch}");
}

fn close(a: &Value, b: &Value) -> bool {
    let mut one = BTreeMap::new();
    one.insert(("".into(), "".into(), "".into()), a.clone());
    let mut two = BTreeMap::new();
    two.insert(("".into(), "".into(), "".into()), b.clone());
    std::panic::catch_unwind(|| assert_rows_close(&one, &two, 1e-12)).is_ok()
}

/// kill -9 while writing into PostgreSQL, then a restart: `sector_averages` (and the other
/// tables) equal an uninterrupted run's.
#[test]
fn kill_9_into_postgres_equals_an_uninterrupted_run() {
    let Some(mut client) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut client, "secclean"),
        fresh_schema(&mut client, "seckilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..40).map(|i| format!("S{i:02}")).collect();
    let symbols: Vec<&str> = names.iter().map(String::as_str).collect();
    let ticks = ticks(3, 200_000, 3, &symbols);
    let input = write_lines(dir.path(), "ticks.jsonl", &lines(&ticks));
    let reference = dir.path().join("sectors.csv");
    let mut text = String::from("symbol,sector,valid_from\n");
    for (i, s) in symbols.iter().enumerate().skip(1) {
        text.push_str(&format!("{s},X{},\n", i % 5));
    }
    // S01 moves partway through; S00 is never mapped.
    text.push_str(&format!("S01,X4,{}\n", (T0 + 300_000) / 1000));
    std::fs::write(&reference, text).unwrap();
    let run = |schema: &str| {
        let mut c = tickflow();
        c.args(["run", "--source", &file_uri(&input), "--sink", &pg_url()])
            .args(["--pg-schema", schema, "--pipeline", "sectors", "-w", "2"])
            .args(["--pg-commit-interval", "20ms", "--quiet"])
            .args(window_args())
            .args(["--reference", &file_uri(&reference)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let out = run(&clean).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(count(&mut client, &clean, "sector_averages") > 500);
    let committed = |client: &mut postgres::Client| -> Option<i64> {
        client
            .query_opt(
                &format!("SELECT committed_below_ms FROM {killed}.tickflow_progress WHERE pipeline = 'sectors' AND partition = -1"),
                &[],
            )
            .ok()
            .flatten()
            .map(|r| r.get(0))
    };
    let mut mid_run = 0;
    for delay_ms in [0, 60, 20] {
        let before = committed(&mut client);
        let mut child = run(&killed).stderr(Stdio::null()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while committed(&mut client) == before
            && child.try_wait().unwrap().is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if committed(&mut client).is_some_and(|c| c > 0 && c < i64::MAX) {
            mid_run += 1;
        }
    }
    assert!(mid_run > 0, "no kill landed between commits");
    let out = run(&killed).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_results(&mut client, &clean, &killed);
}

/// With an allowed lateness, a dated row added while running whose valid_from lies before
/// windows already emitted corrects them as revisions: the last revision of every window
/// emitted within D of the change equals the recomputation with the new mapping.
#[test]
fn a_valid_from_in_the_past_revises_windows_within_the_allowed_lateness() {
    let dir = tempfile::tempdir().unwrap();
    let old: Vec<Row> = vec![("A", "tech", None), ("B", "tech", None)];
    let reference = dir.path().join("sectors.csv");
    std::fs::write(&reference, csv(&old)).unwrap();
    let all = ticks(11, 2_000, 10, &["A", "B"]);
    let (first, second) = all.split_at(1_500);
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--source", "-", "--max-out-of-orderness", "0s"])
            .args(["--allowed-lateness", "1h"])
            .args(window_args())
            .args(["--reference", &file_uri(&reference)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let out = stdout_lines(&mut child.0);
    let mut stdin = child.0.stdin.take().unwrap();
    feed(&mut stdin, &lines(first));
    let mut seen = Vec::new();
    let completed = first.last().unwrap().ms / S * S;
    wait_for_window(&out, &mut seen, completed);
    // B moves to energy from T0 + 5 s: long before the windows already out, within D.
    let new: Vec<Row> = vec![
        ("A", "tech", None),
        ("B", "tech", None),
        ("B", "energy", Some(T0 + 5_000)),
    ];
    std::fs::write(&reference, csv(&new)).unwrap();
    // A change enters at the first time not yet complete, so its revisions go out with the
    // next window to complete: feed the rest a little at a time until they show.
    let revised = |l: &String| l.contains("\"sector\":\"tech\"") && l.contains("\"revision\":1");
    let mut chunks = second.chunks(20);
    while !seen.iter().any(revised) {
        let Some(chunk) = chunks.next() else {
            panic!("no revision for the dated change")
        };
        feed(&mut stdin, &lines(chunk));
        let deadline = Instant::now() + Duration::from_millis(100);
        while let Ok(line) = out.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            seen.push(line);
        }
    }
    for chunk in chunks {
        feed(&mut stdin, &lines(chunk));
    }
    drop(stdin);
    seen.extend(out.iter());
    let mut last: BTreeMap<RowKey, Value> = BTreeMap::new();
    let mut revisions = 0;
    for line in seen.iter().filter(|l| l.contains("sector_average")) {
        let mut v: Value = serde_json::from_str(line).unwrap();
        revisions += usize::from(v["revision"].as_u64().unwrap() > 0);
        v.as_object_mut().unwrap().remove("revision");
        let key = (
            "sector_average".to_string(),
            v["sector"].as_str().unwrap().to_string(),
            v["window_end"].as_str().unwrap().to_string(),
        );
        last.insert(key, v);
    }
    assert!(revisions > 0);
    // Sector windows that lost every symbol keep their last row (nothing retracts a row):
    // compare the windows the new mapping has, and check tech's stale rows are B-only ones.
    let expected = oracle(&all, |_| &new);
    let got: BTreeMap<RowKey, Value> = last
        .iter()
        .filter(|(k, _)| expected.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_rows_close(&got, &expected, 1e-12);
}
