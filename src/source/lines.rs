//! Splits a byte stream into lines, bounding line length without buffering an over-long line.

/// Where a line sits in its partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// 1-based line number, counted from the start of the partition.
    pub line: u64,
    /// Byte offset of the line's first byte in the underlying stream.
    pub offset: u64,
}

/// What the splitter found.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A complete line, without its `\n` (and without a trailing `\r`).
    Line(&'a [u8], Position),
    /// A line over the limit; only its first bytes are kept, the rest was skipped.
    Oversized(&'a [u8], Position),
}

/// How many bytes of an over-long line are kept for the reject record.
pub const OVERSIZED_PREFIX: usize = 1024;

/// A push-based line splitter: feed it chunks as they arrive, in order.
pub struct LineSplitter {
    max_line: usize,
    /// Bytes of a line that started in an earlier chunk.
    partial: Vec<u8>,
    /// The current line passed `max_line`; its bytes are being skipped until the newline.
    oversized: bool,
    next_line: u64,
    line_start: u64,
    /// Stream offset of the next byte fed.
    offset: u64,
}

impl LineSplitter {
    /// A splitter whose first byte is at `offset` in the stream.
    pub fn new(max_line: usize, offset: u64) -> Self {
        LineSplitter {
            max_line,
            partial: Vec::new(),
            oversized: false,
            next_line: 1,
            line_start: offset,
            offset,
        }
    }

    /// Offset of the next byte to be fed.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Offset of the first byte not yet handed out in a complete line.
    pub fn line_start(&self) -> u64 {
        self.line_start
    }

    /// Whether a line has started but not ended.
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty() || self.oversized
    }

    /// Splits `chunk`, calling `f` for each complete line; returns early if `f` says stop.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(Piece<'_>) -> bool) {
        let mut rest = chunk;
        while !rest.is_empty() {
            match memchr::memchr(b'\n', rest) {
                Some(i) => {
                    let (head, tail) = (&rest[..i], &rest[i + 1..]);
                    self.offset += i as u64 + 1;
                    let go = self.end_line(head, &mut f);
                    rest = tail;
                    if !go {
                        return;
                    }
                }
                None => {
                    self.offset += rest.len() as u64;
                    if !self.oversized {
                        if self.partial.len() + rest.len() > self.max_line {
                            let keep = OVERSIZED_PREFIX.saturating_sub(self.partial.len());
                            self.partial
                                .extend_from_slice(&rest[..keep.min(rest.len())]);
                            self.oversized = true;
                        } else {
                            self.partial.extend_from_slice(rest);
                        }
                    }
                    return;
                }
            }
        }
    }

    /// Ends the stream: a last line without a newline is still a line.
    pub fn finish(&mut self, f: impl FnMut(Piece<'_>) -> bool) {
        if self.has_partial() {
            self.end_line(&[], f);
        }
    }

    fn end_line(&mut self, head: &[u8], mut f: impl FnMut(Piece<'_>) -> bool) -> bool {
        let position = Position {
            line: self.next_line,
            offset: self.line_start,
        };
        self.next_line += 1;
        self.line_start = self.offset;
        let go = if self.oversized || self.partial.len() + head.len() > self.max_line {
            self.partial.extend_from_slice(head);
            self.partial.truncate(OVERSIZED_PREFIX);
            f(Piece::Oversized(&self.partial, position))
        } else if self.partial.is_empty() {
            f(Piece::Line(trim_cr(head), position))
        } else {
            self.partial.extend_from_slice(head);
            f(Piece::Line(trim_cr(&self.partial), position))
        };
        self.partial.clear();
        self.oversized = false;
        go
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]], max: usize) -> Vec<(String, bool, u64, u64)> {
        let mut s = LineSplitter::new(max, 100);
        let mut out = Vec::new();
        let mut push = |p: Piece<'_>| {
            let (b, big, pos) = match p {
                Piece::Line(b, pos) => (b, false, pos),
                Piece::Oversized(b, pos) => (b, true, pos),
            };
            out.push((
                String::from_utf8_lossy(b).into_owned(),
                big,
                pos.line,
                pos.offset,
            ));
            true
        };
        for c in chunks {
            s.feed(c, &mut push);
        }
        s.finish(&mut push);
        out
    }

    #[test]
    fn lines_across_chunks() {
        assert_eq!(
            split(&[b"ab\ncd", b"e\r\n", b"\nf"], 10),
            vec![
                ("ab".into(), false, 1, 100),
                ("cde".into(), false, 2, 103),
                ("".into(), false, 3, 108),
                ("f".into(), false, 4, 109),
            ]
        );
    }

    #[test]
    fn oversized_lines_resynchronise() {
        let got = split(&[b"0123", b"456789", b"abc\nok\n0123456789x\nend"], 8);
        assert_eq!(got[0], ("0123456789abc".into(), true, 1, 100));
        assert_eq!(got[1], ("ok".into(), false, 2, 114));
        assert_eq!(got[2], ("0123456789x".into(), true, 3, 117));
        assert_eq!(got[3], ("end".into(), false, 4, 129));
    }

    #[test]
    fn oversized_prefix_is_bounded() {
        let big = vec![b'x'; 10 * OVERSIZED_PREFIX];
        let got = split(&[&big, &big, b"\n"], 100);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0.len(), OVERSIZED_PREFIX);
    }
}
