//! The whole operator chain (ingest, exchange, windows, emit) fed by scripted partitions:
//! lateness, rejects, the outlier filter, idleness and the frontier, against the oracle.

use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::operators::Capture;
use timely::Config;

use tickflow::config::ReadingFilter;
use tickflow::dataflow::{
    gossip, ingest, Emit, IngestContext, IngestSettings, Resumption, RunControl, WatermarkBoard,
    Windows,
};
use tickflow::event::{EventTime, FieldNames, RejectKind};
use tickflow::metrics::Metrics;
use tickflow::row::WindowRow;
use tickflow::sink::Sinks;
use tickflow::source::{Partition, Poll, PreparedSources};
use tickflow::window::WindowSpec;

use super::harness::{drain, Input, Note, Recorded, Recorder, Script, Scripted, Step, PENDING};
use super::oracle::{self, Ev, Flat, Rng};

/// 2025-11-20T09:30:00Z in milliseconds.
const T0: u64 = 1_763_631_000_000;
const OUT_OF_ORDERNESS: u64 = 5_000;
const SOURCE: &str = "scripted";

fn settings(window: WindowSpec, idle_timeout: Duration) -> IngestSettings {
    IngestSettings {
        fields: FieldNames::default(),
        filter: ReadingFilter {
            keep_below: Some(90.0),
            keep_above: None,
        },
        window,
        max_out_of_orderness: Duration::from_millis(OUT_OF_ORDERNESS),
        idle_timeout,
        max_line_bytes: 1 << 20,
        max_future: Duration::from_secs(86_400),
    }
}

/// What a run left behind.
struct Outcome {
    recorded: Arc<Recorded>,
    /// Rows as the window operator sent them, with their times.
    captured: Vec<(u64, WindowRow)>,
    metrics: Arc<Metrics>,
}

/// Runs the operators as `dataflow::execute` wires them, on `workers` workers, partition `i`
/// read by worker `i % workers`.
fn run(scripts: Vec<Script>, workers: usize, settings: IngestSettings) -> Outcome {
    let make = move |worker: usize, workers: usize| -> Vec<Box<dyn Partition>> {
        scripts
            .iter()
            .filter(|s| s.index % workers == worker)
            .map(|s| Box::new(Scripted::new(s.clone())) as Box<dyn Partition>)
            .collect()
    };
    let recorded = Arc::new(Recorded::default());
    let metrics = Metrics::new(workers);
    let window = settings.window;
    let cx = Arc::new(IngestContext {
        sources: Arc::new(PreparedSources::from_partitions(make)),
        settings,
        resumption: Arc::new(Resumption::default()),
        sinks: Arc::new(Sinks::new(vec![Box::new(Recorder(recorded.clone()))])),
        metrics: metrics.clone(),
        recent_rejects: None,
        watermarks: Arc::new(WatermarkBoard::new(workers, 0..workers)),
        in_flight: Arc::new(AtomicI64::new(0)),
        control: RunControl::default(),
    });
    let guards = timely::execute(Config::process(workers), {
        let cx = cx.clone();
        move |worker| {
            let cx = cx.clone();
            worker.dataflow::<u64, _, _>(move |scope| {
                gossip(scope, cx.watermarks.clone());
                let rows = ingest(scope, cx.clone()).windows(
                    window,
                    None,
                    cx.in_flight.clone(),
                    cx.metrics.clone(),
                );
                rows.clone()
                    .emit(cx.sinks.clone(), cx.control.clone(), None);
                rows.capture()
            })
        }
    });
    let mut captured = Vec::new();
    for rows in guards.expect("workers start").join() {
        captured.extend(drain(rows.expect("a worker finished")));
    }
    assert_eq!(cx.control.first_error(), None);
    assert_eq!(cx.in_flight.load(Relaxed), 0, "every partial was taken in");
    Outcome {
        recorded,
        captured,
        metrics,
    }
}

/// What the scripts must give: accepted records, filtered readings, rejects.
#[derive(Default)]
struct Expected {
    accepted: Vec<Ev>,
    filtered: u64,
    /// `(source, partition, line, offset, reason, raw)`, sorted.
    rejects: Vec<(String, usize, u64, u64, &'static str, String)>,
}

/// Decides every item the way the partitions must: a record behind its own partition's
/// `max event time seen - out_of_orderness` is late, readings of 90 or more are filtered.
/// (Without idleness no worker promises more than its partitions' watermarks.)
fn expect(scripts: &[Script]) -> Expected {
    let mut out = Expected::default();
    for script in scripts {
        let mut max_seen: Option<u64> = None;
        for (position, input) in script.items() {
            let reject = |reason| {
                (
                    script.source.clone(),
                    script.index,
                    position.line,
                    position.offset,
                    reason,
                    input.raw(),
                )
            };
            let ev = match input {
                Input::Bad { reason, .. } => {
                    out.rejects.push(reject(*reason));
                    continue;
                }
                Input::Line { ev, .. } | Input::Record(ev) => ev,
            };
            let watermark = max_seen.map_or(0, |m| m.saturating_sub(OUT_OF_ORDERNESS));
            if ev.time() < watermark {
                out.rejects.push(reject("late"));
                continue;
            }
            max_seen = max_seen.max(Some(ev.time()));
            match ev {
                Ev::Reading { value, .. } if *value >= 90.0 => out.filtered += 1,
                _ => out.accepted.push(ev.clone()),
            }
        }
    }
    out.rejects.sort();
    out
}

/// Checks rows, rejects, counters and frontier notes of `outcome` against `expected`.
fn check(outcome: &Outcome, expected: &Expected, window: WindowSpec, what: &str) {
    let notes = outcome.recorded.notes.lock().expect("not poisoned").clone();
    let rows: Vec<&WindowRow> = notes
        .iter()
        .filter_map(|(_, n)| match n {
            Note::Rows(rows) => Some(rows),
            Note::Frontier(_) => None,
        })
        .flatten()
        .collect();
    let mut got: Vec<Flat> = rows.iter().map(|r| Flat::of(r)).collect();
    got.sort();
    let length = window.length().as_millis() as u64;
    let slide = window.slide().as_millis() as u64;
    let want = oracle::windows(length, slide, &expected.accepted);
    assert_eq!(got.len(), want.len(), "{what}: number of rows");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{what}");
    }
    // The sink got exactly what the window operator sent, each row at its window's end.
    let mut sent: Vec<Flat> = outcome.captured.iter().map(|(_, r)| Flat::of(r)).collect();
    sent.sort();
    assert_eq!(sent, got, "{what}: sink rows and captured rows");
    for (t, row) in &outcome.captured {
        assert_eq!(
            *t,
            row.end().0,
            "{what}: a row sent at another time than its end"
        );
    }

    let mut rejects: Vec<_> = outcome
        .recorded
        .rejects
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|r| {
            (
                r.source.clone(),
                r.partition,
                r.line,
                r.position,
                r.reason,
                r.raw.clone(),
            )
        })
        .collect();
    rejects.sort();
    assert_eq!(rejects, expected.rejects, "{what}: rejects");

    let m = &outcome.metrics;
    let late = expected.rejects.iter().filter(|r| r.4 == "late").count() as u64;
    assert_eq!(m.rejects(RejectKind::Late), late, "{what}: late count");
    let accepted = expected.accepted.len() as u64 + expected.filtered;
    assert_eq!(m.accepted.load(Relaxed), accepted, "{what}: accepted");
    assert_eq!(
        m.filtered.load(Relaxed),
        expected.filtered,
        "{what}: filtered"
    );

    // Per worker: the frontier only moves forward and ends; no row comes after a note that
    // every row ending before it was written.
    let workers = notes.iter().map(|(w, _)| w + 1).max().unwrap_or(0);
    for worker in 0..workers {
        let mut below: Option<Option<u64>> = None;
        for (_, note) in notes.iter().filter(|(w, _)| *w == worker) {
            match note {
                Note::Rows(rows) => {
                    for r in rows {
                        let b = below.flatten();
                        assert!(
                            below.is_none() || b.is_some_and(|b| r.end().0 >= b),
                            "{what}: worker {worker} got a row ending {} after the note {below:?}",
                            r.end().0
                        );
                    }
                }
                Note::Frontier(b) => {
                    let earlier = below.flatten().unwrap_or(0);
                    assert!(
                        below != Some(None) && b.is_none_or(|b| b >= earlier),
                        "{what}: worker {worker}'s frontier went from {below:?} to {b:?}"
                    );
                    below = Some(*b);
                }
            }
        }
        assert_eq!(
            below,
            Some(None),
            "{what}: worker {worker}'s frontier ended"
        );
    }
}

/// `partitions` scripted partitions of `n` items each: records about 100 ms apart, mostly
/// within the out-of-orderness, some far behind (late), a few bad lines, read in polls of
/// 0 to 7 items that answer `Ready` or `Pending`.
fn random_scripts(seed: u64, partitions: usize, n: u64) -> Vec<Script> {
    let mut rng = Rng::new(seed);
    (0..partitions)
        .map(|index| {
            let mut items = Vec::new();
            for i in 0..n {
                let behind = if rng.one_in(12) {
                    3_000 + rng.below(12_000)
                } else {
                    rng.below(2_000)
                };
                let t = T0 + 2_000 + i * 100 + rng.below(1_000) - behind;
                let ev = oracle::event(&mut rng, t);
                items.push(match rng.below(20) {
                    0 => Input::Bad {
                        line: format!("not a record {i}"),
                        reason: "malformed",
                    },
                    1 => Input::Bad {
                        line: format!(r#"{{"timestamp": {t}, "stock_code": "AAA", "volume": 1}}"#),
                        reason: "missing_field",
                    },
                    2..=5 => Input::Record(ev),
                    6..=9 => Input::Line { ev, python: true },
                    _ => Input::Line { ev, python: false },
                });
            }
            let mut steps = Vec::new();
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                let take = rng.below(8) as usize;
                let then = if rng.one_in(4) { PENDING } else { Poll::Ready };
                steps.push(Step {
                    items: items.by_ref().take(take).collect(),
                    then,
                });
            }
            Script {
                source: SOURCE.into(),
                index,
                steps,
            }
        })
        .collect()
}

fn spec(length_ms: u64, slide_ms: u64) -> WindowSpec {
    WindowSpec::new(
        Duration::from_millis(length_ms),
        Duration::from_millis(slide_ms),
    )
    .expect("a valid window")
}

#[test]
fn scripted_partitions_equal_the_oracle_on_1_2_and_4_workers() {
    // No partition goes idle: lateness depends on each partition's own order alone.
    let never_idle = Duration::from_secs(3_600);
    for (window, seed) in [(spec(10_000, 1_000), 11), (spec(6_000, 6_000), 12)] {
        let scripts = random_scripts(seed, 3, 150);
        let expected = expect(&scripts);
        assert!(
            expected.rejects.iter().any(|r| r.4 == "late") && expected.filtered > 0,
            "the input exercises lateness and the filter"
        );
        for workers in [1, 2, 4] {
            let outcome = run(scripts.clone(), workers, settings(window, never_idle));
            let what = format!("{window:?}, seed {seed}, {workers} workers");
            check(&outcome, &expected, window, &what);
        }
    }
}

fn tick(symbol: &str, t: u64) -> Input {
    Input::Line {
        ev: Ev::Tick {
            symbol: symbol.into(),
            t,
            price: 10.0,
            volume: 1,
        },
        python: false,
    }
}

fn step(items: Vec<Input>, then: Poll) -> Step {
    Step { items, then }
}

fn script(index: usize, steps: Vec<Step>) -> Script {
    Script {
        source: SOURCE.into(),
        index,
        steps,
    }
}

#[test]
fn each_partition_judges_lateness_by_its_own_watermark() {
    let scripts = vec![
        // Far ahead of partition 1, which it does not make late.
        script(0, vec![step(vec![tick("A", T0 + 60_000)], Poll::Ready)]),
        script(
            1,
            vec![
                step(vec![tick("B", T0 + 10_000)], Poll::Ready),
                step(vec![], PENDING),
                // Exactly at the watermark (10 s - 5 s) is on time; a millisecond earlier is late.
                step(
                    vec![tick("B", T0 + 5_000), tick("B", T0 + 4_999)],
                    Poll::Ready,
                ),
            ],
        ),
    ];
    let expected = expect(&scripts);
    assert_eq!(expected.accepted.len(), 3);
    assert_eq!(expected.rejects.len(), 1);
    let window = spec(2_000, 1_000);
    let outcome = run(scripts, 1, settings(window, Duration::from_secs(3_600)));
    check(&outcome, &expected, window, "own watermarks");
    let rejects = outcome.recorded.rejects.lock().expect("not poisoned");
    assert_eq!(
        rejects[0].detail,
        format!(
            "event time {} is behind the partition's watermark {}",
            EventTime(T0 + 4_999),
            EventTime(T0 + 5_000)
        )
    );
}

#[test]
fn an_idle_partition_stops_holding_the_frontier_back() {
    // With no idle timeout, a partition is idle as soon as a poll finds nothing. Partition 0
    // pends while partition 1 moves to 40 s and ends: the worker follows partition 1, so
    // partition 0's record at 12 s, on time by its own watermark (5 s), is late: behind what
    // the worker already promised (40 s - 5 s).
    let mut idle = vec![step(vec![tick("A", T0 + 10_000)], Poll::Ready)];
    idle.extend((0..8).map(|_| step(vec![], PENDING)));
    idle.push(step(vec![tick("A", T0 + 12_000)], Poll::Ready));
    let scripts = vec![
        script(0, idle),
        script(
            1,
            vec![
                step(vec![tick("B", T0 + 10_000)], Poll::Ready),
                step(vec![tick("B", T0 + 30_000)], Poll::Ready),
                step(vec![tick("B", T0 + 40_000)], Poll::Ready),
            ],
        ),
    ];
    let window = spec(5_000, 5_000);
    let outcome = run(scripts.clone(), 1, settings(window, Duration::ZERO));

    let mut expected = expect(&scripts);
    let late = expected
        .accepted
        .iter()
        .position(|e| e.time() == T0 + 12_000)
        .expect("on time by its own watermark");
    expected.accepted.remove(late);
    expected.rejects.push((
        SOURCE.into(),
        0,
        2,
        tick("A", T0 + 10_000).raw().len() as u64 + 1,
        "late",
        tick("A", T0 + 12_000).raw(),
    ));
    check(&outcome, &expected, window, "idle partition");
    let rejects = outcome.recorded.rejects.lock().expect("not poisoned");
    assert!(
        rejects[0]
            .detail
            .ends_with(&format!("watermark {}", EventTime(T0 + 35_000))),
        "{}",
        rejects[0].detail
    );
}
