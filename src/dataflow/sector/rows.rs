//! Changes of the sector collection into rows: the new value of each sector window that
//! changed, once the time of the change is complete.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use super::agg::SectorAgg;
use super::records::expires_at;
use crate::event::EventTime;
use crate::metrics::Metrics;
use crate::row::{Revision, WindowRow};
use crate::window::WindowSpec;

/// A sector window's value: `((end, sector), agg)`; the sector `None` gathers unmapped symbols.
pub type SectorWindow = ((u64, Option<String>), SectorAgg);

/// The changes of one time not yet complete, with the capability to send its rows at.
type Pending = (Capability<u64>, Vec<(SectorWindow, isize)>);

/// Extension trait: `changes.sector_rows(spec, metrics)`.
pub trait SectorRows<'s> {
    /// Emits, at each time `t` once the input frontier passes it, a `sector_average` row for
    /// every sector window whose value changed at `t` and still has one, numbered as the window
    /// operator numbers revisions (0 at the first emission, +1 per change).
    ///
    /// * Changes at or after the window's [`expires_at`] are the records of a final window
    ///   leaving the collection, not news: ignored.
    /// * A sector window that lost every symbol (all reclassified elsewhere) has no new value:
    ///   nothing is emitted, and its last row stays in the sinks as it was.
    /// * The unmapped "sector" is never a row: at a window's first emission its ticks are
    ///   added to `tickflow_unmapped_ticks_total` when the window's end is a multiple of the
    ///   window length, so each tick is counted once (those windows tile time).
    fn sector_rows(
        self,
        spec: WindowSpec,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> SectorRows<'s> for Stream<'s, u64, Vec<(SectorWindow, u64, isize)>> {
    fn sector_rows(
        self,
        spec: WindowSpec,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>> {
        let lateness = spec.allowed_lateness().as_millis() as u64;
        let length = spec.length().as_millis() as u64;
        self.unary_frontier(Pipeline, "SectorRows", move |_cap, _info| {
            let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
            // Revisions so far of every sector window that can still change, by (end, sector).
            let mut emitted: BTreeMap<(u64, Option<String>), u32> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    for (change, t, diff) in data.drain(..) {
                        let entry = pending
                            .entry(t)
                            .or_insert_with(|| (cap.delayed(&t, 0), Vec::new()));
                        entry.1.push((change, diff));
                    }
                });
                let below = frontier.frontier().first().copied();
                while let Some(entry) = pending.first_entry() {
                    let t = *entry.key();
                    if below.is_some_and(|f| t >= f) {
                        break;
                    }
                    let (cap, mut changes) = entry.remove();
                    let mut rows = Vec::new();
                    differential_dataflow::consolidation::consolidate(&mut changes);
                    for (((end, sector), value), diff) in changes {
                        if diff <= 0 || t >= expires_at(end, lateness) {
                            continue;
                        }
                        let number = match emitted.get_mut(&(end, sector.clone())) {
                            Some(n) => {
                                *n += 1;
                                *n
                            }
                            None => {
                                emitted.insert((end, sector.clone()), 0);
                                0
                            }
                        };
                        let Some(sector) = sector else {
                            if number == 0 && end % length == 0 {
                                metrics.unmapped_ticks.fetch_add(value.agg.0.ticks, Relaxed);
                            }
                            continue;
                        };
                        rows.push(WindowRow::SectorAverage {
                            sector,
                            start: EventTime(end.saturating_sub(length)),
                            end: EventTime(end),
                            agg: value.agg.0,
                            symbols: value.symbols,
                            revision: spec.revises().then_some(Revision {
                                number,
                                sent_at: EventTime(t),
                            }),
                        });
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
                    let live_from = f.saturating_sub(lateness);
                    emitted = emitted.split_off(&(live_from, None));
                }
            }
        })
    }
}
