//! Pre-aggregates a batch of records by (key, pane) before they are exchanged between workers
//! (count windows' records go through as they are).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap, HashSet};
use rustc_hash::FxBuildHasher;

use super::{Key, Partial};
use crate::window::{Aggregate, ReadingAgg, TickAgg};

/// A borrowed `(key, pane)` that finds an owned `(Key, u64)` entry without allocating.
struct KeyRef<'a>(&'a str, u64);

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // Must match the derived hash of `(Key, u64)`: `Arc<str>` hashes as its `str`.
        self.0.hash(h);
        self.1.hash(h);
    }
}

impl Equivalent<(Key, u64)> for KeyRef<'_> {
    fn equivalent(&self, key: &(Key, u64)) -> bool {
        self.1 == key.1 && self.0 == &*key.0
    }
}

/// Partial aggregates of the records read in one activation, keyed by (key, pane).
#[derive(Default)]
pub struct Combiner {
    ticks: HashMap<(Key, u64), TickAgg, FxBuildHasher>,
    readings: HashMap<(Key, u64), ReadingAgg, FxBuildHasher>,
    /// The keys this worker has read, each made once (see [`Key`]).
    keys: Keys,
    /// Count windows' records, one partial each.
    records: Vec<Partial>,
}

impl Combiner {
    #[inline]
    pub fn add_tick(&mut self, symbol: &str, pane: u64, agg: TickAgg) {
        add(&mut self.ticks, &mut self.keys, symbol, pane, agg);
    }

    #[inline]
    pub fn add_reading(&mut self, category: &str, pane: u64, agg: ReadingAgg) {
        add(&mut self.readings, &mut self.keys, category, pane, agg);
    }

    /// Passes one record of a count window through.
    pub fn add_record(&mut self, record: Partial) {
        self.records.push(record);
    }

    pub fn is_empty(&self) -> bool {
        self.ticks.is_empty() && self.readings.is_empty() && self.records.is_empty()
    }

    /// Empties the combiner into partials ready to send.
    pub fn drain(&mut self) -> impl Iterator<Item = Partial> + '_ {
        let ticks = self
            .ticks
            .drain()
            .map(|((symbol, pane), agg)| Partial::Tick { symbol, pane, agg });
        let readings = self
            .readings
            .drain()
            .map(|((category, pane), agg)| Partial::Reading {
                category,
                pane,
                agg,
            });
        ticks.chain(readings).chain(self.records.drain(..))
    }
}

#[inline]
fn add<A: Aggregate>(
    map: &mut HashMap<(Key, u64), A, FxBuildHasher>,
    keys: &mut Keys,
    key: &str,
    pane: u64,
    agg: A,
) {
    match map.get_mut(&KeyRef(key, pane)) {
        Some(a) => a.merge(&agg),
        None => {
            map.insert((keys.get(key), pane), agg);
        }
    }
}

/// Every key read, made once. Keys no one else holds any more (no window state, no partial in
/// flight) are forgotten whenever the set has doubled since it was last swept, so the set
/// stays within about twice the keys in use, at a constant cost per key made.
#[derive(Default)]
struct Keys {
    set: HashSet<Key, FxBuildHasher>,
    sweep_at: usize,
}

impl Keys {
    fn get(&mut self, key: &str) -> Key {
        if let Some(k) = self.set.get(key) {
            return k.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.set.retain(|k| Arc::strong_count(k) > 1);
            self.sweep_at = (2 * self.set.len()).max(1024);
        }
        let k: Key = Arc::from(key);
        self.set.insert(k.clone());
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_by_key_and_pane() {
        let mut c = Combiner::default();
        c.add_tick("A", 1, TickAgg::of(10.0, 1));
        c.add_tick("A", 1, TickAgg::of(20.0, 3));
        c.add_tick("A", 2, TickAgg::of(5.0, 1));
        c.add_reading("A", 1, ReadingAgg::of(1.0));
        let mut out: Vec<_> = c.drain().map(|p| format!("{p:?}")).collect();
        out.sort();
        assert_eq!(out.len(), 3);
        assert!(out[1].contains("ticks: 2"));
        assert!(c.is_empty());
    }
}
