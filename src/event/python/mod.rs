//! Reads a Python dict literal (what `str(dict)` prints) into [`RawFields`].
//!
//! Older producers write `{'timestamp': 1763631000, 'value': 42.1, 'category': 'B'}`. This is a
//! reader for the literal subset `repr` produces: quoted strings with Python escapes, numbers,
//! `True`/`False`/`None`, `inf`/`nan`, nested lists, tuples and dicts (skipped), and the calls
//! such producers commonly leave in: `datetime.datetime(...)` and `Decimal('...')`.
//!
//! A `datetime` may carry a fixed-offset `tzinfo`, as `repr` prints it
//! (`tzinfo=datetime.timezone.utc`, `datetime.timezone(datetime.timedelta(seconds=19800))`,
//! `timezone(timedelta(days=-1, seconds=68400))`); it is converted to UTC. Without one, or with
//! `tzinfo=None`, the fields are UTC. Named zones (`zoneinfo.ZoneInfo(...)`, pytz) are refused:
//! resolving them needs a time-zone database, and guessing would shift windows silently.
//!
//! This file reads the dict and skips what it does not keep; `literal.rs` reads strings and
//! numbers, `calls.rs` names and calls (`True`, `datetime(...)`, `timezone(...)`).

mod calls;
mod literal;

use std::fmt;

use super::fields::{FieldNames, RawFields, Scalar};

/// Where and why a Python literal could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

/// Nesting beyond this depth is refused so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

/// Parses one dict literal, keeping only the configured fields.
pub fn parse<'a>(line: &'a str, names: &FieldNames) -> Result<RawFields<'a>, PyError> {
    let mut p = Parser { s: line, i: 0 };
    p.ws();
    p.expect(b'{')?;
    let mut fields = RawFields::default();
    loop {
        p.ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.value(0)?;
        p.ws();
        p.expect(b':')?;
        p.ws();
        let at = p.i;
        let value = p.value(0)?;
        if let Scalar::Str(key) = key {
            if let Some(field) = names.lookup(&key) {
                fields.set(field, value).map_err(|_| PyError {
                    column: at + 1,
                    message: format!("duplicate field {key:?}"),
                })?;
            }
        }
        p.ws();
        if p.eat(b',') {
            continue;
        }
        p.ws();
        p.expect(b'}')?;
        break;
    }
    p.ws();
    if p.i != line.len() {
        return Err(p.error("trailing characters after the dict"));
    }
    Ok(fields)
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Result<(), PyError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    fn error(&self, message: &str) -> PyError {
        let found = match self.s[self.i..].chars().next() {
            Some(c) => format!("{message}, found {c:?}"),
            None => format!("{message}, found end of line"),
        };
        PyError {
            column: self.i + 1,
            message: found,
        }
    }

    fn value(&mut self, depth: usize) -> Result<Scalar<'a>, PyError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        match self.peek() {
            Some(b'\'' | b'"') => self.string().map(Scalar::Str),
            Some(b'{') => self.collection(b'{', b'}', depth),
            Some(b'[') => self.collection(b'[', b']', depth),
            Some(b'(') => self.collection(b'(', b')', depth),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.') => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => self.word(depth),
            _ => Err(self.error("expected a value")),
        }
    }

    /// Skips a list, tuple, set or dict: its contents are never a field tickflow reads.
    fn collection(&mut self, open: u8, close: u8, depth: usize) -> Result<Scalar<'a>, PyError> {
        self.expect(open)?;
        loop {
            self.ws();
            if self.eat(close) {
                return Ok(Scalar::Nested);
            }
            self.value(depth + 1)?;
            self.ws();
            if open == b'{' && self.eat(b':') {
                self.ws();
                self.value(depth + 1)?;
                self.ws();
            }
            if !self.eat(b',') {
                self.ws();
                self.expect(close)?;
                return Ok(Scalar::Nested);
            }
        }
    }

    fn error_at(&self, at: usize, message: &str) -> PyError {
        PyError {
            column: at + 1,
            message: message.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fields::Field;
    use crate::event::EventTime;

    fn read(line: &str) -> RawFields<'_> {
        parse(line, &FieldNames::default()).expect(line)
    }

    #[test]
    fn reads_what_python_repr_writes() {
        let mut f = read(
            "{'timestamp': 1763631000, 'value': 42.17, 'category': 'B', 'ok': True, 'x': None}",
        );
        assert_eq!(f.take(Field::Timestamp), Some(Scalar::Int(1_763_631_000)));
        assert_eq!(f.take(Field::Value), Some(Scalar::Float(42.17)));
        assert_eq!(f.take(Field::Category), Some(Scalar::Str("B".into())));
    }

    #[test]
    fn escapes_nesting_and_calls() {
        let mut f = read(
            r#"{"stock_code": 'O\'Neil\u00e9', 'tags': [1, (2, 3), {'a': {}}], 'price': Decimal('153.21'), 'timestamp': datetime.datetime(2025, 11, 20, 9, 30, 0, 123456, tzinfo=None)}"#,
        );
        assert_eq!(f.take(Field::Symbol), Some(Scalar::Str("O'Neilé".into())));
        assert_eq!(f.take(Field::Price), Some(Scalar::Float(153.21)));
        assert_eq!(
            f.take(Field::Timestamp),
            Some(Scalar::Time(EventTime(1_763_631_000_123)))
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "{'a': 1",
            "{'a' 1}",
            "{'a': 'unterminated}",
            "{'a': 1} trailing",
            "{'a': foo}",
            "{'a': '\\x4'}",
            "['not', 'a', 'dict']",
            "{'timestamp': datetime.datetime(2025, 13, 1)}",
            &format!("{{'a': {}}}", "[".repeat(100)),
        ] {
            assert!(
                parse(bad, &FieldNames::default()).is_err(),
                "{bad:?} parsed"
            );
        }
    }
}
