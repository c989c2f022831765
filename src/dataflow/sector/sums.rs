//! The sum of each sector window, kept as the joined records change, and a row whenever it
//! changes.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use differential_dataflow::hashable::Hashable;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use super::agg::{OrdAgg, SectorAgg};
use super::Name;
use crate::event::EventTime;
use crate::metrics::Metrics;
use crate::row::{Revision, WindowRow};
use crate::window::WindowSpec;

/// A sector window, `(end, sector)`; the sector `None` gathers unmapped symbols.
pub type SectorKey = (u64, Option<Name>);

/// A joined record: one symbol's aggregate for a sector window. The aggregate is held by
/// value: these records are sorted once and summed, never kept in an arrangement, and a
/// pointer would cost an allocation freed on another worker and a jump at each comparison.
pub type SectorRecord = (SectorKey, OrdAgg);

/// The changes of one time not yet complete, with the capability to send its rows at.
type Pending = (Capability<u64>, Vec<(SectorRecord, isize)>);

/// What a sector window that can still change keeps.
#[derive(Default)]
struct SectorWindow {
    /// Its symbols' aggregates with their multiplicity, sorted by aggregate. Two symbols
    /// with equal aggregates are one entry counted twice: the records carry no symbol.
    records: Vec<(OrdAgg, isize)>,
    /// The value last sent; `None` before the first row and while it has no symbol.
    value: Option<SectorAgg>,
    /// The revision number of the last row sent.
    revision: Option<u32>,
}

impl SectorWindow {
    /// Adds `changes` (sorted by aggregate, consolidated) to the records, and returns the
    /// new value if it differs from the last one sent.
    fn apply(&mut self, changes: &[(OrdAgg, isize)]) -> Option<SectorAgg> {
        let mut merged = Vec::with_capacity(self.records.len() + changes.len());
        let mut old = self.records.iter().copied().peekable();
        let mut new = changes.iter().copied().peekable();
        loop {
            let next = match (old.peek().copied(), new.peek().copied()) {
                (Some(a), Some(b)) if a.0 == b.0 => {
                    old.next();
                    new.next();
                    (a.0, a.1 + b.1)
                }
                (Some(a), Some(b)) if a.0 < b.0 => {
                    old.next();
                    a
                }
                (_, Some(b)) => {
                    new.next();
                    b
                }
                (Some(a), None) => {
                    old.next();
                    a
                }
                (None, None) => break,
            };
            if next.1 != 0 {
                merged.push(next);
            }
        }
        self.records = merged;
        let value = self
            .records
            .iter()
            .any(|(_, n)| *n > 0)
            .then(|| SectorAgg::of(self.records.iter().map(|(agg, n)| (agg, *n))));
        if value == self.value {
            return None;
        }
        self.value = value;
        value
    }

    /// The number of the next row: 0 for the first, +1 for each after it.
    fn next_revision(&mut self) -> u32 {
        let number = self.revision.map_or(0, |n| n + 1);
        self.revision = Some(number);
        number
    }
}

/// Extension trait: `joined.sector_sums(spec, metrics)`.
pub trait SectorSums<'s> {
    /// Routes each joined record to the worker of its sector window, sums each window's
    /// records as they change and emits, at each time `t` once the input frontier passes it,
    /// a `sector_average` row for every sector window whose value changed at `t` and still
    /// has one, numbered as the window operator numbers revisions (0 at the first emission,
    /// +1 per change).
    ///
    /// * The input holds no change at or after a window's
    ///   [`expires_at`](super::records::expires_at): the join drops those, the records of a
    ///   final window leaving the collection, not news. A window's state is dropped once the
    ///   frontier passes its end by the lateness.
    /// * A sector window that lost every symbol (all reclassified elsewhere) has no new value:
    ///   nothing is emitted, and its last row stays in the sinks as it was.
    /// * The unmapped "sector" is never a row: at a window's first emission its ticks are
    ///   added to `tickflow_unmapped_ticks_total` when the window's end is a multiple of the
    ///   window length, so each tick is counted once (those windows tile time).
    fn sector_sums(
        self,
        spec: WindowSpec,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> SectorSums<'s> for Stream<'s, u64, Vec<(SectorRecord, u64, isize)>> {
    fn sector_sums(
        self,
        spec: WindowSpec,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>> {
        let lateness = spec.allowed_lateness().as_millis() as u64;
        let length = spec.length().as_millis() as u64;
        let route = Exchange::new(|((key, _), _, _): &(SectorRecord, u64, isize)| key.hashed());
        self.unary_frontier(route, "SectorSums", move |_cap, _info| {
            let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
            let mut windows: BTreeMap<SectorKey, SectorWindow> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (record, t, diff) in data.drain(..) {
                        let entry = pending
                            .entry(t)
                            .or_insert_with(|| (cap.delayed(&t, 0), Vec::new()));
                        entry.1.push((record, diff));
                    }
                });
                let below = frontier.frontier().first().copied();
                while let Some(entry) = pending.first_entry() {
                    let t = *entry.key();
                    if below.is_some_and(|f| t >= f) {
                        break;
                    }
                    let (cap, mut changes) = entry.remove();
                    differential_dataflow::consolidation::consolidate(&mut changes);
                    let mut rows = Vec::new();
                    let mut rest = &mut changes[..];
                    while let Some(((key, _), _)) = rest.first() {
                        let n = rest.iter().take_while(|((k, _), _)| k == key).count();
                        let (these, after) = rest.split_at_mut(n);
                        rest = after;
                        let key = these[0].0 .0.clone();
                        let deltas: Vec<(OrdAgg, isize)> =
                            these.iter().map(|((_, agg), diff)| (*agg, *diff)).collect();
                        let window = windows.entry(key.clone()).or_default();
                        let Some(value) = window.apply(&deltas) else {
                            continue;
                        };
                        let number = window.next_revision();
                        let revision = spec.revises().then_some(Revision {
                            number,
                            sent_at: EventTime(t),
                        });
                        rows.extend(sector_row(
                            key,
                            &value,
                            number == 0,
                            length,
                            revision,
                            &metrics,
                        ));
                    }
                    if !rows.is_empty() {
                        let corrections = rows
                            .iter()
                            .filter(|r| r.revision().is_some_and(|r| r.number > 0))
                            .count();
                        metrics.corrections.fetch_add(corrections as u64, Relaxed);
                        metrics.windows_out.fetch_add(rows.len() as u64, Relaxed);
                        output.session(&cap).give_container(&mut rows);
                    }
                }
                // Windows whose records left the collection take no more rows.
                if let Some(f) = below {
                    drop_ended_before(&mut windows, f.saturating_sub(lateness));
                }
            }
        })
    }
}

/// The `sector_average` row of sector window `key` at `value`, or, for the unmapped "sector",
/// none: its ticks are counted instead, at the window's `first` emission and only when its end
/// is a multiple of the window `length`, so each tick is counted once (those windows tile time).
pub(super) fn sector_row(
    (end, sector): SectorKey,
    value: &SectorAgg,
    first: bool,
    length: u64,
    revision: Option<Revision>,
    metrics: &Metrics,
) -> Option<WindowRow> {
    let Some(sector) = sector else {
        if first && end % length == 0 {
            metrics.unmapped_ticks.fetch_add(value.agg.0.ticks, Relaxed);
        }
        return None;
    };
    Some(WindowRow::SectorAverage {
        sector: sector.to_string(),
        start: EventTime(end.saturating_sub(length)),
        end: EventTime(end),
        agg: value.agg.0,
        symbols: value.symbols,
        revision,
    })
}

/// Drops the state of the windows ending before `from`, taken from the front: the windows
/// still live stay where they are.
pub(super) fn drop_ended_before<V>(windows: &mut BTreeMap<SectorKey, V>, from: u64) {
    while let Some(window) = windows.first_entry() {
        if window.key().0 >= from {
            break;
        }
        window.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::TickAgg;

    fn agg(price: f64, volume: u64) -> OrdAgg {
        OrdAgg(TickAgg::of(price, volume))
    }

    #[test]
    fn a_window_sends_a_value_only_when_its_records_change_the_sum() {
        let mut w = SectorWindow::default();
        let (a, b) = (agg(10.0, 1), agg(20.0, 2));
        let mut both = [(a, 1), (b, 1)];
        both.sort();
        let first = w.apply(&both).expect("a first value");
        assert_eq!(first.symbols, 2);
        assert_eq!(w.next_revision(), 0);
        // The same records again: no change.
        assert_eq!(w.apply(&[]), None);
        // One symbol leaves: a new value, revision 1.
        let one = w.apply(&[(a, -1)]).expect("a changed value");
        assert_eq!((one.symbols, one.agg.0.ticks), (1, 1));
        assert_eq!(w.next_revision(), 1);
        // The last one leaves: no value, nothing to send; it comes back: sent again.
        assert_eq!(w.apply(&[(b, -1)]), None);
        assert!(w.records.is_empty());
        assert_eq!(w.apply(&[(b, 1)]), Some(one));
        assert_eq!(w.next_revision(), 2);
    }

    #[test]
    fn equal_aggregates_of_two_symbols_count_twice() {
        let mut w = SectorWindow::default();
        let a = agg(5.0, 3);
        let v = w.apply(&[(a, 1)]).expect("value");
        let twice = w.apply(&[(a, 1)]).expect("value");
        assert_eq!((v.symbols, twice.symbols), (1, 2));
        assert_eq!(twice.agg.0.ticks, 2);
    }
}
