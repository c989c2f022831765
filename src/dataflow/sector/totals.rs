//! The sum of each sector window from partial sums, for runs without allowed lateness.
//!
//! Without allowed lateness nothing is ever taken back: a window's records only arrive, each
//! once. Each worker then sums the records it joined per sector window ([`super::JoinAsOf`])
//! and only those partial sums cross to the worker of the window, about a tenth of the records
//! with ten symbols a sector. Exact sums, min and max merge in any order to the same bits, so
//! the rows are those [`super::SectorSums`] would give from the records themselves.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use differential_dataflow::hashable::Hashable;
use rustc_hash::FxHashMap;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

use super::agg::SectorAgg;
use super::sums::{drop_ended_before, sector_row, SectorKey};
use crate::metrics::Metrics;
use crate::row::WindowRow;
use crate::window::WindowSpec;

/// A partial sum: some of a sector window's symbols, summed on one worker.
pub type SectorPartial = (SectorKey, SectorAgg);

/// Extension trait: `partials.sector_totals(spec, metrics)`.
pub trait SectorTotals<'s> {
    /// Routes each partial sum to the worker of its sector window, adds it to the window's
    /// total and emits, at each time `t` once the input frontier passes it, a
    /// `sector_average` row for every sector window that gained symbols at `t`, in key order.
    /// The unmapped "sector" is never a row: its ticks are counted as [`super::SectorSums`]
    /// counts them, once, at a window's first emission when its end is a multiple of the
    /// window length.
    fn sector_totals(
        self,
        spec: WindowSpec,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> SectorTotals<'s> for Stream<'s, u64, Vec<SectorPartial>> {
    fn sector_totals(
        self,
        spec: WindowSpec,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>> {
        let length = spec.length().as_millis() as u64;
        let route = Exchange::new(|(key, _): &SectorPartial| key.hashed());
        self.unary_frontier(route, "SectorTotals", move |_cap, _info| {
            let mut pending: BTreeMap<u64, (Capability<u64>, FxHashMap<SectorKey, SectorAgg>)> =
                BTreeMap::new();
            // The total of each window the frontier has not passed yet.
            let mut windows: BTreeMap<SectorKey, SectorAgg> = BTreeMap::new();
            move |(input, frontier), output| {
                input.for_each(|cap, data| {
                    let t = *cap.time();
                    let sums = &mut pending
                        .entry(t)
                        .or_insert_with(|| (cap.delayed(&t, 0), FxHashMap::default()))
                        .1;
                    for (key, partial) in data.drain(..) {
                        sums.entry(key)
                            .or_insert_with(SectorAgg::empty)
                            .add(&partial.agg, partial.symbols);
                    }
                });
                let below = frontier.frontier().first().copied();
                while let Some(entry) = pending.first_entry() {
                    let t = *entry.key();
                    if below.is_some_and(|f| t >= f) {
                        break;
                    }
                    let (cap, sums) = entry.remove();
                    let mut sums: Vec<(SectorKey, SectorAgg)> = sums.into_iter().collect();
                    sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                    let mut rows = Vec::new();
                    for (key, partial) in sums {
                        let total = windows.entry(key.clone()).or_insert_with(SectorAgg::empty);
                        let first = total.symbols == 0;
                        total.add(&partial.agg, partial.symbols);
                        rows.extend(sector_row(key, total, first, length, None, &metrics));
                    }
                    if !rows.is_empty() {
                        metrics.windows_out.fetch_add(rows.len() as u64, Relaxed);
                        output.session(&cap).give_container(&mut rows);
                    }
                }
                // A window the frontier passed takes no more partials.
                if let Some(f) = below {
                    drop_ended_before(&mut windows, f);
                }
            }
        })
    }
}
