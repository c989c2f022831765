//! The count window operator: routes records by key and emits, at each slide end the frontier
//! passes, every key's aggregate of its last N records (see `window::count`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;

use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::Partial;
use crate::event::{EventTime, RejectKind};
use crate::metrics::Metrics;
use crate::row::WindowRow;
use crate::window::{CountWindows, ReadingRecord, TickRecord, WindowSpec, LAST_WINDOW};

/// Extension trait: `partials.count_windows(spec, n, resume_below, in_flight, metrics)`.
pub trait CountWindowsOp<'s> {
    /// Routes records by key and emits, at each slide end `e` the frontier passes, a row for
    /// every key with a record in `[e - slide, e)`: the aggregate of its last `n` records
    /// before `e`, `window_start` the oldest one's time. Rows are sent at `e`.
    ///
    /// `resume_below`: after a restart, rows ending below it were committed and are not sent
    /// again (the records before it are replayed all the same, to rebuild each key's last N).
    fn count_windows(
        self,
        spec: WindowSpec,
        n: usize,
        resume_below: Option<u64>,
        in_flight: Arc<AtomicI64>,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>>;
}

impl<'s> CountWindowsOp<'s> for Stream<'s, u64, Vec<Partial>> {
    fn count_windows(
        self,
        spec: WindowSpec,
        n: usize,
        resume_below: Option<u64>,
        in_flight: Arc<AtomicI64>,
        metrics: Arc<Metrics>,
    ) -> Stream<'s, u64, Vec<WindowRow>> {
        let route = Exchange::new(|p: &Partial| p.route());
        let worker = self.scope().index();
        let slide_ms = spec.slide().as_millis() as u64;
        let resume_below = resume_below.unwrap_or(0);
        self.unary_frontier(route, "CountWindows", move |cap, _info| {
            let mut ticks = CountWindows::<String, TickRecord>::new(n, slide_ms);
            let mut readings = CountWindows::<String, ReadingRecord>::new(n, slide_ms);
            let mut cap = Some(cap);
            move |(input, frontier), output| {
                let _busy = super::ingest::BusyTimer(&metrics, worker, std::time::Instant::now());
                let (mut received, mut refused) = (0i64, 0u64);
                input.for_each_time(|_time, data| {
                    for partial in data.flat_map(|d| d.drain(..)) {
                        received += 1;
                        match partial {
                            Partial::TickRecord { symbol, record } => ticks.add(symbol, record),
                            Partial::ReadingRecord { category, record } => {
                                readings.add(category, record)
                            }
                            // Pane partials are for time windows: never sent with count ones.
                            Partial::Tick { .. } | Partial::Reading { .. } => refused += 1,
                        }
                    }
                });
                if received > 0 {
                    in_flight.fetch_sub(received, Relaxed);
                }
                if refused > 0 {
                    tracing::warn!(refused, "pane partials reached the count window operator");
                    metrics.add_rejects(RejectKind::Late, refused);
                }
                let Some(held) = cap.as_mut() else {
                    return;
                };
                let at = frontier.frontier().first().copied();
                let through_end = match at {
                    Some(t) => spec.end(spec.complete_through(EventTime(t))).0,
                    None => spec.end(LAST_WINDOW).0,
                };
                // Rows by end, sent in order of their end; every end is after the held time,
                // since each record's event time is at or after the time it was sent at.
                let mut due: BTreeMap<u64, Vec<WindowRow>> = BTreeMap::new();
                ticks.emit_through(through_end, |symbol, end, oldest, agg, _| {
                    if end >= resume_below {
                        due.entry(end).or_default().push(WindowRow::SymbolAverage {
                            symbol: symbol.clone(),
                            start: oldest,
                            end: EventTime(end),
                            agg: *agg,
                            revision: None,
                        });
                    }
                });
                readings.emit_through(through_end, |category, end, oldest, agg, _| {
                    if end >= resume_below {
                        due.entry(end).or_default().push(WindowRow::CategoryMean {
                            category: category.clone(),
                            start: oldest,
                            end: EventTime(end),
                            agg: *agg,
                            revision: None,
                        });
                    }
                });
                for (end, mut rows) in due {
                    metrics.windows_out.fetch_add(rows.len() as u64, Relaxed);
                    let at_time = end.max(*held.time());
                    output
                        .session(&held.delayed(&at_time))
                        .give_container(&mut rows);
                }
                match at {
                    Some(t) if t > *held.time() => held.downgrade(&t),
                    Some(_) => {}
                    None => cap = None,
                }
            }
        })
    }
}
