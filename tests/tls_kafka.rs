//! TLS to Kafka: a tansu of the test's own behind a TLS-terminating socat proxy; `produce`,
//! `run` and `check` verified against the test's CA, and a wrong CA failing with the reason.

mod common;

use common::certs::Certs;
use common::kafka_tls::TlsBroker;
use common::*;

const EVENTS: &str = "3000";
const START: &str = "2025-11-20T09:30:00Z";

/// `-X` settings for TLS verified against `ca`.
fn tls(ca: &std::path::Path) -> Vec<String> {
    vec![
        "-X".into(),
        "security.protocol=ssl".into(),
        "-X".into(),
        format!("ssl.ca.location={}", ca.display()),
    ]
}

fn produce(broker: &TlsBroker, topic: &str, ca: &std::path::Path) -> std::process::Output {
    tickflow()
        .args([
            "produce",
            "--to",
            &format!("kafka://{}/{topic}", broker.address),
        ])
        .args([
            "--events",
            EVENTS,
            "--rate",
            "0",
            "--seed",
            "11",
            "--start",
            START,
            "--kafka-timeout",
            "5s",
        ])
        .args(tls(ca))
        .output()
        .unwrap()
}

#[test]
fn produce_and_read_over_tls_verified_against_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path(), "client");
    let Some(broker) = TlsBroker::start(&certs) else {
        return;
    };
    broker.create_topic("ticks", 1);
    let out = produce(&broker, "ticks", &certs.ca);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The oracle: the same events through a file.
    let same = tickflow()
        .args([
            "produce", "--events", EVENTS, "--rate", "0", "--seed", "11", "--start", START,
        ])
        .output()
        .unwrap();
    let file = dir.path().join("same.jsonl");
    std::fs::write(&file, &same.stdout).unwrap();
    let expected = rows(&run_ok(&["--source", &file_uri(&file), "--sink", "stdout"]).stdout);
    assert!(!expected.is_empty());
    let source = format!("kafka://{}/ticks", broker.address);
    let mut args = vec!["--source", &source, "--exit-at-end", "-q"];
    let settings = tls(&certs.ca);
    args.extend(settings.iter().map(String::as_str));
    assert_rows_close(&rows(&run_ok(&args).stdout), &expected, 0.0);
    // check agrees.
    let out = tickflow().arg("check").args(&args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("source {source}: ok (1 partitions)")),
        "{text}"
    );
}

#[test]
fn a_wrong_ca_fails_naming_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path(), "client");
    let Some(broker) = TlsBroker::start(&certs) else {
        return;
    };
    broker.create_topic("ticks", 1);
    let out = produce(&broker, "ticks", &certs.wrong_ca);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    let wrong = certs.wrong_ca.display().to_string();
    assert!(e.contains("certificate verify failed"), "{e}");
    assert!(e.contains(&format!("ssl.ca.location={wrong}")), "{e}");
    // Nothing was written: reading with the right CA finds the topic empty.
    let source = format!("kafka://{}/ticks", broker.address);
    let mut args = vec!["--source", &source, "--exit-at-end", "-q"];
    let settings = tls(&certs.ca);
    args.extend(settings.iter().map(String::as_str));
    assert!(run_ok(&args).stdout.is_empty());
}
