//! Sector rollups under live sources (stdin fed a part at a time): a reference file changed
//! while running, a valid_from in the past producing revisions within the allowed lateness,
//! and the unmapped-ticks counter; checked against the recomputation of `common::sectors`.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::sectors::*;
use common::*;
use serde_json::Value;

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
    let before = as_of_oracle(&all, |_| &old);
    let after = as_of_oracle(&all, |_| &new);
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
    let expected = as_of_oracle(&all, |_| &new);
    let got: BTreeMap<RowKey, Value> = last
        .iter()
        .filter(|(k, _)| expected.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert_rows_close(&got, &expected, 1e-12);
}
