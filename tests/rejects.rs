//! Every reject reason through the binary: counted, written with position and reason, and the
//! good records around them still used.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn every_reject_reason_is_written_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.jsonl");
    let mut bytes: Vec<u8> = Vec::new();
    let mut push = |line: &[u8]| {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    };
    push(tick_line(T0 + 10_000, "OK", 10.0, 1).as_bytes()); // 1
    push(b"{\"stock_code\": \"X\", \"price\": 1"); // 2 malformed
    push(b"{\"stock_code\": \"X\", \"timestamp\": 1763631010, \"volume\": 1}"); // 3 missing price
    push(b"{\"category\": \"\xff\xfe\", \"value\": 1, \"timestamp\": 1763631010}"); // 4 invalid utf-8
    push(&[b'{'; 3000]); // 5 too long (limit 200 below)
    push(b"{\"timestamp\": 1763631010, \"value\": 1}"); // 6 unknown shape
    push(b"{\"stock_code\": \"X\", \"timestamp\": 1763631010, \"price\": -3, \"volume\": 1}"); // 7 invalid
    push(b""); // 8 blank: skipped, not a reject
    push(tick_line(T0, "OK", 99.0, 1).as_bytes()); // 9 late (10 s behind, bound 5 s)
    push(b"{'stock_code': 'OK', 'timestamp': 1763631011, 'price': 20.0, 'volume': 1}"); // 10 good
    std::fs::write(&path, &bytes).unwrap();
    let rejects_path = dir.path().join("rejects.jsonl");
    let out = run_ok(&[
        "--source",
        &file_uri(&path),
        "--rejects",
        &rejects_path.display().to_string(),
        "--max-line-bytes",
        "200",
        "--window",
        "60s",
        "--slide",
        "60s",
        "--progress",
    ]);
    let rows = rows(&out.stdout);
    assert_eq!(rows.len(), 1);
    let row = rows.values().next().unwrap();
    assert_eq!(row["ticks"], 2, "lines 1 and 10 are used");
    assert_eq!(row["avg_price"], 15.0);

    let rejects: Vec<Value> = std::fs::read_to_string(&rejects_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "malformed"),
            (3, "missing_field"),
            (4, "invalid_utf8"),
            (5, "line_too_long"),
            (6, "unknown_shape"),
            (7, "invalid_field"),
            (9, "late"),
        ]
    );
    for r in &rejects {
        assert_eq!(r["source"], format!("file:{}", path.display()));
        assert_eq!(r["partition"], 0);
        assert!(r["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(r["received_at"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(rejects[1]["detail"], "missing field \"price\"");
    assert_eq!(
        rejects[3]["raw"].as_str().unwrap().len(),
        1024,
        "a bounded prefix is kept"
    );
    let offset_of_line_3 = bytes
        .split(|b| *b == b'\n')
        .take(2)
        .map(|l| l.len() as u64 + 1)
        .sum::<u64>();
    assert_eq!(rejects[1]["offset"], offset_of_line_3);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(
        summary.contains("7 rejects (1 late)"),
        "summary counts rejects: {summary}"
    );
}

#[test]
fn rejects_go_to_stderr_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "in.jsonl", &["not json".to_string()]);
    let out = run_ok(&["--source", &file_uri(&input)]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let reject: Value = serde_json::from_str(stderr.lines().next().unwrap()).unwrap();
    assert_eq!(reject["reason"], "malformed");
    assert_eq!(reject["raw"], "not json");
    assert_eq!(reject["line"], 1);
}

#[test]
fn reject_line_numbers_are_absolute_in_every_file_split() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (0..20_000)
        .map(|i| tick_line(T0 + i, "S", 1.0, 1))
        .collect();
    for n in [17usize, 9_999, 15_001, 19_999] {
        lines[n - 1] = format!("bad line {n}");
    }
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let rejects = dir.path().join("r.jsonl");
    run_ok(&[
        "--source",
        &file_uri(&input),
        "-w",
        "4",
        "--rejects",
        &rejects.display().to_string(),
        "--sink",
        "discard",
    ]);
    let mut got: Vec<(u64, String)> = std::fs::read_to_string(rejects)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["line"].as_u64().unwrap(),
                v["raw"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let want: Vec<(u64, String)> = [17u64, 9_999, 15_001, 19_999]
        .iter()
        .map(|n| (*n, format!("bad line {n}")))
        .collect();
    assert_eq!(got, want);
}

/// Input that is not one record per line (CSV here) still gives one reject per line, and one
/// warning, early, saying what it looks like and what tickflow reads, whatever the workers.
#[test]
fn a_source_whose_first_lines_are_all_rejected_gets_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = vec!["timestamp,stock_code,price,volume".to_string()];
    lines.extend((0..2_000).map(|i| format!("{},SYM{},1.5,10", iso(T0 + i * 10), i % 7)));
    let csv = write_lines(dir.path(), "ticks.csv", &lines);
    let rejects = dir.path().join("rejects.jsonl");
    let out = run_ok(&[
        "--source",
        &file_uri(&csv),
        "-w",
        "2",
        "--rejects",
        &rejects.display().to_string(),
        "--quiet",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let warning = format!(
        "tickflow: warning: the first 5 lines of {} were all rejected; they look like CSV (header \"timestamp,stock_code,price,volume\"); tickflow reads one JSON object or Python dict literal per line, e.g. {{\"timestamp\": ",
        file_uri(&csv.canonicalize().unwrap())
    );
    assert_eq!(stderr.matches(&warning).count(), 1, "{stderr}");
    assert_eq!(stderr.matches("tickflow: warning:").count(), 1, "{stderr}");
    let written = std::fs::read_to_string(&rejects).unwrap();
    assert_eq!(
        written.lines().count(),
        2_001,
        "every line is still a reject"
    );

    // Pretty-printed JSON on stdin: named as such.
    let pretty = "[\n  {\n    \"timestamp\": 1763631000,\n    \"value\": 1.0,\n    \"category\": \"A\"\n  }\n]\n";
    let mut child = tickflow()
        .args(["run", "--source", "-", "--quiet", "--rejects", "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), pretty.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr
            .contains("the first 5 lines of stdin were all rejected; they look like a JSON array"),
        "{stderr}"
    );

    // Good input: no warning.
    let good = write_lines(dir.path(), "good.jsonl", &[tick_line(T0, "A", 1.0, 1)]);
    let out = run_ok(&["--source", &file_uri(&good), "--quiet"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
}

/// Numeric timestamps in any unit land in the same window; a time too far ahead of the clock
/// is an `invalid_field` naming the value and the unit it was read in.
#[test]
fn timestamp_units_and_times_ahead_of_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        r#"{"timestamp": 1763631000, "value": 10, "category": "B"}"#.to_string(),
        r#"{"timestamp": 1763631001123, "value": 20, "category": "B"}"#.to_string(),
        "{'timestamp': '1763631002000000', 'value': 30, 'category': 'B'}".to_string(),
        "{'timestamp': datetime.datetime(2025, 11, 20, 17, 30, 3, tzinfo=datetime.timezone(datetime.timedelta(seconds=28800))), 'value': 40, 'category': 'B'}".to_string(),
        r#"{"timestamp": "2999-01-01T00:00:00Z", "value": 50, "category": "B"}"#.to_string(),
    ];
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let rejects_path = dir.path().join("rejects.jsonl");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--source".to_string(),
            file_uri(&input),
            "--rejects".into(),
            rejects_path.display().to_string(),
            "--window".into(),
            "10s".into(),
            "--slide".into(),
            "10s".into(),
            "--quiet".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_ok(&args);
        let rejects: Vec<Value> = std::fs::read_to_string(&rejects_path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        (rows(&out.stdout), rejects)
    };

    let (rows, rejects) = run(&[]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = rows.values().next().unwrap();
    assert_eq!(row["window_end"], "2025-11-20T09:30:10Z");
    assert_eq!(row["readings"], 4, "s, ms, us and a +08:00 datetime");
    assert_eq!(row["mean_value"], 25.0);
    assert_eq!(rejects.len(), 1, "{rejects:?}");
    assert_eq!(rejects[0]["line"], 5);
    assert_eq!(rejects[0]["reason"], "invalid_field");
    let detail = rejects[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("more than 1day ahead of the clock"),
        "{detail}"
    );

    let (rows, rejects) = run(&["--timestamp-unit", "s"]);
    assert_eq!(rows.values().next().unwrap()["readings"], 2);
    let got: Vec<(u64, &str)> = rejects
        .iter()
        .map(|r| (r["line"].as_u64().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, "invalid_field"),
            (3, "invalid_field"),
            (5, "invalid_field")
        ]
    );
    let detail = rejects[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("timestamp 1763631001123 read as seconds is 57857-")
            && detail.contains("set --timestamp-unit"),
        "{detail}"
    );

    // A lead long enough admits a misread time: it then makes a window of its own.
    let (rows, rejects) = run(&["--timestamp-unit", "s", "--max-future", "100000years"]);
    assert!(
        rows.values()
            .any(|r| r["window_end"].as_str().unwrap().starts_with("57857-")),
        "{rows:?}"
    );
    assert!(rejects.iter().all(|r| r["line"] != 2), "{rejects:?}");
}
