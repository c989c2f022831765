//! The window operator: merges partials per key, emits each window once it is complete, and
//! again, as a new revision, when late partials change it within the allowed lateness.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::{Key, Partial};
use crate::event::{EventTime, RejectKind};
use crate::metrics::Metrics;
use crate::row::{Revision, WindowRow};
use crate::window::{ReadingAgg, SlidingWindows, TickAgg, WindowSpec, LAST_WINDOW};

/// Rows made per activation before the operator yields to the sink: a frontier that leaps
/// ahead (a catch-up, the end of input) releases its windows a slice at a time, so memory
/// holds a slice of rows, not all of them.
const ROWS_PER_ACTIVATION: usize = 65_536;

/// Extension trait: `partials.windows(spec, resume_below, in_flight, metrics)`.
pub trait Windows<'s> {
    /// Routes partials by key and emits one row per key and complete non-empty window.
    ///
    /// Rows are sent at their window's end time, so this operator's output frontier says which
    /// windows are out: every row with `window_end < frontier` has been sent. With an allowed
    /// lateness D, a correction is sent at the time of the moment (never below the input
    /// frontier, which trails its window's end by less than D) and carries it as
    /// [`Revision::sent_at`]; a window is final once the frontier passes its end + D.
    ///
    /// `resume_below`: after a restart, windows ending below it were committed and are not
    /// emitted again. `in_flight` counts partials sent by sources and not yet taken in here.
    fn windows(
        self,
        spec: WindowSpec,
        resume_below: Option<u64>,
        in_flight: Arc<AtomicI64>,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> Windows<'s> for Stream<'s, u64, Vec<Partial>> {
    fn windows(
        self,
        spec: WindowSpec,
        resume_below: Option<u64>,
        in_flight: Arc<AtomicI64>,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>> {
        let route = Exchange::new(|p: &Partial| p.route());
        let scope = self.scope();
        let worker = scope.index();
        self.unary_frontier(route, "Windows", move |cap, info| {
            let activator = scope.activator_for(info.address.clone());
            let mut ticks = SlidingWindows::<Key, TickAgg>::new(spec);
            let mut readings = SlidingWindows::<Key, ReadingAgg>::new(spec);
            if let Some(below) = resume_below {
                ticks.resume_below(below);
                readings.resume_below(below);
            }
            let mut cap = Some(cap);
            move |(input, frontier), output| {
                let _busy = super::ingest::BusyTimer(&metrics, worker, std::time::Instant::now());
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
                            // Records of count windows go to their own operator.
                            Partial::TickRecord { .. } | Partial::ReadingRecord { .. } => false,
                        };
                        refused += u64::from(!kept);
                    }
                });
                if received > 0 {
                    in_flight.fetch_sub(received, Relaxed);
                }
                if refused > 0 {
                    // Sources decide lateness before this point; count anything that slips by.
                    tracing::warn!(refused, "partials arrived for windows already final");
                    metrics.add_rejects(RejectKind::Late, refused);
                }
                let Some(held) = cap.as_mut() else {
                    return;
                };
                // Corrections first, at the held time: no later than anything still to come.
                let now = *held.time();
                let mut rows = Vec::new();
                ticks.emit_corrections(|s, k, a, number| {
                    rows.push(symbol_row(&spec, s, k, a, revision(&spec, number, now)))
                });
                readings.emit_corrections(|c, k, a, number| {
                    rows.push(category_row(&spec, c, k, a, revision(&spec, number, now)))
                });
                if !rows.is_empty() {
                    let corrections = rows
                        .iter()
                        .filter(|r| r.revision().is_some_and(|r| r.number > 0));
                    metrics
                        .corrections
                        .fetch_add(corrections.count() as u64, Relaxed);
                    metrics.windows_out.fetch_add(rows.len() as u64, Relaxed);
                    output.session(&*held).give_container(&mut rows);
                }
                // Windows go out in order of their end, each end's rows one container, up to
                // a budget of rows per activation (see ROWS_PER_ACTIVATION).
                let at = frontier.frontier().first().copied();
                let through = match at {
                    Some(t) => spec.complete_through(EventTime(t)),
                    None => LAST_WINDOW,
                };
                let mut budget = ROWS_PER_ACTIVATION;
                while let Some(k) = next_due(&ticks, &readings).filter(|&k| k <= through) {
                    if budget == 0 {
                        // More to emit: continue in the next activation, after the sink.
                        activator.activate();
                        break;
                    }
                    let mut rows = Vec::new();
                    // A window that held no data when the frontier passed it and gained some
                    // from a late record (within D) goes out now, not at its end.
                    let end = spec.end(k).0;
                    let at_time = end.max(*held.time());
                    let first = revision(&spec, 0, at_time);
                    ticks.emit_through_window(k, |s, k, a| {
                        rows.push(symbol_row(&spec, s, k, a, first))
                    });
                    readings.emit_through_window(k, |c, k, a| {
                        rows.push(category_row(&spec, c, k, a, first))
                    });
                    budget = budget.saturating_sub(rows.len().max(1));
                    metrics.windows_out.fetch_add(rows.len() as u64, Relaxed);
                    if !rows.is_empty() {
                        output
                            .session(&held.delayed(&at_time))
                            .give_container(&mut rows);
                    }
                    // Every later row ends after `end`.
                    let next = at.map_or(end + 1, |t| t.min(end + 1));
                    if next > *held.time() {
                        held.downgrade(&next);
                    }
                }
                // Windows the frontier has passed by more than D take no more corrections.
                let final_through = at.map_or(LAST_WINDOW, |t| spec.final_through(EventTime(t)));
                ticks.release_through(final_through);
                readings.release_through(final_through);
                if next_due(&ticks, &readings).is_none_or(|k| k > through) {
                    match at {
                        Some(t) if t > *held.time() => held.downgrade(&t),
                        Some(_) => {}
                        None => cap = None,
                    }
                }
            }
        })
    }
}

/// The lowest window index either kind of window still has to emit.
fn next_due(
    ticks: &SlidingWindows<Key, TickAgg>,
    readings: &SlidingWindows<Key, ReadingAgg>,
) -> Option<u64> {
    match (ticks.next_due(), readings.next_due()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Revision `number` of a row sent at `sent_at`, when windows take corrections.
fn revision(spec: &WindowSpec, number: u32, sent_at: u64) -> Option<Revision> {
    spec.revises().then_some(Revision {
        number,
        sent_at: EventTime(sent_at),
    })
}

fn symbol_row(
    spec: &WindowSpec,
    symbol: &str,
    k: u64,
    agg: &TickAgg,
    revision: Option<Revision>,
) -> WindowRow {
    WindowRow::SymbolAverage {
        symbol: symbol.to_string(),
        start: spec.start(k),
        end: spec.end(k),
        agg: *agg,
        revision,
    }
}

fn category_row(
    spec: &WindowSpec,
    category: &str,
    k: u64,
    agg: &ReadingAgg,
    revision: Option<Revision>,
) -> WindowRow {
    WindowRow::CategoryMean {
        category: category.to_string(),
        start: spec.start(k),
        end: spec.end(k),
        agg: *agg,
        revision,
    }
}
