//! Symbol rows into a differential collection: one record per symbol and window, replaced
//! when the window is corrected, retracted once the window is final.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::agg::OrdAgg;
use super::{Name, Shared};
use crate::row::WindowRow;

/// A symbol's aggregate for the window ending at `end`: `(symbol, (end, agg))`.
pub type SymbolWindow = (Name, (u64, Shared<OrdAgg>));

/// Extension trait: `rows.symbol_records(lateness_ms, revises)`.
pub trait SymbolRecords<'s> {
    /// Turns each `symbol_average` row sent at `t` into the update `+(symbol, (end, agg))` at
    /// `t`, and schedules its retraction at [`expires_at`]`(end, lateness_ms)`. A correction
    /// (a later revision of the same symbol and window) retracts the previous value at its own
    /// time and moves the scheduled retraction over to the new value, so at any time the
    /// collection holds the last value of every window that can still change.
    ///
    /// Rows of a symbol all come from the worker that owns its key, so the last values kept
    /// here are exactly those of this worker's symbols; they are dropped once final. Without
    /// revisions (`revises` false: no allowed lateness) no window is sent twice: nothing is
    /// kept, and no retraction is scheduled, as the records are looked up once
    /// ([`super::JoinAsOf`]) and never arranged.
    fn symbol_records(
        self,
        lateness_ms: u64,
        revises: bool,
    ) -> Stream<'s, u64, Vec<(SymbolWindow, u64, isize)>>;
}

/// The time a window's records leave the collection: one past the last time a correction can
/// be sent at (`end + D - 1`) or a change of the mapping can still revise it (`end + D`).
/// Changes the dataflow sees at or after it are expiry, not news.
pub fn expires_at(end: u64, lateness_ms: u64) -> u64 {
    end.saturating_add(lateness_ms).saturating_add(1)
}

impl<'s> SymbolRecords<'s> for Stream<'s, u64, Vec<WindowRow>> {
    fn symbol_records(
        self,
        lateness_ms: u64,
        revises: bool,
    ) -> Stream<'s, u64, Vec<(SymbolWindow, u64, isize)>> {
        self.unary_frontier(Pipeline, "SymbolRecords", move |_cap, _info| {
            let mut last: FxHashMap<(Name, u64), Shared<OrdAgg>> = FxHashMap::default();
            let mut expiring: BTreeMap<u64, Vec<(Name, u64)>> = BTreeMap::new();
            // Every symbol's name, made once: a row then costs a lookup, not a hash and an
            // allocation (the set of symbols is the one `SeenSymbols` keeps too).
            let mut names: FxHashMap<String, Name> = FxHashMap::default();
            move |(input, frontier), output| {
                input.for_each_time(|cap, data| {
                    let t = *cap.time();
                    let mut updates = Vec::new();
                    for row in data.flat_map(|d| d.iter()) {
                        let WindowRow::SymbolAverage {
                            symbol, end, agg, ..
                        } = row
                        else {
                            continue;
                        };
                        let (end, agg) = (end.0, OrdAgg(*agg));
                        let expiry = expires_at(end, lateness_ms).max(t + 1);
                        let symbol = match names.get(symbol.as_str()) {
                            Some(name) => name.clone(),
                            None => names
                                .entry(symbol.clone())
                                .or_insert_with(|| Name::new(symbol))
                                .clone(),
                        };
                        let record = |a: &Shared<OrdAgg>| (symbol.clone(), (end, a.clone()));
                        let agg = Shared::new(agg);
                        if revises {
                            match last.insert((symbol.clone(), end), agg.clone()) {
                                Some(previous) => {
                                    updates.push((record(&previous), t, -1));
                                    updates.push((record(&previous), expiry, 1));
                                }
                                None => expiring
                                    .entry(expiry)
                                    .or_default()
                                    .push((symbol.clone(), end)),
                            }
                        }
                        updates.push((record(&agg), t, 1));
                        if revises {
                            updates.push((record(&agg), expiry, -1));
                        }
                    }
                    if !updates.is_empty() {
                        output.session(&cap).give_container(&mut updates);
                    }
                });
                // Windows whose retraction time the frontier reached take no more rows.
                let below = frontier.frontier().first().copied().unwrap_or(u64::MAX);
                while let Some(entry) = expiring.first_entry() {
                    if *entry.key() > below {
                        break;
                    }
                    for key in entry.remove() {
                        last.remove(&key);
                    }
                }
            }
        })
    }
}
