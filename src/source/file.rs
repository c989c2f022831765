//! A byte range of a file: one partition of a file source (`layout.rs` says where they lie).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::line_index::LineIndex;
use super::{Item, LineSplitter, Partition, Piece, Poll, Position, SourceError};

/// Bytes read per poll: large enough to amortise the call, small enough to keep polls short.
const CHUNK: usize = 256 * 1024;
/// Bytes of a split's first read: enough to learn its watermark. A worker's splits all make a
/// first read, then wait while those behind them in event time are read, so their buffers stay
/// this small until their turn comes.
const FIRST_CHUNK: usize = 16 * 1024;

thread_local! {
    /// One read buffer per thread, shared by the splits it polls in turn (a read never outlives
    /// its poll: the splitter copies what it keeps). A buffer per split cost a fresh allocation,
    /// zeroed page by page, for each of a file's 60-odd splits.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The lines that start inside one byte range of a file.
///
/// A line belongs to the split it starts in, so every line is read exactly once whatever the
/// number of workers.
pub struct FileSplit {
    source: String,
    index: usize,
    file: File,
    path: String,
    /// First byte of the first line of this split.
    start: u64,
    /// Lines starting at or after this offset belong to the next split.
    end: u64,
    /// The size splits were cut at (saved with the progress).
    split_bytes: u64,
    splitter: LineSplitter,
    /// Bytes to read at the next poll: [`FIRST_CHUNK`] at first, then `chunk`.
    read_len: usize,
    /// What reads grow to (less than [`CHUNK`] for a small split).
    chunk: usize,
    done: bool,
    /// Lines before `start`, counted on first need (only rejects need absolute line numbers).
    lines_before: Option<u64>,
    /// Where those are counted, shared by the file's splits.
    lines: Arc<LineIndex>,
    /// The read error that ended the split early, until the reader takes it.
    failed: Option<SourceError>,
}

impl FileSplit {
    /// Checks, once per process, that `path` is a file that can be opened; returns its absolute
    /// path, so the partitions are named the same from any working directory, and its length.
    pub fn prepare(path: &Path) -> Result<(PathBuf, u64), SourceError> {
        let unusable = |error| SourceError::Open {
            path: path.display().to_string(),
            error,
        };
        let absolute = std::fs::canonicalize(path).map_err(unusable)?;
        let file = File::open(&absolute).map_err(unusable)?;
        // Linux opens a directory for reading; only the first read fails.
        let metadata = file.metadata().map_err(unusable)?;
        if metadata.is_dir() {
            return Err(SourceError::Directory {
                path: absolute.display().to_string(),
            });
        }
        Ok((absolute, metadata.len()))
    }

    /// Opens split `index` (of `split_bytes` each) of the file at `path`, at `resume` if given
    /// (the start of a line inside the split, saved by an earlier run).
    pub fn open(
        (path, lines): (&Path, &Arc<LineIndex>),
        source: String,
        (index, split_bytes): (usize, u64),
        max_line: usize,
        resume: Option<u64>,
    ) -> Result<FileSplit, SourceError> {
        let shown = path.display().to_string();
        let open_err = |error| SourceError::Open {
            path: shown.clone(),
            error,
        };
        let mut file = File::open(path).map_err(open_err)?;
        let len = file.metadata().map_err(open_err)?.len();
        let raw_start = (index as u64).saturating_mul(split_bytes).min(len);
        // Even the last split ends at its boundary: lines appended while running belong to
        // splits a restart will open, never to this one.
        let end = (index as u64 + 1).saturating_mul(split_bytes);
        // A split starts at the first line that begins inside it: skip the tail of a line that
        // began in the previous split (the byte before `raw_start` tells whether there is one).
        let start = if let Some(at) = resume {
            at
        } else if raw_start == 0 {
            0
        } else {
            file.seek(SeekFrom::Start(raw_start - 1))
                .map_err(open_err)?;
            let mut skipped = 0u64;
            let mut buf = [0u8; 4096];
            loop {
                let n = file.read(&mut buf).map_err(open_err)?;
                if n == 0 {
                    break raw_start - 1 + skipped;
                }
                if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                    break raw_start + skipped + i as u64;
                }
                skipped += n as u64;
            }
        };
        file.seek(SeekFrom::Start(start)).map_err(open_err)?;
        Ok(FileSplit {
            source,
            index,
            file,
            path: shown,
            start,
            end,
            split_bytes,
            splitter: LineSplitter::new(max_line, start),
            read_len: FIRST_CHUNK,
            // A small split needs no large read.
            chunk: CHUNK.min(end.saturating_sub(start).saturating_add(4096) as usize),
            done: start >= end,
            lines_before: None,
            lines: lines.clone(),
            failed: None,
        })
    }
}

impl Partition for FileSplit {
    fn source(&self) -> &str {
        &self.source
    }

    fn index(&self) -> usize {
        self.index
    }

    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll {
        if self.done {
            return Poll::Done;
        }
        let end = self.end;
        let mut past_end = false;
        let mut emit = |piece: Piece<'_>| {
            let pos = match &piece {
                Piece::Line(_, p) | Piece::Oversized(_, p) => *p,
            };
            if pos.offset >= end {
                past_end = true;
                return false;
            }
            match piece {
                Piece::Line(line, pos) => out(Item::Line(line, pos)),
                Piece::Oversized(prefix, pos) => out(Item::Oversized(prefix, pos)),
            }
            true
        };
        let want = self.read_len;
        let (file, splitter) = (&mut self.file, &mut self.splitter);
        let read = READ_BUFFER.with_borrow_mut(|buf| {
            if buf.len() < want {
                buf.resize(want, 0);
            }
            let read = file.read(&mut buf[..want]);
            if let Ok(n @ 1..) = read {
                splitter.feed(&buf[..n], &mut emit);
            }
            read
        });
        match read {
            Ok(0) => {
                self.splitter.finish(&mut emit);
                self.done = true;
            }
            Ok(_) => self.done = past_end,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => {
                self.failed = Some(SourceError::Read {
                    path: self.path.clone(),
                    offset: self.splitter.line_start(),
                    error,
                });
                self.done = true;
            }
        }
        if self.done {
            Poll::Done
        } else {
            self.read_len = self.chunk;
            Poll::Ready
        }
    }

    fn position(&self) -> u64 {
        self.splitter.line_start()
    }

    fn split_bytes(&self) -> u64 {
        self.split_bytes
    }

    fn failure(&mut self) -> Option<SourceError> {
        self.failed.take()
    }

    fn absolute_line(&mut self, position: Position) -> u64 {
        let start = self.start;
        let before = *self
            .lines_before
            .get_or_insert_with(|| self.lines.lines_before(start));
        before + position.line
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::{split_count, MIN_SPLIT_BYTES};
    use super::*;
    use std::io::Write;

    /// Every line is read exactly once, by exactly one split, for any number of splits.
    #[test]
    fn splits_cover_every_line_once() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut want = Vec::new();
        for i in 0..500 {
            let line = "x".repeat(i % 37) + &i.to_string();
            writeln!(f, "{line}").unwrap();
            want.push(line);
        }
        write!(f, "last-without-newline").unwrap();
        want.push("last-without-newline".into());
        f.flush().unwrap();
        let len = f.as_file().metadata().unwrap().len();
        let lines = Arc::new(LineIndex::new(f.path().to_path_buf()));
        for split_bytes in [len, len / 2, len / 3 + 1, 97, 10, 1] {
            let mut got = Vec::new();
            for i in 0..split_count(len, split_bytes) {
                let mut s = FileSplit::open(
                    (f.path(), &lines),
                    "t".into(),
                    (i, split_bytes),
                    1 << 20,
                    None,
                )
                .unwrap();
                let mut lines = Vec::new();
                while s.poll(&mut |item| {
                    if let Item::Line(l, p) = item {
                        lines.push((String::from_utf8(l.to_vec()).unwrap(), p));
                    }
                }) != Poll::Done
                {}
                for (l, p) in lines {
                    let n = s.absolute_line(p) as usize;
                    assert_eq!(want[n - 1], l, "line number of {l:?}");
                    got.push(l);
                }
            }
            assert_eq!(got, want, "splits of {split_bytes} bytes");
        }
    }

    /// A read error ends the split with the error kept for the run to fail with, naming the
    /// path (a directory opens on Linux; only reading it fails).
    #[test]
    fn a_read_error_is_kept_for_the_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x\n").unwrap();
        let lines = Arc::new(LineIndex::new(dir.path().to_path_buf()));
        let mut split = FileSplit::open(
            (dir.path(), &lines),
            "t".into(),
            (0, MIN_SPLIT_BYTES),
            1 << 20,
            None,
        )
        .expect("opens");
        assert!(!split.done, "a directory with an entry has a size");
        assert_eq!(split.poll(&mut |_| {}), Poll::Done);
        let failure = split.failure().expect("the read error").to_string();
        assert!(
            failure.contains(&dir.path().display().to_string()),
            "{failure}"
        );
        assert!(failure.contains("failed at byte 0"), "{failure}");
        assert!(split.failure().is_none(), "taken once");
    }
}
