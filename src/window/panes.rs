//! One key's panes: the windows they make, and which emitted windows a late pane changed.

use std::collections::VecDeque;

use super::two_stacks::TwoStacks;
use super::Aggregate;

/// Windows of at least this many panes are merged from partial merges they share
/// ([`TwoStacks`]); smaller ones pane by pane, which costs about as much and holds nothing more
/// per key (with 100,000 keys of 10-pane windows the shared merges were slower).
const SHARED_MERGES_FROM: u64 = 16;

/// The panes of one key that still feed a window not yet final, sorted by pane.
pub(super) struct KeyPanes<A> {
    pub panes: VecDeque<(u64, A)>,
    /// The lowest window index not yet emitted for this key.
    pub next_window: u64,
    /// Emitted windows a late pane changed since they were last emitted, each with whether it
    /// held data before (`false`: its first emission is this one, at revision 0).
    changed: Vec<(u64, bool)>,
    /// The revision last emitted of each window corrected at least once and not final yet,
    /// sorted by window (a window missing here is at revision 0).
    revisions: Vec<(u64, u32)>,
    /// Partial merges shared by consecutive windows as they are emitted.
    stacks: TwoStacks<A>,
}

impl<A: Aggregate> KeyPanes<A> {
    pub fn new(next_window: u64) -> Self {
        KeyPanes {
            panes: VecDeque::new(),
            next_window,
            changed: Vec::new(),
            revisions: Vec::new(),
            stacks: TwoStacks::new(),
        }
    }

    /// Adds `agg` to `pane`; if windows holding the pane were emitted already (and are not
    /// final, that is after `final_through`), notes them as changed. Returns whether this key
    /// has just gained changes to emit.
    pub fn add(&mut self, pane: u64, agg: &A, per_window: u64, final_through: u64) -> bool {
        let first = (pane + 1).max(final_through + 1);
        let last = (pane + per_window).min(self.next_window.saturating_sub(1));
        let had_none = self.changed.is_empty();
        if first <= last {
            self.note_changed(pane, first..=last, per_window);
        }
        self.insert(pane, agg);
        had_none && !self.changed.is_empty()
    }

    fn note_changed(&mut self, pane: u64, windows: std::ops::RangeInclusive<u64>, per_window: u64) {
        // Window k held data before iff some pane within `k - per_window ..= k - 1` did: this
        // pane, or its nearest neighbours on either side.
        let at = self.panes.partition_point(|(p, _)| *p < pane);
        let exists = self.panes.get(at).is_some_and(|(p, _)| *p == pane);
        let before = at.checked_sub(1).map(|i| self.panes[i].0);
        let after = self.panes.get(at + usize::from(exists)).map(|(p, _)| *p);
        for k in windows {
            let had_data = exists
                || before.is_some_and(|b| b + per_window >= k)
                || after.is_some_and(|a| a < k);
            self.changed.push((k, had_data));
        }
    }

    fn insert(&mut self, pane: u64, agg: &A) {
        self.stacks.changed(pane);
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

    /// Window `k`: the merge of the panes `k - per_window ..= k - 1`.
    fn window(&self, k: u64, per_window: u64) -> A {
        let lo = self.panes.partition_point(|(p, _)| p + per_window < k);
        let mut window = A::empty();
        for (_, a) in self.panes.iter().skip(lo).take_while(|(p, _)| *p < k) {
            window.merge(a);
        }
        window
    }

    /// Emits each changed window again, with its next revision, in window order.
    pub fn emit_changed(&mut self, per_window: u64, mut emit: impl FnMut(u64, &A, u32)) {
        // A stable sort keeps, per window, the first note: whether it held data before any of
        // the panes added since its last emission.
        let mut changed = std::mem::take(&mut self.changed);
        changed.sort_by_key(|&(k, _)| k);
        changed.dedup_by_key(|&mut (k, _)| k);
        for (k, had_data) in changed {
            let revision = if had_data { self.bump(k) } else { 0 };
            emit(k, &self.window(k, per_window), revision);
        }
    }

    fn bump(&mut self, k: u64) -> u32 {
        match self.revisions.binary_search_by_key(&k, |&(w, _)| w) {
            Ok(i) => {
                self.revisions[i].1 += 1;
                self.revisions[i].1
            }
            Err(i) => {
                self.revisions.insert(i, (k, 1));
                1
            }
        }
    }

    /// Emits this key's windows with index `<= through` (at revision 0), then drops panes whose
    /// windows are all final (index `<= release`).
    pub fn advance(
        &mut self,
        through: u64,
        release: u64,
        per_window: u64,
        mut emit: impl FnMut(u64, &A),
    ) {
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
            let window = if per_window >= SHARED_MERGES_FROM {
                self.stacks.window(&self.panes, k, per_window)
            } else {
                let mut window = A::empty();
                for (_, a) in self.panes.iter().skip(lo).take_while(|(q, _)| *q < k) {
                    window.merge(a);
                }
                window
            };
            emit(k, &window);
            k += 1;
        }
        self.next_window = self.next_window.max(through + 1);
        self.release(release, per_window);
    }

    /// Drops the panes and revisions of windows that are final (index `<= final_through`).
    pub fn release(&mut self, final_through: u64, per_window: u64) {
        while matches!(self.panes.front(), Some(&(p, _)) if p + per_window <= final_through) {
            self.panes.pop_front();
        }
        let gone = self.revisions.partition_point(|&(k, _)| k <= final_through);
        self.revisions.drain(..gone);
    }

    /// The lowest window index this key still has to emit for the first time, if any.
    pub fn next_due(&self, per_window: u64) -> Option<u64> {
        let lo = self
            .panes
            .partition_point(|(p, _)| p + per_window < self.next_window);
        self.panes
            .get(lo)
            .map(|&(p, _)| self.next_window.max(p + 1))
    }

    pub fn is_empty(&self) -> bool {
        self.panes.is_empty()
    }
}
