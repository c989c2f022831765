//! Sector rollups end to end from files, against the naive as-of recomputation of
//! `common::sectors`: a symbol changing sector partway through, a symbol mapped only from some
//! time on, an unmapped symbol, a valid_from exactly at a window end, -w 1/2/4, a bad reference
//! file, `tickflow check`, and kill -9 into PostgreSQL. Live sources: `sector_live.rs`.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::sectors::*;
use common::*;

#[test]
fn sectors_equal_the_naive_as_of_recomputation_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let ticks = ticks(5, 3_000, 7, &["A", "B", "C", "D", "Z"]);
    let input = write_lines(dir.path(), "ticks.jsonl", &lines(&ticks));
    let mapping = file_mapping();
    let reference = dir.path().join("sectors.csv");
    std::fs::write(&reference, csv(&mapping)).unwrap();
    let expected = as_of_oracle(&ticks, |_| &mapping);
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
        text.contains("good.csv: ok (4 symbols in ") && text.contains(", 6 rows)"),
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
