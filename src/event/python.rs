//! Reads a Python dict literal (what `str(dict)` prints) into [`RawFields`].
//!
//! Older producers write `{'timestamp': 1763631000, 'value': 42.1, 'category': 'B'}`. This is a
//! reader for the literal subset `repr` produces: quoted strings with Python escapes, numbers,
//! `True`/`False`/`None`, `inf`/`nan`, nested lists, tuples and dicts (skipped), and the two
//! calls such producers commonly leave in: `datetime.datetime(...)` and `Decimal('...')`.

use std::borrow::Cow;
use std::fmt;

use super::fields::{FieldNames, RawFields, Scalar};
use super::EventTime;

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

    fn string(&mut self) -> Result<Cow<'a, str>, PyError> {
        let quote = self.peek().expect("caller saw a quote");
        let start = self.i;
        self.i += 1;
        let body = self.i;
        // Fast path: no escapes, borrow the slice.
        while let Some(c) = self.peek() {
            if c == quote {
                let text = &self.s[body..self.i];
                self.i += 1;
                return Ok(Cow::Borrowed(text));
            }
            if c == b'\\' {
                break;
            }
            self.i += 1;
        }
        let mut out = String::from(&self.s[body..self.i]);
        loop {
            let Some(c) = self.s[self.i..].chars().next() else {
                self.i = start;
                return Err(self.error("unterminated string"));
            };
            self.i += c.len_utf8();
            match c {
                c if c as u32 == u32::from(quote) => return Ok(Cow::Owned(out)),
                '\\' => self.escape(&mut out)?,
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), PyError> {
        let Some(c) = self.s[self.i..].chars().next() else {
            return Err(self.error("unterminated escape"));
        };
        self.i += c.len_utf8();
        let simple = match c {
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'v' => Some('\x0b'),
            '0' => Some('\0'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            return Ok(());
        }
        let width = match c {
            'x' => 2,
            'u' => 4,
            'U' => 8,
            other => {
                // Python keeps unknown escapes as written.
                out.push('\\');
                out.push(other);
                return Ok(());
            }
        };
        let hex = self.s.get(self.i..self.i + width).unwrap_or("");
        let code = u32::from_str_radix(hex, 16)
            .ok()
            .filter(|_| hex.len() == width && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        match code.and_then(char::from_u32) {
            Some(ch) => {
                out.push(ch);
                self.i += width;
                Ok(())
            }
            None => Err(self.error("invalid escape")),
        }
    }

    fn number(&mut self) -> Result<Scalar<'a>, PyError> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
            // `-inf` is how repr writes negative infinity.
            if self.s[self.i..].starts_with("inf") {
                let negative = self.s.as_bytes()[start] == b'-';
                self.i += 3;
                return Ok(Scalar::Float(if negative {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                }));
            }
        }
        while matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E' | b'_'))
            || (matches!(self.peek(), Some(b'-' | b'+'))
                && self.i > start
                && matches!(self.s.as_bytes()[self.i - 1], b'e' | b'E'))
        {
            self.i += 1;
        }
        let text: String = self.s[start..self.i]
            .chars()
            .filter(|&c| c != '_')
            .collect();
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Scalar::Int(n));
        }
        match text.parse::<f64>() {
            Ok(n) => Ok(Scalar::Float(n)),
            Err(_) => {
                self.i = start;
                Err(self.error("invalid number"))
            }
        }
    }

    fn word(&mut self, depth: usize) -> Result<Scalar<'a>, PyError> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        match word {
            "True" => return Ok(Scalar::Bool(true)),
            "False" => return Ok(Scalar::Bool(false)),
            "None" => return Ok(Scalar::Null),
            "inf" => return Ok(Scalar::Float(f64::INFINITY)),
            "nan" => return Ok(Scalar::Float(f64::NAN)),
            _ => {}
        }
        if self.peek() != Some(b'(') {
            self.i = start;
            return Err(self.error("unknown name"));
        }
        let args = self.call_args(depth)?;
        match word {
            "datetime.datetime" | "datetime" => self.datetime(start, &args),
            "Decimal" | "decimal.Decimal" => match args.as_slice() {
                [Scalar::Str(s)] => s
                    .trim()
                    .parse::<f64>()
                    .map(Scalar::Float)
                    .map_err(|_| self.error_at(start, "Decimal of a non-number")),
                [Scalar::Int(n)] => Ok(Scalar::Float(*n as f64)),
                _ => Err(self.error_at(start, "Decimal takes one argument")),
            },
            _ => Ok(Scalar::Nested),
        }
    }

    /// Reads `(a, b, name=c)`, keeping positional arguments and dropping keyword ones.
    fn call_args(&mut self, depth: usize) -> Result<Vec<Scalar<'a>>, PyError> {
        self.expect(b'(')?;
        let mut args = Vec::new();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(args);
            }
            let keyword = {
                let rest = &self.s[self.i..];
                let n = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                n > 0 && rest[n..].trim_start().starts_with('=')
            };
            if keyword {
                while self.peek() != Some(b'=') {
                    self.i += 1;
                }
                self.i += 1;
                self.ws();
                self.value(depth + 1)?;
            } else {
                args.push(self.value(depth + 1)?);
            }
            self.ws();
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(args);
            }
        }
    }

    fn datetime(&self, start: usize, args: &[Scalar<'a>]) -> Result<Scalar<'a>, PyError> {
        let mut parts = [0i64, 1, 1, 0, 0, 0, 0];
        if args.len() < 3 || args.len() > 7 {
            return Err(self.error_at(start, "datetime takes 3 to 7 integer arguments"));
        }
        for (slot, arg) in parts.iter_mut().zip(args) {
            match arg {
                Scalar::Int(n) => *slot = *n,
                _ => return Err(self.error_at(start, "datetime arguments must be integers")),
            }
        }
        let field = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        EventTime::from_civil(
            parts[0],
            field(parts[1]),
            field(parts[2]),
            field(parts[3]),
            field(parts[4]),
            field(parts[5]),
            field(parts[6]),
        )
        .map(Scalar::Time)
        .map_err(|e| self.error_at(start, &e.to_string()))
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
