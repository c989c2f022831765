//! Each record's sector looked up as of the record's time, for runs with no allowed lateness
//! (a half join: only the records look, the mapping never reaches back to them).
//!
//! Without allowed lateness a window is final the moment its row is sent: no later change of
//! the mapping may revise it. The records then need not wait in an arrangement for changes
//! that cannot concern them; each is joined once, with the intervals as they stand at its time,
//! and is gone. That leaves out the records' arrangement and the join's pass over each of its
//! batches, most of the rollup's cost per time (see the README's "Cost of sector rollups").
//! With allowed lateness the full join stays (`mod.rs`), as a change must reach the records of
//! windows that can still be revised.
//!
//! The intervals come as the changes of the reduce that makes them (whose output differential
//! keeps arranged), sent to every worker; each applies them in time order to its copy of every
//! symbol's intervals, so a lookup is a hash probe on the worker that made the record.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use super::agg::SectorAgg;
use super::intervals::{holds, Interval};
use super::records::SymbolWindow;
use super::sums::SectorKey;
use super::totals::SectorPartial;
use super::Name;

/// The records waiting at one time, with the capability to send their joined records at.
type Waiting = (Capability<u64>, Vec<(SymbolWindow, isize)>);

/// A change of one symbol's intervals.
type Change = ((Name, Interval), u64, isize);

/// Extension trait: `records.join_as_of(intervals)`.
pub trait JoinAsOf<'s> {
    /// Each record `(symbol, (end, agg))` at time `t` joined to `(end, sector)`, where `sector`
    /// is that of the symbol's interval holding at `end` once every change of the intervals up
    /// to and including `t` is applied, and none after it; the records joined at `t` go out at
    /// `t` summed per `(end, sector)` ([`SectorPartial`]: their aggregates merged, and how many
    /// symbols).
    fn join_as_of(
        self,
        intervals: Stream<'s, u64, Vec<Change>>,
    ) -> Stream<'s, u64, Vec<SectorPartial>>;
}

impl<'s> JoinAsOf<'s> for Stream<'s, u64, Vec<(SymbolWindow, u64, isize)>> {
    fn join_as_of(
        self,
        intervals: Stream<'s, u64, Vec<Change>>,
    ) -> Stream<'s, u64, Vec<SectorPartial>> {
        // Every worker holds every symbol's intervals (a few per symbol, changing rarely), so
        // records are joined where they are made and cross to another worker only once, to
        // their sector window's sums.
        self.binary_frontier(
            intervals.broadcast(),
            Pipeline,
            Pipeline,
            "SectorAsOf",
            |_cap, _info| {
                let mut waiting: BTreeMap<u64, Waiting> = BTreeMap::new();
                let mut changes: BTreeMap<u64, Vec<(Name, Interval, isize)>> = BTreeMap::new();
                let mut current: FxHashMap<Name, Vec<(Interval, isize)>> = FxHashMap::default();
                move |(records, records_frontier), (updates, changes_frontier), output| {
                    records.for_each(|cap, data| {
                        for (record, t, diff) in data.drain(..) {
                            waiting
                                .entry(t)
                                .or_insert_with(|| (cap.delayed(&t, 0), Vec::new()))
                                .1
                                .push((record, diff));
                        }
                    });
                    updates.for_each(|_cap, data| {
                        for ((symbol, interval), t, diff) in data.drain(..) {
                            changes.entry(t).or_default().push((symbol, interval, diff));
                        }
                    });
                    // Times before these are complete on either input (`None`: all of them).
                    let records_from = records_frontier.frontier().first().copied();
                    let changes_from = changes_frontier.frontier().first().copied();
                    let complete = |from: Option<u64>, t: u64| from.is_none_or(|f| t < f);
                    loop {
                        let record_time = waiting.first_key_value().map(|(t, _)| *t);
                        let change_time = changes.first_key_value().map(|(t, _)| *t);
                        match (record_time, change_time) {
                            // Records see every change up to their time, so a change at `c`
                            // goes first once no record before `c` can still come.
                            (r, Some(c))
                                if r.is_none_or(|r| c <= r)
                                    && complete(changes_from, c)
                                    && records_from.is_none_or(|f| c <= f) =>
                            {
                                let (_, list) = changes.pop_first().expect("a first entry");
                                apply(&mut current, list);
                            }
                            (Some(r), c)
                                if c.is_none_or(|c| r < c) && complete(changes_from, r) =>
                            {
                                let (_, (cap, list)) = waiting.pop_first().expect("a first entry");
                                let mut sums: FxHashMap<SectorKey, SectorAgg> =
                                    FxHashMap::default();
                                for ((symbol, (end, agg)), diff) in list {
                                    let Some(held) = current.get(&symbol) else {
                                        continue;
                                    };
                                    for (interval, count) in held {
                                        // Without revisions records and intervals only arrive.
                                        let symbols = u64::try_from(diff * count).unwrap_or(0);
                                        if symbols > 0 && holds(interval, end) {
                                            let key = (end, interval.2.clone());
                                            let total =
                                                sums.entry(key).or_insert_with(SectorAgg::empty);
                                            for _ in 0..symbols {
                                                total.add(&agg, 1);
                                            }
                                        }
                                    }
                                }
                                if !sums.is_empty() {
                                    let mut partials: Vec<SectorPartial> =
                                        sums.into_iter().collect();
                                    output.session(&cap).give_container(&mut partials);
                                }
                            }
                            _ => break,
                        }
                    }
                }
            },
        )
    }
}

/// Adds the changes of one time to each symbol's intervals, dropping those whose count is 0.
fn apply(
    current: &mut FxHashMap<Name, Vec<(Interval, isize)>>,
    list: Vec<(Name, Interval, isize)>,
) {
    for (symbol, interval, diff) in list {
        let held = current.entry(symbol.clone()).or_default();
        match held.iter_mut().find(|(i, _)| *i == interval) {
            Some((_, count)) => *count += diff,
            None => held.push((interval, diff)),
        }
        held.retain(|(_, count)| *count != 0);
        if held.is_empty() {
            current.remove(&symbol);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_add_up_per_interval_and_a_symbol_without_any_is_forgotten() {
        let a = Name::from("A");
        let tech: Interval = (None, None, Some(Name::from("tech")));
        let energy: Interval = (Some(5), None, Some(Name::from("energy")));
        let mut current = FxHashMap::default();
        apply(&mut current, vec![(a.clone(), tech.clone(), 1)]);
        assert_eq!(current[&a], vec![(tech.clone(), 1)]);
        // A reclassification: the old interval ends, a new one begins.
        let tech_until: Interval = (None, Some(5), Some(Name::from("tech")));
        apply(
            &mut current,
            vec![
                (a.clone(), tech.clone(), -1),
                (a.clone(), tech_until.clone(), 1),
                (a.clone(), energy.clone(), 1),
            ],
        );
        assert_eq!(
            current[&a],
            vec![(tech_until.clone(), 1), (energy.clone(), 1)]
        );
        // A tombstone's retractions leave the symbol with nothing: it is dropped.
        apply(
            &mut current,
            vec![(a.clone(), tech_until, -1), (a.clone(), energy, -1)],
        );
        assert!(current.is_empty());
    }
}
