//! Partial merges that consecutive windows of one key share, so that a window of `P` panes
//! costs a few merges rather than `P` (the "two stacks" of sliding-window aggregation, kept
//! at block granularity).
//!
//! The panes of the last window asked for are split at `split`. The first pane of each block
//! of [`BLOCK`] pane indexes at or before the split keeps the merge of itself and every later
//! pane through `split` (the front), and the panes after the split are merged into one running
//! aggregate (the back). Window `k` is then the panes of its first, partial block merged one
//! by one, the front entry that follows them, and the back. When a window starts after
//! `split`, the front is rebuilt from that window's panes, once every `P` windows in a steady
//! stream.
//!
//! Keeping a merge per block rather than per pane bounds what a key holds to `P / BLOCK`
//! aggregates beside its `P` panes, at the price of at most `BLOCK - 1` merges more a window.
//! Only merges are needed, so it serves any [`Aggregate`]: min and max included, which could
//! not be taken back out of a running total.

use std::collections::VecDeque;

use super::Aggregate;

/// Pane indexes per block: one front entry per block.
const BLOCK: u64 = 8;

pub(super) struct TwoStacks<A> {
    /// `(pane, merge of the panes from it through split)` for the first pane of each block,
    /// oldest first.
    front: VecDeque<(u64, A)>,
    split: u64,
    /// The merge of the panes after `split` through `through`.
    back: A,
    through: u64,
    /// Whether the merges above are those of the panes as they are now.
    valid: bool,
}

impl<A: Aggregate> TwoStacks<A> {
    pub fn new() -> Self {
        TwoStacks {
            front: VecDeque::new(),
            split: 0,
            back: A::empty(),
            through: 0,
            valid: false,
        }
    }

    /// Notes that `pane` changed: merges that hold it are dropped, to be rebuilt by the next
    /// window asked for.
    #[inline]
    pub fn changed(&mut self, pane: u64) {
        if pane <= self.through {
            self.valid = false;
        }
    }

    /// Window `k`: the merge of `panes` (sorted by pane) `k - per_window ..= k - 1`. Between
    /// changes, windows are asked for in increasing `k`; any other order rebuilds.
    pub fn window(&mut self, panes: &VecDeque<(u64, A)>, k: u64, per_window: u64) -> A {
        let start = k.saturating_sub(per_window);
        let last = k.saturating_sub(1);
        if !self.valid || start > self.split || last < self.through {
            self.rebuild(panes, start, last);
        } else {
            let from = panes.partition_point(|(p, _)| *p <= self.through);
            for (_, a) in panes.range(from..).take_while(|(p, _)| *p <= last) {
                self.back.merge(a);
            }
            self.through = last;
            while self.front.front().is_some_and(|(p, _)| *p < start) {
                self.front.pop_front();
            }
        }
        // The panes before the first front entry (all in the block of `start`), one by one.
        let covered_from = self.front.front().map_or(self.split + 1, |(p, _)| *p);
        let lo = panes.partition_point(|(p, _)| *p < start);
        let mut window = A::empty();
        for (_, a) in panes.range(lo..).take_while(|(p, _)| *p < covered_from) {
            window.merge(a);
        }
        if let Some((_, suffix)) = self.front.front() {
            window.merge(suffix);
        }
        window.merge(&self.back);
        window
    }

    fn rebuild(&mut self, panes: &VecDeque<(u64, A)>, start: u64, last: u64) {
        self.front.clear();
        let lo = panes.partition_point(|(p, _)| *p < start);
        let hi = panes.partition_point(|(p, _)| *p <= last);
        let mut suffix = A::empty();
        for i in (lo..hi).rev() {
            let (p, a) = &panes[i];
            suffix.merge(a);
            // Kept for the first pane of its block in the range.
            if i == lo || panes[i - 1].0 / BLOCK != p / BLOCK {
                self.front.push_front((*p, suffix.clone()));
            }
        }
        self.split = last;
        self.back = A::empty();
        self.through = last;
        self.valid = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::ReadingAgg;

    /// Window `k` merged pane by pane, the way the stacks must agree with.
    fn direct(panes: &VecDeque<(u64, ReadingAgg)>, k: u64, per_window: u64) -> ReadingAgg {
        let mut w = ReadingAgg::empty();
        for (_, a) in panes.iter().filter(|(p, _)| *p + per_window >= k && *p < k) {
            w.merge(a);
        }
        w
    }

    #[test]
    fn every_window_equals_the_merge_of_its_panes_through_gaps_and_changes() {
        for per_window in [1, 5, 8, 9, 20, 60] {
            // Panes with gaps of every length, across several blocks.
            let mut panes: VecDeque<(u64, ReadingAgg)> = [
                0u64, 1, 2, 4, 7, 8, 9, 10, 15, 16, 17, 23, 24, 30, 31, 33, 47, 48, 64, 65, 66, 90,
                91, 92, 93, 94, 95, 96, 97, 98, 99, 100,
            ]
            .iter()
            .map(|&p| (p, ReadingAgg::of(p as f64 * 1.5 + 0.25)))
            .collect();
            let mut stacks = TwoStacks::new();
            for k in 1..=170 {
                assert_eq!(
                    stacks.window(&panes, k, per_window),
                    direct(&panes, k, per_window),
                    "window {k} of {per_window} panes"
                );
                if k == 12 {
                    // A late value into a pane the stacks hold.
                    panes[5].1.merge(&ReadingAgg::of(100.0));
                    stacks.changed(panes[5].0);
                }
                if k == 20 {
                    // A new pane ahead of every window asked for: no change to the merges.
                    let at = panes.partition_point(|(p, _)| *p < 40);
                    panes.insert(at, (40, ReadingAgg::of(7.0)));
                    stacks.changed(40);
                }
                if k == 70 {
                    // A pane inserted among those the stacks hold, as another worker's
                    // partial read out of order would be.
                    let at = panes.partition_point(|(p, _)| *p < 62);
                    panes.insert(at, (62, ReadingAgg::of(3.0)));
                    stacks.changed(62);
                }
            }
        }
    }
}
