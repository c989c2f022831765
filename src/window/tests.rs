//! Unit tests of window specs, aggregates and sliding windows, with a naive oracle.

use super::*;

fn spec(length_s: u64, slide_s: u64) -> WindowSpec {
    WindowSpec::new(Duration::from_secs(length_s), Duration::from_secs(slide_s)).unwrap()
}

fn collect(w: &mut SlidingWindows<&'static str, ReadingAgg>, f: u64) -> Vec<(u64, u64, f64)> {
    let mut out = Vec::new();
    w.advance_to(EventTime(f), |_, k, a| {
        out.push((k, a.readings, a.sum.to_f64()))
    });
    out
}

#[test]
fn averages_are_the_nearest_f64_to_the_exact_mean() {
    let one = TickAgg::of(126.33, 4321);
    assert_eq!(one.vwap(), Some(126.33));
    assert_eq!(one.avg_price(), 126.33);
    let mut r = ReadingAgg::of(0.1);
    r.merge(&ReadingAgg::of(0.2));
    r.merge(&ReadingAgg::of(0.3));
    assert_eq!(r.mean(), 0.2);
    let mut t = TickAgg::of(0.1, 1);
    t.merge(&TickAgg::of(0.2, 1));
    t.merge(&TickAgg::of(0.3, 1));
    assert_eq!((t.avg_price(), t.vwap()), (0.2, Some(0.2)));
    assert_eq!(TickAgg::of(5.0, 0).vwap(), None);
}

#[test]
fn spec_validation() {
    let d = Duration::from_secs;
    assert!(WindowSpec::new(d(60), d(1)).is_ok());
    assert!(WindowSpec::new(d(60), d(60)).is_ok());
    assert!(WindowSpec::new(d(60), d(7)).is_err());
    assert!(WindowSpec::new(d(60), d(0)).is_err());
    assert!(WindowSpec::new(d(0), d(1)).is_err());
    assert!(WindowSpec::new(Duration::from_micros(1500), Duration::from_micros(500)).is_err());
}

#[test]
fn event_at_window_end_belongs_to_next_window() {
    let s = spec(3, 1);
    let mut w = SlidingWindows::new(s);
    // Event at exactly 2.000 s: windows ending at 3, 4, 5 s hold it, the one ending at 2 s not.
    w.add("k", s.pane(EventTime(2000)), &ReadingAgg::of(1.0));
    assert_eq!(collect(&mut w, 2_999), vec![]);
    assert_eq!(collect(&mut w, 3_000), vec![(3, 1, 1.0)]);
    assert_eq!(collect(&mut w, 10_000), vec![(4, 1, 1.0), (5, 1, 1.0)]);
    assert_eq!(
        w.active_keys(),
        0,
        "panes are released once their windows are out"
    );
}

#[test]
fn tumbling_and_gaps() {
    let s = spec(2, 2);
    let mut w = SlidingWindows::new(s);
    for t in [0, 1_999, 2_000, 9_000] {
        w.add("k", s.pane(EventTime(t)), &ReadingAgg::of(t as f64));
    }
    assert_eq!(
        collect(&mut w, 20_000),
        vec![(1, 2, 1_999.0), (2, 1, 2_000.0), (5, 1, 9_000.0)]
    );
}

#[test]
fn late_pane_is_refused_and_far_future_costs_one_pane() {
    let s = spec(60, 1);
    let mut w = SlidingWindows::new(s);
    w.add("k", 0, &ReadingAgg::of(1.0));
    w.add("k", 10_000_000_000, &ReadingAgg::of(1.0));
    assert_eq!(w.panes_held(), 2);
    let mut n = 0;
    w.advance_to(EventTime(100_000), |_, _, _| n += 1);
    assert_eq!(n, 60);
    assert!(!w.add("k", 30, &ReadingAgg::of(1.0)));
    assert!(w.add("k", 41, &ReadingAgg::of(1.0)));
}

/// Oracle: random events, random frontier steps; every emitted window must equal a naive
/// recomputation over all events, and every non-empty window must be emitted exactly once.
#[test]
fn oracle_random() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..50 {
        let (length, slide) = [(6, 1), (6, 2), (6, 6), (10, 5), (1, 1)][round % 5];
        let s = spec(length, slide);
        let mut w = SlidingWindows::new(s);
        let mut events = Vec::new();
        let mut got = std::collections::BTreeMap::new();
        let mut frontier = 0u64;
        for _ in 0..400 {
            // Events never go behind the frontier; advance it now and then.
            let t = frontier + rand(8_000);
            let key = ["a", "b", "c"][rand(3) as usize];
            let v = rand(100) as f64;
            events.push((key, t, v));
            assert!(w.add(key, s.pane(EventTime(t)), &ReadingAgg::of(v)));
            if rand(10) == 0 {
                frontier += rand(5_000);
                w.advance_to(EventTime(frontier), |k, i, a| {
                    assert!(got.insert((*k, i), *a).is_none(), "window emitted twice");
                    assert!(s.end(i).0 <= frontier, "window emitted before complete");
                });
            }
        }
        w.finish(|k, i, a| assert!(got.insert((*k, i), *a).is_none()));
        let mut want = std::collections::BTreeMap::new();
        for &(key, t, v) in &events {
            let p = t / (slide * 1000);
            for k in p + 1..=p + length / slide {
                want.entry((key, k))
                    .or_insert_with(ReadingAgg::empty)
                    .merge(&ReadingAgg::of(v));
            }
        }
        assert_eq!(got, want, "round {round}: {length}s/{slide}s");
    }
}

/// Oracle with allowed lateness: events up to D behind the frontier; every window's last
/// emission equals the naive recomputation, its revisions count up from 0 one by one, and
/// nothing is emitted for a window the frontier passed by more than D.
#[test]
fn oracle_random_with_allowed_lateness() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for round in 0..50 {
        let (length, slide, lateness) =
            [(6, 1, 3), (6, 2, 5), (6, 6, 7), (10, 5, 1), (1, 1, 4)][round % 5];
        let s = spec(length, slide)
            .with_allowed_lateness(Duration::from_secs(lateness))
            .unwrap();
        let mut w = SlidingWindows::new(s);
        let mut events = Vec::new();
        let mut got: std::collections::BTreeMap<(&str, u64), (u32, ReadingAgg)> =
            std::collections::BTreeMap::new();
        let mut frontier = 0u64;
        // A window emitted again after the frontier reached `f` must be within D of it.
        let mut check = |k: &&'static str, i: u64, a: &ReadingAgg, revision: u32, f: u64| {
            let again = f != u64::MAX && got.contains_key(&(*k, i));
            assert!(s.end(i).0 <= f, "window emitted before complete");
            assert!(
                !again || s.end(i).0 + lateness * 1000 > f,
                "final window {k} {i} changed at {f}"
            );
            let want = got.get(&(*k, i)).map_or(0, |(r, _)| r + 1);
            assert_eq!(revision, want, "revisions count up one by one");
            got.insert((*k, i), (revision, *a));
        };
        for _ in 0..400 {
            // Events never go further behind the frontier than D.
            let t = (frontier + rand(8_000)).saturating_sub(rand(lateness * 1000 + 1));
            let key = ["a", "b", "c"][rand(3) as usize];
            let v = rand(100) as f64;
            events.push((key, t, v));
            assert!(w.add(key, s.pane(EventTime(t)), &ReadingAgg::of(v)));
            if rand(10) == 0 {
                w.emit_corrections(|k, i, a, r| check(k, i, a, r, frontier));
                frontier += rand(5_000);
                let through = s.complete_through(EventTime(frontier));
                w.emit_through_window(through, |k, i, a| check(k, i, a, 0, frontier));
                w.release_through(s.final_through(EventTime(frontier)));
            }
        }
        w.emit_corrections(|k, i, a, r| check(k, i, a, r, u64::MAX));
        w.finish(|k, i, a| check(k, i, a, 0, u64::MAX));
        let mut want = std::collections::BTreeMap::new();
        for &(key, t, v) in &events {
            let p = t / (slide * 1000);
            for k in p + 1..=p + length / slide {
                want.entry((key, k))
                    .or_insert_with(ReadingAgg::empty)
                    .merge(&ReadingAgg::of(v));
            }
        }
        let got: std::collections::BTreeMap<_, _> =
            got.into_iter().map(|(k, (_, a))| (k, a)).collect();
        assert_eq!(
            got, want,
            "round {round}: {length}s/{slide}s, D {lateness}s"
        );
    }
}
