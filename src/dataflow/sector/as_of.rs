//! Each record's sector looked up in the arranged intervals as of the record's time, for runs
//! with no allowed lateness (a half join: only the records look, the mapping never does).
//!
//! Without allowed lateness a window is final the moment its row is sent: no later change of
//! the mapping may revise it. The records then need not wait in an arrangement for changes
//! that cannot concern them; each is joined once, with the intervals as they stand at its
//! time, and is gone. That leaves out the records' arrangement and the join's pass over each
//! of its batches, most of the rollup's cost per time (see the README's "Cost of sector
//! rollups"). With allowed lateness the full join stays (`mod.rs`), as a change must reach
//! the records of windows that can still be revised.

use std::collections::BTreeMap;

use differential_dataflow::hashable::Hashable;
use differential_dataflow::operators::arrange::{Arranged, TraceAgent};
use differential_dataflow::trace::implementations::ValSpine;
use differential_dataflow::trace::{BatchReader, Cursor, TraceReader};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;
use timely::order::PartialOrder;
use timely::progress::Antichain;

use super::intervals::{holds, Interval};
use super::records::SymbolWindow;
use super::sums::SectorRecord;
use super::Name;

/// The records waiting at one time for the intervals to be complete through it, with the
/// capability to send their joined records at.
type Waiting = (Capability<u64>, Vec<(SymbolWindow, isize)>);

/// The mapping's validity intervals, arranged by symbol.
pub type Intervals<'s> = Arranged<'s, TraceAgent<ValSpine<Name, Interval, u64, isize>>>;

/// Extension trait: `records.join_as_of(intervals)`.
pub trait JoinAsOf<'s> {
    /// Each record `(symbol, (end, agg))` at time `t`, as `((end, sector), agg)` at `t`, where
    /// `sector` is that of the symbol's interval holding at `end` in the intervals as of `t`.
    /// A record waits until the intervals are complete through `t`.
    fn join_as_of(
        self,
        intervals: Intervals<'s>,
    ) -> Stream<'s, u64, Vec<(SectorRecord, u64, isize)>>;
}

impl<'s> JoinAsOf<'s> for Stream<'s, u64, Vec<(SymbolWindow, u64, isize)>> {
    fn join_as_of(
        self,
        intervals: Intervals<'s>,
    ) -> Stream<'s, u64, Vec<(SectorRecord, u64, isize)>> {
        // To the worker holding the symbol's intervals: the arrangement routes keys so.
        let route =
            Exchange::new(|((symbol, _), _, _): &(SymbolWindow, u64, isize)| symbol.hashed());
        let Arranged { stream, trace } = intervals;
        // Dropped once no record can come, so the trace's history may be forgotten.
        let mut held = Some(trace);
        self.binary_frontier(stream, route, Pipeline, "SectorAsOf", move |_cap, _info| {
            // The intervals' batches taken into account: a cursor through them is valid.
            let mut acknowledged = Antichain::from_elem(0u64);
            if let Some(trace) = held.as_mut() {
                trace.map_batches(|batch| acknowledged.clone_from(batch.upper()));
            }
            let mut pending: BTreeMap<u64, Waiting> = BTreeMap::new();
            move |(records, records_frontier), (batches, _), output| {
                records.for_each(|cap, data| {
                    for (record, t, diff) in data.drain(..) {
                        pending
                            .entry(t)
                            .or_insert_with(|| (cap.delayed(&t, 0), Vec::new()))
                            .1
                            .push((record, diff));
                    }
                });
                batches.for_each(|_cap, data| {
                    for batch in data.drain(..) {
                        if PartialOrder::less_equal(&acknowledged, batch.lower()) {
                            acknowledged.clone_from(batch.upper());
                        }
                    }
                });
                let Some(trace) = held.as_mut() else {
                    return;
                };
                trace.advance_upper(&mut acknowledged);
                let ready = |t: &u64| !acknowledged.less_equal(t);
                if pending.first_key_value().is_some_and(|(t, _)| ready(t)) {
                    let (mut cursor, storage) = trace
                        .cursor_through(acknowledged.borrow())
                        .expect("a cursor through the acknowledged batches");
                    while let Some(entry) = pending.first_entry() {
                        let t = *entry.key();
                        if !ready(&t) {
                            break;
                        }
                        let (cap, mut list) = entry.remove();
                        // The cursor moves forward only: symbols in its order.
                        list.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
                        cursor.rewind_keys(&storage);
                        let mut joined = Vec::with_capacity(list.len());
                        for ((symbol, (end, agg)), diff) in list {
                            cursor.seek_key(&storage, &symbol);
                            if cursor.get_key(&storage) != Some(&symbol) {
                                continue;
                            }
                            cursor.rewind_vals(&storage);
                            while let Some(interval) = cursor.get_val(&storage) {
                                let mut count = 0isize;
                                cursor.map_times(&storage, |time, n| {
                                    if *time <= t {
                                        count += *n;
                                    }
                                });
                                if count != 0 && holds(interval, end) {
                                    let record = ((end, interval.2.clone()), agg.clone());
                                    joined.push((record, t, diff * count));
                                }
                                cursor.step_val(&storage);
                            }
                        }
                        if !joined.is_empty() {
                            output.session(&cap).give_container(&mut joined);
                        }
                    }
                }
                // History before the earliest time a record may still be looked up at can be
                // merged; batches through `acknowledged` may be merged with each other.
                let mut needed = records_frontier.frontier().to_owned();
                if let Some(&t) = pending.keys().next() {
                    needed.insert(t);
                }
                if needed.is_empty() {
                    held = None;
                } else {
                    trace.set_logical_compaction(needed.borrow());
                    trace.set_physical_compaction(acknowledged.borrow());
                }
            }
        })
    }
}
