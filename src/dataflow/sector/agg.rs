//! The values the sector collections carry: tick statistics with a total order.

use serde::{Deserialize, Serialize};

use crate::window::{Aggregate, TickAgg};

/// A symbol's or a sector's [`TickAgg`] as a differential-dataflow value. Collections need
/// `Ord`; the order (floats by their bits) only has to be total and the same everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrdAgg(pub TickAgg);

impl OrdAgg {
    fn key(&self) -> impl Ord {
        let a = &self.0;
        (
            a.ticks,
            a.volume,
            a.sum_price,
            a.sum_notional,
            a.min_price.to_bits(),
            a.max_price.to_bits(),
        )
    }
}

impl Eq for OrdAgg {}

impl PartialOrd for OrdAgg {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdAgg {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// One sector's window: every tick of its symbols, and how many symbols had ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SectorAgg {
    pub agg: OrdAgg,
    pub symbols: u64,
}

impl SectorAgg {
    /// The sum of no symbol.
    pub fn empty() -> SectorAgg {
        SectorAgg {
            agg: OrdAgg(TickAgg::empty()),
            symbols: 0,
        }
    }

    /// Adds `agg`, the sum of `symbols` symbols' aggregates (exact sums, so any order of
    /// additions gives the same bits).
    pub fn add(&mut self, agg: &OrdAgg, symbols: u64) {
        self.agg.0.merge(&agg.0);
        self.symbols += symbols;
    }

    /// The sum of the symbols' aggregates, each given with how many symbols have exactly it
    /// (the records carry no symbol, so equal aggregates of two symbols add up as one value).
    pub fn of<'a>(symbols: impl IntoIterator<Item = (&'a OrdAgg, isize)>) -> SectorAgg {
        let mut total = SectorAgg::empty();
        for (agg, n) in symbols {
            // A collection of records holds each at least once; anything else adds nothing.
            for _ in 0..n.max(0) {
                total.add(agg, 1);
            }
        }
        total
    }
}
