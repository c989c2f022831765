//! Sector rollups: per-symbol window rows joined, as of each window's end, with a symbol ->
//! sector mapping that may change while running, and summed per sector, on differential
//! dataflow.
//!
//! How it works:
//! 1. [`SymbolRecords`]: each `symbol_average` row becomes the record `(symbol, (end, agg))`
//!    at the time the row was sent. With an allowed lateness D a correction replaces it and it
//!    leaves at [`records::expires_at`] (`end + D + 1`), when the window can no longer change;
//!    without one nothing is retracted.
//! 2. [`MappingInput`]: the mapping `(symbol, (valid_from, sector))`, read on worker 0, enters
//!    at the first time not yet complete; [`SeenSymbols`] adds, for every symbol the records
//!    name, the row "in no sector since always", which ranks below any other. A reduce over
//!    this small collection turns each symbol's rows into validity intervals, `from < end <=
//!    to` for each sector (or none: unmapped), kept arranged by symbol. Every record finds
//!    exactly one interval holding at its `end`, which names its sector.
//! 3. Without allowed lateness a window is final once sent, so no change of the mapping can
//!    reach back to its record: [`JoinAsOf`] looks each record up in the intervals as of its
//!    time, on the worker that made it, and sums what it joined per sector window;
//!    [`SectorTotals`] adds those partial sums on the worker of the window and emits a row for
//!    every window that gained symbols at a time.
//! 4. With allowed lateness the records are arranged by symbol and join the arranged
//!    intervals, so a change of one symbol's mapping reaches the records of windows that can
//!    still be revised: it touches only that symbol's records and, through them, the windows
//!    and the two sectors it moves between. The join passes on no change at or after a
//!    window's expiry (its records leaving the arrangement). [`SectorSums`]: the joined records
//!    go to the worker of their (end, sector), which keeps each sector window's records while
//!    it can still change and their sum (exact sums, min, max, ticks, volume, and how many
//!    symbols). The records reach it without their symbol: two symbols with equal aggregates
//!    are one value whose difference counts both. Each time the dataflow completes, every
//!    sector window whose sum changed at that time becomes a row.
//!
//! Both paths give the same rows for the same input (exact sums, min and max merge in any order
//! to the same bits); the rows go to the sinks with the symbol rows.
//!
//! Why the aggregate is a record and not the difference type: min and max cannot be taken
//! back, so a correction (retract the old value, add the new) needs the values themselves;
//! a semigroup diff could only add.
//!
//! Why the sums of step 4 are an operator of their own and not differential's `reduce`: a
//! sector window's records live for `D + 1` milliseconds of the dataflow's time (from its end
//! to its expiry), and a reduce would arrange them twice (its input and its output) and replay
//! each key's history at the window's end and again at its expiry, for a value nobody reads
//! then. Keeping the current records of each live window, applied a completed time at a time,
//! gives the same rows at about half the cost of the rollup (see the README's "Cost of sector
//! rollups").

mod agg;
mod as_of;
mod intervals;
mod mapping;
mod name;
mod records;
mod seen;
mod sums;
mod totals;

use std::sync::Arc;

use differential_dataflow::operators::join::join_traces;
use differential_dataflow::AsCollection;
use timely::container::{CapacityContainerBuilder, PushInto};
use timely::dataflow::operators::Concat;
use timely::dataflow::Stream;

pub use agg::OrdAgg;
pub use as_of::JoinAsOf;
use intervals::{holds, intervals, Interval};
pub use mapping::MappingInput;
use records::expires_at;
pub use records::SymbolRecords;
pub use seen::SeenSymbols;
use sums::SectorRecord;
pub use sums::SectorSums;
pub use totals::SectorTotals;

use crate::dataflow::RunControl;
use crate::metrics::Metrics;
use crate::reference::ReferenceSpec;
use crate::row::WindowRow;
use crate::window::WindowSpec;

pub use name::Name;

/// An aggregate inside the rollup's collections, shared for the same reason: a record is
/// then a few words, not the aggregate's 96 bytes, wherever batches sort and merge it.
pub type Shared<T> = Arc<T>;

/// Extension trait: `rows.sectors(spec, reference, metrics, control)`.
pub trait Sectors<'s> {
    /// The `sector_average` rows of the symbol rows in `self`, with the mapping read from
    /// `reference` (see the module documentation).
    fn sectors(
        &self,
        spec: WindowSpec,
        reference: ReferenceSpec,
        metrics: Arc<Metrics>,
        control: RunControl,
    ) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> Sectors<'s> for Stream<'s, u64, Vec<WindowRow>> {
    fn sectors(
        &self,
        spec: WindowSpec,
        reference: ReferenceSpec,
        metrics: Arc<Metrics>,
        control: RunControl,
    ) -> Stream<'s, u64, Vec<WindowRow>> {
        let lateness = spec.allowed_lateness().as_millis() as u64;
        let records = self.clone().symbol_records(lateness, spec.revises());
        let mapping = records.mapping(reference, control);
        let intervals = records
            .seen_symbols()
            .concat(mapping)
            .as_collection()
            .reduce_named("Intervals", |_symbol, rows, output| {
                let sectors = intervals(rows.iter().map(|(row, _)| *row));
                output.extend(sectors.into_iter().map(|interval| (interval, 1isize)));
            });
        if !spec.revises() {
            // No window is revised: each record's sector as of its time is all there is to know.
            return records
                .join_as_of(intervals.inner)
                .sector_totals(spec, metrics);
        }
        let intervals = intervals.arrange_by_key_named("Intervals");
        let records = records.as_collection().arrange_by_key_named("Records");
        // `join_traces` rather than `join_core`: the output skips the changes of windows
        // already final (their records leaving the collection at `expires_at`), which the sums
        // would ignore, and is not consolidated here, as the sums consolidate each time anyway.
        join_traces::<_, _, _, _, CapacityContainerBuilder<Vec<_>>>(
            records,
            intervals,
            move |_symbol: &Name,
                  (end, agg): &(u64, Shared<OrdAgg>),
                  interval: &Interval,
                  t: u64,
                  d1: &isize,
                  d2: &isize,
                  out| {
                if holds(interval, *end) && t < expires_at(*end, lateness) {
                    let record: SectorRecord = ((*end, interval.2.clone()), **agg);
                    out.push_into((record, t, d1 * d2));
                }
            },
        )
        .sector_sums(spec, metrics)
    }
}
