//! The Redis sink against real servers: hashes and history streams equal the rows on stdout
//! and the naive oracle, exactly-once under kill -9 and under a Redis restart, a refused
//! password at start.
//!
//! The shared server is `TICKFLOW_TEST_REDIS` (default `redis://127.0.0.1:6379`); each test
//! writes under a prefix of its own. Tests that need a server of their own start `redis-server`
//! on a free port. Under `CI=true` a missing server or binary fails these tests; elsewhere they
//! say SKIPPED and pass.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use redis::Commands;
use serde_json::Value;

fn redis_url() -> String {
    std::env::var("TICKFLOW_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A connection to `url`, or `None` (after [`skip`]) when there is no server.
fn connect(url: &str) -> Option<redis::Connection> {
    let c = redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)));
    match c {
        Ok(c) => Some(c),
        Err(e) => {
            skip(&format!("no Redis at {url} ({e}); start redis-server"));
            None
        }
    }
}

/// A key prefix no other test or run uses, with its keys deleted.
fn fresh_prefix(c: &mut redis::Connection, tag: &str) -> String {
    let prefix = format!("tftest-{}-{tag}:", std::process::id());
    delete_prefix(c, &prefix);
    prefix
}

fn delete_prefix(c: &mut redis::Connection, prefix: &str) {
    let keys: Vec<String> = c.scan_match(format!("{prefix}*")).unwrap().collect();
    if !keys.is_empty() {
        let _: () = c.del(keys).unwrap();
    }
}

/// Everything under `prefix` but the rejects and progress: per key (prefix removed) its hash
/// or its stream entries.
#[derive(Debug, PartialEq)]
enum Stored {
    Hash(BTreeMap<String, String>),
    Stream(Vec<(String, BTreeMap<String, String>)>),
}

fn dump(c: &mut redis::Connection, prefix: &str) -> BTreeMap<String, Stored> {
    let keys: Vec<String> = c.scan_match(format!("{prefix}*")).unwrap().collect();
    let mut out = BTreeMap::new();
    for key in keys {
        let short = key[prefix.len()..].to_string();
        if short.starts_with("progress:") || short.starts_with("rejects") {
            continue;
        }
        let stored = if short.ends_with(":history") {
            let reply: redis::streams::StreamRangeReply = c.xrange_all(&key).unwrap();
            Stored::Stream(
                reply
                    .ids
                    .into_iter()
                    .map(|e| {
                        let fields = e
                            .map
                            .iter()
                            .map(|(k, v)| (k.clone(), redis::from_redis_value(v).unwrap()))
                            .collect();
                        (e.id, fields)
                    })
                    .collect(),
            )
        } else {
            Stored::Hash(c.hgetall(&key).unwrap())
        };
        out.insert(short, stored);
    }
    out
}

/// A hash or stream entry's fields as the JSON row they were made from.
fn as_row(fields: &BTreeMap<String, String>) -> Value {
    let mut row = serde_json::Map::new();
    for (name, text) in fields {
        let value = match name.as_str() {
            "window_end_ms" => continue,
            "kind" | "symbol" | "category" | "window_start" | "window_end" => {
                Value::String(text.clone())
            }
            _ => serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}={text}: {e}")),
        };
        row.insert(name.clone(), value);
    }
    Value::Object(row)
}

/// The rows the history streams hold, keyed as [`rows`] does; each window once.
fn stream_rows(stored: &BTreeMap<String, Stored>) -> BTreeMap<RowKey, Value> {
    let mut out = BTreeMap::new();
    for s in stored.values() {
        if let Stored::Stream(entries) = s {
            for (id, fields) in entries {
                let row = as_row(fields);
                let key = row_key(&row);
                assert!(id.ends_with("-0"), "entry ID {id}");
                assert!(out.insert(key, row).is_none(), "a window twice: {id}");
            }
        }
    }
    out
}

fn row_key(row: &Value) -> RowKey {
    let key = row.get("symbol").or_else(|| row.get("category")).unwrap();
    (
        row["kind"].as_str().unwrap().into(),
        key.as_str().unwrap().into(),
        row["window_end"].as_str().unwrap().into(),
    )
}

/// Asserts that `stored` is what `expected` rows make: per key a hash of its last window and a
/// stream of its last `history` windows with IDs `{window_end_ms}-0`.
fn assert_holds(
    stored: &BTreeMap<String, Stored>,
    expected: &BTreeMap<RowKey, Value>,
    history: usize,
) {
    let mut per_key: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for ((kind, key, _), row) in expected {
        // RFC 3339 ends of one key sort as times within this input (whole seconds).
        per_key
            .entry(format!("{kind}:{key}"))
            .or_default()
            .push(row);
    }
    let mut hashes = 0;
    for (key, rows) in &per_key {
        let Some(Stored::Hash(hash)) = stored.get(key) else {
            panic!("no hash {key}")
        };
        assert_eq!(&as_row(hash), *rows.last().unwrap(), "hash {key}");
        hashes += 1;
        let Some(Stored::Stream(entries)) = stored.get(&format!("{key}:history")) else {
            panic!("no stream {key}:history")
        };
        let want: Vec<&Value> = rows[rows.len().saturating_sub(history)..].to_vec();
        let got: Vec<Value> = entries.iter().map(|(_, f)| as_row(f)).collect();
        assert_eq!(got.len(), want.len(), "stream {key}:history length");
        assert!(
            got.iter().zip(&want).all(|(a, b)| a == *b),
            "stream {key}:history"
        );
    }
    assert_eq!(stored.len(), hashes * 2, "keys besides the expected ones");
}

/// Rejects in the stream, as (partition, position, reason) sorted.
fn rejects(c: &mut redis::Connection, prefix: &str, pipeline: &str) -> Vec<(String, u64, String)> {
    let reply: redis::streams::StreamRangeReply =
        c.xrange_all(format!("{prefix}rejects:{pipeline}")).unwrap();
    let mut out: Vec<_> = reply
        .ids
        .iter()
        .map(|e| {
            let get = |f: &str| -> String { e.get(f).unwrap() };
            (
                get("partition"),
                get("position").parse().unwrap(),
                get("reason"),
            )
        })
        .collect();
    out.sort();
    out
}

fn committed(c: &mut redis::Connection, prefix: &str, pipeline: &str) -> Option<u64> {
    let v: Option<String> = c
        .hget(format!("{prefix}progress:{pipeline}"), "process:0")
        .ok()
        .flatten();
    v.map(|v| {
        let v: Value = serde_json::from_str(&v).unwrap();
        v["committed_below_ms"].as_u64().unwrap()
    })
}

fn run_into(input: &Path, url: &str, prefix: &str, extra: &[&str]) -> std::process::Output {
    let out = tickflow()
        .args(["run", "--source", &file_uri(input), "--sink", url])
        .args(["--redis-prefix", prefix, "--pipeline", "busy", "-w", "2"])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run into {prefix} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn hashes_and_streams_equal_stdout_and_the_oracle() {
    let url = redis_url();
    let Some(mut c) = connect(&url) else { return };
    let prefix = fresh_prefix(&mut c, "stdout");
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(41, 20_000, 3_000, 5);
    let mut lines = lines_of(&events);
    lines.insert(100, "not a record".into());
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let out = run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        "stdout",
        "--sink",
        &url,
        "--redis-prefix",
        &prefix,
        "--redis-history",
        "50",
        "--pipeline",
        "oracle",
    ]);
    let stdout = rows(&out.stdout);
    assert!(stdout.keys().any(|k| k.0 == "category_mean"));
    let stored = dump(&mut c, &prefix);
    assert_holds(&stored, &stdout, 50);
    // Lateness is decided per file split: the oracle decides it per split too.
    let mut splits = file_splits(&lines);
    splits.remove(100);
    let (want, late) = oracle_in_partitions(&events, &splits, 60_000, 1_000, 5_000, 90.0);
    assert_rows_close(&stdout, &want, 1e-9);
    // With history for every window, the streams alone are the whole result.
    let full = fresh_prefix(&mut c, "full");
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &url,
        "--redis-prefix",
        &full,
        "--pipeline",
        "oracle",
    ]);
    assert_eq!(stream_rows(&dump(&mut c, &full)), stdout);
    let rejected = rejects(&mut c, &prefix, "oracle");
    assert_eq!(rejected.len(), late + 1);
    assert_eq!(rejected.iter().filter(|r| r.2 == "malformed").count(), 1);
    // A second run over finished input changes nothing.
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &url,
        "--redis-prefix",
        &prefix,
        "--redis-history",
        "50",
        "--pipeline",
        "oracle",
    ]);
    assert_eq!(dump(&mut c, &prefix), stored);
    assert_eq!(rejects(&mut c, &prefix, "oracle"), rejected);
    delete_prefix(&mut c, &prefix);
    delete_prefix(&mut c, &full);
}

/// kill -9 three times mid-run, then a run to the end: hashes, streams and rejects equal an
/// uninterrupted run's.
#[test]
fn kill_9_three_times_equals_an_uninterrupted_run() {
    let url = redis_url();
    let Some(mut c) = connect(&url) else { return };
    let (clean, killed) = (
        fresh_prefix(&mut c, "clean"),
        fresh_prefix(&mut c, "killed"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 200_000, 1_000);
    // The uninterrupted run's own stdout is the recomputation the keys are checked against.
    let out = run_into(&input, &url, &clean, &["--sink", "stdout"]);
    let reference = dump(&mut c, &clean);
    assert!(reference.len() > 1_000);
    assert_holds(&reference, &rows(&out.stdout), 3600);

    let mut mid_run = 0;
    for delay_ms in [0, 120, 40] {
        let before = committed(&mut c, &killed, "busy");
        let child = tickflow()
            .args(["run", "--source", &file_uri(&input), "--sink", &url])
            .args([
                "--redis-prefix",
                &killed,
                "--pipeline",
                "busy",
                "-w",
                "2",
                "--quiet",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        // Kill a little after the committed frontier moved: between commits.
        let deadline = Instant::now() + Duration::from_secs(60);
        while committed(&mut c, &killed, "busy") == before
            && child.0.try_wait().unwrap().is_none()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.0.kill(); // SIGKILL
        let _ = child.0.wait();
        if committed(&mut c, &killed, "busy").is_some_and(|b| b > 0 && b < i64::MAX as u64) {
            mid_run += 1;
        }
    }
    assert!(
        mid_run > 0,
        "no kill landed between commits; the input is too small"
    );
    run_into(&input, &url, &killed, &[]);
    let after = dump(&mut c, &killed);
    assert_eq!(after.len(), reference.len());
    for (key, stored) in &reference {
        assert_eq!(after.get(key), Some(stored), "{key}");
    }
    let rejected = rejects(&mut c, &clean, "busy");
    assert!(rejected.len() > 1_000);
    assert_eq!(rejects(&mut c, &killed, "busy"), rejected);
    delete_prefix(&mut c, &clean);
    delete_prefix(&mut c, &killed);
}

/// Killed at -w 2, finished as `--local-cluster 2 -w 1`, run again at -w 3 (nothing left to
/// do): hashes, streams and rejects equal an uninterrupted run at -w 1.
#[test]
fn a_rescaled_restart_equals_an_uninterrupted_run() {
    let url = redis_url();
    let Some(mut c) = connect(&url) else { return };
    let (clean, killed) = (
        fresh_prefix(&mut c, "rsclean"),
        fresh_prefix(&mut c, "rskilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 200_000, 1_000);
    let finish = |prefix: &str, workers: &[&str]| {
        let out = tickflow()
            .args(["run", "--source", &file_uri(&input), "--sink", &url])
            .args(["--redis-prefix", prefix, "--pipeline", "busy"])
            .args(workers)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{workers:?}: {stderr}");
    };
    finish(&clean, &["-w", "1"]);
    let reference = dump(&mut c, &clean);
    assert!(reference.len() > 1_000);
    let child = tickflow()
        .args(["run", "--source", &file_uri(&input), "--sink", &url])
        .args(["--redis-prefix", &killed, "--pipeline", "busy", "-w", "2"])
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&mut c, &killed, "busy").is_none_or(|b| b == 0)
        && child.0.try_wait().unwrap().is_none()
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(40));
    let _ = child.0.kill(); // SIGKILL
    let _ = child.0.wait();
    let at = committed(&mut c, &killed, "busy");
    assert!(
        at.is_some_and(|b| b > 0 && b < i64::MAX as u64),
        "killed between commits: {at:?}"
    );
    finish(&killed, &["--local-cluster", "2", "-w", "1"]);
    let progress: BTreeMap<String, String> = c.hgetall(format!("{killed}progress:busy")).unwrap();
    let processes: Vec<&String> = progress
        .keys()
        .filter(|k| k.starts_with("process:"))
        .collect();
    assert_eq!(processes.len(), 2, "{processes:?}");
    finish(&killed, &["-w", "3"]);
    assert_eq!(dump(&mut c, &killed), reference);
    let rejected = rejects(&mut c, &clean, "busy");
    assert!(rejected.len() > 1_000);
    assert_eq!(rejects(&mut c, &killed, "busy"), rejected);
    delete_prefix(&mut c, &clean);
    delete_prefix(&mut c, &killed);
}

/// A `redis-server` of the test's own on a free port, killed when dropped.
struct OwnServer(#[allow(dead_code)] KillOnDrop);

impl OwnServer {
    /// Starts `redis-server` with `args`; `None` (after [`skip`]) when it is not installed.
    fn start(port: u16, args: &[&str]) -> Option<OwnServer> {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--daemonize", "no"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                skip(&format!("cannot start redis-server ({e}); install Redis"));
                return None;
            }
        };
        let server = OwnServer(KillOnDrop(child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }
}

/// The test's own server (with an append-only file, so its data outlives it) is killed and
/// started again mid-run: the run waits for it and ends with every window once.
#[test]
fn a_redis_restart_mid_run_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let data = dir.path().display().to_string();
    // Every write is on disk before Redis answers, so what it acknowledged survives SIGKILL.
    let persist = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        &data,
    ];
    let Some(server) = OwnServer::start(port, &persist) else {
        return;
    };
    let url = format!("redis://127.0.0.1:{port}");
    let mut c = connect(&url).expect("the test's own server");
    let input = busy_input(dir.path(), 150_000, 500);
    let child = tickflow()
        .args([
            "run",
            "--source",
            &file_uri(&input),
            "--sink",
            "stdout",
            "--sink",
            &url,
        ])
        .args([
            "--redis-prefix",
            "r:",
            "--pipeline",
            "busy",
            "-w",
            "2",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let lines = stdout_lines(&mut child.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while committed(&mut c, "r:", "busy").is_none_or(|b| b == 0) {
        assert!(Instant::now() < deadline, "nothing committed");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(server); // SIGKILL
    assert!(
        child.0.try_wait().unwrap().is_none(),
        "the run ended before Redis went down; the input is too small"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the server is still up"
    );
    std::thread::sleep(Duration::from_millis(700));
    let _server = OwnServer::start(port, &persist).expect("restarting redis-server");
    let status = child.0.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    let stdout: Vec<String> = lines.iter().collect();
    let expected = rows(stdout.join("\n").as_bytes());
    let mut c = connect(&url).expect("the restarted server");
    let stored = dump(&mut c, "r:");
    assert_holds(&stored, &expected, 3600);
    assert_eq!(stream_rows(&stored).len(), expected.len());
    assert_eq!(committed(&mut c, "r:", "busy"), Some(i64::MAX as u64));
}

/// A server that refuses the password: exit 1 naming the server, never the password.
#[test]
fn a_refused_password_is_a_clear_error() {
    let port = free_port();
    let Some(_server) = OwnServer::start(port, &["--requirepass", "right-one"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "in.jsonl", &[tick_line(T0, "S", 1.0, 1)]);
    let url = format!("redis://:wrong-one@127.0.0.1:{port}");
    let out = tickflow()
        .args(["run", "--source", &file_uri(&input), "--sink", &url])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("redis://:***@127.0.0.1:{port}/0")),
        "{stderr}"
    );
    assert!(stderr.contains("password"), "{stderr}");
    assert!(!stderr.contains("wrong-one"), "{stderr}");
    // Nothing was written: the right password sees no key.
    let mut c = connect(&format!("redis://:right-one@127.0.0.1:{port}")).unwrap();
    let keys: Vec<String> = c.keys("*").unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}
