//! Runs every spec in `dataflows/` so none rots: fixtures against their expected output,
//! live specs bounded to a few thousand events.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::python::*;
use common::*;

fn specs() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("dataflows");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("dataflows/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    specs.sort();
    specs
}

fn expected_of(spec: &Path) -> PathBuf {
    spec.with_extension("expected.jsonl")
}

#[test]
fn every_spec_runs() {
    let specs = specs();
    assert!(
        specs.len() >= 3,
        "dataflows/ should hold the demo and file specs"
    );
    for spec in specs {
        let shown = spec.display().to_string();
        let expected = expected_of(&spec);
        let text = std::fs::read_to_string(&spec).unwrap();
        if text.contains("kafka://") {
            run_kafka_spec(&spec);
            continue;
        }
        if text.contains("postgres://") {
            // Into a schema of this run's own, from scratch, with the rows also on stdout.
            if std::process::Command::new("psql")
                .args([
                    "-q",
                    "-w",
                    "postgres://root@127.0.0.1:5432/test",
                    "-c",
                    "select 1",
                ])
                .output()
                .map_or(true, |o| !o.status.success())
            {
                skip(&format!("{shown}: no PostgreSQL"));
                continue;
            }
            let schema = format!("tf_spec_{}", std::process::id());
            // Schemas left by earlier runs of this test.
            let _ = std::process::Command::new("psql")
                .args(["-qAt", "postgres://root@127.0.0.1:5432/test", "-c"])
                .arg("DO $$DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tf\\_spec\\_%' LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END$$")
                .output();
            let url = "postgres://root@127.0.0.1:5432/test";
            let out = run_ok(&[
                &shown,
                "--quiet",
                "--sink",
                "stdout",
                "--sink",
                url,
                "--pg-schema",
                &schema,
                "--restart",
            ]);
            let want = rows(&std::fs::read(&expected).unwrap());
            assert_rows_close(&want, &rows(&out.stdout), 0.0);
            let stored = stored_rows(url, &schema);
            assert_eq!(stored, want.len(), "{shown}: rows in PostgreSQL");
            continue;
        }
        if expected.exists() {
            let out = run_ok(&[&shown, "--quiet"]);
            let want = rows(&std::fs::read(&expected).unwrap());
            assert!(!want.is_empty(), "{shown}: empty expected output");
            // Bit for bit: both sides round the exact mean of the inputs once.
            assert_rows_close(&want, &rows(&out.stdout), 0.0);
        } else {
            // A live spec: bound it and check it produces well-formed windows.
            let out = run_ok(&[&shown, "--rate", "0", "--events", "5000", "--quiet"]);
            assert!(
                rows(&out.stdout).len() > 10,
                "{shown} produced too few rows"
            );
        }
    }
}

/// The expected outputs are the independent Python reference's answer, not tickflow's own.
#[test]
fn expected_outputs_come_from_the_reference() {
    let Some(py) = python(&[]) else { return };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (fixture, expected, args) in [
        ("ticks-small.jsonl", "ticks-file.expected.jsonl", vec![]),
        (
            "readings-small.jsonl",
            "readings-file.expected.jsonl",
            vec!["--window", "10", "--slide", "10"],
        ),
        (
            "ticks-small.jsonl",
            "sectors-file.expected.jsonl",
            vec!["--reference", "dataflows/fixtures/sectors-small.csv"],
        ),
    ] {
        let out = py
            .script("scripts/reference.py")
            .arg(root.join("dataflows/fixtures").join(fixture))
            .args(&args)
            .output()
            .expect("running the checked Python interpreter");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let want = rows(&std::fs::read(root.join("dataflows").join(expected)).unwrap());
        assert_rows_close(&want, &rows(&out.stdout), 0.0);
    }
}

/// A Kafka spec runs against a fresh topic fed by `tickflow produce`, into its own schema.
fn run_kafka_spec(spec: &Path) {
    let shown = spec.display().to_string();
    let broker = std::env::var("TICKFLOW_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let reachable = std::net::TcpStream::connect(&broker).is_ok();
    if !reachable {
        skip(&format!("{shown}: no Kafka broker at {broker}"));
        return;
    }
    let Some(py) = python(&["confluent_kafka"]) else {
        return;
    };
    let topic = format!("tf-spec-{}", std::process::id());
    let created = py
        .script("tests/support/kafka_client.py")
        .args([&broker, "create", &topic, "2"])
        .status()
        .expect("running the checked Python interpreter");
    assert!(created.success());
    let produced = tickflow()
        .args([
            "produce",
            "--to",
            &format!("kafka://{broker}/{topic}"),
            "--events",
            "3000",
        ])
        .args([
            "--rate",
            "0",
            "--symbols",
            "10",
            "--start",
            "2025-11-20T09:30:00Z",
        ])
        .status()
        .unwrap();
    assert!(produced.success());
    let url = "postgres://root@127.0.0.1:5432/test";
    let schema = format!("tf_kspec_{}", std::process::id());
    let out = run_ok(&[
        &shown,
        "--source",
        &format!("kafka://{broker}/{topic}"),
        "--exit-at-end",
        "--sink",
        "stdout",
        "--sink",
        url,
        "--pg-schema",
        &schema,
        "--restart",
        "--quiet",
    ]);
    let got = rows(&out.stdout);
    assert!(got.len() > 100, "{shown}: too few rows");
    let stored = stored_rows(url, &schema);
    assert_eq!(stored, got.len(), "{shown}: rows in PostgreSQL");
}

/// Rows in `schema.symbol_averages`, counted with psql.
fn stored_rows(url: &str, schema: &str) -> usize {
    let out = Command::new("psql")
        .args([
            "-qAt",
            url,
            "-c",
            &format!("SELECT count(*) FROM {schema}.symbol_averages"),
        ])
        .output()
        .expect("psql");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a count")
}
