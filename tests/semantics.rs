//! Window semantics through the whole binary: edges, disorder, lateness, flush, oracle, workers.

mod common;

use common::*;

fn run_lines(
    lines: &[String],
    extra: &[&str],
) -> (
    std::collections::BTreeMap<RowKey, serde_json::Value>,
    String,
) {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "in.jsonl", lines);
    let rejects = dir.path().join("rejects.jsonl");
    let mut args = vec![
        "--source".to_string(),
        file_uri(&input),
        "--rejects".into(),
        rejects.display().to_string(),
        "--quiet".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_ok(&args);
    (rows(&out.stdout), std::fs::read_to_string(rejects).unwrap())
}

#[test]
fn event_exactly_at_window_end_belongs_to_the_next_window() {
    // Tumbling 10 s windows: an event at exactly T0+10s opens the second window.
    let lines = vec![
        tick_line(T0, "X", 1.0, 1),
        tick_line(T0 + 9_999, "X", 2.0, 1),
        tick_line(T0 + 10_000, "X", 4.0, 1),
    ];
    let (rows, _) = run_lines(&lines, &["--window", "10s", "--slide", "10s"]);
    let ticks: Vec<(String, u64)> = rows
        .values()
        .map(|r| {
            (
                r["window_end"].as_str().unwrap().to_string(),
                r["ticks"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ticks,
        vec![
            ("2025-11-20T09:30:10Z".to_string(), 2),
            ("2025-11-20T09:30:20Z".to_string(), 1)
        ]
    );
    let first = rows.values().next().unwrap();
    assert_eq!(first["window_start"], "2025-11-20T09:30:00Z");
    assert_eq!(first["avg_price"], 1.5);
}

#[test]
fn out_of_order_within_bounds_is_kept_and_beyond_is_late() {
    let lines = vec![
        reading_line(T0 + 10_000, "A", 10.0),
        reading_line(T0 + 6_000, "A", 20.0), // 4 s behind max: within the default 5 s
        reading_line(T0 + 5_000, "A", 30.0), // exactly at the watermark: on time
        reading_line(T0 + 4_999, "A", 40.0), // behind the watermark: late
        reading_line(T0 + 12_000, "A", 50.0),
    ];
    let (rows, rejects) = run_lines(&lines, &["--window", "60s", "--slide", "60s"]);
    let r = rows.values().next().unwrap();
    assert_eq!(r["readings"], 4);
    assert_eq!(r["mean_value"], 27.5);
    let rejects: Vec<serde_json::Value> = rejects
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0]["reason"], "late");
    assert_eq!(rejects[0]["line"], 4);
    assert!(rejects[0]["raw"]
        .as_str()
        .unwrap()
        .contains("\"value\": 40"));
}

#[test]
fn end_of_input_flushes_every_window() {
    // One event: with a 60 s / 1 s window it belongs to 60 windows, all emitted at end of input
    // although the watermark never passed them.
    let (rows, _) = run_lines(&[tick_line(T0 + 500, "X", 7.0, 3)], &[]);
    assert_eq!(rows.len(), 60);
    assert_eq!(rows.keys().next().unwrap().2, "2025-11-20T09:30:01Z");
    assert_eq!(rows.keys().last().unwrap().2, "2025-11-20T09:31:00Z");
    assert!(rows.values().all(|r| r["vwap"] == 7.0 && r["volume"] == 3));
}

#[test]
fn outlier_filter_bounds() {
    let lines: Vec<String> = [5.0, 50.0, 89.99, 90.0, 95.0]
        .iter()
        .map(|v| reading_line(T0, "A", *v))
        .collect();
    let tumbling = ["--window", "1s", "--slide", "1s"];
    let (rows, _) = run_lines(&lines, &tumbling);
    assert_eq!(
        rows.values().next().unwrap()["readings"],
        3,
        "default keeps value < 90"
    );
    let (rows, _) = run_lines(
        &lines,
        &[&tumbling[..], &["--keep-above", "10", "--keep-below", "95"]].concat(),
    );
    assert_eq!(
        rows.values().next().unwrap()["readings"],
        3,
        "10 < value < 95"
    );
    let (rows, _) = run_lines(&lines, &[&tumbling[..], &["--no-filter"]].concat());
    assert_eq!(rows.values().next().unwrap()["readings"], 5);
}

#[test]
fn zero_volume_has_no_vwap() {
    let (rows, _) = run_lines(
        &[tick_line(T0, "X", 7.0, 0)],
        &["--window", "1s", "--slide", "1s"],
    );
    assert_eq!(
        rows.values().next().unwrap()["vwap"],
        serde_json::Value::Null
    );
}

/// Averages are the f64 nearest to the exact mean of the inputs, rounded once.
#[test]
fn averages_are_rounded_once() {
    let lines = vec![
        tick_line(T0, "X", 126.33, 4321),
        reading_line(T0, "A", 0.1),
        reading_line(T0 + 1, "A", 0.2),
        reading_line(T0 + 2, "A", 0.3),
    ];
    let (rows, _) = run_lines(&lines, &["--window", "10s", "--slide", "10s"]);
    let by_kind = |kind: &str| {
        rows.values()
            .find(|r| r["kind"] == kind)
            .unwrap_or_else(|| panic!("a {kind} row"))
    };
    let tick = by_kind("symbol_average");
    assert_eq!(tick["vwap"], 126.33, "not 126.32999999999998");
    assert_eq!(tick["avg_price"], 126.33);
    let mean = by_kind("category_mean");
    assert_eq!(mean["mean_value"], 0.2, "not 0.19999999999999998");
    assert_eq!(mean["readings"], 3);
}

/// The dataflow against a naive recomputation on random input with disorder and late records,
/// for sliding, hopping and tumbling windows.
#[test]
fn oracle_random_input_with_disorder() {
    for (seed, window, slide) in [(1, 60, 1), (2, 10, 5), (3, 7, 7), (4, 3, 1)] {
        let events = random_events(seed, 6_000, 4_000, 5);
        let (want, late) = oracle(&events, window * 1000, slide * 1000, 5_000, 90.0);
        assert!(late > 0, "the input should contain late records");
        let (got, rejects) = run_lines(
            &lines_of(&events),
            &[
                "--window",
                &format!("{window}s"),
                "--slide",
                &format!("{slide}s"),
            ],
        );
        assert_rows_close(&want, &got, 1e-12);
        let late_rejects = rejects
            .lines()
            .filter(|l| l.contains("\"reason\":\"late\""))
            .count();
        assert_eq!(late_rejects, late, "every late record is a reject");
    }
}

/// Bit-identical rows for any number of workers (sums are exact, so summation order cannot
/// matter; input without late records, since a file split over more workers is more
/// partitions, each deciding lateness in its own order).
#[test]
fn same_rows_for_any_worker_count() {
    let events = random_events(9, 40_000, 3_000, 0);
    let lines = lines_of(&events);
    let (one, _) = run_lines(&lines, &["-w", "1"]);
    assert!(one.len() > 1000);
    for w in ["2", "4"] {
        let (other, _) = run_lines(&lines, &["-w", w]);
        assert_rows_close(&one, &other, 0.0);
    }
}

#[test]
fn python_literals_give_the_same_rows_as_json() {
    let events = random_events(11, 3_000, 2_000, 0);
    let json = lines_of(&events);
    let python: Vec<String> = events
        .iter()
        .map(|e| match e {
            Ev::Tick { t, key, price, volume } => format!(
                "{{'timestamp': '{}', 'stock_code': '{key}', 'price': {price:?}, 'volume': {volume}, 'ok': True}}",
                iso(*t)
            ),
            Ev::Reading { t, key, value } => format!(
                "{{'timestamp': {}.{:03}, 'value': {value:?}, 'category': '{key}', 'note': None}}",
                t / 1000,
                t % 1000
            ),
        })
        .collect();
    let (a, _) = run_lines(&json, &[]);
    let (b, rejects) = run_lines(&python, &[]);
    assert_eq!(rejects, "");
    assert_rows_close(&a, &b, 0.0);
}

#[test]
fn csv_output_has_a_header_and_one_line_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &[tick_line(T0, "X,1", 2.5, 4), reading_line(T0, "B", 1.0)],
    );
    let out = run_ok(&[
        "--source",
        &file_uri(&input),
        "--format",
        "csv",
        "--window",
        "1s",
        "--slide",
        "1s",
        "--quiet",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.remove(0), "kind,symbol,category,window_start,window_end,avg_price,min_price,max_price,vwap,ticks,volume,mean_value,readings");
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "category_mean,,B,2025-11-20T09:30:00Z,2025-11-20T09:30:01Z,,,,,,,1.0,1",
            "symbol_average,\"X,1\",,2025-11-20T09:30:00Z,2025-11-20T09:30:01Z,2.5,2.5,2.5,2.5,1,4,,",
        ]
    );
}

#[test]
fn configured_field_names() {
    let lines =
        vec![r#"{"ts": "2025-11-20T09:30:00Z", "symbol": "Z", "px": 3.0, "qty": 2}"#.to_string()];
    let (rows, rejects) = run_lines(
        &lines,
        &[
            "--timestamp-field",
            "ts",
            "--symbol-field",
            "symbol",
            "--price-field",
            "px",
            "--volume-field",
            "qty",
            "--window",
            "1s",
            "--slide",
            "1s",
        ],
    );
    assert_eq!(rejects, "");
    assert_eq!(rows.values().next().unwrap()["symbol"], "Z");
}
