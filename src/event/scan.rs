//! The fast path for the common line: a flat record of plain values read in one pass, or
//! `None`, and the full readers (`json.rs`, `python/`) judge the line exactly as before.
//!
//! How it works:
//! 1. One left-to-right pass over the bytes: `{`, then `"key": value` pairs, then `}` and
//!    nothing but whitespace. Keys and string values are scanned sixteen bytes at a time and
//!    borrowed from the line; keys are looked up among the configured field names, and the
//!    values of other keys are skipped.
//! 2. A value is a string, a number (`number.rs`), or `true`/`false`/`null` (in a Python
//!    literal `True`/`False`/`None`).
//! 3. Anything else gives up: escapes, control characters, nesting, a configured field twice,
//!    Python calls and other names, numbers outside the plain grammar (a leading zero, `+`,
//!    `_`, `inf`, `-0`, more than 18 integer digits, a result that is not finite), a trailing
//!    comma, a single-quoted string in a JSON line, text after the closing brace.
//!
//! What it takes, it reads to the same [`RawFields`] as the reader the line would otherwise go
//! to (serde_json for a JSON line, the Python reader for a literal); `tests/parse_differential.rs`
//! holds it to that over a million random lines. What it gives up on costs one partial pass.
//! It also notes where each value lay ([`Spans`]), for the layout of the next line (`layout.rs`).

use std::borrow::Cow;

use super::fields::{Field, FieldNames, RawFields, Scalar};
use super::number;

/// Which reader the line would go to first, which decides the quotes and names it may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// serde_json: double quotes only, `true`, `false`, `null`.
    Json,
    /// The Python-literal reader: either quote, `True`, `False`, `None`.
    Python,
}

/// Where one value of a scanned line lay: `start..end` holds a number or a word, or the body of
/// a string (its quotes outside), and the configured field it went to, if any.
#[derive(Clone, Copy, Debug)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub kind: ValueKind,
    pub field: Option<Field>,
}

/// How a value was spelled, as far as the layout of a line cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueKind {
    /// A string between two `quote` bytes.
    Str {
        quote: u8,
    },
    Number,
    /// `true`, `false`, `null` or their Python names.
    Word,
}

/// The values of one scanned line, in line order; only the first [`Spans::MAX`] are kept.
/// [`fields`] starts it afresh, so one can serve line after line.
#[derive(Clone, Debug)]
pub struct Spans {
    items: [Span; Spans::MAX],
    /// How many values the line had, which may be more than were kept.
    count: usize,
}

impl Default for Spans {
    fn default() -> Self {
        let none = Span {
            start: 0,
            end: 0,
            kind: ValueKind::Word,
            field: None,
        };
        Spans {
            items: [none; Spans::MAX],
            count: 0,
        }
    }
}

impl Spans {
    /// Records of more values than this are too rare to learn a layout from.
    pub const MAX: usize = 12;

    #[inline]
    fn push(&mut self, span: Span) {
        if let Some(slot) = self.items.get_mut(self.count) {
            *slot = span;
        }
        self.count += 1;
    }

    /// Every value of the line, or `None` if there were more than [`Spans::MAX`].
    pub fn all(&self) -> Option<&[Span]> {
        self.items.get(..self.count)
    }
}

/// Reads a flat record of plain values into `out`, keeping the configured fields, and where
/// each value lay into `spans` if given (a layout is to be learned: see `layout.rs`); `None`
/// if the line needs the full reader (then `out` and `spans` hold nothing of use).
#[inline]
pub fn fields<'a>(
    line: &'a str,
    names: &FieldNames,
    form: Form,
    out: &mut RawFields<'a>,
    mut spans: Option<&mut Spans>,
) -> Option<()> {
    if let Some(spans) = spans.as_deref_mut() {
        spans.count = 0;
    }
    let mut s = Scanner {
        line,
        bytes: line.as_bytes(),
        i: 0,
        form,
    };
    s.ws();
    s.eat(b'{')?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        // Where the next configured key most likely is in `Field::ALL`: after the last one.
        let mut next = 0;
        loop {
            s.ws();
            let key = s.string()?;
            s.colon()?;
            let (value, start) = s.value()?;
            let field = names.lookup_after(key, next);
            if let Some(spans) = spans.as_deref_mut() {
                let kind = match value {
                    Scalar::Str(_) => ValueKind::Str {
                        quote: s.bytes[start - 1],
                    },
                    Scalar::Int(_) | Scalar::Float(_) => ValueKind::Number,
                    _ => ValueKind::Word,
                };
                let end = s.i - usize::from(matches!(kind, ValueKind::Str { .. }));
                spans.push(Span {
                    start,
                    end,
                    kind,
                    field,
                });
            }
            if let Some(field) = field {
                next = field as usize + 1;
                // Twice is malformed; the full reader says so in its own words.
                out.set(field, value).ok()?;
            }
            match s.separator()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.ws();
    (s.i == s.bytes.len()).then_some(())
}

struct Scanner<'a> {
    line: &'a str,
    bytes: &'a [u8],
    i: usize,
    form: Form,
}

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    #[inline]
    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    /// The whitespace both readers skip.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.bytes.get(self.i) {
            self.i += 1;
        }
    }

    /// The `:` between a key and its value: the usual `": "` in one compare, anything else
    /// with the whitespace before it skipped (`value` skips any after it).
    #[inline]
    fn colon(&mut self) -> Option<()> {
        if let Some([b':', b' ']) = self.bytes.get(self.i..self.i + 2) {
            self.i += 2;
            return Some(());
        }
        self.ws();
        self.eat(b':')
    }

    /// The byte after a value and the whitespace before it: the usual `, ` (with the space
    /// the next key's whitespace skip would take) in one compare.
    #[inline]
    fn separator(&mut self) -> Option<u8> {
        if let Some([b',', b' ']) = self.bytes.get(self.i..self.i + 2) {
            self.i += 2;
            return Some(b',');
        }
        self.ws();
        self.next()
    }

    /// A quoted string without escapes or control characters, borrowed.
    #[inline(always)]
    fn string(&mut self) -> Option<&'a str> {
        // Inlined at both call sites: a call per key and per string value showed in profiles.
        let (&quote, body) = self.bytes.get(self.i..)?.split_first()?;
        if !(quote == b'"' || (quote == b'\'' && self.form == Form::Python)) {
            return None;
        }
        let (len, end) = string_end::<false>(body, quote)?;
        if end != quote {
            return None;
        }
        let start = self.i + 1;
        self.i = start + len + 1;
        // SAFETY: `start` is just after the opening quote and `start + len` is the index of
        // the closing one, found in `body`, so `start <= start + len < line.len()`. Both
        // quotes are ASCII bytes, which never occur inside a multi-byte UTF-8 sequence, so
        // both indices are character boundaries of the valid UTF-8 `line`. (The checked
        // `get` cost about 50 instructions a line in callgrind.)
        Some(unsafe { self.line.get_unchecked(start..start + len) })
    }

    /// A value and the index it starts at (a string's: just after its opening quote).
    #[inline]
    fn value(&mut self) -> Option<(Scalar<'a>, usize)> {
        let start = self.i;
        match (self.peek()?, self.form) {
            (b'"' | b'\'', _) => self
                .string()
                .map(|s| (Scalar::Str(Cow::Borrowed(s)), start + 1)),
            // More whitespace than `colon` took: skipped, then the value (never twice).
            (b' ' | b'\t' | b'\r' | b'\n', _) => {
                self.ws();
                self.value()
            }
            (b'-' | b'0'..=b'9', _) => {
                let (value, len) = number::plain(&self.bytes[self.i..])?;
                self.i += len;
                Some((value, start))
            }
            (_, Form::Json) => self.word(&[
                ("true", Scalar::Bool(true)),
                ("false", Scalar::Bool(false)),
                ("null", Scalar::Null),
            ]),
            (_, Form::Python) => self.word(&[
                ("True", Scalar::Bool(true)),
                ("False", Scalar::Bool(false)),
                ("None", Scalar::Null),
            ]),
        }
    }

    /// One of the form's constants; what follows it is checked by the caller (a delimiter).
    #[inline]
    fn word(&mut self, words: &[(&str, Scalar<'a>); 3]) -> Option<(Scalar<'a>, usize)> {
        let start = self.i;
        let rest = &self.bytes[self.i..];
        let (word, value) = words.iter().find(|(w, _)| rest.starts_with(w.as_bytes()))?;
        self.i += word.len();
        Some((value.clone(), start))
    }
}

/// The body of a string that starts at `line[start]` (just after its opening `quote`) and the
/// index of its closing quote, in a line not known to be UTF-8; `None` at an escape, a control
/// character or a byte of 0x80 or above first (an ASCII body is UTF-8 whatever the rest of the
/// line is), or no end.
#[inline(always)]
pub fn quoted_ascii(line: &[u8], start: usize, quote: u8) -> Option<(&str, usize)> {
    let body = line.get(start..)?;
    let (len, end) = string_end::<true>(body, quote)?;
    if end != quote || quote >= 0x80 {
        return None;
    }
    // SAFETY: `string_end::<true>` stops at the first byte of 0x80 or above, and it stopped at
    // `len` on the quote, which is below 0x80 (checked), so every byte of `body[..len]` is
    // ASCII, which is valid UTF-8.
    let text = unsafe { std::str::from_utf8_unchecked(&body[..len]) };
    Some((text, start + len))
}

/// The index of the first quote, backslash or control character in `s` (or, when `ASCII`,
/// byte of 0x80 or above), and that byte: sixteen bytes a step with SSE2 where there is
/// (every x86_64 CPU), then eight bytes a step in a word; strings run to tens of bytes, and
/// this is most of the scan.
#[inline(always)]
fn string_end<const ASCII: bool>(s: &[u8], quote: u8) -> Option<(usize, u8)> {
    let mut at = 0;
    #[cfg(target_arch = "x86_64")]
    while let Some(chunk) = s.get(at..at + 16) {
        let chunk: &[u8; 16] = chunk.try_into().expect("sixteen bytes");
        if let Some(i) = sse2::first_stop::<ASCII>(chunk, quote) {
            return Some((at + i, chunk[i & 15]));
        }
        at += 16;
    }
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // A high bit set in each byte of `x` that is zero (exact for the lowest such byte, which
    // is the only one used: borrows only run upwards from it).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(chunk) = s.get(at..at + 8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let mut hits = zero_bytes(x ^ (ONES * u64::from(quote)))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGHS);
        if ASCII {
            // Exact for every byte, so the lowest hit stays the first stop.
            hits |= x & HIGHS;
        }
        if hits != 0 {
            // The bit offset of the byte found; the byte itself is shifted out of `x` rather
            // than indexed again.
            let bit = hits.trailing_zeros() & !7;
            return Some((at + (bit / 8) as usize, (x >> bit) as u8));
        }
        at += 8;
    }
    s[at..]
        .iter()
        .enumerate()
        .find(|&(_, &c)| c == quote || c == b'\\' || c < 0x20 || (ASCII && c >= 0x80))
        .map(|(i, &c)| (at + i, c))
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// The index of the first quote, backslash or control character (below 0x20) in `chunk`,
    /// or when `ASCII` byte of 0x80 or above.
    #[inline(always)]
    pub(super) fn first_stop<const ASCII: bool>(chunk: &[u8; 16], quote: u8) -> Option<usize> {
        // SAFETY: SSE2 is part of the x86_64 baseline, so these instructions exist on every
        // CPU this code is compiled for; the unaligned load reads exactly the sixteen bytes
        // that `chunk` borrows.
        let mask = unsafe {
            let x = _mm_loadu_si128(chunk.as_ptr().cast());
            let quotes = _mm_cmpeq_epi8(x, _mm_set1_epi8(quote as i8));
            let backslashes = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
            // max(x, 0x1f) == 0x1f exactly when x <= 0x1f, compared unsigned.
            let below = _mm_set1_epi8(0x1f);
            let controls = _mm_cmpeq_epi8(_mm_max_epu8(x, below), below);
            let stops =
                _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quotes, backslashes), controls));
            // The mask of `x` itself is its bytes' high bits: those of 0x80 or above.
            if ASCII {
                stops | _mm_movemask_epi8(x)
            } else {
                stops
            }
        };
        (mask != 0).then(|| mask.trailing_zeros() as usize)
    }
}
