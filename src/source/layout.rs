//! Where a file's splits lie: a size fixed at the pipeline's first run, and what a restart
//! does when the file changed since.
//!
//! How it works:
//! 1. A fresh pipeline picks a split size from the file's length ([`split_bytes_for`]); split
//!    `i` holds the lines that start in `[i * size, (i + 1) * size)`. Workers take splits by
//!    index (`i % workers`), so the splits, and each split's watermark and lateness, are the
//!    same for any worker count.
//! 2. The size is saved with every split's progress; a restart reads it back
//!    ([`FileCut::resume`]) and cuts the file the same way, whatever `-w` and `-n` are now.
//! 3. A file that grew while the pipeline was stopped gets more splits: the lines appended are
//!    read as well. A file shorter than what was already read was truncated or replaced, and a
//!    file that grew into new splits after the pipeline read it to its end (every window
//!    emitted) cannot add to those windows: both are refused, with `--restart` as the way out.

/// Splits a fresh pipeline cuts a file into (about): enough for any sensible worker count, few
/// enough that each stays large.
pub const TARGET_SPLITS: u64 = 64;
/// The smallest split: a file under twice this is one split. Also tells progress saved before
/// splits had a fixed size (its `splits` was a worker count, far below this) from today's.
pub const MIN_SPLIT_BYTES: u64 = 64 * 1024;
/// The largest split, so the size fits the progress tables' `integer` column.
pub const MAX_SPLIT_BYTES: u64 = 1 << 30;

/// The split size a pipeline's first run picks for a file of `len` bytes: about
/// [`TARGET_SPLITS`] splits, a multiple of [`MIN_SPLIT_BYTES`], at most [`MAX_SPLIT_BYTES`].
///
/// Split `i` holds the lines that start in bytes `[i * size, (i + 1) * size)`, whatever the
/// number of workers, so lateness decided per split never depends on
/// them. The size is saved with the progress, so a restart cuts the file the same way even if
/// it grew.
pub fn split_bytes_for(len: u64) -> u64 {
    let per_split = len.div_ceil(TARGET_SPLITS).div_ceil(MIN_SPLIT_BYTES) * MIN_SPLIT_BYTES;
    per_split.clamp(MIN_SPLIT_BYTES, MAX_SPLIT_BYTES)
}

/// How many splits of `split_bytes` a file of `len` bytes has (at least one).
pub fn split_count(len: u64, split_bytes: u64) -> usize {
    len.div_ceil(split_bytes).max(1) as usize
}

/// What a file's saved progress says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavedCut {
    /// The split size saved with its progress.
    pub split_bytes: u64,
    /// The furthest resume offset saved for any of its splits: it was read at least that far
    /// (a resume point may lie behind what was read, so this is no end of what was read).
    pub read_to: u64,
    /// How many splits it had (the highest index saved + 1).
    pub splits: usize,
    /// The pipeline read all of its input and emitted every window.
    pub finished: bool,
}

/// A restart that cannot continue a file's saved progress.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CutError {
    #[error("{path} is {len} bytes, shorter than the {read_to} bytes the pipeline already read: it was truncated or replaced; pass --restart to start over")]
    Shrunk {
        path: String,
        len: u64,
        read_to: u64,
    },
    #[error("{path} grew to {len} bytes (from at most {read_to} read) after the pipeline read it to its end and emitted every window; the appended lines cannot join those windows: pass --restart to recompute from the start, or run them under another --pipeline name")]
    GrewAfterEnd {
        path: String,
        len: u64,
        read_to: u64,
    },
    #[error("progress for {path} was saved by an older tickflow that cut files per worker ({split_bytes} splits); pass --restart to start over")]
    Legacy { path: String, split_bytes: u64 },
}

/// How one file is cut in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileCut {
    /// The file's length when the run started.
    pub len: u64,
    pub split_bytes: u64,
}

impl FileCut {
    /// A fresh pipeline's cut of a file of `len` bytes.
    pub fn fresh(len: u64) -> FileCut {
        FileCut {
            len,
            split_bytes: split_bytes_for(len),
        }
    }

    /// The cut a restart continues: the saved split size, if the file still fits the progress
    /// saved for it.
    pub fn resume(self, path: &str, saved: Option<SavedCut>) -> Result<FileCut, CutError> {
        let Some(saved) = saved else {
            return Ok(self);
        };
        let (len, read_to, path) = (self.len, saved.read_to, path.to_string());
        if saved.split_bytes < MIN_SPLIT_BYTES {
            let split_bytes = saved.split_bytes;
            return Err(CutError::Legacy { path, split_bytes });
        }
        if len < read_to {
            return Err(CutError::Shrunk { path, len, read_to });
        }
        let cut = FileCut {
            len,
            split_bytes: saved.split_bytes,
        };
        // Lines appended into the last split read are not told apart from it (its resume point
        // may lie before its end); lines that make a new split are.
        if saved.finished && cut.splits() > saved.splits {
            return Err(CutError::GrewAfterEnd { path, len, read_to });
        }
        Ok(cut)
    }

    /// How many splits the file has now (more than at the first run if it grew).
    pub fn splits(&self) -> usize {
        split_count(self.len, self.split_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes_are_fixed_multiples_and_bounded() {
        assert_eq!(split_bytes_for(0), MIN_SPLIT_BYTES);
        assert_eq!(split_bytes_for(100 * MIN_SPLIT_BYTES), 2 * MIN_SPLIT_BYTES);
        assert_eq!(split_bytes_for(u64::MAX / 2), MAX_SPLIT_BYTES);
        for len in [1, 1 << 20, 80_000_000, 7 << 30] {
            let size = split_bytes_for(len);
            assert_eq!(size % MIN_SPLIT_BYTES, 0);
            assert!(split_count(len, size) as u64 <= TARGET_SPLITS, "{len}");
        }
        assert_eq!(split_count(0, 10), 1);
        assert_eq!(split_count(21, 10), 3);
    }

    #[test]
    fn a_restart_keeps_the_saved_size_and_refuses_changed_files() {
        let now = FileCut {
            len: 1_000_000,
            split_bytes: MIN_SPLIT_BYTES,
        };
        let saved = |split_bytes, read_to, finished| {
            Some(SavedCut {
                split_bytes,
                read_to,
                splits: split_count(read_to, split_bytes),
                finished,
            })
        };
        assert_eq!(now.resume("f", None), Ok(now));
        let kept = now.resume("f", saved(4 * MIN_SPLIT_BYTES, 900_000, false));
        assert_eq!(kept.map(|c| c.split_bytes), Ok(4 * MIN_SPLIT_BYTES));
        assert!(
            now.resume("f", saved(MIN_SPLIT_BYTES, 1_000_000, true))
                .is_ok(),
            "finished and unchanged: nothing left to do"
        );
        assert!(matches!(
            now.resume("f", saved(MIN_SPLIT_BYTES, 1_000_001, false)),
            Err(CutError::Shrunk { .. })
        ));
        assert!(matches!(
            now.resume("f", saved(MIN_SPLIT_BYTES, 900_000, true)),
            Err(CutError::GrewAfterEnd { .. })
        ));
        assert!(
            now.resume("f", saved(MIN_SPLIT_BYTES, 999_999, true))
                .is_ok(),
            "within the last split: not told apart"
        );
        assert!(matches!(
            now.resume("f", saved(4, 10, false)),
            Err(CutError::Legacy { .. })
        ));
    }
}
