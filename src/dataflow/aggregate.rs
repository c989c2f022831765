//! The window operator: merges partials per key and emits each window once it is complete.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::{Partial, Shared};
use crate::event::{EventTime, RejectKind};
use crate::row::WindowRow;
use crate::window::{ReadingAgg, SlidingWindows, TickAgg, WindowSpec};

/// Extension trait: `partials.windows(shared)`.
pub trait Windows<'s> {
    /// Routes partials by key and emits one row per key and complete non-empty window.
    ///
    /// Rows are sent at their window's end time, so this operator's output frontier says which
    /// windows are final: every row with `window_end < frontier` has been sent.
    fn windows(self, shared: Arc<Shared>) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> Windows<'s> for Stream<'s, u64, Vec<Partial>> {
    fn windows(self, shared: Arc<Shared>) -> Stream<'s, u64, Vec<WindowRow>> {
        let spec = shared.pipeline.window;
        let route = Exchange::new(|p: &Partial| p.route());
        let worker = self.scope().index();
        self.unary_frontier(route, "Windows", move |cap, _info| {
            let mut ticks = SlidingWindows::<String, TickAgg>::new(spec);
            let mut readings = SlidingWindows::<String, ReadingAgg>::new(spec);
            if let Some(restart) = &shared.restart {
                ticks.resume_below(restart.committed_below);
                readings.resume_below(restart.committed_below);
            }
            let mut cap = Some(cap);
            let mut ready: Vec<(u64, WindowRow)> = Vec::new();
            move |(input, frontier), output| {
                let _busy =
                    super::ingest::BusyTimer(&shared.metrics, worker, std::time::Instant::now());
                let (mut received, mut refused) = (0i64, 0u64);
                input.for_each_time(|_time, data| {
                    for partial in data.flat_map(|d| d.drain(..)) {
                        received += 1;
                        let kept = match partial {
                            Partial::Tick { symbol, pane, agg } => ticks.add(symbol, pane, &agg),
                            Partial::Reading {
                                category,
                                pane,
                                agg,
                            } => readings.add(category, pane, &agg),
                        };
                        refused += u64::from(!kept);
                    }
                });
                if received > 0 {
                    shared.in_flight.fetch_sub(received, Relaxed);
                }
                if refused > 0 {
                    // Sources decide lateness before this point; count anything that slips by.
                    tracing::warn!(refused, "partials arrived for windows already emitted");
                    shared.metrics.add_rejects(RejectKind::Late, refused);
                }
                let Some(held) = cap.as_mut() else {
                    return;
                };
                let at = frontier.frontier().first().copied();
                match at {
                    Some(t) if t <= *held.time() => return,
                    Some(t) => {
                        let now = EventTime(t);
                        ticks.advance_to(now, |s, k, a| ready.push(symbol_row(&spec, s, k, a)));
                        readings
                            .advance_to(now, |c, k, a| ready.push(category_row(&spec, c, k, a)));
                    }
                    None => {
                        ticks.finish(|s, k, a| ready.push(symbol_row(&spec, s, k, a)));
                        readings.finish(|c, k, a| ready.push(category_row(&spec, c, k, a)));
                    }
                }
                if !ready.is_empty() {
                    shared
                        .metrics
                        .windows_out
                        .fetch_add(ready.len() as u64, Relaxed);
                    ready.sort_unstable_by_key(|(end, _)| *end);
                    let mut rows = ready.drain(..).peekable();
                    while let Some((end, row)) = rows.next() {
                        let at_end = held.delayed(&end);
                        let mut session = output.session(&at_end);
                        session.give(row);
                        while let Some((_, row)) = rows.next_if(|(e, _)| *e == end) {
                            session.give(row);
                        }
                    }
                }
                match at {
                    Some(t) => held.downgrade(&t),
                    None => cap = None,
                }
            }
        })
    }
}

fn symbol_row(spec: &WindowSpec, symbol: &str, k: u64, agg: &TickAgg) -> (u64, WindowRow) {
    let row = WindowRow::SymbolAverage {
        symbol: symbol.to_string(),
        start: spec.start(k),
        end: spec.end(k),
        agg: *agg,
    };
    (spec.end(k).0, row)
}

fn category_row(spec: &WindowSpec, category: &str, k: u64, agg: &ReadingAgg) -> (u64, WindowRow) {
    let row = WindowRow::CategoryMean {
        category: category.to_string(),
        start: spec.start(k),
        end: spec.end(k),
        agg: *agg,
    };
    (spec.end(k).0, row)
}
