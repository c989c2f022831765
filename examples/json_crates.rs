//! The parsers of issue 17 side by side on one tick file, for instruction counts: each line
//! read into the same four fields (timestamp as event time, symbol, price, volume) by
//! serde_json, sonic-rs, simd-json or tickflow's own `parse_line`, and nothing else.
//!
//! The file is read into memory first, so under `valgrind --tool=callgrind` the difference
//! between a parser's run and the `split` run (lines found, nothing parsed) is what parsing
//! costs:
//!
//! ```sh
//! cargo build --release --example json_crates
//! for p in split serde sonic simd tickflow; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$p \
//!     target/release/examples/json_crates /tmp/ticks200k.jsonl $p
//! done
//! ```

use serde::Deserialize;
use tickflow::event::{DayCache, EventTime, FieldNames, Horizon, LineParser, Record};

/// One tick as the benchmark file spells it; strings borrowed from the line.
#[derive(Deserialize)]
struct Tick<'a> {
    timestamp: &'a str,
    stock_code: &'a str,
    price: f64,
    volume: u64,
}

/// What every parser hands back per line: event time, symbol length, price, volume.
type Fields = (u64, usize, f64, u64);

fn via_serde(t: Tick<'_>, days: &mut DayCache) -> Option<Fields> {
    let time = EventTime::parse_iso8601_cached(t.timestamp, days).ok()?;
    Some((time.millis(), t.stock_code.len(), t.price, t.volume))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(parser)) = (args.next(), args.next()) else {
        eprintln!("usage: json_crates FILE split|serde|sonic|simd|tickflow");
        std::process::exit(2);
    };
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let mut days = DayCache::default();
    let mut tickflow = LineParser::new(FieldNames::default());
    let mut scratch = Vec::new();
    let (mut parsed, mut failed, mut checksum) = (0u64, 0u64, 0.0f64);
    for line in data.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let fields: Option<Fields> = match parser.as_str() {
            "split" => Some((line.len() as u64, 0, 0.0, 0)),
            "serde" => serde_json::from_slice::<Tick>(line)
                .ok()
                .and_then(|t| via_serde(t, &mut days)),
            "sonic" => sonic_rs::from_slice::<Tick>(line)
                .ok()
                .and_then(|t| via_serde(t, &mut days)),
            "simd" => {
                // simd-json parses in place: the line is copied into a buffer it may change.
                scratch.clear();
                scratch.extend_from_slice(line);
                simd_json::serde::from_slice::<Tick>(&mut scratch)
                    .ok()
                    .and_then(|t| via_serde(t, &mut days))
            }
            "tickflow" => match tickflow.parse(line, &Horizon::UNBOUNDED) {
                Ok(Record::Tick(t)) => Some((t.time.millis(), t.symbol.len(), t.price, t.volume)),
                _ => None,
            },
            other => panic!("unknown parser {other}"),
        };
        match fields {
            Some((time, symbol, price, volume)) => {
                parsed += 1;
                checksum += (time % 1000) as f64 + symbol as f64 + price + volume as f64;
            }
            None => failed += 1,
        }
    }
    println!("{parser}: {parsed} lines parsed, {failed} failed (checksum {checksum:.6e})");
}
