//! The layout of the last line the scanner read, tried on the next: producers write every
//! line with the same keys in the same order between the same separators, so only the values
//! differ from one line to the next.
//!
//! How it works:
//! 1. After the scanner (`scan.rs`) reads a line, [`Layout::learn`] keeps the line's bytes
//!    between its values (`{"timestamp": "`, `", "stock_code": "`, ... `}`) and, for each value,
//!    whether it is a string or a number and which configured field it went to. A `true`,
//!    `false` or `null` of a key tickflow does not read stays in the literal bytes.
//! 2. [`Layout::read`] takes the next line only if it is those literal bytes, word by word,
//!    with each value read where the scanner would read it: a string up to its closing quote
//!    (no escape or control character before it, as the scanner, and only ASCII), a number by
//!    the scanner's own reader (`number.rs`). Anything else is `None`, and the scanner reads
//!    the line.
//! 3. It reads the line's bytes before anything checks they are UTF-8: the literal bytes come
//!    from a line that was, cut at ASCII bytes, and the values are ASCII, so a line it takes
//!    is UTF-8 too, and the check (about 75 instructions a line) is left to the lines it
//!    does not take.
//!
//! When layouts change from line to line (keys in another order every other line, say), each
//! learned layout would cost a copy of the line and never pay: a layout that reads no line
//! before the next one is learned pauses learning for 1, 2, 4, ... up to 64 scanned lines, and
//! one that reads a line ends the pause.
//!
//! Why the result is the scanner's: between values the scanner's every step depends only on the
//! bytes it looks at, which are the literal bytes, the first byte of the value after them (a
//! quote, kept in the literal, or a digit or `-` for a number) and nothing after the end of the
//! line; values are read by the same functions from the same offsets. So a line the layout
//! takes is one the scanner takes, into the same fields. `tests/parse_differential.rs` feeds
//! runs of lines sharing a layout, and near misses, through one layout.

use std::borrow::Cow;

use super::fields::{Field, RawFields, Scalar};
use super::number;
use super::scan::{self, Spans, ValueKind};

/// What one value of the layout is and where it goes.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Where the literal bytes before this value end in `Layout::text`.
    literal_end: usize,
    /// A string (between two of `quote`) or a number.
    quote: Option<u8>,
    field: Option<Field>,
}

/// The layout of the last line the scanner read (see the module docs); empty at first.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The literal bytes of the line, the values cut out.
    text: Vec<u8>,
    /// Every value, in line order; none when there is no layout to try.
    slots: Vec<Slot>,
    /// Whether the layout has read a line since it was learned.
    used: bool,
    /// Scanned lines to pass before learning again, and how many the next pause will be.
    rest: u32,
    pause: u32,
}

impl Layout {
    /// Whether the next line the scanner reads is to be learned from (with its spans noted),
    /// or passed while learning pauses.
    #[inline]
    pub fn learning(&self) -> bool {
        self.rest == 0
    }

    /// Learns the layout of `line`, which the scanner just read with these `spans` (the layout
    /// did not read it) if [`Layout::learning`], else counts one line of the pause; forgets
    /// the layout when the line has none worth keeping, or pauses learning.
    pub fn learn(&mut self, line: &[u8], spans: Option<&Spans>) {
        let Some(spans) = spans.filter(|_| self.rest == 0) else {
            self.rest = self.rest.saturating_sub(1);
            return;
        };
        let unused = !self.slots.is_empty() && !self.used;
        self.text.clear();
        self.slots.clear();
        if unused {
            self.pause = (self.pause * 2).clamp(1, 64);
            self.rest = self.pause;
            return;
        }
        if self.used {
            self.pause = 0;
        }
        self.used = false;
        let Some(spans) = spans.all() else {
            return;
        };
        let mut from = 0;
        for span in spans {
            let quote = match span.kind {
                ValueKind::Str { quote } => Some(quote),
                ValueKind::Number => None,
                // The constant of a key not read is literal text; of a field, too rare to keep.
                ValueKind::Word if span.field.is_none() => continue,
                ValueKind::Word => {
                    self.slots.clear();
                    return;
                }
            };
            self.text.extend_from_slice(&line[from..span.start]);
            self.slots.push(Slot {
                literal_end: self.text.len(),
                quote,
                field: span.field,
            });
            from = span.end;
        }
        self.text.extend_from_slice(&line[from..]);
    }

    /// Reads the line `bytes` into `out` if it has this layout, as the scanner would; `None`
    /// if not (then `out` may hold some fields and must be cleared before another reader
    /// fills it).
    #[inline]
    pub fn read<'a>(&mut self, bytes: &'a [u8], out: &mut RawFields<'a>) -> Option<()> {
        self.matches(bytes, out)?;
        self.used = true;
        Some(())
    }

    /// What [`Layout::read`] does, without noting that the layout was used.
    #[inline(always)]
    pub fn matches<'a>(&self, bytes: &'a [u8], out: &mut RawFields<'a>) -> Option<()> {
        if self.slots.is_empty() {
            return None;
        }
        let (mut at, mut literal_start) = (0, 0);
        for slot in &self.slots {
            let literal = &self.text[literal_start..slot.literal_end];
            if !same_bytes(bytes.get(at..at + literal.len())?, literal) {
                return None;
            }
            at += literal.len();
            literal_start = slot.literal_end;
            let value = match slot.quote {
                Some(quote) => {
                    // The closing quote is checked as the first byte of the next literal.
                    let (text, close) = scan::quoted_ascii(bytes, at, quote)?;
                    at = close;
                    Scalar::Str(Cow::Borrowed(text))
                }
                None => {
                    let (value, len) = number::plain(&bytes[at..])?;
                    at += len;
                    value
                }
            };
            if let Some(field) = slot.field {
                out.set(field, value).ok()?;
            }
        }
        let tail = &self.text[literal_start..];
        (bytes.len() == at + tail.len() && same_bytes(&bytes[at..], tail)).then_some(())
    }
}

/// Whether two byte strings of the same length are equal, eight bytes a step and the last
/// eight (overlapping) at once: literals and field names are 1 to 20 bytes, where a memcmp
/// call costs more.
#[inline]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let half = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    match n {
        8.. => {
            let mut at = 0;
            while at + 8 < n {
                if word(a, at) != word(b, at) {
                    return false;
                }
                at += 8;
            }
            word(a, n - 8) == word(b, n - 8)
        }
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::scan::{fields, Form};
    use crate::event::FieldNames;

    /// The layout learned from `first`, then what it and the scanner make of `next`.
    fn both(first: &str, next: &str) -> (Option<RawFieldsDebug>, Option<RawFieldsDebug>) {
        let names = FieldNames::default();
        let form = if first.contains('\'') {
            Form::Python
        } else {
            Form::Json
        };
        let mut spans = Spans::default();
        fields(
            first,
            &names,
            form,
            &mut RawFields::default(),
            Some(&mut spans),
        )
        .expect(first);
        let mut layout = Layout::default();
        layout.learn(first.as_bytes(), Some(&spans));
        assert!(!layout.slots.is_empty(), "{first}");
        let mut out = RawFields::default();
        let got = layout
            .read(next.as_bytes(), &mut out)
            .map(|()| format!("{out:?}"));
        let mut out = RawFields::default();
        let want = fields(next, &names, form, &mut out, None).map(|()| format!("{out:?}"));
        (got, want)
    }

    type RawFieldsDebug = String;

    const JSON: &str = r#"{"timestamp": "2025-11-20T09:30:00.123456", "stock_code": "AAPL", "price": 153.21, "volume": 1234}"#;
    const PY: &str = "{'timestamp': '2025-11-20T09:30:00.123456', 'stock_code': 'AAPL', 'price': 153.21, 'volume': 1234, 'ok': True}";

    #[test]
    fn the_same_layout_reads_as_the_scanner() {
        for (first, next) in [
            (JSON, r#"{"timestamp": "2025-11-20T09:30:01", "stock_code": "MSFT", "price": 1e3, "volume": 0}"#),
            (PY, "{'timestamp': '2025-11-21T00:00:00Z', 'stock_code': 'B', 'price': -0.5, 'volume': 12, 'ok': True}"),
            (JSON, r#"{"timestamp": "", "stock_code": "", "price": 1, "volume": 1.5}"#),
        ] {
            let (got, want) = both(first, next);
            assert!(got.is_some(), "{next}");
            assert_eq!(got, want, "{next}");
        }
    }

    #[test]
    fn near_misses_are_left_to_the_scanner() {
        for next in [
            r#"{"timestamp": "2025", "stock_code": "A\"B", "price": 1, "volume": 1}"#,
            r#"{"timestamp": "2025", "stock_code": "A\nB", "price": 1, "volume": 1}"#,
            "{\"timestamp\": \"2025\", \"stock_code\": \"A\u{1}B\", \"price\": 1, \"volume\": 1}",
            r#"{"timestamp": "2025", "stock_code": "AB", "price":  1, "volume": 1}"#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": "1", "volume": 1}"#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": 01, "volume": 1}"#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": 1, "volume": 1} "#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": 1, "volume": 1}}"#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": 1, "volume": 1"#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": 1, "volumE": 1}"#,
            r#"{"timestamp": "2025", "stock_code": "AB", "price": 1, "volume": true}"#,
            r#"{"timestamp": '2025', "stock_code": "AB", "price": 1, "volume": 1}"#,
            "{'timestamp': '2025', 'stock_code': 'AB', 'price': 1, 'volume': 1}",
            // Valid UTF-8 the scanner takes, but the layout reads ASCII values only.
            r#"{"timestamp": "2025", "stock_code": "Aé", "price": 1, "volume": 1}"#,
        ] {
            let (got, _) = both(JSON, next);
            assert_eq!(got, None, "{next}");
        }
    }

    /// What a worker does with a line: read it by the layout, else scan it and learn its
    /// layout when learning is not paused. Whether the layout missed.
    fn read_or_learn(layout: &mut Layout, line: &str, names: &FieldNames) -> bool {
        let mut spans = Spans::default();
        fields(
            line,
            names,
            Form::Json,
            &mut RawFields::default(),
            Some(&mut spans),
        )
        .unwrap();
        let missed = layout
            .read(line.as_bytes(), &mut RawFields::default())
            .is_none();
        if missed {
            layout.learn(line.as_bytes(), layout.learning().then_some(&spans));
        }
        missed
    }

    /// Layouts that never read a line pause learning, longer each time; one that reads a
    /// line ends the pause.
    #[test]
    fn learning_pauses_while_layouts_do_not_pay() {
        let names = FieldNames::default();
        let other = r#"{"stock_code": "AAPL", "timestamp": "2025-11-20T09:30:00", "price": 1, "volume": 2}"#;
        let mut layout = Layout::default();
        let mut learned = 0;
        for i in 0..200 {
            let line = if i % 2 == 0 { JSON } else { other };
            if read_or_learn(&mut layout, line, &names) {
                learned += usize::from(!layout.slots.is_empty());
            }
        }
        assert!(learned < 12, "{learned} layouts learned");
        for _ in 0..70 {
            read_or_learn(&mut layout, JSON, &names);
        }
        assert!(layout
            .read(JSON.as_bytes(), &mut RawFields::default())
            .is_some());
        // A layout that paid for itself: the next one is learned at once.
        let mut spans = Spans::default();
        fields(
            other,
            &names,
            Form::Json,
            &mut RawFields::default(),
            Some(&mut spans),
        )
        .unwrap();
        assert!(layout
            .read(other.as_bytes(), &mut RawFields::default())
            .is_none());
        layout.learn(other.as_bytes(), Some(&spans));
        assert!(layout
            .read(other.as_bytes(), &mut RawFields::default())
            .is_some());
    }

    #[test]
    fn same_bytes_at_every_length_and_position() {
        for n in 0..40 {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "{n} {at}");
            }
        }
        assert!(!same_bytes(b"ab", b"abc"));
    }
}
