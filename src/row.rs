//! The results tickflow emits: one row per key and window.

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
