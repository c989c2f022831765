//! The window operator against the oracle: partials of random, disordered records fed through
//! timely inputs on 1, 2 and 4 workers, the rows captured with the times they were sent at.

use std::sync::atomic::AtomicI64;
use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::operators::{Capture, Input};
use timely::Config;

use tickflow::dataflow::{Combiner, Windows};
use tickflow::metrics::Metrics;
use tickflow::row::WindowRow;
use tickflow::window::{ReadingAgg, TickAgg, WindowSpec};

use super::harness::drain;
use super::oracle::{self, Ev, Flat, Rng};

/// 2025-11-20T09:30:00Z in milliseconds.
const T0: u64 = 1_763_631_000_000;

/// `n` records about 50 ms apart, each moved up to `disorder_ms` either way.
fn disordered(seed: u64, n: u64, disorder_ms: u64) -> Vec<Ev> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let t = T0 + i * 50 + rng.below(2 * disorder_ms + 1) - disorder_ms;
            oracle::event(&mut rng, t)
        })
        .collect()
}

/// Runs the window operator on `workers` workers, each feeding every `workers`-th record:
/// pre-combined batches of random size, sent at the input's time, which then moves up to
/// (at most) the earliest record the worker has still to send. Returns every row with the
/// time it was sent at.
fn run(spec: WindowSpec, workers: usize, events: Arc<Vec<Ev>>, seed: u64) -> Vec<(u64, WindowRow)> {
    let in_flight = Arc::new(AtomicI64::new(0));
    let metrics = Metrics::new(workers);
    let guards = timely::execute(Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let mine: Vec<&Ev> = events.iter().skip(index).step_by(peers).collect();
        let (in_flight, metrics) = (in_flight.clone(), metrics.clone());
        let (mut input, captured) = worker.dataflow::<u64, _, _>(move |scope| {
            let (input, partials) = scope.new_input();
            let rows = partials.windows(spec, None, in_flight, metrics);
            (input, rows.capture())
        });
        let mut rng = Rng::new(seed ^ (index as u64 + 1));
        let mut sent = 0;
        while sent < mine.len() {
            let batch = (1 + rng.below(12) as usize).min(mine.len() - sent);
            let mut combiner = Combiner::default();
            for ev in &mine[sent..sent + batch] {
                let pane = spec.pane(tickflow::event::EventTime(ev.time()));
                match ev {
                    Ev::Tick {
                        symbol,
                        price,
                        volume,
                        ..
                    } => combiner.add_tick(symbol, pane, TickAgg::of(*price, *volume)),
                    Ev::Reading {
                        category, value, ..
                    } => combiner.add_reading(category, pane, ReadingAgg::of(*value)),
                }
            }
            for partial in combiner.drain() {
                input.send(partial);
            }
            sent += batch;
            // Promise no record earlier than the earliest one left (sometimes less).
            if let Some(low) = mine[sent..].iter().map(|e| e.time()).min() {
                let to = low.saturating_sub(rng.below(3) * 1_000);
                if to > *input.time() {
                    input.advance_to(to);
                }
            }
            for _ in 0..rng.below(3) {
                worker.step();
            }
        }
        drop(input);
        captured
    });
    let mut rows = Vec::new();
    for captured in guards.expect("workers start").join() {
        rows.extend(drain(captured.expect("a worker finished")));
    }
    rows
}

/// Checks `rows` against the oracle over `events`: each non-empty window exactly once, equal
/// bit for bit, sent at its window's end.
fn check(want: &[Flat], rows: &[(u64, WindowRow)], what: &str) {
    for (t, row) in rows {
        assert_eq!(
            *t,
            row.end().0,
            "{what}: a row sent at another time than its end"
        );
    }
    let mut got: Vec<Flat> = rows.iter().map(|(_, r)| Flat::of(r)).collect();
    got.sort();
    for pair in got.windows(2) {
        assert!(
            (pair[0].kind, &pair[0].key, pair[0].end) != (pair[1].kind, &pair[1].key, pair[1].end),
            "{what}: window emitted twice: {:?}",
            pair[0]
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: number of windows");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g, w, "{what}");
    }
}

fn expected(spec: WindowSpec, events: &[Ev]) -> Vec<Flat> {
    let length = spec.length().as_millis() as u64;
    oracle::windows(length, spec.slide().as_millis() as u64, events)
}

fn spec(length_ms: u64, slide_ms: u64) -> WindowSpec {
    WindowSpec::new(
        Duration::from_millis(length_ms),
        Duration::from_millis(slide_ms),
    )
    .expect("a valid window")
}

fn against_oracle(spec: WindowSpec, seeds: &[u64]) {
    for &seed in seeds {
        let events = Arc::new(disordered(seed, 400, 2_000));
        let want = expected(spec, &events);
        for workers in [1, 2, 4] {
            let rows = run(spec, workers, events.clone(), seed);
            check(
                &want,
                &rows,
                &format!("{spec:?}, seed {seed}, {workers} workers"),
            );
        }
    }
}

#[test]
fn sliding_windows_equal_the_oracle() {
    against_oracle(spec(10_000, 1_000), &[1, 2, 3]);
}

#[test]
fn hopping_windows_equal_the_oracle() {
    against_oracle(spec(9_000, 3_000), &[4, 5, 6]);
}

#[test]
fn tumbling_windows_equal_the_oracle() {
    against_oracle(spec(5_000, 5_000), &[7, 8, 9]);
}

#[test]
fn an_event_at_a_window_end_opens_the_next_window() {
    let spec = spec(2_000, 1_000);
    let at = |t, price| Ev::Tick {
        symbol: "X".into(),
        t,
        price,
        volume: 1,
    };
    // Records exactly on slide boundaries: each belongs to windows ending after it only.
    let events = Arc::new(vec![at(T0, 1.0), at(T0 + 1_000, 2.0), at(T0 + 3_000, 4.0)]);
    let rows = run(spec, 1, events.clone(), 0);
    check(&expected(spec, &events), &rows, "boundaries");
    let mut ends: Vec<(u64, u64)> = rows
        .iter()
        .map(|(_, r)| (r.end().0 - T0, Flat::of(r).count))
        .collect();
    ends.sort();
    assert_eq!(
        ends,
        vec![(1_000, 1), (2_000, 2), (3_000, 1), (4_000, 1), (5_000, 1)]
    );
}
