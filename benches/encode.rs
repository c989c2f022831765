//! Sink encoder throughput: result rows to JSON lines and CSV, as text sinks write them.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tickflow::event::EventTime;
use tickflow::row::WindowRow;
use tickflow::sink::{encode, Format};
use tickflow::window::{Aggregate, ReadingAgg, TickAgg};

/// `n` rows of each kind, with symbols and values like a 60 s window over real ticks.
fn rows(n: u64) -> Vec<WindowRow> {
    let mut out = Vec::new();
    for i in 0..n {
        let start = EventTime(1_763_631_000_000 + i * 1000);
        let end = EventTime(start.0 + 60_000);
        let mut agg = TickAgg::of(100.0 + (i % 997) as f64 / 7.0, 100 + i % 50);
        agg.merge(&TickAgg::of(99.5 + (i % 13) as f64 / 3.0, 10 + i % 7));
        out.push(WindowRow::SymbolAverage {
            symbol: format!("SYM{:05}", i % 10_000),
            start,
            end,
            agg,
            revision: None,
        });
        let mut mean = ReadingAgg::of(42.1 + (i % 89) as f64 / 9.0);
        mean.merge(&ReadingAgg::of(17.25));
        out.push(WindowRow::CategoryMean {
            category: ["A", "B", "C", "D"][(i % 4) as usize].to_string(),
            start,
            end,
            agg: mean,
            revision: None,
        });
    }
    out
}

fn encoders(c: &mut Criterion) {
    let input = rows(50_000);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(input.len() as u64));
    for (name, format) in [("jsonl", Format::Jsonl), ("csv", Format::Csv)] {
        group.bench_function(BenchmarkId::from_parameter(name), |b| {
            let mut out = Vec::with_capacity(16 << 20);
            b.iter(|| {
                out.clear();
                for row in &input {
                    encode(black_box(row), format, &mut out);
                }
                black_box(out.len())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, encoders);
criterion_main!(benches);
