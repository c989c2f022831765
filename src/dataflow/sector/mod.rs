//! Sector rollups: per-symbol window rows joined, as of each window's end, with a symbol ->
//! sector mapping that may change while running, and summed per sector, on differential
//! dataflow.
//!
//! How it works:
//! 1. [`SymbolRecords`]: each `symbol_average` row becomes the record `(symbol, (end, agg))`
//!    at the time the row was sent; a correction replaces it; it leaves at
//!    [`records::expires_at`] (`end + D + 1`), when the window can no longer change.
//! 2. [`MappingInput`]: the mapping `(symbol, (valid_from, sector))`, read on worker 0, enters
//!    at the first time not yet complete; it is arranged by symbol.
//! 3. As of: the records join the mapping rows of their symbol with `valid_from < end` (none:
//!    since always); the row with the greatest `valid_from` names the symbol's sector for that
//!    window (a symbol without one is unmapped). A change of one symbol's mapping touches only
//!    that symbol's records, and through them the windows and the two sectors it moves between.
//! 4. Per (sector, end): the sum of the symbols' aggregates (exact sums, min, max, ticks,
//!    volume) and how many symbols there are.
//! 5. [`SectorRows`]: the new value of each sector window that changed, as a row sent at the
//!    time of the change, which goes to the sinks with the symbol rows.
//!
//! Why the aggregate is a record and not the difference type: min and max cannot be taken
//! back, so a correction (retract the old value, add the new) needs the values themselves;
//! a semigroup diff could only add.

mod agg;
mod mapping;
mod records;
mod rows;

use std::sync::Arc;

use differential_dataflow::AsCollection;
use timely::dataflow::Stream;

pub use agg::{OrdAgg, SectorAgg};
pub use mapping::MappingInput;
pub use records::SymbolRecords;
pub use rows::SectorRows;

use crate::dataflow::RunControl;
use crate::metrics::Metrics;
use crate::reference::ReferenceSpec;
use crate::row::WindowRow;
use crate::window::WindowSpec;

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
        let records = self.clone().symbol_records(lateness);
        let mapping = records
            .mapping(reference, control)
            .as_collection()
            .arrange_by_key_named("Mapping");
        let symbols = records.as_collection();
        let dated = symbols.clone().join_core(
            mapping,
            |symbol: &String,
             &(end, agg): &(u64, OrdAgg),
             (from, sector): &(Option<u64>, Option<String>)| {
                from.is_none_or(|t| t < end)
                    .then(|| ((symbol.clone(), end), (Some(*from), sector.clone(), agg)))
            },
        );
        // Every record also stands for itself, ranked below any mapping row: a symbol whose
        // greatest entry is this one is unmapped for that window.
        let own = symbols.map(|(symbol, (end, agg))| ((symbol, end), (None, None, agg)));
        dated
            .concat(own)
            .reduce_named("AsOf", |_key, input, output| {
                let ((rank, sector, agg), _) = input.last().expect("reduce input is never empty");
                let sector = if rank.is_some() { sector.clone() } else { None };
                output.push(((sector, *agg), 1isize));
            })
            .map(|((symbol, end), (sector, agg))| ((sector, end), (symbol, agg)))
            .reduce_named("Sector", |_key, input, output| {
                output.push((SectorAgg::of(input.iter().map(|((_, agg), _)| agg)), 1isize));
            })
            .inner
            .sector_rows(spec, metrics)
    }
}
