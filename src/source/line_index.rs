//! Line numbers of a file's split starts, counted once per process and shared by its splits.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Mutex;

/// Bytes read per step while counting.
const CHUNK: usize = 256 * 1024;

/// How many lines end before a split's first byte: only rejects need it (their absolute line
/// number), so it is counted on first need, from the nearest offset already counted, and a
/// file's splits (read mostly in order) count each byte once between them.
pub struct LineIndex {
    path: PathBuf,
    /// Offset -> newlines before it.
    known: Mutex<BTreeMap<u64, u64>>,
}

impl LineIndex {
    pub fn new(path: PathBuf) -> LineIndex {
        LineIndex {
            path,
            known: Mutex::new(BTreeMap::from([(0, 0)])),
        }
    }

    /// Newlines in the file before `offset` (0 if the file cannot be read any more: a line
    /// number is a courtesy of the reject record, not worth failing a run for).
    pub fn lines_before(&self, offset: u64) -> u64 {
        let (from, before) = {
            let known = self.known.lock().unwrap_or_else(|p| p.into_inner());
            let nearest = known.range(..=offset).next_back();
            nearest.map_or((0, 0), |(&o, &n)| (o, n))
        };
        if from == offset {
            return before;
        }
        // Counted without the lock: another split may count the same stretch meanwhile, and
        // both get the same answer.
        let Some(counted) = self.count(from, offset) else {
            return 0;
        };
        let lines = before + counted;
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        known.insert(offset, lines);
        lines
    }

    fn count(&self, from: u64, to: u64) -> Option<u64> {
        let mut f = File::open(&self.path).ok()?;
        f.seek(SeekFrom::Start(from)).ok()?;
        let (mut left, mut lines) = (to - from, 0u64);
        let mut buf = vec![0u8; CHUNK];
        while left > 0 {
            let want = buf.len().min(left as usize);
            match f.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
                    left -= n as u64;
                }
            }
        }
        Some(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_the_nearest_known_offset_in_any_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let text = "a\nbb\n\nccc\nd\n".repeat(1000);
        std::fs::write(&path, &text).unwrap();
        let index = LineIndex::new(path);
        let naive = |o: usize| text.as_bytes()[..o].iter().filter(|&&b| b == b'\n').count();
        for offset in [5_000, 2, 11_999, 700, 5_000, 0, text.len()] {
            assert_eq!(
                index.lines_before(offset as u64),
                naive(offset) as u64,
                "{offset}"
            );
        }
    }
}
