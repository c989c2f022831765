//! Sector rollups with the mapping read from a real server, end to end and against the naive
//! as-of recomputation of `common::sectors`: a compacted Kafka topic (the latest message of a
//! symbol wins, a tombstone unmaps one, a dated message maps from then on) and a PostgreSQL
//! table (a symbol with several dated rows). The readers alone are tested in
//! `reference_kafka.rs` and `reference_postgres.rs`; changes while running in `sector_live.rs`.

mod common;

use std::collections::BTreeMap;

use common::kafka_topics::*;
use common::pg::*;
use common::sectors::*;
use common::*;

/// Runs the ticks through `-w 2` with `reference` args and checks the sector rows against the
/// recomputation under `mapping`.
fn assert_sectors_follow(ticks: &[Tick], reference: &[&str], mapping: &[Row]) {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "ticks.jsonl", &lines(ticks));
    let mut args = vec!["--source", &*file_uri(&input).leak(), "-w", "2"];
    args.extend(window_args());
    args.extend(reference);
    let out = run_ok(&args);
    let (rows, _) = sector_rows(&out.stdout);
    let expected = as_of_oracle(ticks, |_| mapping);
    assert!(expected.len() > 40, "{} windows", expected.len());
    assert_rows_close(&rows, &expected, 1e-12);
}

#[test]
fn a_kafka_topic_maps_by_its_latest_message_per_symbol() {
    let Some(broker) = broker() else { return };
    let topic = unique_topic("sectors");
    create_topic(&broker, &topic, 2);
    let dated =
        |sector: &str, ms: u64| format!(r#"{{"sector": "{sector}", "valid_from": {}}}"#, ms / 1000);
    let b_later = dated("energy", T0 + 8_000);
    let d_dated = format!(
        r#"{{"sector": "energy", "valid_from": "{}Z"}}"#,
        iso(T0 + 9_000)
    );
    let messages: Vec<Message> = vec![
        (0, b"A", Some(r#"{"sector": "tech"}"#)),
        (1, b"B", Some(r#"{"sector": "tech", "valid_from": null}"#)),
        (0, b"C", Some(r#"{"sector": "energy"}"#)),
        (1, b"Z", Some(r#"{"sector": "misc"}"#)),
        // The latest message of a symbol replaces its earlier ones, a tombstone unmaps it.
        (1, b"B", Some(&b_later)),
        (0, b"D", Some(&d_dated)),
        (1, b"Z", None),
    ];
    produce(&broker, &BTreeMap::new(), &topic, &messages);
    let uri = format!("kafka://{broker}/{topic}");
    // One row per symbol, as the topic holds: B mapped from T0 + 8 s only, Z not at all.
    let mapping: Vec<Row> = vec![
        ("A", "tech", None),
        ("B", "energy", Some(T0 + 8_000)),
        ("C", "energy", None),
        ("D", "energy", Some(T0 + 9_000)),
    ];
    let ticks = ticks(11, 3_000, 7, &["A", "B", "C", "D", "Z"]);
    assert_sectors_follow(&ticks, &["--reference", &uri], &mapping);
}

#[test]
fn a_postgres_table_maps_with_every_dated_row() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "secref");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; CREATE TABLE {schema}.sectors (symbol text, sector text, valid_from timestamptz)"
        ))
        .unwrap();
    let mapping = file_mapping();
    for (symbol, sector, from) in &mapping {
        let from = from.map(|ms| iso(ms) + "Z");
        client
            .execute(
                &format!("INSERT INTO {schema}.sectors VALUES ($1, $2, $3::text::timestamptz)"),
                &[symbol, sector, &from],
            )
            .unwrap();
    }
    let table = format!("{schema}.sectors");
    let ticks = ticks(12, 3_000, 7, &["A", "B", "C", "D", "Z"]);
    assert_sectors_follow(
        &ticks,
        &["--reference", &pg_url(), "--reference-table", &table],
        &mapping,
    );
}
