//! The Kafka source against a real Kafka-protocol broker (tansu in CI; see shared kafka.md):
//! data from an independent client, exactly-once into PostgreSQL under kill -9, bad messages,
//! idle partitions, unreachable brokers and missing topics.
//!
//! The broker is `TICKFLOW_TEST_KAFKA` (default `127.0.0.1:9092`); the independent client is
//! Python's confluent-kafka, run by `TICKFLOW_TEST_PYTHON` (default `python3`). Under `CI=true`
//! a missing broker or module fails these tests; elsewhere they say SKIPPED and pass.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::kafka_topics::{broker, unique_topic};
use common::partition_gate::GatedBroker;
use common::pg::*;
use common::python::*;
use common::*;

/// The broker and the interpreter of the independent client, which needs confluent-kafka; or
/// `None` (said out loud) when either is missing outside CI.
fn broker_with_client() -> Option<(String, Python)> {
    let broker = broker()?;
    Some((broker, python(&["confluent_kafka"])?))
}

/// Runs the independent Python client (confluent-kafka); returns what it printed.
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
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The rows of a whole topic, read with two workers to its end.
fn topic_rows(broker: &str, topic: &str) -> std::collections::BTreeMap<RowKey, serde_json::Value> {
    let source = format!("kafka://{broker}/{topic}");
    rows(&run_ok(&["--source", &source, "-w", "2", "--exit-at-end", "--quiet"]).stdout)
}

fn topic_with(py: &Python, broker: &str, tag: &str, partitions: usize, file: &Path) -> String {
    topic_from(py, broker, tag, partitions, file, false)
}

/// A topic filled from `file`, line `i` to partition `i % partitions`; with `one_per_batch`,
/// every message is its own record batch (see `kafka_client.py`).
fn topic_from(
    py: &Python,
    broker: &str,
    tag: &str,
    partitions: usize,
    file: &Path,
    one_per_batch: bool,
) -> String {
    let topic = unique_topic(tag);
    client(py, broker, &["create", &topic, &partitions.to_string()]);
    let spread = partitions.to_string();
    let mut args = vec![
        "produce",
        &topic,
        file.to_str().unwrap(),
        "--partition-by-line",
        &spread,
    ];
    if one_per_batch {
        args.push("--one-per-batch");
    }
    client(py, broker, &args);
    topic
}
#[test]
fn a_topic_gives_the_same_rows_as_the_same_data_in_a_file() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Disorder within bounds and no late records: lateness is per partition, and a file of one
    // partition and a topic of four see different orders.
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(41, 30_000, 3_000, 0)),
    );
    let topic = topic_with(&py, &broker, "same", 4, &input);
    let from_file = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    let from_kafka = topic_rows(&broker, &topic);
    assert!(from_file.len() > 1000);
    assert_rows_close(&from_file, &from_kafka, 0.0);
}

#[test]
fn tickflow_produce_feeds_the_kafka_source() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let topic = unique_topic("produce");
    client(&py, &broker, &["create", &topic, "3"]);
    let produce = |to: &str| {
        let out = tickflow()
            .args([
                "produce",
                "--to",
                to,
                "--events",
                "6000",
                "--rate",
                "0",
                "--symbols",
                "9",
            ])
            .args(["--start", "2025-11-20T09:30:00Z", "--seed", "5"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    produce(&format!("kafka://{broker}/{topic}"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("same.jsonl");
    std::fs::write(&file, produce("stdout")).unwrap();
    let want = rows(&run_ok(&["--source", &file_uri(&file), "--quiet"]).stdout);
    let got = topic_rows(&broker, &topic);
    assert!(want.len() > 100);
    assert_rows_close(&want, &got, 0.0);
}

#[test]
fn bad_messages_are_rejects_with_topic_partition_and_offset() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for line in [
        tick_line(T0 + 20_000, "OK", 10.0, 1).into_bytes(), // offset 0
        b"{\"stock_code\": broken".to_vec(),                // 1 malformed
        vec![b'x'; 5_000],                                  // 2 over --max-line-bytes 1000
        b"{\"category\": \"\xff\", \"value\": 1, \"timestamp\": 1763631020}".to_vec(), // 3
        tick_line(T0, "OK", 99.0, 1).into_bytes(),          // 4 late (20 s behind)
        tick_line(T0 + 21_000, "OK", 20.0, 1).into_bytes(), // 5
    ] {
        bytes.extend_from_slice(&line);
        bytes.push(b'\n');
    }
    let input = dir.path().join("bad.jsonl");
    std::fs::write(&input, &bytes).unwrap();
    let topic = topic_with(&py, &broker, "bad", 1, &input);
    let rejects = dir.path().join("rejects.jsonl");
    let out = run_ok(&[
        "--source",
        &format!("kafka://{broker}/{topic}"),
        "--exit-at-end",
        "--max-line-bytes",
        "1000",
        "--rejects",
        rejects.to_str().unwrap(),
        "--window",
        "60s",
        "--slide",
        "60s",
        "--quiet",
    ]);
    let rows = rows(&out.stdout);
    assert_eq!(
        rows.values().next().unwrap()["ticks"],
        2,
        "the good messages around them count"
    );
    let got: Vec<(String, u64, String)> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["source"], format!("kafka://{broker}/{topic}"));
            assert_eq!(v["partition"], 0);
            (
                v["reason"].as_str().unwrap().into(),
                v["offset"].as_u64().unwrap(),
                String::new(),
            )
        })
        .collect();
    let reasons: Vec<(&str, u64)> = got.iter().map(|(r, o, _)| (r.as_str(), *o)).collect();
    assert_eq!(
        reasons,
        vec![
            ("malformed", 1),
            ("line_too_long", 2),
            ("invalid_utf8", 3),
            ("late", 4)
        ]
    );
}

/// One partition of four stops getting data; once it has been caught up for the idle timeout,
/// windows keep coming from the other three.
#[test]
fn an_idle_partition_does_not_stall_output() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Lines go to partitions round-robin: partition 3 gets only the first 40 lines (10 s of
    // event time), the others go on for 200 s.
    let mut lines = Vec::new();
    for i in 0..800u64 {
        if i % 4 == 3 && i >= 40 {
            lines.push(String::new()); // a blank message: skipped, keeps the round-robin
        } else {
            lines.push(tick_line(T0 + i * 250, "S", 1.0, 1));
        }
    }
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let topic = topic_with(&py, &broker, "idle", 4, &input);
    let mut child = tickflow()
        .args([
            "run",
            "--source",
            &format!("kafka://{broker}/{topic}"),
            "--idle-timeout",
            "500ms",
        ])
        .args(["--window", "10s", "--slide", "10s", "--quiet"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut latest = String::new();
    while std::time::Instant::now() < deadline && latest.as_str() < "2025-11-20T09:32:00Z" {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            latest = latest.max(v["window_end"].as_str().unwrap().to_string());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        latest.as_str() >= "2025-11-20T09:32:00Z",
        "output stalled at {latest:?} behind the idle partition"
    );
}

#[test]
fn an_unreachable_broker_is_named_and_retried() {
    let port = free_port();
    let out = tickflow()
        .args([
            "run",
            "--source",
            &format!("kafka://127.0.0.1:{port}/ticks"),
            "--kafka-timeout",
            "2s",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("cannot reach Kafka brokers 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(stderr.contains("retrying"), "{stderr}");
}

#[test]
fn a_missing_topic_is_a_clear_error() {
    let Some(broker) = broker() else { return };
    let out = tickflow()
        .args([
            "run",
            "--source",
            &format!("kafka://{broker}/{}", unique_topic("none")),
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("does not exist"), "{stderr}");
}

/// `tickflow produce` to Kafka with `ARGS`, three events: its exit status and stderr.
fn produce_three(to: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    let out = tickflow()
        .args(["produce", "--to", to, "--events", "3", "--rate", "0"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn produce_to_a_missing_topic_fails_naming_it() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("produce-none");
    let (status, stderr) = produce_three(&format!("kafka://{broker}/{topic}"), &[]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("Kafka topic {topic:?} does not exist on {broker}")),
        "{stderr}"
    );
    assert!(!stderr.contains("produced"), "{stderr}");
}

#[test]
fn produce_to_an_unreachable_broker_fails_naming_it() {
    let port = free_port();
    let (status, stderr) = produce_three(
        &format!("kafka://127.0.0.1:{port}/ticks"),
        &["--kafka-timeout", "2s"],
    );
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach Kafka brokers 127.0.0.1:{port} within"
        )),
        "{stderr}"
    );
}

/// kill -9 at several moments while reading a topic into PostgreSQL, restarting each time:
/// the tables equal an uninterrupted run, and the consumer group's offsets follow the commits.
#[test]
fn kill_9_and_restart_from_kafka_equals_an_uninterrupted_run() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let Some(mut pg) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut pg, "kclean"),
        fresh_schema(&mut pg, "kkilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 200_000, 2_000);
    // Resuming seeks to saved offsets: make them batch boundaries, which tansu needs.
    let topic = topic_from(&py, &broker, "kill", 4, &input, true);
    let source = format!("kafka://{broker}/{topic}");
    let run = |schema: &str, extra: &[&str]| {
        let mut c = tickflow();
        c.args([
            "run",
            "--source",
            &source,
            "--sink",
            &pg_url(),
            "--pg-schema",
            schema,
        ])
        .args([
            "--pipeline",
            "kbusy",
            "-w",
            "2",
            "--exit-at-end",
            "--quiet",
            "--group-id",
            &topic,
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        c
    };
    let out = run(&clean, &[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(count(&mut pg, &clean, "symbol_averages") > 50_000);
    let mut resumed_mid_topic = 0;
    let committed = |pg: &mut postgres::Client| -> i64 {
        pg.query_opt(
            &format!(
                "SELECT committed_below_ms FROM {killed}.tickflow_progress WHERE partition = -1"
            ),
            &[],
        )
        .ok()
        .flatten()
        .map_or(0, |r| r.get(0))
    };
    for extra_ms in [0, 150, 40, 300, 90] {
        let before = committed(&mut pg);
        let mut child = run(&killed, &["--pg-commit-interval", "20ms"])
            .spawn()
            .unwrap();
        // Kill once this run has committed something of its own, at varying moments after.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while committed(&mut pg) == before
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Progress must name real offsets part-way into the partitions, not start over.
        let sql = format!(
            "SELECT count(*) FROM {killed}.tickflow_progress \
             WHERE partition >= 0 AND resume_offset > 0 AND resume_offset < 50000"
        );
        let mid: i64 = pg.query_one(&sql, &[]).unwrap().get(0);
        resumed_mid_topic += i64::from(mid > 0);
    }
    assert!(
        resumed_mid_topic > 0,
        "no kill left progress part-way into the topic"
    );
    let out = run(&killed, &[]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_same_results(&mut pg, &clean, &killed);
    assert!(assert_same_rejects(&mut pg, &clean, &killed) > 1000);
    // The group's offsets follow the commits: at the end, every partition is done.
    let committed = client(&py, &broker, &["committed", &topic, &topic, "4"]);
    assert_eq!(
        committed, "50000,50000,50000,50000",
        "consumer-group offsets"
    );
}

/// Killed at -w 2, finished as `--local-cluster 2 -w 1`: progress is kept per topic
/// partition, so the two processes take it over, and the tables equal an uninterrupted run.
#[test]
fn a_kafka_pipeline_killed_at_two_workers_finishes_as_a_cluster() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let Some(mut pg) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut pg, "krsclean"),
        fresh_schema(&mut pg, "krskilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 200_000, 2_000);
    // Resuming seeks to saved offsets: make them batch boundaries, which tansu needs.
    let topic = topic_from(&py, &broker, "rescale", 4, &input, true);
    let source = format!("kafka://{broker}/{topic}");
    let run = |schema: &str, extra: &[&str]| {
        let mut c = tickflow();
        c.args(["run", "--source", &source, "--sink", &pg_url()])
            .args(["--pg-schema", schema, "--pipeline", "krescale"])
            .args(["--exit-at-end", "--quiet"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        c
    };
    let finish = |schema: &str, extra: &[&str]| {
        let out = run(schema, extra).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{extra:?}: {stderr}");
    };
    finish(&clean, &["-w", "1"]);
    assert!(count(&mut pg, &clean, "symbol_averages") > 50_000);
    let committed = |pg: &mut postgres::Client| -> i64 {
        let sql = format!(
            "SELECT committed_below_ms FROM {killed}.tickflow_progress WHERE partition = -1"
        );
        pg.query_opt(&sql, &[])
            .ok()
            .flatten()
            .map_or(0, |r| r.get(0))
    };
    let mut child = KillOnDrop(
        run(&killed, &["-w", "2", "--pg-commit-interval", "20ms"])
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while committed(&mut pg) == 0
        && child.0.try_wait().unwrap().is_none()
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(60));
    let _ = child.0.kill();
    let _ = child.0.wait();
    let at = committed(&mut pg);
    assert!(at > 0 && at < i64::MAX, "killed between commits: {at}");
    finish(&killed, &["--local-cluster", "2", "-w", "1"]);
    assert_same_results(&mut pg, &clean, &killed);
    assert!(assert_same_rejects(&mut pg, &clean, &killed) > 1000);
    // The progress now belongs to a cluster of two: one row per process, each saying so; back
    // to one process, there is nothing left to do and one row again.
    let processes = |pg: &mut postgres::Client| -> Vec<(i32, i64)> {
        let sql = format!(
            "SELECT partition, resume_offset FROM {killed}.tickflow_progress \
             WHERE source = '' AND partition < 0 ORDER BY 1 DESC"
        );
        let rows = pg.query(&sql, &[]).unwrap();
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    };
    assert_eq!(processes(&mut pg), [(-1, 2), (-2, 2)]);
    finish(&killed, &["-w", "1"]);
    assert_eq!(processes(&mut pg), [(-1, 1)]);
    assert_same_results(&mut pg, &clean, &killed);
    assert_same_rejects(&mut pg, &clean, &killed);
}

/// The broker stops answering mid-run (frozen with SIGSTOP, as a hung or partitioned broker
/// looks to clients) and comes back: the run completes with nothing lost or doubled.
#[test]
fn a_broker_lost_mid_run_is_resumed_without_loss() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let Some(pid) = broker_pid(&broker) else {
        // A broker elsewhere (TICKFLOW_TEST_KAFKA) cannot be frozen from here.
        skip(&format!(
            "cannot find the process of the broker at {broker} to freeze"
        ));
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(43, 150_000, 3_000, 0)),
    );
    let topic = topic_with(&py, &broker, "lost", 4, &input);
    let want = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    let child = tickflow()
        .args([
            "run",
            "--source",
            &format!("kafka://{broker}/{topic}"),
            "-w",
            "2",
            "--exit-at-end",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let signal = |sig: &str| {
        assert!(Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success());
    };
    signal("-STOP");
    std::thread::sleep(Duration::from_secs(6));
    signal("-CONT");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_rows_close(&want, &rows(&out.stdout), 0.0);
}

/// The pid of the local tansu broker, if that is what serves the tests.
/// The pid of the tansu serving `broker` (as `.ci/run` starts it; not another test's tansu).
fn broker_pid(broker: &str) -> Option<u32> {
    let out = Command::new("pgrep")
        .args([
            "-f",
            &format!("tansu broker --listener-url tcp://{broker} "),
        ])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// With `--metrics-addr`, per-partition records and Kafka consumer lag (from fetch responses)
/// are served; once everything is read, the lag is 0.
#[test]
fn consumer_lag_is_exported() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(47, 20_000, 0, 0)),
    );
    let topic = topic_with(&py, &broker, "lag", 2, &input);
    let port = free_port();
    let mut child = tickflow()
        .args([
            "run",
            "--source",
            &format!("kafka://{broker}/{topic}"),
            "--quiet",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut lags = Vec::new();
    while std::time::Instant::now() < deadline {
        let text = http_get(port, "/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default();
        lags = text
            .lines()
            .filter(|l| l.starts_with("tickflow_kafka_consumer_lag{") && l.contains(&topic))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect();
        let read: u64 = text
            .lines()
            .filter(|l| l.starts_with("tickflow_partition_records_in_total{") && l.contains(&topic))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
            .sum();
        if read == 20_000 && lags.len() == 2 && lags.iter().all(|l| l == "0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The live page's JSON shows the same lag beside each partition.
    let (_, body) = http_get(port, "/api/pipeline").expect("the live view's JSON");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        lags,
        vec!["0", "0"],
        "lag per partition once everything is read"
    );
    let pipeline: serde_json::Value = serde_json::from_str(&body).unwrap();
    let shown: Vec<(u64, serde_json::Value)> = pipeline["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["partition"].as_u64().unwrap(), s["consumer_lag"].clone()))
        .collect();
    assert_eq!(shown, vec![(0, 0.into()), (1, 0.into())], "{body}");
}

/// Partitions added to a topic while tickflow reads it are found and read from their start,
/// by the worker the assignment rule names (with -w 3: one that already reads a partition of
/// the topic, and one that had none): the output equals reading all partitions from the start.
#[test]
fn partitions_added_while_running_are_read() {
    let Some((_, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let Some(gated) = GatedBroker::start(dir.path()) else {
        return;
    };
    // Message j of partition p is line 4j + p. Partitions 0 and 1 cover the first 100 s of
    // event time, partitions 2 and 3 (added later) 130 s to 230 s: nothing in them is late.
    let mut lines = Vec::new();
    for j in 0..200u64 {
        for p in 0..4u64 {
            let at = if p < 2 { T0 } else { T0 + 130_000 } + j * 500;
            let symbol = if j % 3 == 0 {
                "X".to_string()
            } else {
                format!("S{p}")
            };
            lines.push(tick_line(at, &symbol, 10.0 + (j % 7) as f64 * 0.25, j + 1));
        }
    }
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let topic = topic_with(&py, &gated.address, "grow", 4, &input);
    let source = format!("kafka://{}/{topic}", gated.address);
    let window = ["--window", "10s", "--slide", "5s", "--quiet"];
    let expected = rows(
        &run_ok(
            &[
                &["--source", &source, "-w", "2", "--exit-at-end"][..],
                &window,
            ]
            .concat(),
        )
        .stdout,
    );
    assert!(expected.len() > 100);

    gated.show(&topic, Some(2));
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--source", &source, "-w", "3"])
            .args(window)
            .args([
                "--idle-timeout",
                "300ms",
                "--partition-discovery-interval",
                "200ms",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = stdout_lines(&mut child.0);
    let mut got = Vec::new();
    let mut latest = String::new();
    // Window ends as tickflow writes them (whole seconds here), which compare as text.
    let end = |ms: u64| format!("{}Z", &iso(ms)[..19]);
    let wait_for = |until: &str, got: &mut Vec<String>, latest: &mut String| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline && latest.as_str() < until {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap();
                *latest = latest
                    .clone()
                    .max(v["window_end"].as_str().unwrap().to_string());
                got.push(line);
            }
        }
    };
    // Partitions 0 and 1 are read and go idle; output follows them to about 95 s.
    wait_for(&end(T0 + 90_000), &mut got, &mut latest);
    assert!(
        latest >= end(T0 + 90_000),
        "no output from the first partitions: {latest:?}"
    );
    // The hidden partitions stay unread while hidden (several discovery rounds): nothing
    // passes 100 s.
    std::thread::sleep(Duration::from_millis(1500));
    got.extend(rx.try_iter());
    for line in &got {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            v["window_end"].as_str().unwrap() <= end(T0 + 100_000).as_str(),
            "a window past 100 s before partitions 2 and 3 were shown: {line}"
        );
    }
    gated.show(&topic, None);
    wait_for(&end(T0 + 200_000), &mut got, &mut latest);
    assert!(
        latest >= end(T0 + 200_000),
        "the added partitions were not read: {latest:?}"
    );
    // Ctrl-C flushes the open windows.
    let interrupted = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.0.wait().unwrap();
    assert!(status.success(), "tickflow exited with {status}");
    got.extend(rx.iter());
    let output = rows(got.join("\n").as_bytes());
    assert_rows_close(&expected, &output, 0.0);
}

/// 2 processes x 2 workers read a 4-partition topic like 1 process of 1 worker.
#[test]
fn a_cluster_reads_a_topic_like_one_process() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(67, 20_000, 3_000, 0)),
    );
    let topic = topic_with(&py, &broker, "cluster", 4, &input);
    let source = format!("kafka://{broker}/{topic}");
    let want = rows(&run_ok(&["--source", &source, "--exit-at-end", "--quiet"]).stdout);
    let out = dir.path().join("out.jsonl");
    run_ok(&[
        "--source",
        &source,
        "--exit-at-end",
        "--sink",
        &format!("file:{}", out.display()),
        "--local-cluster",
        "2",
        "-w",
        "2",
        "--quiet",
    ]);
    let union = two_process_output(dir.path());
    assert!(want.len() > 100, "{} rows", want.len());
    assert_rows_close(&want, &rows(&union), 0.0);
}

/// A process whose workers have no partition (a 1-partition topic over 2 processes) follows
/// the other process's watermark while the run goes on, instead of holding all output back
/// until the end.
#[test]
fn a_process_without_partitions_does_not_hold_back_the_cluster() {
    let Some((broker, py)) = broker_with_client() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..400u64)
        .map(|i| tick_line(T0 + i * 250, "S", 1.0 + (i % 5) as f64, 1))
        .collect();
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let topic = topic_with(&py, &broker, "lonely", 1, &input);
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--source", &format!("kafka://{broker}/{topic}")])
            .args(["--local-cluster", "2", "-w", "1", "--idle-timeout", "300ms"])
            .args(["--window", "10s", "--slide", "10s", "--quiet"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let rx = stdout_lines(&mut child.0);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut windows = 0;
    while std::time::Instant::now() < deadline && windows < 9 {
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            windows += 1;
        }
    }
    assert_eq!(
        windows, 9,
        "windows up to 90 s should come out while the cluster runs"
    );
}
