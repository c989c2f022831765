//! Count windows: per key, at each slide end, the aggregate of the key's last N records.
//!
//! How it works:
//! 1. Records arrive one by one (count windows cannot pre-combine); each key keeps the records
//!    ahead of the last end it emitted (`pending`) and, behind it, only its last N (`recent`).
//! 2. When the frontier passes slide ends, each key's pending records below the newest of them
//!    are sorted (event time, then value, then volume: ties at one millisecond do not depend on
//!    arrival order) and taken pane by pane: for each pane one slide wide holding records, the
//!    row at its end `e` is the merge of the last N records before `e`.
//! 3. A key therefore emits at `e` only if it had a record in `[e - slide, e)`, and `recent`
//!    never holds more than N records: state per key is N records plus those in flight.

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::hash::Hash;

use rustc_hash::FxHashMap;

use super::{Aggregate, ReadingAgg, TickAgg};
use crate::event::EventTime;

/// One record of a count window: its event time and what it adds.
pub trait CountRecord: Clone {
    type Agg: Aggregate;
    fn time(&self) -> EventTime;
    /// The order of records at the same millisecond: by value, then volume.
    fn tie_order(&self, other: &Self) -> Ordering;
    fn agg(&self) -> Self::Agg;
}

/// A tick as a count window keeps it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TickRecord {
    pub t: EventTime,
    pub price: f64,
    pub volume: u64,
}

impl CountRecord for TickRecord {
    type Agg = TickAgg;
    fn time(&self) -> EventTime {
        self.t
    }
    fn tie_order(&self, other: &Self) -> Ordering {
        self.price
            .total_cmp(&other.price)
            .then(self.volume.cmp(&other.volume))
    }
    fn agg(&self) -> TickAgg {
        TickAgg::of(self.price, self.volume)
    }
}

/// A reading as a count window keeps it.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReadingRecord {
    pub t: EventTime,
    pub value: f64,
}

impl CountRecord for ReadingRecord {
    type Agg = ReadingAgg;
    fn time(&self) -> EventTime {
        self.t
    }
    fn tie_order(&self, other: &Self) -> Ordering {
        self.value.total_cmp(&other.value)
    }
    fn agg(&self) -> ReadingAgg {
        ReadingAgg::of(self.value)
    }
}

fn order<R: CountRecord>(a: &R, b: &R) -> Ordering {
    a.time().cmp(&b.time()).then_with(|| a.tie_order(b))
}

struct KeyRecords<R> {
    /// The last N records before the last end emitted, oldest first.
    recent: VecDeque<R>,
    /// Records at or after it, in arrival order.
    pending: Vec<R>,
}

/// Per-key count windows of the last `n` records, at ends every `slide_ms`.
pub struct CountWindows<K, R> {
    n: usize,
    slide_ms: u64,
    keys: FxHashMap<K, KeyRecords<R>>,
}

impl<K: Hash + Eq + Clone, R: CountRecord> CountWindows<K, R> {
    pub fn new(n: usize, slide_ms: u64) -> Self {
        CountWindows {
            n: n.max(1),
            slide_ms: slide_ms.max(1),
            keys: FxHashMap::default(),
        }
    }

    /// Adds a record; its event time must be at or after every end emitted so far (sources
    /// reject anything behind the frontier).
    pub fn add(&mut self, key: K, record: R) {
        self.keys
            .entry(key)
            .or_insert_with(|| KeyRecords {
                recent: VecDeque::new(),
                pending: Vec::new(),
            })
            .pending
            .push(record);
    }

    /// Emits, for every key, the rows of every end `e <= through_end` at which it is due:
    /// `emit(key, e, oldest included time, aggregate, records included)`.
    pub fn emit_through(
        &mut self,
        through_end: u64,
        mut emit: impl FnMut(&K, u64, EventTime, &R::Agg, u64),
    ) {
        let (n, slide) = (self.n, self.slide_ms);
        for (key, records) in &mut self.keys {
            if records.pending.is_empty() {
                continue;
            }
            records.pending.sort_by(order);
            // Records below the last complete end are due; the rest stay pending.
            let due = records
                .pending
                .partition_point(|r| (r.time().0 / slide + 1) * slide <= through_end);
            let mut taken = records.pending.drain(..due).peekable();
            while let Some(first) = taken.next() {
                let pane = first.time().0 / slide;
                push_last(&mut records.recent, first, n);
                while let Some(next) = taken.next_if(|r| r.time().0 / slide == pane) {
                    push_last(&mut records.recent, next, n);
                }
                let mut agg = R::Agg::empty();
                for r in &records.recent {
                    agg.merge(&r.agg());
                }
                let oldest = records.recent.front().map_or(EventTime(0), R::time);
                emit(
                    key,
                    (pane + 1) * slide,
                    oldest,
                    &agg,
                    records.recent.len() as u64,
                );
            }
        }
    }

    /// Records held over all keys (the last N of each, plus those not yet due).
    pub fn records_held(&self) -> usize {
        self.keys
            .values()
            .map(|k| k.recent.len() + k.pending.len())
            .sum()
    }

    pub fn keys(&self) -> usize {
        self.keys.len()
    }
}

fn push_last<R>(recent: &mut VecDeque<R>, record: R, n: usize) {
    if recent.len() == n {
        recent.pop_front();
    }
    recent.push_back(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Random records with disorder, random frontier steps (never past a record still to come):
    /// every row equals sorting the key's records before `e` and taking the last N, and a key
    /// emits exactly at the ends of the panes it has records in.
    #[test]
    fn equals_sort_and_take_the_last_n() {
        let mut seed = 0x1234_5678_9abc_def1u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..40 {
            let (n, slide) = [(3, 1000), (1, 1000), (60, 500), (5, 2000)][round % 4];
            let mut w = CountWindows::<&str, TickRecord>::new(n, slide);
            let mut all: Vec<(&str, TickRecord)> = Vec::new();
            let mut got = Vec::new();
            let mut frontier = 0u64;
            for _ in 0..500 {
                let t = frontier + rand(4_000);
                // Few prices and times: ties at one millisecond are common.
                let record = TickRecord {
                    t: EventTime(t - t % 7),
                    price: rand(4) as f64,
                    volume: rand(3),
                };
                let key = ["a", "b"][rand(2) as usize];
                if record.t.0 < frontier {
                    continue;
                }
                all.push((key, record));
                w.add(key, record);
                if rand(8) == 0 {
                    frontier += rand(3_000);
                    let through = frontier / slide * slide;
                    w.emit_through(through, |k, e, oldest, a, count| {
                        got.push((*k, e, oldest, *a, count))
                    });
                }
            }
            w.emit_through(u64::MAX / 2, |k, e, oldest, a, count| {
                got.push((*k, e, oldest, *a, count))
            });
            let mut want = Vec::new();
            for key in ["a", "b"] {
                let mut mine: Vec<TickRecord> = all
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, r)| *r)
                    .collect();
                mine.sort_by(order);
                let mut ends: Vec<u64> = mine.iter().map(|r| (r.t.0 / slide + 1) * slide).collect();
                ends.dedup();
                for e in ends {
                    let before: Vec<&TickRecord> = mine.iter().filter(|r| r.t.0 < e).collect();
                    let last = &before[before.len().saturating_sub(n)..];
                    let mut agg = TickAgg::empty();
                    last.iter().for_each(|r| agg.merge(&r.agg()));
                    want.push((key, e, last[0].t, agg, last.len() as u64));
                }
            }
            got.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
            assert_eq!(got, want, "round {round}");
            assert!(w.records_held() <= 2 * n);
        }
    }
}
