//! Python literal tokens: quoted strings with Python's escapes, and numbers as `repr` writes
//! them (`1_000`, `1e-05`, `-inf`).

use std::borrow::Cow;

use super::{Parser, PyError};
use crate::event::Scalar;

impl<'a> Parser<'a> {
    /// Reads a quoted string, borrowing it from the line unless it has escapes.
    pub(super) fn string(&mut self) -> Result<Cow<'a, str>, PyError> {
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

    /// Reads an integer or a float, including `-inf` and digits grouped with `_`.
    pub(super) fn number(&mut self) -> Result<Scalar<'a>, PyError> {
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
}
