//! The Kafka sink against a real Kafka-protocol broker (tansu in CI; see the README's Testing
//! section), read back with an independent client (Python's confluent-kafka): kill -9 and
//! restarts lose no window and repeat only identical messages, Kafka to Kafka equals a file to
//! stdout, and a missing topic or a message too large is a clear error that advances nothing.
//!
//! The broker is `TICKFLOW_TEST_KAFKA` (default `127.0.0.1:9092`). Under `CI=true` a missing
//! broker or module fails these tests; elsewhere they say SKIPPED and pass.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::kafka_topics::{broker, unique_topic};
use common::python::*;
use common::*;

/// Committed frontier of a progress record written once all input has ended.
const END: u64 = i64::MAX as u64;

fn broker_with_client() -> Option<(String, Python)> {
    let b = broker()?;
    Some((b, python(&["confluent_kafka"])?))
}

/// Runs the independent Python client; returns what it printed.
fn client(py: &Python, broker: &str, args: &[&str]) -> String {
    let out = py
        .script("tests/support/kafka_client.py")
        .arg(broker)
        .args(args)
        .output()
        .expect("running the checked Python interpreter");
    assert!(
        out.status.success(),
        "kafka_client {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A new topic of `partitions` partitions (compacted with `compact`).
fn topic(py: &Python, broker: &str, tag: &str, partitions: usize, compact: bool) -> String {
    let name = unique_topic(tag);
    let mut args = vec!["create", &name];
    let n = partitions.to_string();
    args.push(&n);
    if compact {
        args.push("--compact");
    }
    client(py, broker, &args);
    name
}

/// One message as the independent client read it.
#[derive(Debug)]
struct Msg {
    key: Option<String>,
    value: Option<String>,
    headers: BTreeMap<String, String>,
}

fn consume(py: &Python, broker: &str, topic: &str) -> Vec<Msg> {
    client(py, broker, &["consume", topic])
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("the client prints JSON");
            Msg {
                key: v["key"].as_str().map(String::from),
                value: v["value"].as_str().map(String::from),
                headers: serde_json::from_value(v["headers"].clone()).expect("headers"),
            }
        })
        .collect()
}

/// Checks every message (key = symbol or category, headers = kind and window_end, repeats
/// byte-identical) and returns the distinct rows as JSON lines, with how many were repeats.
fn distinct_rows(messages: &[Msg]) -> (BTreeMap<RowKey, Value>, usize) {
    let mut seen: BTreeMap<RowKey, String> = BTreeMap::new();
    let mut repeats = 0;
    for m in messages {
        let value = m.value.as_deref().expect("a result row has a value");
        let row: Value = serde_json::from_str(value).expect("the value is a JSON row");
        let kind = row["kind"].as_str().unwrap().to_string();
        let key = row
            .get("symbol")
            .or_else(|| row.get("category"))
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        let end = row["window_end"].as_str().unwrap().to_string();
        assert_eq!(
            m.key.as_deref(),
            Some(key.as_str()),
            "message key of {value}"
        );
        assert_eq!(m.headers.get("kind"), Some(&kind), "kind header of {value}");
        assert_eq!(m.headers.get("window_end"), Some(&end), "window_end header");
        match seen.get(&(kind.clone(), key.clone(), end.clone())) {
            Some(first) => {
                assert_eq!(first, value, "a repeated window must be identical");
                repeats += 1;
            }
            None => {
                seen.insert((kind, key, end), value.to_string());
            }
        }
    }
    let mut text = String::new();
    for v in seen.values() {
        text.push_str(v);
        text.push('\n');
    }
    (rows(text.as_bytes()), repeats)
}

/// The committed frontiers of every progress record of `pipeline`, in the order written.
fn progress_frontiers(py: &Python, broker: &str, topic: &str, pipeline: &str) -> Vec<u64> {
    consume(py, broker, topic)
        .iter()
        .filter(|m| {
            m.key
                .as_deref()
                .is_some_and(|k| k.starts_with(&format!("[{pipeline:?}")))
        })
        .filter_map(|m| m.value.as_deref())
        .map(|v| {
            let r: Value = serde_json::from_str(v).unwrap();
            r["committed_below_ms"].as_u64().unwrap()
        })
        .collect()
}

fn generated_file(dir: &Path, events: usize) -> std::path::PathBuf {
    let path = dir.join("ticks.jsonl");
    let out = tickflow()
        .args(["produce", "--to", "stdout", "--rate", "0", "--events"])
        .arg(events.to_string())
        .args(["--start", "2025-11-20T09:30:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&path, out.stdout).unwrap();
    path
}

fn metric(port: u16, name: &str) -> Option<u64> {
    let (_, body) = http_get(port, "/metrics")?;
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// kill -9 three times (right after the first rows are acknowledged, a moment later, and at a
/// fixed time), then a run to the end: every window of an uninterrupted run is in the topic,
/// every repeat is identical, keys are symbols, and the headers are there.
#[test]
fn killed_three_times_every_window_arrives_and_repeats_are_identical() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = generated_file(dir.path(), 400_000);
    let out = topic(&py, &broker, "sink-kill", 3, false);
    let progress = topic(&py, &broker, "sink-kill-progress", 1, true);
    let sink = format!("kafka://{broker}/{out}?progress_topic={progress}&commit_interval=20ms");
    let expected = rows(&run_ok(&["--source", &file_uri(&input), "-w", "2", "--quiet"]).stdout);
    assert!(expected.len() > 20_000);

    for (wait_for_rows, delay_ms) in [(true, 0), (true, 300), (false, 1_500)] {
        let port = free_port();
        let mut child = tickflow()
            .args(["run", "--source", &file_uri(&input), "--sink", &sink])
            .args(["--pipeline", "killed", "-w", "2", "--quiet"])
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        if wait_for_rows {
            // Rows acknowledged in this run: a commit is under way or done.
            while metric(port, "tickflow_kafka_sink_rows_total").unwrap_or(0) == 0
                && child.try_wait().unwrap().is_none()
                && started.elapsed() < Duration::from_secs(60)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let frontiers = progress_frontiers(&py, &broker, &progress, "killed");
    assert!(
        frontiers.iter().any(|&f| f > 0 && f < END),
        "no kill landed after a mid-run commit ({frontiers:?}); the input is too small"
    );
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &sink,
        "--pipeline",
        "killed",
        "-w",
        "2",
        "--quiet",
    ]);
    let (got, repeats) = distinct_rows(&consume(&py, &broker, &out));
    assert_rows_close(&expected, &got, 0.0);
    assert_eq!(expected, got, "bit for bit");
    eprintln!("{} windows, {repeats} identical repeats", got.len());
    // A run over finished input sends nothing more.
    let before = consume(&py, &broker, &out).len();
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &sink,
        "--pipeline",
        "killed",
        "--quiet",
        "-w",
        "2",
    ]);
    assert_eq!(consume(&py, &broker, &out).len(), before);
}

/// A 4-partition topic into a 3-partition topic gives the rows a file gives on stdout.
#[test]
fn kafka_to_kafka_equals_file_to_stdout() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Disorder within bounds and no late records: the file and the topic's partitions see the
    // records in different orders.
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(43, 30_000, 3_000, 0)),
    );
    let source = topic(&py, &broker, "sink-src", 4, false);
    client(
        &py,
        &broker,
        &[
            "produce",
            &source,
            input.to_str().unwrap(),
            "--partition-by-line",
            "4",
        ],
    );
    let out = topic(&py, &broker, "sink-out", 3, false);
    let progress = topic(&py, &broker, "sink-out-progress", 1, true);
    run_ok(&[
        "--source",
        &format!("kafka://{broker}/{source}"),
        "--sink",
        &format!("kafka://{broker}/{out}?progress_topic={progress}"),
        "--exit-at-end",
        "-w",
        "2",
        "--quiet",
    ]);
    let expected = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    let messages = consume(&py, &broker, &out);
    let (got, repeats) = distinct_rows(&messages);
    assert_eq!(repeats, 0, "an uninterrupted run sends each window once");
    assert!(expected.len() > 1000);
    assert_eq!(expected, got);
    assert_eq!(
        progress_frontiers(&py, &broker, &progress, &source).last(),
        Some(&END)
    );
}

#[test]
fn missing_topics_are_clear_errors() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(1, 100, 0, 0)),
    );
    let run = |sink: &str| {
        let out = tickflow()
            .args([
                "run",
                "--source",
                &file_uri(&input),
                "--sink",
                sink,
                "--quiet",
            ])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let missing = unique_topic("sink-none");
    let (code, stderr) = run(&format!("kafka://{broker}/{missing}"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Kafka topic {missing:?} does not exist on {broker}"
        )) && stderr.contains("tickflow does not create topics"),
        "{stderr}"
    );
    let out = topic(&py, &broker, "sink-np", 1, false);
    let (code, stderr) = run(&format!("kafka://{broker}/{out}?progress_topic={missing}"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("progress topic {missing:?} does not exist"))
            && stderr.contains("cleanup.policy=compact"),
        "{stderr}"
    );
    assert!(consume(&py, &broker, &out).is_empty(), "nothing sent");
}

/// A row larger than the producer's maximum message size: a clear error, exit 1, no progress
/// saved, and once the limit is raised a rerun delivers every window.
#[test]
fn a_value_too_large_is_a_clear_error_and_advances_nothing() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let long = "X".repeat(2_000);
    let lines = vec![
        format!(
            r#"{{"timestamp": "2025-11-20T09:30:00", "stock_code": "A", "price": 1.5, "volume": 1}}"#
        ),
        format!(
            r#"{{"timestamp": "2025-11-20T09:30:01", "stock_code": "{long}", "price": 2.5, "volume": 1}}"#
        ),
        format!(
            r#"{{"timestamp": "2025-11-20T09:30:20", "stock_code": "A", "price": 3.5, "volume": 1}}"#
        ),
    ];
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let out = topic(&py, &broker, "sink-big", 1, false);
    let progress = topic(&py, &broker, "sink-big-progress", 1, true);
    let sink = format!("kafka://{broker}/{out}?progress_topic={progress}");
    let failed = tickflow()
        .args(["run", "--source", &file_uri(&input), "--sink", &sink])
        .args([
            "--pipeline",
            "big",
            "--quiet",
            "-X",
            "message.max.bytes=1000",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("Kafka refused a message to topic {out:?}"))
            && stderr.contains("MessageSizeTooLarge")
            && stderr.contains("message.max.bytes"),
        "{stderr}"
    );
    assert!(
        progress_frontiers(&py, &broker, &progress, "big").is_empty(),
        "no progress saved past rows that were not delivered"
    );
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &sink,
        "--pipeline",
        "big",
        "--quiet",
    ]);
    let expected = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    let (got, _) = distinct_rows(&consume(&py, &broker, &out));
    assert_eq!(expected, got, "nothing lost");
}

/// The Kafka sink keeps progress per process: another worker count goes on (nothing left to
/// do), another number of processes is refused naming the saved one.
#[test]
fn another_number_of_processes_is_refused_but_not_of_workers() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(47, 5_000, 1_000, 0)),
    );
    let out = topic(&py, &broker, "resize-out", 1, false);
    let progress = topic(&py, &broker, "resize-progress", 1, true);
    let sink = format!("kafka://{broker}/{out}?progress_topic={progress}");
    let run = |extra: &[&str]| {
        let source = file_uri(&input);
        let args = ["run", "--source", &source, "--sink", &sink, "--quiet"];
        tickflow().args(args).args(extra).output().unwrap()
    };
    assert!(run(&["-w", "2"]).status.success());
    let sent = consume(&py, &broker, &out).len();
    assert!(sent > 100);
    assert!(run(&["-w", "3"]).status.success());
    assert_eq!(
        consume(&py, &broker, &out).len(),
        sent,
        "nothing left to do"
    );
    let refused = run(&["--local-cluster", "2", "-w", "1"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("from 1 process(es), this run has 2"),
        "{stderr}"
    );
}

#[test]
fn csv_and_two_progress_keeping_sinks_are_refused() {
    let run = |args: &[&str]| {
        let out = tickflow().arg("run").args(args).output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stderr) = run(&["--sink", "kafka://127.0.0.1:1/t", "--format", "csv"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("takes JSON rows only"), "{stderr}");
    let (code, stderr) = run(&[
        "--sink",
        "kafka://127.0.0.1:1/t",
        "--sink",
        "postgres://root@127.0.0.1:1/test",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("at most one sink that keeps progress"),
        "{stderr}"
    );
}
