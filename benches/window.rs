//! Window operator throughput: adding pane partials and emitting sliding windows.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;
use tickflow::dataflow::Combiner;
use tickflow::event::EventTime;
use tickflow::window::{SlidingWindows, TickAgg, WindowSpec};

/// `n` ticks over `keys` symbols at 2,000 events per event-second.
fn ticks(n: u64, keys: u64) -> Vec<(String, u64, f64)> {
    (0..n)
        .map(|i| {
            (
                format!("SYM{:06}", i * 7919 % keys),
                i / 2,
                100.0 + (i % 1000) as f64 / 10.0,
            )
        })
        .collect()
}

fn windows(c: &mut Criterion) {
    let mut group = c.benchmark_group("sliding_windows");
    for (length, keys) in [(60, 100), (60, 10_000), (10, 100)] {
        let spec =
            WindowSpec::new(Duration::from_secs(length), Duration::from_secs(1)).expect("valid");
        let input = ticks(200_000, keys);
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(
            BenchmarkId::new(format!("{length}s_1s"), format!("{keys}_keys")),
            |b| {
                b.iter(|| {
                    let mut w = SlidingWindows::<String, TickAgg>::new(spec);
                    let mut emitted = 0u64;
                    for chunk in input.chunks(2_000) {
                        for (key, t, price) in chunk {
                            w.add(
                                key.clone(),
                                spec.pane(EventTime(*t)),
                                &TickAgg::of(*price, 10),
                            );
                        }
                        let frontier = EventTime(chunk.last().expect("non-empty").1);
                        w.advance_to(frontier, |_, _, a| emitted += a.ticks);
                    }
                    w.finish(|_, _, a| emitted += a.ticks);
                    black_box(emitted)
                })
            },
        );
    }
    group.finish();

    let mut group = c.benchmark_group("combiner");
    let input = ticks(200_000, 100);
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("add_and_drain_100_keys", |b| {
        b.iter(|| {
            let mut c = Combiner::default();
            let mut n = 0;
            for chunk in input.chunks(2_500) {
                for (key, t, price) in chunk {
                    c.add_tick(key, t / 1000, TickAgg::of(*price, 10));
                }
                n += c.drain().count();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, windows);
criterion_main!(benches);
