//! Per-key panes of sliding windows: each window emitted when the frontier passes its end, and
//! again, with a new revision, whenever a late pane changes it before it is final.

use std::collections::hash_map::Entry;
use std::hash::Hash;

use rustc_hash::FxHashMap;

use super::panes::KeyPanes;
use super::{Aggregate, WindowSpec};
use crate::event::EventTime;

/// A window index past every window there can be: emitting through it flushes everything.
pub const LAST_WINDOW: u64 = u64::MAX / 2;

/// Per-key panes of sliding windows, emitting each window when the frontier passes it.
///
/// With an allowed lateness D (see [`WindowSpec::with_allowed_lateness`]) panes are kept until
/// every window holding them is final (the frontier passed its end + D); a pane added to an
/// emitted window marks it changed, and [`SlidingWindows::emit_corrections`] emits it again.
pub struct SlidingWindows<K, A> {
    spec: WindowSpec,
    keys: FxHashMap<K, KeyPanes<A>>,
    /// Every window with index `<= emitted_through` has been emitted.
    emitted_through: u64,
    /// Every window with index `<= final_through` is final: no pane is added to it any more.
    final_through: u64,
    /// The lowest window index some key still has to emit (`u64::MAX`: none).
    next_due: u64,
    /// Keys with emitted windows changed since (each once).
    changed: Vec<K>,
}

impl<K: Hash + Eq + Clone, A: Aggregate> SlidingWindows<K, A> {
    pub fn new(spec: WindowSpec) -> Self {
        SlidingWindows {
            spec,
            keys: FxHashMap::default(),
            emitted_through: 0,
            final_through: 0,
            next_due: u64::MAX,
            changed: Vec::new(),
        }
    }

    pub fn spec(&self) -> &WindowSpec {
        &self.spec
    }

    /// Treats every window that was final once the rows below `below` were committed by an
    /// earlier run as emitted: they are never emitted again. Windows still correctable then
    /// (ending within D of `below`) are rebuilt from the replay and emitted again.
    pub fn resume_below(&mut self, below: u64) {
        let lateness = self.spec.allowed_lateness().as_millis() as u64;
        if let Some(last) = below.checked_sub(1 + lateness) {
            let through = self.emitted_through.max(last / self.spec.slide_ms);
            self.emitted_through = through;
            self.final_through = through;
        }
    }

    /// Adds a partial aggregate of `key`'s events in `pane`; windows that hold it and were
    /// emitted already are corrected by the next [`SlidingWindows::emit_corrections`].
    ///
    /// Returns `false`, and keeps nothing, if every window holding the pane is final: the
    /// caller let a late event through and must count it as late.
    #[inline]
    pub fn add(&mut self, key: K, pane: u64, agg: &A) -> bool {
        let per_window = self.spec.panes_per_window();
        if pane + per_window <= self.final_through {
            return false;
        }
        let next_window = self.emitted_through + 1;
        let final_through = self.final_through;
        let changed = match self.keys.entry(key) {
            Entry::Occupied(mut e) => {
                let changed = e.get_mut().add(pane, agg, per_window, final_through);
                changed.then(|| e.key().clone())
            }
            Entry::Vacant(e) => {
                let key = (pane < self.emitted_through).then(|| e.key().clone());
                let changed =
                    e.insert(KeyPanes::new(next_window))
                        .add(pane, agg, per_window, final_through);
                key.filter(|_| changed)
            }
        };
        self.changed.extend(changed);
        if pane + per_window >= next_window {
            // Window `pane + 1` is the first that holds the pane.
            self.next_due = self.next_due.min(next_window.max(pane + 1));
        }
        true
    }

    /// Emits again every emitted window a late pane changed, with its next revision (0 for a
    /// window that held no data when it was due and so was never emitted).
    pub fn emit_corrections(&mut self, mut emit: impl FnMut(&K, u64, &A, u32)) {
        let per_window = self.spec.panes_per_window();
        for key in std::mem::take(&mut self.changed) {
            if let Some(panes) = self.keys.get_mut(&key) {
                panes.emit_changed(per_window, |k, a, revision| emit(&key, k, a, revision));
            }
        }
    }

    /// Drops the state of windows final at index `final_through` (the frontier passed their
    /// end + D), but never of a window not yet emitted.
    pub fn release_through(&mut self, final_through: u64) {
        let final_through = final_through.min(self.emitted_through);
        if final_through <= self.final_through {
            return;
        }
        self.final_through = final_through;
        let per_window = self.spec.panes_per_window();
        self.keys.retain(|_, panes| {
            panes.release(final_through, per_window);
            !panes.is_empty()
        });
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
        // Without lateness a window is final once emitted; with it, `release_through` decides.
        if !self.spec.revises() {
            self.final_through = through;
        }
        let release = self.final_through;
        let mut next_due = u64::MAX;
        self.keys.retain(|key, panes| {
            panes.advance(through, release, per_window, |k, a| emit(key, k, a));
            if let Some(due) = panes.next_due(per_window) {
                next_due = next_due.min(due);
            }
            !panes.is_empty()
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
