//! Partial aggregates: what a pane, a partial in flight and a window hold for one key.

use serde::{Deserialize, Serialize};

use crate::exact::ExactSum;

/// A partial result over some events that can absorb another partial result.
pub trait Aggregate: Clone {
    /// The aggregate of no events.
    fn empty() -> Self;
    /// Absorbs `other`, as if its events had been added to `self`.
    fn merge(&mut self, other: &Self);
}

/// Price statistics of the ticks of one symbol. Sums are exact, so any grouping of the same
/// ticks (any worker count, any restart) gives the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TickAgg {
    pub ticks: u64,
    pub sum_price: ExactSum,
    pub min_price: f64,
    pub max_price: f64,
    /// Sum of `price * volume`, for the volume-weighted average price.
    pub sum_notional: ExactSum,
    pub volume: u64,
}

impl TickAgg {
    /// The aggregate of one tick.
    #[inline]
    pub fn of(price: f64, volume: u64) -> TickAgg {
        TickAgg {
            ticks: 1,
            sum_price: ExactSum::of(price),
            min_price: price,
            max_price: price,
            sum_notional: ExactSum::of_product(price, volume),
            volume,
        }
    }

    /// Mean price: the exact sum divided by the tick count, rounded once
    /// (see [`ExactSum::div_to_f64`]).
    pub fn avg_price(&self) -> f64 {
        self.sum_price.div_to_f64(self.ticks)
    }

    /// Volume-weighted average price, the exact `sum(price * volume)` divided by the volume and
    /// rounded once; `None` when every tick had volume 0.
    pub fn vwap(&self) -> Option<f64> {
        (self.volume > 0).then(|| self.sum_notional.div_to_f64(self.volume))
    }
}

impl Aggregate for TickAgg {
    fn empty() -> Self {
        TickAgg {
            ticks: 0,
            sum_price: ExactSum::ZERO,
            min_price: f64::INFINITY,
            max_price: f64::NEG_INFINITY,
            sum_notional: ExactSum::ZERO,
            volume: 0,
        }
    }

    #[inline]
    fn merge(&mut self, o: &Self) {
        self.ticks += o.ticks;
        self.sum_price.add(&o.sum_price);
        self.min_price = self.min_price.min(o.min_price);
        self.max_price = self.max_price.max(o.max_price);
        self.sum_notional.add(&o.sum_notional);
        self.volume = self.volume.saturating_add(o.volume);
    }
}

/// Exact sum and count of the readings of one category.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadingAgg {
    pub readings: u64,
    pub sum: ExactSum,
}

impl ReadingAgg {
    #[inline]
    pub fn of(value: f64) -> ReadingAgg {
        ReadingAgg {
            readings: 1,
            sum: ExactSum::of(value),
        }
    }

    /// Mean value: the exact sum divided by the count, rounded once.
    pub fn mean(&self) -> f64 {
        self.sum.div_to_f64(self.readings)
    }
}

impl Aggregate for ReadingAgg {
    fn empty() -> Self {
        ReadingAgg {
            readings: 0,
            sum: ExactSum::ZERO,
        }
    }

    #[inline]
    fn merge(&mut self, o: &Self) {
        self.readings += o.readings;
        self.sum.add(&o.sum);
    }
}
