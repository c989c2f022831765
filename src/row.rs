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
        revision: Option<Revision>,
    },
    /// Mean of a category's readings that passed the outlier filter.
    CategoryMean {
        category: String,
        start: EventTime,
        end: EventTime,
        agg: ReadingAgg,
        revision: Option<Revision>,
    },
    /// Statistics of every tick of the symbols in a sector (as of the window's end, see
    /// `dataflow::sector`); `symbols` counts the symbols with ticks in the window.
    SectorAverage {
        sector: String,
        start: EventTime,
        end: EventTime,
        agg: TickAgg,
        symbols: u64,
        revision: Option<Revision>,
    },
}

/// Which emission of its window a row is; rows carry one only when windows take corrections
/// (an allowed lateness above 0), so output without it is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// 0 at the window's first emission, +1 per correction.
    pub number: u32,
    /// The dataflow time the row was sent at: its window's end at the first emission, the
    /// frontier of the moment for a correction. A commit below a frontier takes the rows sent
    /// below it.
    pub sent_at: EventTime,
}

impl WindowRow {
    /// The `kind` field of the row.
    pub fn kind(&self) -> &'static str {
        match self {
            WindowRow::SymbolAverage { .. } => "symbol_average",
            WindowRow::CategoryMean { .. } => "category_mean",
            WindowRow::SectorAverage { .. } => "sector_average",
        }
    }

    /// The row's key besides its window: the symbol, category or sector.
    pub fn key(&self) -> &str {
        match self {
            WindowRow::SymbolAverage { symbol, .. } => symbol,
            WindowRow::CategoryMean { category, .. } => category,
            WindowRow::SectorAverage { sector, .. } => sector,
        }
    }

    pub fn end(&self) -> EventTime {
        match self {
            WindowRow::SymbolAverage { end, .. }
            | WindowRow::CategoryMean { end, .. }
            | WindowRow::SectorAverage { end, .. } => *end,
        }
    }

    /// The row's revision, when windows take corrections.
    pub fn revision(&self) -> Option<Revision> {
        match self {
            WindowRow::SymbolAverage { revision, .. }
            | WindowRow::CategoryMean { revision, .. }
            | WindowRow::SectorAverage { revision, .. } => *revision,
        }
    }

    /// The dataflow time the row was sent at (see [`Revision::sent_at`]): its end when windows
    /// are final at their first emission.
    pub fn sent_at(&self) -> EventTime {
        self.revision().map_or(self.end(), |r| r.sent_at)
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
