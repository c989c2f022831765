//! What sources send to the window operators: per-key, per-pane partial aggregates, or, for
//! count windows, the records themselves.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::window::{ReadingAgg, ReadingRecord, TickAgg, TickRecord};

/// A symbol or category as pre-combined partials carry it: made once by the worker that reads
/// it ([`super::Combiner`]), so a partial costs a reference count rather than an allocation
/// that the worker owning the key (another thread) would then free.
pub type Key = Arc<str>;

/// A pane's partial aggregate for one key, pre-combined on the worker that read the events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Partial {
    Tick {
        symbol: Key,
        pane: u64,
        agg: TickAgg,
    },
    Reading {
        category: Key,
        pane: u64,
        agg: ReadingAgg,
    },
    /// One tick, for count windows (which cannot pre-combine).
    TickRecord { symbol: String, record: TickRecord },
    /// One reading that passed the filter, for count windows.
    ReadingRecord {
        category: String,
        record: ReadingRecord,
    },
}

impl Partial {
    /// The worker-routing hash: the same key always goes to the same worker, in every process
    /// (FxHash is deterministic, unlike std's randomly seeded hasher).
    pub fn route(&self) -> u64 {
        let mut h = rustc_hash::FxHasher::default();
        match self {
            Partial::Tick { symbol, .. } => (0u8, &**symbol).hash(&mut h),
            Partial::TickRecord { symbol, .. } => (0u8, symbol.as_str()).hash(&mut h),
            Partial::Reading { category, .. } => (1u8, &**category).hash(&mut h),
            Partial::ReadingRecord { category, .. } => (1u8, category.as_str()).hash(&mut h),
        }
        // Fx leaves low bits weak for short keys; timely routes on the low bits.
        h.finish().rotate_left(26)
    }
}
