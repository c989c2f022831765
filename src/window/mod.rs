//! Sliding and tumbling event-time windows, kept as panes one slide wide per key.
//!
//! How it works:
//! 1. A window is named by its index `k`: it ends at `k * slide` and covers
//!    `[k * slide - length, k * slide)`, so an event exactly at an end belongs to the next window.
//! 2. An event at time `t` is added to pane `p = t / slide` of its key: O(1) work per event, and
//!    no event is ever copied into each of its `length / slide` windows.
//! 3. Window `k` is the merge of panes `k - P ..= k - 1`, with `P = length / slide`. It is
//!    emitted once the frontier reaches `k * slide`, and only if one of those panes holds data.
//!    Consecutive windows of a key share partial merges (`two_stacks.rs`), so a window costs a
//!    few merges, not `P`.
//! 4. Once every window a pane belongs to is final the pane is dropped, so a key holds at most
//!    `P` panes plus those of events still ahead of the frontier. Without allowed lateness a
//!    window is final when emitted; with an allowed lateness D it is final once the frontier
//!    passes its end + D, and until then a late pane makes it emitted again (`panes.rs`).
//!
//! This module holds the window spec; `aggregate` the partial results, `sliding` the panes,
//! `two_stacks` the merges windows share.

use std::time::Duration;

use crate::event::EventTime;

mod aggregate;
mod count;
mod panes;
mod sliding;
mod two_stacks;

pub use aggregate::{Aggregate, ReadingAgg, TickAgg};
pub use count::{CountRecord, CountWindows, ReadingRecord, TickRecord};
pub use sliding::{SlidingWindows, LAST_WINDOW};

/// Window length and slide, and how long windows stay correctable, in milliseconds of event
/// time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    length_ms: u64,
    slide_ms: u64,
    /// Allowed lateness D: a window keeps its state, and takes corrections, until the frontier
    /// passes its end + D (0: windows are final when first emitted).
    lateness_ms: u64,
    /// Count windows: each key's last N records at every slide end instead of a time span.
    count: Option<usize>,
}

/// A window length and slide that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("window slide must be at least 1ms, got {0:?}")]
    SlideTooSmall(Duration),
    #[error("window length and slide must be whole milliseconds, got {0:?}")]
    SubMillisecond(Duration),
    #[error("window length {length:?} must be a positive multiple of the slide {slide:?}")]
    NotAMultiple { length: Duration, slide: Duration },
    #[error("allowed lateness must be whole milliseconds, got {0:?}")]
    SubMillisecondLateness(Duration),
    #[error("a count window takes between 1 and {MAX_COUNT} records, got {0}")]
    Count(usize),
    #[error("count windows take no corrections: drop --allowed-lateness or --count-window")]
    CountWithLateness,
}

/// The most records a count window holds: its records are kept one by one, per key.
pub const MAX_COUNT: usize = 100_000;

impl WindowSpec {
    /// A sliding window of `length` advancing by `slide`; tumbling when they are equal.
    pub fn new(length: Duration, slide: Duration) -> Result<WindowSpec, WindowError> {
        for d in [length, slide] {
            if d.subsec_nanos() % 1_000_000 != 0 {
                return Err(WindowError::SubMillisecond(d));
            }
        }
        let (length_ms, slide_ms) = (length.as_millis() as u64, slide.as_millis() as u64);
        if slide_ms == 0 {
            return Err(WindowError::SlideTooSmall(slide));
        }
        if length_ms == 0 || length_ms % slide_ms != 0 {
            return Err(WindowError::NotAMultiple { length, slide });
        }
        Ok(WindowSpec {
            length_ms,
            slide_ms,
            lateness_ms: 0,
            count: None,
        })
    }

    /// The same windows, correctable until the frontier passes their end + `lateness`.
    pub fn with_allowed_lateness(self, lateness: Duration) -> Result<WindowSpec, WindowError> {
        if lateness.subsec_nanos() % 1_000_000 != 0 {
            return Err(WindowError::SubMillisecondLateness(lateness));
        }
        Ok(WindowSpec {
            lateness_ms: u64::try_from(lateness.as_millis()).unwrap_or(u64::MAX / 4),
            ..self
        })
    }

    /// Count windows of the last `n` records of each key, at every slide end (see
    /// [`CountWindows`]); they take no corrections.
    pub fn with_count(self, n: usize) -> Result<WindowSpec, WindowError> {
        if n == 0 || n > MAX_COUNT {
            return Err(WindowError::Count(n));
        }
        if self.revises() {
            return Err(WindowError::CountWithLateness);
        }
        Ok(WindowSpec {
            count: Some(n),
            ..self
        })
    }

    /// The N of count windows, if these are.
    pub fn count(&self) -> Option<usize> {
        self.count
    }

    /// Allowed lateness D: how long after its end a window still takes corrections.
    pub fn allowed_lateness(&self) -> Duration {
        Duration::from_millis(self.lateness_ms)
    }

    /// Whether windows take corrections (D > 0), so rows carry a revision.
    pub fn revises(&self) -> bool {
        self.lateness_ms > 0
    }

    /// Index of the last window that is final (can no longer change) at `frontier`: no event
    /// earlier than `frontier - D` can come. (Window 0 holds no pane, so 0 means none.)
    pub fn final_through(&self, frontier: EventTime) -> u64 {
        self.complete_through(EventTime(frontier.0.saturating_sub(self.lateness_ms)))
    }

    /// Whether the window ending at `end` is final and committed once every row the dataflow
    /// sent below `below` is: its last revision is sent before `end + D`.
    ///
    /// Never for count windows: a record feeds every later end of its key until N newer ones
    /// come, so their resume points stay at each partition's start (see `delivery::progress`).
    #[inline]
    pub fn final_below(&self, end: EventTime, below: u64) -> bool {
        self.count.is_none() && end.0.saturating_add(self.lateness_ms) < below
    }

    /// The pane (slide-wide bucket) an event time falls in.
    #[inline]
    pub fn pane(&self, t: EventTime) -> u64 {
        t.0 / self.slide_ms
    }

    /// How many panes make one window.
    pub fn panes_per_window(&self) -> u64 {
        self.length_ms / self.slide_ms
    }

    /// Index of the last window that is complete once no event earlier than `frontier` can come.
    pub fn complete_through(&self, frontier: EventTime) -> u64 {
        frontier.0 / self.slide_ms
    }

    /// End (exclusive) of window `k`.
    pub fn end(&self, k: u64) -> EventTime {
        EventTime(k.saturating_mul(self.slide_ms))
    }

    /// Start (inclusive) of window `k`; windows that would begin before the epoch start there.
    pub fn start(&self, k: u64) -> EventTime {
        EventTime(self.end(k).0.saturating_sub(self.length_ms))
    }

    pub fn slide(&self) -> Duration {
        Duration::from_millis(self.slide_ms)
    }

    pub fn length(&self) -> Duration {
        Duration::from_millis(self.length_ms)
    }
}

#[cfg(test)]
mod tests;
