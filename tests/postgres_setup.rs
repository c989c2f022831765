//! The PostgreSQL sink's start-up against the real server: which pipeline owns the result
//! tables, `bench` kept out of them, and connect errors that say what to do.
//!
//! The server is `TICKFLOW_TEST_PG` (default `postgres://root@127.0.0.1:5432/test`). Under
//! `CI=true` a missing server fails these tests; elsewhere they say SKIPPED and pass.

mod common;

use std::time::Duration;

use common::pg::*;
use common::*;
use postgres::Client;

/// `tickflow run` of `input` into `schema` as pipeline `pipeline`; add flags, then run.
fn run_as(
    input: &std::path::Path,
    schema: &str,
    pipeline: &str,
    extra: &[&str],
) -> std::process::Output {
    tickflow()
        .args(["run", "--source", &file_uri(input), "--sink", &pg_url()])
        .args(["--pg-schema", schema, "--pipeline", pipeline, "--quiet"])
        .args(extra)
        .output()
        .expect("running tickflow")
}

fn succeeded(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// The pipeline recorded as owner of each result table in `schema`.
fn owners(client: &mut Client, schema: &str) -> Vec<(String, String)> {
    client
        .query(
            &format!(
                "SELECT table_name, pipeline FROM {schema}.tickflow_owners \
                 WHERE schema_name = $1 ORDER BY table_name"
            ),
            &[&schema],
        )
        .expect("reading the owners table")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

fn progress_of(client: &mut Client, schema: &str, pipeline: &str) -> i64 {
    client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.tickflow_progress WHERE pipeline = $1"),
            &[&pipeline],
        )
        .expect("counting progress rows")
        .get(0)
}

fn owned_by(pipeline: &str) -> Vec<(String, String)> {
    ["category_means", "sector_averages", "symbol_averages"]
        .iter()
        .map(|t| (t.to_string(), pipeline.to_string()))
        .collect()
}

#[test]
fn a_second_pipeline_is_refused_and_restart_takes_the_tables_over() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "owned");
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 5_000, 20);
    succeeded(&run_as(&input, &schema, "first", &[]));
    assert_eq!(owners(&mut client, &schema), owned_by("first"));
    let rows = count(&mut client, &schema, "symbol_averages");
    assert!(rows > 0);

    // The same pipeline again is its own owner: it runs (and reads nothing more).
    succeeded(&run_as(&input, &schema, "first", &[]));

    let out = run_as(&input, &schema, "second", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a second pipeline was let in");
    for needle in [
        "holds the results of pipeline \"first\"",
        "pipeline \"second\" will not write into it",
        "--pg-schema",
        "[postgres]",
        "--restart",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing: {stderr}");
    }
    assert_eq!(owners(&mut client, &schema), owned_by("first"));
    assert!(progress_of(&mut client, &schema, "first") > 0);
    assert_eq!(progress_of(&mut client, &schema, "second"), 0);

    // --restart takes both tables over; the previous owner's progress goes with them.
    let stderr = succeeded(&run_as(&input, &schema, "second", &["--restart"]));
    assert!(
        stderr.contains("pipeline \"second\" takes over"),
        "{stderr}"
    );
    assert_eq!(owners(&mut client, &schema), owned_by("second"));
    assert_eq!(progress_of(&mut client, &schema, "first"), 0);
    assert!(progress_of(&mut client, &schema, "second") > 0);
    assert_eq!(count(&mut client, &schema, "symbol_averages"), rows);

    // Now the first pipeline is the one refused.
    let out = run_as(&input, &schema, "first", &[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pipeline \"second\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tables_without_an_owner_are_claimed_by_the_first_pipeline_to_write_them() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "unowned");
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 2_000, 10);
    succeeded(&run_as(&input, &schema, "old", &[]));
    // As an older tickflow left them: tables and progress, no owners.
    client
        .batch_execute(&format!("DROP TABLE {schema}.tickflow_owners"))
        .unwrap();
    succeeded(&run_as(&input, &schema, "newer", &[]));
    assert_eq!(owners(&mut client, &schema), owned_by("newer"));
    assert!(!run_as(&input, &schema, "old", &[]).status.success());
    // A result table dropped and created again belongs to whoever creates it.
    client
        .batch_execute(&format!(
            "DROP TABLE {schema}.symbol_averages, {schema}.category_means, {schema}.sector_averages"
        ))
        .unwrap();
    succeeded(&run_as(&input, &schema, "old", &[]));
    assert_eq!(owners(&mut client, &schema), owned_by("old"));
}

#[test]
fn bench_writes_into_a_schema_of_its_own() {
    let Some(mut client) = pg() else { return };
    let public_rows = |c: &mut Client| -> Option<i64> {
        c.query_one(
            "SELECT to_regclass('public.symbol_averages') IS NOT NULL",
            &[],
        )
        .unwrap()
        .get::<_, bool>(0)
        .then(|| count(c, "public", "symbol_averages"))
    };
    let before = public_rows(&mut client);
    let out = tickflow()
        .args(["bench", "--sink", &pg_url(), "--events", "20000"])
        .args(["-w", "1", "--repeat", "1"])
        .output()
        .expect("running tickflow bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(count(&mut client, "tickflow_bench", "symbol_averages") > 0);
    assert_eq!(owners(&mut client, "tickflow_bench"), owned_by("bench"));
    assert_eq!(public_rows(&mut client), before, "bench wrote into public");
}

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
