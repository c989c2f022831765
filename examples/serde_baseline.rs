//! The single-core yardstick of issue 17: a hand-written loop that reads a tick file, parses
//! each line with serde_json into a struct and adds it to a per-second pane of its symbol.
//!
//! It does no more than that (no lateness, no windows, no output), so it bounds what one core
//! of serde_json can feed a pipeline. Run it on the file `tickflow run` reads:
//!
//! ```sh
//! cargo run --release --example serde_baseline -- /tmp/ticks1m.jsonl
//! ```

use std::io::{BufRead, BufReader};
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Deserialize;
use tickflow::event::EventTime;

/// One tick as the benchmark file spells it; strings borrowed from the line.
#[derive(Deserialize)]
struct Tick<'a> {
    timestamp: &'a str,
    stock_code: &'a str,
    price: f64,
    volume: u64,
}

/// What a one-second pane of a symbol keeps.
#[derive(Default)]
struct Pane {
    ticks: u64,
    volume: u64,
    sum: f64,
    notional: f64,
    min: f64,
    max: f64,
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: serde_baseline FILE (a JSON tick file, e.g. from scripts/make_ticks.py)");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    let began = Instant::now();
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    let mut panes: FxHashMap<String, FxHashMap<u64, Pane>> = FxHashMap::default();
    let (mut line, mut events, mut bad) = (Vec::new(), 0u64, 0u64);
    while reader.read_until(b'\n', &mut line).expect("read") > 0 {
        match serde_json::from_slice::<Tick>(line.trim_ascii_end()) {
            Ok(t) => match EventTime::parse_iso8601(t.timestamp) {
                Ok(time) => {
                    if !panes.contains_key(t.stock_code) {
                        panes.insert(t.stock_code.to_owned(), FxHashMap::default());
                    }
                    let by_second = panes.get_mut(t.stock_code).expect("inserted above");
                    let pane = by_second.entry(time.millis() / 1000).or_default();
                    if pane.ticks == 0 || t.price < pane.min {
                        pane.min = t.price;
                    }
                    if pane.ticks == 0 || t.price > pane.max {
                        pane.max = t.price;
                    }
                    pane.ticks += 1;
                    pane.volume += t.volume;
                    pane.sum += t.price;
                    pane.notional += t.price * t.volume as f64;
                    events += 1;
                }
                Err(_) => bad += 1,
            },
            Err(_) => bad += 1,
        }
        line.clear();
    }
    let secs = began.elapsed().as_secs_f64();
    let (count, checksum) =
        panes
            .values()
            .flat_map(|p| p.values())
            .fold((0usize, 0.0f64), |(n, s), p| {
                (
                    n + 1,
                    s + p.sum + p.notional / 1e6 + p.min + p.max + (p.ticks + p.volume) as f64,
                )
            });
    println!(
        "{events} events ({bad} bad) into {count} panes in {secs:.3} s: {:.2} M events/s (checksum {checksum:.6e})",
        events as f64 / secs / 1e6
    );
}
