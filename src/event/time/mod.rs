//! Event time: milliseconds since the Unix epoch, parsed from ISO-8601 or a Unix number
//! (seconds, milliseconds, microseconds or nanoseconds), and the horizon of believable times.
//!
//! This file holds the newtype and its error; each way in or out of it has its own file:
//! `unit.rs` (Unix numbers and [`TimestampUnit`]), `iso.rs` (ISO-8601 text both ways),
//! `civil.rs` (calendar dates) and `horizon.rs` (how far ahead of the clock a time may be).

mod civil;
mod horizon;
mod iso;
mod unit;

pub use horizon::Horizon;
pub use iso::DayCache;
pub use unit::TimestampUnit;

/// A point in event time, in whole milliseconds since 1970-01-01T00:00:00Z.
///
/// Timely timestamps are plain `u64` milliseconds; this newtype is what the rest of the code
/// speaks so that units never get mixed up.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct EventTime(pub u64);

/// Why a timestamp could not be turned into an [`EventTime`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamp {0:?} is not ISO-8601 (expected YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM])")]
    Syntax(String),
    #[error("timestamp {0:?} has an out-of-range date or time field")]
    Range(String),
    #[error("timestamp {0} is before 1970-01-01, which tickflow does not support")]
    BeforeEpoch(String),
    #[error("timestamp {0} is not a finite number of seconds")]
    NotFinite(String),
}

impl EventTime {
    /// The largest representable time; used as "no watermark yet" never, only as a bound.
    pub const MAX: EventTime = EventTime(u64::MAX);

    /// Milliseconds since the epoch.
    pub fn millis(self) -> u64 {
        self.0
    }
}
