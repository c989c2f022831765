//! What sinks receive: one row per key and window, and the rejected input lines.

use serde::{Deserialize, Serialize};

use crate::event::EventTime;
use crate::window::{ReadingAgg, TickAgg};

/// One window's result for one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WindowRow {
    /// Moving-average statistics of a symbol's ticks.
    SymbolAverage {
        symbol: String,
        start: EventTime,
        end: EventTime,
        agg: TickAgg,
    },
    /// Mean of a category's readings that passed the outlier filter.
    CategoryMean {
        category: String,
        start: EventTime,
        end: EventTime,
        agg: ReadingAgg,
    },
}

impl WindowRow {
    /// The `kind` field of the row.
    pub fn kind(&self) -> &'static str {
        match self {
            WindowRow::SymbolAverage { .. } => "symbol_average",
            WindowRow::CategoryMean { .. } => "category_mean",
        }
    }

    pub fn end(&self) -> EventTime {
        match self {
            WindowRow::SymbolAverage { end, .. } | WindowRow::CategoryMean { end, .. } => *end,
        }
    }
}

/// A rejected input line, as durable sinks store it.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectRow {
    /// The source as the user named it (with the run's start time for sources read afresh).
    pub source: String,
    pub partition: usize,
    /// Byte offset (files, sockets) or message offset (Kafka): unique within the partition.
    pub position: u64,
    pub line: u64,
    pub received_at: std::time::SystemTime,
    /// A stable reason code (`late`, `malformed`, ...).
    pub reason: &'static str,
    pub detail: String,
    pub raw: String,
}
