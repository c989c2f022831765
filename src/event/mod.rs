//! Input records: ticks and readings, and how one line becomes one of them or a reject.
//!
//! How a line is read:
//! 1. [`parse_line_at`] (in `parse.rs`) checks the line is UTF-8 and reads it as JSON
//!    (`json.rs`) or as a Python dict literal (`python/`), whichever it most resembles first.
//!    A flat record of plain values takes a fast path instead (`scan.rs`, `number.rs`) that
//!    reads it to the same fields and leaves every other line to those readers; a
//!    [`LineParser`] first tries the layout of the line before (`layout.rs`), faster still.
//! 2. Either reader keeps only the configured fields, as [`RawFields`] (`fields.rs`).
//! 3. [`classify`] (in `classify.rs`) turns those into a [`Tick`] or a [`Reading`], checking
//!    every value and reading the event time (`time/`) within the [`Horizon`].
//! 4. Anything refused along the way is a [`Rejection`] with a stable reason (`reject.rs`).

mod classify;
mod fields;
mod json;
mod layout;
mod number;
mod parse;
mod python;
mod reject;
mod scan;
mod time;

use std::borrow::Cow;

pub use classify::classify;
pub use fields::{Field, FieldNames, RawFields, Scalar};
pub use parse::{parse_line, parse_line_at, parse_line_full, takes_fast_path, LineParser};
pub use reject::{RejectKind, Rejection};
pub use time::{DayCache, EventTime, Horizon, TimestampError, TimestampUnit};

/// A stock tick: one trade of `volume` shares of `symbol` at `price`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick<'a> {
    pub time: EventTime,
    pub symbol: Cow<'a, str>,
    pub price: f64,
    pub volume: u64,
}

/// A sensor reading of `value` in `category`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading<'a> {
    pub time: EventTime,
    pub category: Cow<'a, str>,
    pub value: f64,
}

/// One usable input record, borrowing its key from the line when it can.
#[derive(Clone, Debug, PartialEq)]
pub enum Record<'a> {
    Tick(Tick<'a>),
    Reading(Reading<'a>),
}

impl Record<'_> {
    /// The record's event time.
    pub fn time(&self) -> EventTime {
        match self {
            Record::Tick(t) => t.time,
            Record::Reading(r) => r.time,
        }
    }
}
