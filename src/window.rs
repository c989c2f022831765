//! Sliding and tumbling event-time windows, kept as panes one slide wide per key.
//!
//! How it works:
//! 1. A window is named by its index `k`: it ends at `k * slide` and covers
//!    `[k * slide - length, k * slide)`, so an event exactly at an end belongs to the next window.
//! 2. An event at time `t` is added to pane `p = t / slide` of its key: O(1) work per event, and
//!    no event is ever copied into each of its `length / slide` windows.
//! 3. Window `k` is the merge of panes `k - P ..= k - 1`, with `P = length / slide`. It is
//!    emitted once the frontier reaches `k * slide`, and only if one of those panes holds data.
//! 4. Once every window a pane belongs to has been emitted the pane is dropped, so a key holds
//!    at most `P` panes plus those of events still ahead of the frontier.

use std::collections::VecDeque;
use std::hash::Hash;
use std::time::Duration;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::event::EventTime;
use crate::exact::ExactSum;

/// Window length and slide, in milliseconds of event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    length_ms: u64,
    slide_ms: u64,
}

/// A window length and slide that do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("window slide must be at least 1ms, got {0:?}")]
    SlideTooSmall(Duration),
    #[error("window length and slide must be whole milliseconds, got {0:?}")]
    SubMillisecond(Duration),
    #[error("window length {length:?} must be a positive multiple of the slide {slide:?}")]
    NotAMultiple { length: Duration, slide: Duration },
}

impl WindowSpec {
    /// A sliding window of `length` advancing by `slide`; tumbling when they are equal.
    pub fn new(length: Duration, slide: Duration) -> Result<WindowSpec, WindowError> {
        for d in [length, slide] {
            if d.subsec_nanos() % 1_000_000 != 0 {
                return Err(WindowError::SubMillisecond(d));
            }
        }
        let (length_ms, slide_ms) = (length.as_millis() as u64, slide.as_millis() as u64);
        if slide_ms == 0 {
            return Err(WindowError::SlideTooSmall(slide));
        }
        if length_ms == 0 || length_ms % slide_ms != 0 {
            return Err(WindowError::NotAMultiple { length, slide });
        }
        Ok(WindowSpec {
            length_ms,
            slide_ms,
        })
    }

    /// The pane (slide-wide bucket) an event time falls in.
    #[inline]
    pub fn pane(&self, t: EventTime) -> u64 {
        t.0 / self.slide_ms
    }

    /// How many panes make one window.
    pub fn panes_per_window(&self) -> u64 {
        self.length_ms / self.slide_ms
    }

    /// Index of the last window that is complete once no event earlier than `frontier` can come.
    pub fn complete_through(&self, frontier: EventTime) -> u64 {
        frontier.0 / self.slide_ms
    }

    /// End (exclusive) of window `k`.
    pub fn end(&self, k: u64) -> EventTime {
        EventTime(k.saturating_mul(self.slide_ms))
    }

    /// Start (inclusive) of window `k`; windows that would begin before the epoch start there.
    pub fn start(&self, k: u64) -> EventTime {
        EventTime(self.end(k).0.saturating_sub(self.length_ms))
    }

    pub fn slide(&self) -> Duration {
        Duration::from_millis(self.slide_ms)
    }

    pub fn length(&self) -> Duration {
        Duration::from_millis(self.length_ms)
    }
}

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

/// The panes of one key that still feed a window not yet emitted, sorted by pane.
struct KeyPanes<A> {
    panes: VecDeque<(u64, A)>,
    /// The lowest window index not yet emitted for this key.
    next_window: u64,
}

impl<A: Aggregate> KeyPanes<A> {
    fn add(&mut self, pane: u64, agg: &A) {
        match self.panes.back_mut() {
            Some((last, a)) if *last == pane => a.merge(agg),
            Some((last, _)) if *last > pane => {
                match self.panes.binary_search_by_key(&pane, |(p, _)| *p) {
                    Ok(i) => self.panes[i].1.merge(agg),
                    Err(i) => self.panes.insert(i, (pane, agg.clone())),
                }
            }
            _ => self.panes.push_back((pane, agg.clone())),
        }
    }

    /// Emits this key's windows with index `<= through` and drops panes no later window needs.
    fn advance(&mut self, through: u64, per_window: u64, mut emit: impl FnMut(u64, &A)) {
        let Some(&(first, _)) = self.panes.front() else {
            return;
        };
        let mut k = self.next_window.max(first + 1);
        let mut lo = 0;
        while k <= through {
            // Skip panes that only feed windows before `k`.
            while lo < self.panes.len() && self.panes[lo].0 + per_window < k {
                lo += 1;
            }
            let Some(&(p, _)) = self.panes.get(lo) else {
                break;
            };
            if p >= k {
                // A gap with no data: jump to the first window that holds pane `p`.
                k = p + 1;
                continue;
            }
            let mut window = A::empty();
            for (_, a) in self.panes.iter().skip(lo).take_while(|(q, _)| *q < k) {
                window.merge(a);
            }
            emit(k, &window);
            k += 1;
        }
        self.next_window = self.next_window.max(through + 1);
        while matches!(self.panes.front(), Some(&(p, _)) if p + per_window <= through) {
            self.panes.pop_front();
        }
    }
}

/// A window index past every window there can be: emitting through it flushes everything.
pub const LAST_WINDOW: u64 = u64::MAX / 2;

/// Per-key panes of sliding windows, emitting each window once when the frontier passes it.
pub struct SlidingWindows<K, A> {
    spec: WindowSpec,
    keys: FxHashMap<K, KeyPanes<A>>,
    /// Every window with index `<= emitted_through` has been emitted.
    emitted_through: u64,
    /// The lowest window index some key still has to emit (`u64::MAX`: none).
    next_due: u64,
}

impl<K: Hash + Eq + Clone, A: Aggregate> SlidingWindows<K, A> {
    pub fn new(spec: WindowSpec) -> Self {
        SlidingWindows {
            spec,
            keys: FxHashMap::default(),
            emitted_through: 0,
            next_due: u64::MAX,
        }
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// Treats every window ending below `below` as already emitted (committed by an earlier
    /// run): they are never emitted again.
    pub fn resume_below(&mut self, below: u64) {
        if below > 0 {
            self.emitted_through = self.emitted_through.max((below - 1) / self.spec.slide_ms);
        }
    }

    /// Adds a partial aggregate of `key`'s events in `pane`.
    ///
    /// Returns `false`, and keeps nothing, if every window holding the pane was already emitted:
    /// the caller let a late event through and must count it as late.
    #[inline]
    pub fn add(&mut self, key: K, pane: u64, agg: &A) -> bool {
        if pane + self.spec.panes_per_window() <= self.emitted_through {
            return false;
        }
        let next_window = self.emitted_through + 1;
        self.keys
            .entry(key)
            .or_insert_with(|| KeyPanes {
                panes: VecDeque::new(),
                next_window,
            })
            .add(pane, agg);
        // Window `pane + 1` is the first that holds the pane.
        self.next_due = self.next_due.min(next_window.max(pane + 1));
        true
    }

    /// The lowest window index that some key still has to emit.
    pub fn next_due(&self) -> Option<u64> {
        (self.next_due != u64::MAX).then_some(self.next_due)
    }

    /// Emits every window with index `<= through` (the frontier has passed their end).
    pub fn emit_through_window(&mut self, through: u64, emit: impl FnMut(&K, u64, &A)) {
        if through > self.emitted_through {
            self.emit_through(through, emit);
        }
    }

    /// Emits every window of every key that is complete at `frontier`, in key order per key.
    pub fn advance_to(&mut self, frontier: EventTime, emit: impl FnMut(&K, u64, &A)) {
        self.emit_through_window(self.spec.complete_through(frontier), emit);
    }

    /// Emits every remaining window: the input has ended.
    pub fn finish(&mut self, emit: impl FnMut(&K, u64, &A)) {
        self.emit_through_window(LAST_WINDOW, emit);
    }

    fn emit_through(&mut self, through: u64, mut emit: impl FnMut(&K, u64, &A)) {
        let per_window = self.spec.panes_per_window();
        let mut next_due = u64::MAX;
        self.keys.retain(|key, panes| {
            panes.advance(through, per_window, |k, a| emit(key, k, a));
            if let Some(&(first, _)) = panes.panes.front() {
                next_due = next_due.min(panes.next_window.max(first + 1));
            }
            !panes.panes.is_empty()
        });
        self.emitted_through = through;
        self.next_due = next_due;
    }

    /// Keys with at least one pane held.
    pub fn active_keys(&self) -> usize {
        self.keys.len()
    }

    /// Panes held over all keys.
    pub fn panes_held(&self) -> usize {
        self.keys.values().map(|k| k.panes.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(length_s: u64, slide_s: u64) -> WindowSpec {
        WindowSpec::new(Duration::from_secs(length_s), Duration::from_secs(slide_s)).unwrap()
    }

    fn collect(w: &mut SlidingWindows<&'static str, ReadingAgg>, f: u64) -> Vec<(u64, u64, f64)> {
        let mut out = Vec::new();
        w.advance_to(EventTime(f), |_, k, a| {
            out.push((k, a.readings, a.sum.to_f64()))
        });
        out
    }

    #[test]
    fn averages_are_the_nearest_f64_to_the_exact_mean() {
        let one = TickAgg::of(126.33, 4321);
        assert_eq!(one.vwap(), Some(126.33));
        assert_eq!(one.avg_price(), 126.33);
        let mut r = ReadingAgg::of(0.1);
        r.merge(&ReadingAgg::of(0.2));
        r.merge(&ReadingAgg::of(0.3));
        assert_eq!(r.mean(), 0.2);
        let mut t = TickAgg::of(0.1, 1);
        t.merge(&TickAgg::of(0.2, 1));
        t.merge(&TickAgg::of(0.3, 1));
        assert_eq!((t.avg_price(), t.vwap()), (0.2, Some(0.2)));
        assert_eq!(TickAgg::of(5.0, 0).vwap(), None);
    }

    #[test]
    fn spec_validation() {
        let d = Duration::from_secs;
        assert!(WindowSpec::new(d(60), d(1)).is_ok());
        assert!(WindowSpec::new(d(60), d(60)).is_ok());
        assert!(WindowSpec::new(d(60), d(7)).is_err());
        assert!(WindowSpec::new(d(60), d(0)).is_err());
        assert!(WindowSpec::new(d(0), d(1)).is_err());
        assert!(WindowSpec::new(Duration::from_micros(1500), Duration::from_micros(500)).is_err());
    }

    #[test]
    fn event_at_window_end_belongs_to_next_window() {
        let s = spec(3, 1);
        let mut w = SlidingWindows::new(s);
        // Event at exactly 2.000 s: windows ending at 3, 4, 5 s hold it, the one ending at 2 s not.
        w.add("k", s.pane(EventTime(2000)), &ReadingAgg::of(1.0));
        assert_eq!(collect(&mut w, 2_999), vec![]);
        assert_eq!(collect(&mut w, 3_000), vec![(3, 1, 1.0)]);
        assert_eq!(collect(&mut w, 10_000), vec![(4, 1, 1.0), (5, 1, 1.0)]);
        assert_eq!(
            w.active_keys(),
            0,
            "panes are released once their windows are out"
        );
    }

    #[test]
    fn tumbling_and_gaps() {
        let s = spec(2, 2);
        let mut w = SlidingWindows::new(s);
        for t in [0, 1_999, 2_000, 9_000] {
            w.add("k", s.pane(EventTime(t)), &ReadingAgg::of(t as f64));
        }
        assert_eq!(
            collect(&mut w, 20_000),
            vec![(1, 2, 1_999.0), (2, 1, 2_000.0), (5, 1, 9_000.0)]
        );
    }

    #[test]
    fn late_pane_is_refused_and_far_future_costs_one_pane() {
        let s = spec(60, 1);
        let mut w = SlidingWindows::new(s);
        w.add("k", 0, &ReadingAgg::of(1.0));
        w.add("k", 10_000_000_000, &ReadingAgg::of(1.0));
        assert_eq!(w.panes_held(), 2);
        let mut n = 0;
        w.advance_to(EventTime(100_000), |_, _, _| n += 1);
        assert_eq!(n, 60);
        assert!(!w.add("k", 30, &ReadingAgg::of(1.0)));
        assert!(w.add("k", 41, &ReadingAgg::of(1.0)));
    }

    /// Oracle: random events, random frontier steps; every emitted window must equal a naive
    /// recomputation over all events, and every non-empty window must be emitted exactly once.
    #[test]
    fn oracle_random() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..50 {
            let (length, slide) = [(6, 1), (6, 2), (6, 6), (10, 5), (1, 1)][round % 5];
            let s = spec(length, slide);
            let mut w = SlidingWindows::new(s);
            let mut events = Vec::new();
            let mut got = std::collections::BTreeMap::new();
            let mut frontier = 0u64;
            for _ in 0..400 {
                // Events never go behind the frontier; advance it now and then.
                let t = frontier + rand(8_000);
                let key = ["a", "b", "c"][rand(3) as usize];
                let v = rand(100) as f64;
                events.push((key, t, v));
                assert!(w.add(key, s.pane(EventTime(t)), &ReadingAgg::of(v)));
                if rand(10) == 0 {
                    frontier += rand(5_000);
                    w.advance_to(EventTime(frontier), |k, i, a| {
                        assert!(got.insert((*k, i), *a).is_none(), "window emitted twice");
                        assert!(s.end(i).0 <= frontier, "window emitted before complete");
                    });
                }
            }
            w.finish(|k, i, a| assert!(got.insert((*k, i), *a).is_none()));
            let mut want = std::collections::BTreeMap::new();
            for &(key, t, v) in &events {
                let p = t / (slide * 1000);
                for k in p + 1..=p + length / slide {
                    want.entry((key, k))
                        .or_insert_with(ReadingAgg::empty)
                        .merge(&ReadingAgg::of(v));
                }
            }
            assert_eq!(got, want, "round {round}: {length}s/{slide}s");
        }
    }
}
