//! Property tests (a fuzzer in proptest's clothing) for the line parser and the Python-literal
//! reader: no input panics, and every record written in either form reads back the same.
//!
//! Cases that once failed are kept by proptest in `tests/fuzz_parsers.proptest-regressions`
//! and replayed first on every run.

use proptest::prelude::*;
use tickflow::event::{parse_line, EventTime, FieldNames, Reading, Record, Tick};

fn names() -> FieldNames {
    FieldNames::default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Arbitrary bytes: an answer (record or reject), never a panic.
    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_line(&bytes, &names());
    }

    /// Bytes that look like records: JSON and Python punctuation, quotes, escapes, numbers.
    #[test]
    fn record_shaped_noise_never_panics(s in r#"[{}\[\]()'":,\\ 0-9a-zA-Z._+eE\-uxTNF]{0,200}"#) {
        let _ = parse_line(s.as_bytes(), &names());
        let _ = parse_line(format!("{{'stock_code': {s}}}").as_bytes(), &names());
        let _ = parse_line(format!("{{\"timestamp\": {s}, \"category\": \"A\", \"value\": 1}}").as_bytes(), &names());
    }

    /// Deep nesting is refused, not a stack overflow.
    #[test]
    fn deep_nesting_is_refused(depth in 1usize..5000, open in prop::sample::select(vec!['[', '(', '{'])) {
        let line = format!("{{'a': {}", open.to_string().repeat(depth));
        prop_assert!(parse_line(line.as_bytes(), &names()).is_err());
    }

    /// A tick written as JSON or as a Python literal reads back exactly.
    #[test]
    fn ticks_round_trip_in_both_forms(
        ms in 0u64..4_000_000_000_000,
        symbol in "[A-Za-z0-9 ._'\"\\\\é株-]{1,20}",
        price in 0.0f64..1e9,
        volume in 0u64..1_000_000_000,
    ) {
        let want = Record::Tick(Tick { time: EventTime(ms), symbol: symbol.clone().into(), price, volume });
        let ts = EventTime(ms).to_string();
        let json = format!(
            r#"{{"timestamp": "{ts}", "stock_code": {}, "price": {price:?}, "volume": {volume}}}"#,
            serde_json::to_string(&symbol).unwrap()
        );
        prop_assert_eq!(parse_line(json.as_bytes(), &names()).unwrap(), want.clone());
        let py_symbol = format!("'{}'", symbol.replace('\\', "\\\\").replace('\'', "\\'"));
        let py = format!("{{'timestamp': '{ts}', 'stock_code': {py_symbol}, 'price': {price:?}, 'volume': {volume}, 'x': None}}");
        prop_assert_eq!(parse_line(py.as_bytes(), &names()).unwrap(), want);
    }

    /// A reading with Unix-second timestamps reads back to the millisecond.
    #[test]
    fn readings_round_trip(secs in 0u64..4_000_000_000, millis in 0u64..1000, value in -1e9f64..1e9) {
        let want = Record::Reading(Reading {
            time: EventTime(secs * 1000 + millis),
            category: "B".into(),
            value,
        });
        let line = format!("{{'timestamp': {secs}.{millis:03}, 'value': {value:?}, 'category': 'B'}}");
        prop_assert_eq!(parse_line(line.as_bytes(), &names()).unwrap(), want);
    }

    /// A Unix time in seconds, milliseconds, microseconds or nanoseconds, bare or quoted, in
    /// JSON or a Python literal, reads back to its millisecond under the default `auto` unit
    /// (for times after March 1973, where the magnitudes tell the units apart).
    #[test]
    fn unix_times_in_any_unit_read_back_by_magnitude(
        ms in 100_000_000_000u64..4_000_000_000_000,
        sub in 0u64..1000,
        python in any::<bool>(),
        quoted in any::<bool>(),
    ) {
        let want = EventTime(ms);
        for n in [
            format!("{}.{:03}", ms / 1000, ms % 1000),
            ms.to_string(),
            (ms * 1000 + sub).to_string(),
            (ms * 1_000_000 + sub * 1000 + sub).to_string(),
        ] {
            let q = if python { "'" } else { "\"" };
            let ts = if quoted { format!("{q}{n}{q}") } else { n };
            let line = format!("{{{q}timestamp{q}: {ts}, {q}value{q}: 1, {q}category{q}: {q}B{q}}}");
            prop_assert_eq!(parse_line(line.as_bytes(), &names()).unwrap().time(), want, "{}", line);
        }
    }
}
