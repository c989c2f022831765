//! Per-key panes of sliding windows, each window emitted once when the frontier passes its end.

use std::collections::VecDeque;
use std::hash::Hash;

use rustc_hash::FxHashMap;

use super::{Aggregate, WindowSpec};
use crate::event::EventTime;

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
