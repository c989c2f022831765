//! `tickflow check` against the real servers: a usable pipeline passes and writes nothing; a
//! missing topic and an unreachable PostgreSQL are both reported in one run; a table of the
//! wrong shape is named.

mod common;

use std::process::Command;

use common::pg::*;
use common::*;

fn broker() -> Option<String> {
    let b = std::env::var("TICKFLOW_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    if std::net::TcpStream::connect(&b).is_err() {
        skip(&format!(
            "no Kafka broker at {b}; start one (see the README's Testing section)"
        ));
        return None;
    }
    Some(b)
}

fn unique_topic(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("tf-{tag}-{}-{nanos}", std::process::id())
}

fn create_topic(broker: &str, topic: &str, partitions: u32) {
    let out = Command::new("tansu")
        .args([
            "topic",
            "create",
            topic,
            "--partitions",
            &partitions.to_string(),
        ])
        .arg(format!("--broker=tcp://{broker}"))
        .output()
        .expect("tansu on the PATH (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(args: &[&str]) -> (bool, String) {
    let out = tickflow().arg("check").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let code = out.status.code();
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn schema_exists(client: &mut postgres::Client, schema: &str) -> bool {
    client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .unwrap()
        .get(0)
}

#[test]
fn a_usable_pipeline_passes_and_nothing_is_written() {
    let Some(mut client) = pg() else { return };
    let Some(broker) = broker() else { return };
    let schema = fresh_schema(&mut client, "check");
    let topic = unique_topic("check");
    create_topic(&broker, &topic, 4);
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "in.jsonl", &[tick_line(0, "A", 1.0, 1)]);
    let source = format!("kafka://{broker}/{topic}");
    let (ok, text) = check(&[
        "--source",
        &source,
        "--source",
        &file_uri(&input),
        "--sink",
        &pg_url(),
        "--pg-schema",
        &schema,
        "--sink",
        "stdout",
    ]);
    assert!(ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], format!("source {source}: ok (4 partitions)"));
    assert!(
        lines[1].starts_with(&format!("source {}: ok (", file_uri(&input))),
        "{text}"
    );
    assert!(
        lines[2].contains(&format!("tables to be created in schema {schema}")),
        "{text}"
    );
    assert_eq!(lines[3], "sink stdout: ok");
    assert!(
        !schema_exists(&mut client, &schema),
        "check created schema {schema}"
    );
    // Once a run has made the tables, check finds them of the right shape.
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &pg_url(),
        "--pg-schema",
        &schema,
        "-q",
    ]);
    let (ok, text) = check(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &pg_url(),
        "--pg-schema",
        &schema,
    ]);
    assert!(
        ok && text.contains("every table present and of the right shape"),
        "{text}"
    );
}

#[test]
fn a_missing_topic_and_an_unreachable_database_are_both_named() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("absent");
    let source = format!("kafka://{broker}/{topic}");
    let dead = format!("postgres://root@127.0.0.1:{}/test", free_port());
    let (ok, text) = check(&[
        "--source",
        &source,
        "--sink",
        &dead,
        "--pg-connect-timeout",
        "1s",
    ]);
    assert!(!ok, "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with(&format!(
            "source {source}: FAILED: Kafka topic \"{topic}\" does not exist"
        )),
        "{text}"
    );
    assert!(lines[0].contains("fix the topic in --source"), "{text}");
    assert!(
        lines[1].starts_with(&format!("sink {dead}: FAILED: cannot connect")),
        "{text}"
    );
    assert!(lines[1].contains("is the server running"), "{text}");
}

#[test]
fn a_table_of_the_wrong_shape_is_named() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "checkshape");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.category_means (category int)"
        ))
        .unwrap();
    let (ok, text) = check(&[
        "--source",
        "generator",
        "--sink",
        &pg_url(),
        "--pg-schema",
        &schema,
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains(&format!("table \"{schema}\".\"category_means\" has the wrong shape: column category is integer, expected text")), "{text}");
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&schema],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 1, "check created tables");
}
