//! The PostgreSQL sink against the real server: equality with stdout, exactly-once under
//! kill -9 and dropped connections, idempotence, failures at start, hostile names and keys.
//!
//! The server is `TICKFLOW_TEST_PG` (default `postgres://root@127.0.0.1:5432/test`). Under
//! `CI=true` a missing server fails these tests; elsewhere they say SKIPPED and pass.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::*;
use postgres::{Client, NoTls};

fn run_into(input: &std::path::Path, schema: &str, extra: &[&str]) -> std::process::Output {
    let out = tickflow()
        .args([
            "run",
            "--source",
            &file_uri(input),
            "--sink",
            &pg_url(),
            "--pg-schema",
            schema,
        ])
        .args(["--pipeline", "busy", "-w", "2", "--progress"])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "run into {schema} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn rows_in_postgres_equal_stdout() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "stdout");
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(31, 20_000, 3_000, 5);
    let mut lines = lines_of(&events);
    lines.insert(100, "not a record".into());
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let out = run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        "stdout",
        "--sink",
        &pg_url(),
        "--pg-schema",
        &schema,
        "-w",
        "2",
    ]);
    let stdout = rows(&out.stdout);
    assert!(stdout.keys().any(|k| k.0 == "category_mean"));
    assert_rows_close(&stdout, &table_rows(&mut client, &schema), 0.0);
    let (_, late) = oracle(&events, 60_000, 1_000, 5_000, 90.0);
    assert_eq!(
        count(&mut client, &schema, "tickflow_rejects"),
        late as i64 + 1
    );
    let bad: (String, i64, String) = {
        let r = client
            .query_one(&format!("SELECT reason, line, raw FROM {schema}.tickflow_rejects WHERE reason <> 'late'"), &[])
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(
        bad,
        ("malformed".to_string(), 101, "not a record".to_string())
    );
}

/// kill -9 at several moments, restarting each time: the tables equal an uninterrupted run,
/// every column, and rejects are not repeated.
#[test]
fn kill_9_and_restart_equals_an_uninterrupted_run() {
    let Some(mut client) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut client, "clean"),
        fresh_schema(&mut client, "killed"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 300_000, 2_000);
    run_into(&input, &clean, &[]);
    assert!(count(&mut client, &clean, "symbol_averages") > 100_000);

    // Where each kill lands: a fixed time after start (before or around the first commit), or
    // a short time after the run's committed frontier was seen to move (between commits),
    // whatever the machine's speed.
    let committed = |client: &mut Client| -> Option<i64> {
        client
            .query_opt(
                &format!("SELECT committed_below_ms FROM {killed}.tickflow_progress WHERE pipeline = 'busy' AND partition = -1"),
                &[],
            )
            .ok()
            .flatten()
            .map(|r| r.get(0))
    };
    let mut mid_run_commits = 0;
    for (after_commit, delay_ms) in [
        (true, 0),
        (false, 250),
        (true, 90),
        (false, 400),
        (true, 30),
        (false, 150),
    ] {
        let before = committed(&mut client);
        let mut child = tickflow()
            .args([
                "run",
                "--source",
                &file_uri(&input),
                "--sink",
                &pg_url(),
                "--pg-schema",
                &killed,
            ])
            .args([
                "--pipeline",
                "busy",
                "-w",
                "2",
                "--quiet",
                "--pg-commit-interval",
                "20ms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if after_commit {
            let deadline = Instant::now() + Duration::from_secs(60);
            while committed(&mut client) == before
                && child.try_wait().unwrap().is_none()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if committed(&mut client).is_some_and(|c| c > 0 && c < i64::MAX) {
            mid_run_commits += 1;
        }
    }
    assert!(
        mid_run_commits > 0,
        "no kill landed between commits; the input is too small"
    );
    run_into(&input, &killed, &[]);
    assert_same_results(&mut client, &clean, &killed);
    assert!(assert_same_rejects(&mut client, &clean, &killed) > 1000);
}

#[test]
fn a_second_run_over_finished_input_changes_nothing() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "twice");
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 20_000, 50);
    run_into(&input, &schema, &[]);
    let snapshot = |c: &mut Client| -> String {
        c.query_one(
            &format!(
                "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM \
                 (SELECT row_to_json(s)::text AS t FROM {schema}.symbol_averages s \
                  UNION ALL SELECT row_to_json(c)::text FROM {schema}.category_means c \
                  UNION ALL SELECT (source, partition, position)::text FROM {schema}.tickflow_rejects) x"
            ),
            &[],
        )
        .unwrap()
        .get(0)
    };
    let before = snapshot(&mut client);
    let out = run_into(&input, &schema, &[]);
    assert_eq!(before, snapshot(&mut client));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tickflow: 0 events"),
        "nothing is read again: {stderr}"
    );
    // --restart starts over and writes the same values.
    run_into(&input, &schema, &["--restart"]);
    assert_eq!(before, snapshot(&mut client));
}

/// A TCP forwarder to the real server that can cut every connection through it.
fn forward(listener: TcpListener, upstream: String) {
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
}

fn upstream_addr() -> String {
    let t = tickflow::sink::postgres::Target::parse(&pg_url()).unwrap();
    t.to_string()
        .trim_start_matches("postgres://")
        .split_once('@')
        .map(|(_, rest)| rest.split('/').next().unwrap().to_string())
        .unwrap()
}

#[test]
fn server_unavailable_at_start_is_retried_then_used() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "late_server");
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 5_000, 20);
    // Reserve a port, close it: connections are refused until the forwarder starts.
    let port = free_port();
    let url = format!("postgres://root@127.0.0.1:{port}/test");
    let child = tickflow()
        .args([
            "run",
            "--source",
            &file_uri(&input),
            "--sink",
            &url,
            "--pg-schema",
            &schema,
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    forward(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        upstream_addr(),
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot connect to postgres://root@127.0.0.1:{port}/test"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("retrying"), "{stderr}");
    assert!(count(&mut client, &schema, "symbol_averages") > 0);
}

#[test]
fn server_never_available_fails_clearly_without_the_password() {
    let port = free_port();
    let url = format!("postgres://root:hunter2@127.0.0.1:{port}/test");
    let out = generator_into(&url)
        .args(["--pg-connect-timeout", "1s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "cannot connect to postgres://root@127.0.0.1:{port}/test"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("is the server running"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "password leaked: {stderr}");
}

/// Connections cut mid-run (`pg_terminate_backend`) are retried; results stay exact.
#[test]
fn terminated_connections_mid_run_lose_and_duplicate_nothing() {
    let Some(mut client) = pg() else { return };
    let (clean, cut) = (
        fresh_schema(&mut client, "uncut"),
        fresh_schema(&mut client, "cut"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 150_000, 2_000);
    run_into(&input, &clean, &[]);
    let app = format!("tickflow-{cut}");
    let mut child = tickflow()
        .args([
            "run",
            "--source",
            &file_uri(&input),
            "--sink",
            &pg_url(),
            "--pg-schema",
            &cut,
        ])
        .args([
            "--pipeline",
            "busy",
            "-w",
            "2",
            "--progress",
            "--pg-commit-interval",
            "20ms",
        ])
        .env("PGAPPNAME", &app)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut terminated = 0;
    let started = Instant::now();
    let mut killer = Client::connect(&pg_url(), NoTls).unwrap();
    while started.elapsed() < Duration::from_secs(60) && child.try_wait().unwrap().is_none() {
        let n: i64 = killer
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&app],
            )
            .unwrap()
            .get(0);
        terminated += n;
        std::thread::sleep(Duration::from_millis(150));
        if terminated >= 3 {
            break;
        }
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(terminated > 0, "no connection was cut: {stderr}");
    assert_same_results(&mut client, &clean, &cut);
}

#[test]
fn hostile_identifiers_are_refused() {
    for (flag, value) in [
        ("--pg-schema", "x\"; DROP TABLE y; --"),
        ("--pg-schema", "has space"),
        ("--pg-schema", "1starts_with_digit"),
    ] {
        let out = tickflow()
            .args([
                "run",
                "--source",
                "generator",
                "--events",
                "1",
                "--sink",
                &pg_url(),
                flag,
                value,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(stderr.contains("not a valid identifier"), "{stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("bad.toml");
    std::fs::write(
        &spec,
        "[postgres]\nsymbol_averages = \"t; DELETE FROM x\"\n",
    )
    .unwrap();
    let out = tickflow()
        .args(["run", spec.to_str().unwrap(), "--sink", &pg_url()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbol_averages table"));
}

#[test]
fn odd_symbols_are_stored_as_they_came() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "odd");
    let long = "L".repeat(5_000);
    let symbols = [
        "O'Brien",
        "say \"hi\"",
        "back\\slash",
        "株式会社",
        "🚀 moon",
        "a,b;c",
        "tab\there",
        long.as_str(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = symbols
        .iter()
        .map(|s| {
            format!(
                r#"{{"timestamp": "2025-11-20T09:30:00Z", "stock_code": {}, "price": 1.5, "volume": 2}}"#,
                serde_json::to_string(s).unwrap()
            )
        })
        .collect();
    let input = write_lines(dir.path(), "odd.jsonl", &lines);
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &pg_url(),
        "--pg-schema",
        &schema,
        "--window",
        "1s",
        "--slide",
        "1s",
    ]);
    let mut stored: Vec<String> = client
        .query(&format!("SELECT symbol FROM {schema}.symbol_averages"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    stored.sort();
    let mut want: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(stored, want);
}

#[test]
fn an_incompatible_existing_table_is_a_clear_startup_error() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "shape");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.symbol_averages (symbol text PRIMARY KEY, window_end int)"
        ))
        .unwrap();
    let out = tickflow()
        .args([
            "run",
            "--source",
            "generator",
            "--events",
            "10",
            "--rate",
            "0",
            "--sink",
            &pg_url(),
            "--pg-schema",
            &schema,
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("incompatible shape"), "{stderr}");
    assert!(stderr.contains("window_end is integer"), "{stderr}");
}

/// A permanent error (here: no permission to create anything) stops the run at once and names
/// the statement that failed; it is not retried for the connect timeout.
#[test]
fn a_permanent_error_stops_the_run_with_the_statement() {
    let Some(mut client) = pg() else { return };
    client
        .batch_execute(
            "DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'tf_powerless') THEN \
             CREATE ROLE tf_powerless LOGIN; END IF; END$$; \
             REVOKE CREATE ON SCHEMA public FROM PUBLIC; REVOKE CREATE ON DATABASE test FROM PUBLIC;",
        )
        .unwrap();
    let url = pg_url().replacen("root@", "tf_powerless@", 1);
    let started = Instant::now();
    let out = generator_into(&url)
        .args([
            "--pg-schema",
            "tf_powerless_schema",
            "--pg-connect-timeout",
            "60s",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("PostgreSQL refused `CREATE SCHEMA IF NOT EXISTS"),
        "{stderr}"
    );
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a permanent error is not retried"
    );
}

/// `tickflow run` of ten generated events into `url`; add flags, then run.
fn generator_into(url: &str) -> std::process::Command {
    let mut c = tickflow();
    c.args([
        "run",
        "--source",
        "generator",
        "--events",
        "10",
        "--rate",
        "0",
        "--sink",
        url,
    ]);
    c
}
