//! Parsing throughput: one line to a tick or reading, in both line forms, through the fast
//! scanner (`parse_line`) and through the full readers alone (`parse_line_full`: serde_json
//! and the Python-literal reader), the reference it is measured against.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde::Deserialize;
use tickflow::event::{
    parse_line, parse_line_full, DayCache, EventTime, FieldNames, Horizon, LineParser,
};

fn lines(form: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let sym = format!("SYM{:03}", i % 100 + 1);
            let price = 100.0 + (i % 9_000) as f64 / 100.0;
            let volume = 1000 + i % 4000;
            let ts = format!("2025-11-20T09:{:02}:{:02}.{:06}", 30 + i / 60_000 % 30, i / 1000 % 60, i % 1000 * 1000);
            match form {
                "json_tick" => format!(r#"{{"timestamp": "{ts}", "stock_code": "{sym}", "price": {price}, "volume": {volume}}}"#),
                "python_tick" => format!("{{'timestamp': '{ts}', 'stock_code': '{sym}', 'price': {price}, 'volume': {volume}}}"),
                "json_reading" => format!(r#"{{"timestamp": {}.{:03}, "value": {price}, "category": "B"}}"#, 1_763_631_000 + i / 1000, i % 1000),
                "python_reading" => format!("{{'timestamp': {}.{:03}, 'value': {price}, 'category': 'B'}}", 1_763_631_000 + i / 1000, i % 1000),
                _ => unreachable!("unknown form"),
            }
        })
        .collect()
}

fn parse(c: &mut Criterion) {
    let names = FieldNames::default();
    let forms = ["json_tick", "python_tick", "json_reading", "python_reading"];
    let mut group = c.benchmark_group("parse_line");
    for form in forms {
        let input = lines(form, 10_000);
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(form, |b| {
            b.iter(|| {
                for line in &input {
                    black_box(parse_line(line.as_bytes(), &names).expect("valid line"));
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("parse_line_full");
    for form in forms {
        let input = lines(form, 10_000);
        group.throughput(Throughput::Elements(input.len() as u64));
        group.bench_function(form, |b| {
            b.iter(|| {
                for line in &input {
                    let parsed = parse_line_full(line.as_bytes(), &names, &Horizon::UNBOUNDED);
                    black_box(parsed.expect("valid line"));
                }
            })
        });
    }
    group.finish();

    let stamps: Vec<String> = lines("json_tick", 10_000)
        .iter()
        .map(|l| l[15..41].to_string())
        .collect();
    let mut group = c.benchmark_group("timestamp");
    group.throughput(Throughput::Elements(stamps.len() as u64));
    group.bench_function("iso8601", |b| {
        b.iter(|| {
            for s in &stamps {
                black_box(EventTime::parse_iso8601(s).expect("valid timestamp"));
            }
        })
    });
    group.finish();
}

/// A JSON tick as the SIMD crates read it: the same four fields, strings borrowed.
#[derive(Deserialize)]
struct Tick<'a> {
    timestamp: &'a str,
    stock_code: &'a str,
    price: f64,
    volume: u64,
}

/// The event time and the numbers of a tick, as every contender hands them back.
fn finish(t: Tick<'_>, days: &mut DayCache) -> (EventTime, usize, f64, u64) {
    let time = EventTime::parse_iso8601_cached(t.timestamp, days).expect("valid timestamp");
    (time, t.stock_code.len(), t.price, t.volume)
}

/// JSON ticks read into the same fields by serde_json, sonic-rs and simd-json (dev-dependencies,
/// measured for the README's "Why a scanner"), beside tickflow's `LineParser`, each
/// with a date cache (and tickflow's its line layout) kept across lines as a running pipeline
/// keeps one.
fn crates(c: &mut Criterion) {
    let names = FieldNames::default();
    let input = lines("json_tick", 10_000);
    let mut group = c.benchmark_group("json_tick");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function("tickflow", |b| {
        let mut parser = LineParser::new(names.clone());
        b.iter(|| {
            for line in &input {
                let parsed = parser.parse(line.as_bytes(), &Horizon::UNBOUNDED);
                black_box(parsed.expect("valid line"));
            }
        })
    });
    group.bench_function("serde_json", |b| {
        let mut days = DayCache::default();
        b.iter(|| {
            for line in &input {
                let t: Tick = serde_json::from_str(line).expect("valid line");
                black_box(finish(t, &mut days));
            }
        })
    });
    group.bench_function("sonic_rs", |b| {
        let mut days = DayCache::default();
        b.iter(|| {
            for line in &input {
                let t: Tick = sonic_rs::from_str(line).expect("valid line");
                black_box(finish(t, &mut days));
            }
        })
    });
    group.bench_function("simd_json", |b| {
        let (mut days, mut scratch) = (DayCache::default(), Vec::new());
        b.iter(|| {
            for line in &input {
                // simd-json parses in place: each line is copied into a buffer it may change.
                scratch.clear();
                scratch.extend_from_slice(line.as_bytes());
                let t: Tick = simd_json::serde::from_slice(&mut scratch).expect("valid line");
                black_box(finish(t, &mut days));
            }
        })
    });
    group.finish();
}

criterion_group!(benches, parse, crates);
criterion_main!(benches);
