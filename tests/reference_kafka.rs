//! The Kafka reference reader against a real Kafka-protocol broker (tansu in CI; see the
//! README's Testing section): the first read returns the latest message of every symbol, a
//! later message changes one, a tombstone removes one, bad messages are warned about, counted
//! and skipped, a missing topic is an error naming topic and brokers, TLS works, and
//! `tickflow check` reports the reference.
//!
//! The broker is `TICKFLOW_TEST_KAFKA` (default `127.0.0.1:9092`); messages are produced with
//! the rdkafka crate. Under `CI=true` a missing broker fails these tests.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::certs::Certs;
use common::kafka_tls::TlsBroker;
use common::kafka_topics::*;
use common::partition_gate::GatedBroker;
use common::*;
use tickflow::event::EventTime;
use tickflow::metrics::{reference_errors, ReferenceProblem};
use tickflow::reference::{open, Mapping, ReferenceReader, ReferenceSpec};

/// 2025-11-20T09:30:00Z in Unix milliseconds.
const T0: u64 = 1_763_631_000_000;

fn row(symbol: &str, sector: &str, valid_from: Option<u64>) -> Mapping {
    Mapping {
        symbol: symbol.into(),
        sector: sector.into(),
        valid_from: valid_from.map(EventTime),
    }
}

fn spec(broker: &str, topic: &str, settings: &BTreeMap<String, String>) -> ReferenceSpec {
    ReferenceSpec::Kafka {
        brokers: broker.into(),
        topic: topic.into(),
        settings: settings.clone(),
    }
}

/// Calls `read` until it returns a snapshot (the deadline only stops a broken test).
fn next_snapshot(reader: &mut dyn ReferenceReader) -> Vec<Mapping> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(rows) = reader.read().unwrap() {
            return rows;
        }
        assert!(Instant::now() < deadline, "no new snapshot within 60 s");
    }
}

#[test]
fn the_latest_message_per_symbol_wins_and_tombstones_remove() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("ref");
    // Four partitions, one of them left empty: the first read must see the end of each.
    create_topic(&broker, &topic, 4);
    let none = BTreeMap::new();
    produce(
        &broker,
        &none,
        &topic,
        &[
            (0, b"AAPL", Some(r#"{"sector": "Tech"}"#)),
            (
                1,
                b"XOM",
                Some(r#"{"sector": "Energy", "valid_from": null}"#),
            ),
            (0, b"AAPL", Some(r#"{"sector": "Phones"}"#)),
            (
                2,
                b"JPM",
                Some(r#"{"sector": "Banks", "valid_from": 1763631000}"#),
            ),
            (
                2,
                b"IBM",
                Some(r#"{"sector": "Tech", "valid_from": "2025-11-20T09:30:00Z"}"#),
            ),
            (1, b"MSFT", Some(r#"{"sector": "Tech"}"#)),
            (1, b"MSFT", None),
        ],
    );
    let mut reader = open(&spec(&broker, &topic, &none)).unwrap_or_else(|e| panic!("{e}"));
    let first = reader
        .read()
        .unwrap()
        .expect("the first read returns the topic");
    assert_eq!(
        first,
        vec![
            row("AAPL", "Phones", None),
            row("IBM", "Tech", Some(T0)),
            row("JPM", "Banks", Some(T0)),
            row("XOM", "Energy", None),
        ]
    );
    // A later message changes one symbol.
    produce(
        &broker,
        &none,
        &topic,
        &[(1, b"XOM", Some(r#"{"sector": "Oil"}"#))],
    );
    let second = next_snapshot(&mut *reader);
    assert_eq!(second[3], row("XOM", "Oil", None));
    assert_eq!(second.len(), 4);
    // A tombstone removes one; a tombstone of an unknown symbol changes nothing.
    produce(
        &broker,
        &none,
        &topic,
        &[(3, b"NOPE", None), (0, b"AAPL", None)],
    );
    let third = next_snapshot(&mut *reader);
    assert_eq!(third, second[1..].to_vec());
}

#[test]
fn bad_messages_are_counted_and_leave_the_symbol_as_it_was() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("refbad");
    create_topic(&broker, &topic, 1);
    let none = BTreeMap::new();
    produce(
        &broker,
        &none,
        &topic,
        &[(0, b"XOM", Some(r#"{"sector": "Energy"}"#))],
    );
    let source = spec(&broker, &topic, &none);
    let mut reader = open(&source).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reader.read().unwrap(),
        Some(vec![row("XOM", "Energy", None)])
    );
    produce(
        &broker,
        &none,
        &topic,
        &[
            (0, b"\xff\xfe", Some(r#"{"sector": "Tech"}"#)),
            (0, b"XOM", Some("Oil")),
            (
                0,
                b"XOM",
                Some(r#"{"sector": "Oil", "valid_from": "next week"}"#),
            ),
            (0, b"XOM", Some(r#"{"sector": ""}"#)),
            // A good message after the bad ones: once it is seen, so were they.
            (0, b"IBM", Some(r#"{"sector": "Tech"}"#)),
        ],
    );
    let rows = next_snapshot(&mut *reader);
    assert_eq!(
        rows,
        vec![row("IBM", "Tech", None), row("XOM", "Energy", None)]
    );
    assert_eq!(
        reference_errors(&source.to_string(), ReferenceProblem::Invalid),
        4
    );
}

#[test]
fn a_missing_topic_is_an_error_naming_topic_and_brokers() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("refnone");
    let e = match open(&spec(&broker, &topic, &BTreeMap::new())) {
        Ok(_) => panic!("{topic} does not exist"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains(&topic) && e.contains(&broker) && e.contains("--reference"),
        "{e}"
    );
}

#[test]
fn a_tls_broker_is_read_with_the_runs_settings_and_its_loss_survived() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path(), "client");
    let Some(tls) = TlsBroker::start(&certs) else {
        return;
    };
    tls.create_topic("sectors", 2);
    let settings: BTreeMap<String, String> = [
        ("security.protocol", "SSL".to_string()),
        ("ssl.ca.location", certs.ca.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    produce(
        &tls.address,
        &settings,
        "sectors",
        &[(1, b"AAPL", Some(r#"{"sector": "Tech"}"#))],
    );
    let source = spec(&tls.address, "sectors", &settings);
    let mut reader = open(&source).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reader.read().unwrap(),
        Some(vec![row("AAPL", "Tech", None)])
    );
    // The broker goes away: reads go on without an error or a new mapping, and the failure is
    // counted (the dataflow keeps the last mapping).
    drop(tls);
    let deadline = Instant::now() + Duration::from_secs(60);
    while reference_errors(&source.to_string(), ReferenceProblem::ReadFailed) == 0 {
        assert_eq!(reader.read().unwrap(), None);
        assert!(Instant::now() < deadline, "the lost broker went unnoticed");
    }
    assert_eq!(reader.read().unwrap(), None);
}

#[test]
fn partitions_added_while_running_are_read_from_their_beginning() {
    if broker().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(gated) = GatedBroker::start(dir.path()) else {
        return;
    };
    create_topic(&gated.address, "sectors", 2);
    let none = BTreeMap::new();
    produce(
        &gated.address,
        &none,
        "sectors",
        &[
            (0, b"AAPL", Some(r#"{"sector": "Tech"}"#)),
            (1, b"XOM", Some(r#"{"sector": "Energy"}"#)),
        ],
    );
    gated.show("sectors", Some(1));
    let mut reader =
        open(&spec(&gated.address, "sectors", &none)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        reader.read().unwrap(),
        Some(vec![row("AAPL", "Tech", None)])
    );
    // Partition 1 "appears": the next listing finds it and reads it from its first message.
    gated.show("sectors", None);
    assert_eq!(
        next_snapshot(&mut *reader),
        vec![row("AAPL", "Tech", None), row("XOM", "Energy", None)]
    );
}

/// `tickflow check` with `args`: whether it passed, and its lines.
fn check(args: &[&str]) -> (bool, Vec<String>) {
    let out = tickflow().arg("check").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        text.lines().map(String::from).collect(),
    )
}

#[test]
fn check_reports_a_kafka_reference() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("refcheck");
    create_topic(&broker, &topic, 2);
    produce(
        &broker,
        &BTreeMap::new(),
        &topic,
        &[
            (0, b"AAPL", Some(r#"{"sector": "Tech"}"#)),
            (1, b"XOM", Some(r#"{"sector": "Energy"}"#)),
            (1, b"MSFT", Some(r#"{"sector": "Tech"}"#)),
        ],
    );
    let uri = format!("kafka://{broker}/{topic}");
    let (ok, lines) = check(&["--source", "generator", "--reference", &uri]);
    assert!(ok, "{lines:?}");
    assert_eq!(
        lines[1],
        format!("reference {uri}: ok (3 symbols in 2 sectors)")
    );
    let missing = format!("kafka://{broker}/{topic}-missing");
    let (ok, lines) = check(&["--source", "generator", "--reference", &missing]);
    assert!(!ok, "{lines:?}");
    assert!(
        lines[1].starts_with(&format!("reference {missing}: FAILED: "))
            && lines[1].contains("does not exist")
            && lines[1].contains("--reference"),
        "{lines:?}"
    );
}
