//! The PostgreSQL sink's start-up against the real server: connect errors that say what to do.
//!
//! The server is `TICKFLOW_TEST_PG` (default `postgres://root@127.0.0.1:5432/test`). Under
//! `CI=true` a missing server fails these tests; elsewhere they say SKIPPED and pass.

mod common;

use std::time::Duration;

use common::pg::*;
use common::*;

/// `tickflow run` of ten generated events into `url`, for start-up failures.
fn generator_into(url: &str, connect_timeout: &str) -> std::process::Output {
    tickflow()
        .args([
            "run",
            "--source",
            "generator",
            "--events",
            "10",
            "--rate",
            "0",
        ])
        .args(["--sink", url, "--pg-connect-timeout", connect_timeout])
        .output()
        .expect("running tickflow")
}

fn failed(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{stderr}");
    stderr
}

#[test]
fn a_missing_database_says_create_it() {
    if pg().is_none() {
        return;
    }
    let url = pg_url();
    let (base, _) = url.rsplit_once('/').expect("the test URL names a database");
    let stderr = failed(&generator_into(&format!("{base}/tf_no_such_db"), "30s"));
    assert!(
        stderr.contains("database \"tf_no_such_db\" does not exist"),
        "{stderr}"
    );
    assert!(stderr.contains("createdb tf_no_such_db"), "{stderr}");
    assert!(!stderr.contains("is the server running"), "{stderr}");
    assert!(
        !stderr.contains("retrying"),
        "a missing database is not retried: {stderr}"
    );
}

#[test]
fn an_unknown_user_says_check_user_password_and_pg_hba() {
    if pg().is_none() {
        return;
    }
    let url = pg_url().replacen("root@", "tf_no_such_user@", 1);
    let stderr = failed(&generator_into(&url, "30s"));
    assert!(stderr.contains("tf_no_such_user"), "{stderr}");
    assert!(stderr.contains("pg_hba.conf"), "{stderr}");
    assert!(stderr.contains("password"), "{stderr}");
    assert!(!stderr.contains("is the server running"), "{stderr}");
}

#[test]
fn a_closed_port_is_retried_for_the_whole_timeout_and_says_so_plainly() {
    let port = free_port();
    let url = format!("postgres://root@127.0.0.1:{port}/test");
    let stderr = failed(&generator_into(&url, "1500ms"));
    assert!(stderr.contains("retrying for up to 1.5s"), "{stderr}");
    assert!(
        stderr.contains("is the server running and reachable?"),
        "{stderr}"
    );
    // "within 1.5s", never "within 1.500123456s", and not before the timeout has passed.
    let waited = stderr
        .split(" within ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap_or_else(|| panic!("no waited time: {stderr}"));
    let digits = waited.trim_end_matches("ms").trim_end_matches('s');
    assert!(
        digits.split('.').nth(1).is_none_or(|d| d.len() == 1),
        "{waited:?} is not written plainly"
    );
    let waited = humantime::parse_duration(waited).expect("a duration");
    assert!(
        waited >= Duration::from_millis(1500),
        "gave up after {waited:?}"
    );
}
