//! The entry points from a line of bytes to a record: which form it is in, and which reader.

use super::layout::Layout;
use super::scan::{self, Form, Spans};
use super::{
    classify, json, python, DayCache, FieldNames, Horizon, RawFields, Record, RejectKind, Rejection,
};

/// Parses one line (without its newline) in either JSON or Python-literal form, admitting any
/// event time (see [`parse_line_at`] for the limit a running pipeline applies).
///
/// The shape is decided per line: a symbol field makes a tick, a category field a reading.
pub fn parse_line<'a>(line: &'a [u8], names: &FieldNames) -> Result<Record<'a>, Rejection> {
    parse_line_at(line, names, &Horizon::UNBOUNDED)
}

/// Parses one line as [`parse_line`] does; an event time beyond `horizon` (too far ahead of
/// the wall clock, most likely a timestamp read in the wrong unit) is an `invalid_field`.
///
/// A flat record of plain values is read by the fast scanner (`scan.rs`); anything else, by
/// the full readers, with the same result either way. A running pipeline uses a
/// [`LineParser`] instead, which also remembers what the last line taught it.
pub fn parse_line_at<'a>(
    line: &'a [u8],
    names: &FieldNames,
    horizon: &Horizon,
) -> Result<Record<'a>, Rejection> {
    let text = utf8(line)?;
    let mut days = DayCache::default();
    let mut fields = RawFields::default();
    if scan::fields(text, names, form(line), &mut fields, None).is_some() {
        return classify(&mut fields, names, horizon, &mut days);
    }
    read_in_full(text, names, horizon, first_quote_is_single(line), &mut days)
}

/// Parses lines for one set of field names as [`parse_line_at`] does, with the same results,
/// carrying from one line to the next the date of the last ISO-8601 timestamp ([`DayCache`])
/// and the layout of the last line the scanner read (`layout.rs`). A running pipeline keeps
/// one per worker. It owns its field names because the layout it learned holds for them only.
#[derive(Clone, Debug)]
pub struct LineParser {
    names: FieldNames,
    days: DayCache,
    layout: Layout,
    /// Where the scanner found the values of the last line it read, for `layout`.
    spans: Spans,
}

impl LineParser {
    /// A parser for records with these field names, knowing nothing of earlier lines.
    pub fn new(names: FieldNames) -> LineParser {
        LineParser {
            names,
            days: DayCache::default(),
            layout: Layout::default(),
            spans: Spans::default(),
        }
    }

    /// The field names this parser reads.
    pub fn names(&self) -> &FieldNames {
        &self.names
    }

    /// Whether the layout of the last line reads `line` (for tests that check it is exercised).
    #[doc(hidden)]
    pub fn takes_layout(&self, line: &[u8]) -> bool {
        self.layout
            .matches(line, &mut RawFields::default())
            .is_some()
    }

    /// Parses one line (without its newline) as [`parse_line_at`] does, with the same result.
    pub fn parse<'a>(
        &mut self,
        line: &'a [u8],
        horizon: &Horizon,
    ) -> Result<Record<'a>, Rejection> {
        let mut fields = RawFields::default();
        // The layout reads bytes: a line it takes is UTF-8 (see `layout.rs`).
        if self.layout.read(line, &mut fields).is_some() {
            return classify(&mut fields, &self.names, horizon, &mut self.days);
        }
        let text = utf8(line)?;
        let mut fields = RawFields::default();
        let learning = self.layout.learning();
        let spans = learning.then_some(&mut self.spans);
        if scan::fields(text, &self.names, form(line), &mut fields, spans).is_some() {
            self.layout.learn(line, learning.then_some(&self.spans));
            return classify(&mut fields, &self.names, horizon, &mut self.days);
        }
        let python_first = first_quote_is_single(line);
        read_in_full(text, &self.names, horizon, python_first, &mut self.days)
    }
}

/// Parses one line as [`parse_line_at`] does, with the full readers only: the reference the
/// fast scanner is tested and benchmarked against.
#[doc(hidden)]
pub fn parse_line_full<'a>(
    line: &'a [u8],
    names: &FieldNames,
    horizon: &Horizon,
) -> Result<Record<'a>, Rejection> {
    let text = utf8(line)?;
    read_in_full(
        text,
        names,
        horizon,
        first_quote_is_single(line),
        &mut DayCache::default(),
    )
}

/// Whether the fast scanner reads `line` (for tests that check it is exercised).
#[doc(hidden)]
pub fn takes_fast_path(line: &[u8], names: &FieldNames) -> bool {
    let Ok(text) = std::str::from_utf8(line) else {
        return false;
    };
    scan::fields(text, names, form(line), &mut RawFields::default(), None).is_some()
}

/// The reader a line goes to first: the form its first quote belongs to.
fn form(line: &[u8]) -> Form {
    if first_quote_is_single(line) {
        Form::Python
    } else {
        Form::Json
    }
}

fn utf8(line: &[u8]) -> Result<&str, Rejection> {
    // Nearly every line is ASCII, which is cheaper to check than the full UTF-8 validation
    // (4% of the run in callgrind).
    if is_ascii(line) {
        // SAFETY: every byte is below 0x80, and a sequence of ASCII bytes is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(line) });
    }
    std::str::from_utf8(line).map_err(|e| {
        Rejection::new(
            RejectKind::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })
}

/// Whether every byte is below 0x80, sixteen bytes a step as two words. (`<[u8]>::is_ascii`
/// cost more than `str::from_utf8` in callgrind: it went byte by byte on lines this short.)
#[inline]
fn is_ascii(line: &[u8]) -> bool {
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().expect("eight bytes"));
    if line.len() < 8 {
        return line.is_ascii();
    }
    let mut chunks = line.chunks_exact(16);
    let mut any = 0;
    for chunk in &mut chunks {
        any |= word(chunk) | word(&chunk[8..]);
    }
    // Up to 15 bytes are left: their first eight, and the line's last eight, cover them.
    let rest = chunks.remainder();
    if rest.len() >= 8 {
        any |= word(rest);
    }
    any |= word(&line[line.len() - 8..]);
    any & HIGHS == 0
}

/// serde_json or the Python reader, the one the line most resembles first.
fn read_in_full<'a>(
    text: &'a str,
    names: &FieldNames,
    horizon: &Horizon,
    python_first: bool,
    days: &mut DayCache,
) -> Result<Record<'a>, Rejection> {
    let parsed = if python_first {
        python::parse(text, names)
            .or_else(|py| json::parse(text, names).map_err(|_| py.to_string()))
    } else {
        json::parse(text, names)
            .or_else(|js| python::parse(text, names).map_err(|_| js.to_string()))
    };
    match parsed {
        Ok(mut fields) => classify(&mut fields, names, horizon, days),
        Err(error) => {
            let form = if python_first || mentions_python_words(text) {
                "a Python dict literal"
            } else {
                "a JSON object"
            };
            Err(Rejection::new(
                RejectKind::Malformed,
                format!("not {form}: {error}"),
            ))
        }
    }
}

fn first_quote_is_single(line: &[u8]) -> bool {
    // The usual line opens `{"` or `{'`: that quote is the first, without a memchr call.
    match line {
        [b'{', q @ (b'"' | b'\''), ..] => *q == b'\'',
        _ => memchr::memchr2(b'\'', b'"', line).is_some_and(|i| line[i] == b'\''),
    }
}

fn mentions_python_words(text: &str) -> bool {
    text.contains("True") || text.contains("False") || text.contains("None")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventTime, Reading, Tick};

    fn parse(line: &str) -> Result<Record<'_>, Rejection> {
        parse_line(line.as_bytes(), &FieldNames::default())
    }

    fn kind(line: &str) -> RejectKind {
        parse(line).expect_err(line).kind
    }

    #[test]
    fn tick_in_both_forms() {
        let want = Record::Tick(Tick {
            time: EventTime(1_763_631_000_123),
            symbol: "AAPL".into(),
            price: 153.21,
            volume: 1234,
        });
        let json = r#"{"timestamp": "2025-11-20T09:30:00.123456", "stock_code": "AAPL", "price": 153.21, "volume": 1234}"#;
        let py = "{'timestamp': '2025-11-20T09:30:00.123456', 'stock_code': 'AAPL', 'price': 153.21, 'volume': 1234}";
        assert_eq!(parse(json).unwrap(), want);
        assert_eq!(parse(py).unwrap(), want);
    }

    #[test]
    fn reading_in_both_forms() {
        let want = Record::Reading(Reading {
            time: EventTime(1_763_631_000_500),
            category: "B".into(),
            value: 42.1,
        });
        let json = r#"{"timestamp": 1763631000.5, "value": 42.1, "category": "B", "extra": [1, {"a": null}]}"#;
        let py =
            "{'timestamp': 1763631000.5, 'value': 42.1, 'category': 'B', 'ok': True, 'note': None}";
        assert_eq!(parse(json).unwrap(), want);
        assert_eq!(parse(py).unwrap(), want);
    }

    #[test]
    fn configured_field_names() {
        let names = FieldNames {
            symbol: "symbol".into(),
            timestamp: "ts".into(),
            ..FieldNames::default()
        };
        let line = br#"{"ts": 1763631000, "symbol": "X", "price": 1, "volume": 2}"#;
        assert!(matches!(parse_line(line, &names), Ok(Record::Tick(_))));
        let dup = FieldNames {
            price: "volume".into(),
            ..FieldNames::default()
        };
        assert!(dup.validate().is_err());
    }

    #[test]
    fn ascii_check_at_every_length_and_position() {
        for len in 0..70 {
            let mut line = vec![b'a'; len];
            assert!(is_ascii(&line), "{len}");
            for at in 0..len {
                line[at] = 0x80;
                assert!(!is_ascii(&line), "{len} {at}");
                line[at] = b'a';
            }
        }
    }

    #[test]
    fn every_reject_reason() {
        use RejectKind::*;
        assert_eq!(
            parse_line(b"{\"category\": \"\xff\"}", &FieldNames::default())
                .unwrap_err()
                .kind,
            InvalidUtf8
        );
        assert_eq!(kind("{\"category\": \"B\""), Malformed);
        assert_eq!(kind("[1, 2]"), Malformed);
        assert_eq!(kind("hello"), Malformed);
        assert_eq!(kind("{'category': 'B', 'value': 1"), Malformed);
        assert_eq!(kind(r#"{"category": "B", "value": 1}"#), MissingField);
        assert_eq!(
            kind(r#"{"stock_code": "A", "timestamp": 1, "volume": 1}"#),
            MissingField
        );
        assert_eq!(kind(r#"{"timestamp": 1, "value": 1}"#), UnknownShape);
        let tick = |price: &str, volume: &str, ts: &str| {
            format!(
                r#"{{"stock_code": "A", "timestamp": {ts}, "price": {price}, "volume": {volume}}}"#
            )
        };
        for (price, volume, ts) in [
            ("-1", "1", "1"),
            ("\"1.0\"", "1", "1"),
            ("null", "1", "1"),
            ("1e999", "1", "1"),
            ("1", "-5", "1"),
            ("1", "1.5", "1"),
            ("1", "1", "\"yesterday\""),
            ("1", "1", "-3"),
            ("1", "1", "true"),
            ("2e15", "1", "1"),
        ] {
            assert_eq!(
                kind(&tick(price, volume, ts)),
                InvalidField,
                "{price} {volume} {ts}"
            );
        }
        assert_eq!(
            kind("{'stock_code': 'A', 'timestamp': 1, 'price': nan, 'volume': 1}"),
            InvalidField
        );
        assert_eq!(
            kind(r#"{"stock_code": "", "timestamp": 1, "price": 1, "volume": 1}"#),
            InvalidField
        );
        assert_eq!(
            kind(r#"{"stock_code": "a\u0000b", "timestamp": 1, "price": 1, "volume": 1}"#),
            InvalidField,
            "PostgreSQL text cannot hold NUL"
        );
        assert_eq!(
            kind(r#"{"category": "B", "category": "C", "timestamp": 1, "value": 1}"#),
            Malformed
        );
    }
}
