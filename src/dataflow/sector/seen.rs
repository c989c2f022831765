//! Every symbol the records name, as a mapping row that puts it in no sector since always.

use rustc_hash::FxHashSet;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::mapping::MappingRecord;
use super::records::SymbolWindow;
use super::Name;

/// Extension trait: `records.seen_symbols()`.
pub trait SeenSymbols<'s> {
    /// The row `(symbol, (None, None))` for each symbol, at the time of its first record.
    ///
    /// It is the lowest row a symbol can have (since always, in no sector), so it changes no
    /// symbol's sector: it only makes sure every record finds an interval of its symbol, the
    /// unmapped ones included, and the join alone assigns every record its sector.
    fn seen_symbols(&self) -> Stream<'s, u64, Vec<(MappingRecord, u64, isize)>>;
}

impl<'s> SeenSymbols<'s> for Stream<'s, u64, Vec<(SymbolWindow, u64, isize)>> {
    fn seen_symbols(&self) -> Stream<'s, u64, Vec<(MappingRecord, u64, isize)>> {
        self.clone().unary(Pipeline, "SeenSymbols", |_cap, _info| {
            let mut seen: FxHashSet<Name> = FxHashSet::default();
            move |input, output| {
                input.for_each_time(|cap, data| {
                    let t = *cap.time();
                    let mut rows = Vec::new();
                    // A symbol first shows in an addition; retractions name no new one.
                    for ((symbol, _), _, diff) in data.flat_map(|d| d.iter()) {
                        if *diff > 0 && !seen.contains(symbol) {
                            seen.insert(symbol.clone());
                            rows.push(((symbol.clone(), (None, None)), t, 1));
                        }
                    }
                    if !rows.is_empty() {
                        output.session(&cap).give_container(&mut rows);
                    }
                });
            }
        })
    }
}
