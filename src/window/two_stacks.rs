//! Partial merges that consecutive windows of one key share, so that a window of `P` panes
//! costs a few merges rather than `P` (the "two stacks" of sliding-window aggregation).
//!
//! The panes of the last window asked for are split at `split`: each pane at or before it
//! keeps the merge of itself and every later pane through `split` (the front), and the panes
//! after it are merged into one running aggregate (the back). Window `k` is then the front
//! entry of its first pane merged with the back. When a window starts after `split`, the front
//! is rebuilt from that window's panes, once every `P` windows in a steady stream.
//!
//! Only merges are needed, so it serves any [`Aggregate`]: min and max included, which could
//! not be taken back out of a running total.

use std::collections::VecDeque;

use super::Aggregate;

pub(super) struct TwoStacks<A> {
    /// `(pane, merge of the panes from it through split)`, oldest pane first.
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
        let mut window = match self.front.front() {
            Some((_, a)) => a.clone(),
            None => A::empty(),
        };
        window.merge(&self.back);
        window
    }

    fn rebuild(&mut self, panes: &VecDeque<(u64, A)>, start: u64, last: u64) {
        self.front.clear();
        let lo = panes.partition_point(|(p, _)| *p < start);
        let hi = panes.partition_point(|(p, _)| *p <= last);
        let mut suffix = A::empty();
        for (p, a) in panes.range(lo..hi).rev() {
            suffix.merge(a);
            self.front.push_front((*p, suffix.clone()));
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
        let per_window = 5;
        // Panes with gaps, a few values each.
        let mut panes: VecDeque<(u64, ReadingAgg)> = [0u64, 1, 2, 4, 7, 8, 9, 10, 15, 16, 30]
            .iter()
            .map(|&p| (p, ReadingAgg::of(p as f64 * 1.5 + 0.25)))
            .collect();
        let mut stacks = TwoStacks::new();
        for k in 1..=36 {
            assert_eq!(
                stacks.window(&panes, k, per_window),
                direct(&panes, k, per_window),
                "window {k}"
            );
            if k == 12 {
                // A late value into a pane the stacks hold.
                panes[5].1.merge(&ReadingAgg::of(100.0));
                stacks.changed(panes[5].0);
            }
            if k == 20 {
                // A new pane ahead of every window asked for: no change to the merges.
                panes.insert(10, (25, ReadingAgg::of(7.0)));
                stacks.changed(25);
            }
        }
    }
}
