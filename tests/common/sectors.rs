//! Helpers of the sector rollup tests: in-order ticks, reference CSVs, and the naive as-of
//! recomputation every sector row is checked against (for each window, every tick in it, its
//! symbol's sector as of the window's end, summed per sector).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use super::*;
use serde_json::Value;

/// Window length and slide of every run here, in milliseconds.
pub const L: u64 = 4_000;
pub const S: u64 = 1_000;

pub struct Tick {
    pub ms: u64,
    pub symbol: String,
    pub price: f64,
    pub volume: u64,
}

/// (symbol, sector, valid_from in ms; None: since always).
pub type Row = (&'static str, &'static str, Option<u64>);

/// In-order ticks (never late) over `symbols`, one every `step` ms from T0.
pub fn ticks(seed: u64, n: usize, step: u64, symbols: &[&str]) -> Vec<Tick> {
    let mut r = Rng(seed);
    (0..n as u64)
        .map(|i| Tick {
            ms: T0 + i * step,
            symbol: symbols[r.below(symbols.len() as u64) as usize].to_string(),
            price: 10.0 + r.below(9_000) as f64 / 100.0,
            volume: r.below(1_000),
        })
        .collect()
}

pub fn lines(ticks: &[Tick]) -> Vec<String> {
    ticks
        .iter()
        .map(|t| tick_line(t.ms, &t.symbol, t.price, t.volume))
        .collect()
}

pub fn csv(rows: &[Row]) -> String {
    let mut text = String::from("symbol,sector,valid_from\n");
    for (symbol, sector, from) in rows {
        // Dated rows alternate between Unix seconds and RFC 3339, both accepted.
        let from = match from {
            None => String::new(),
            Some(ms) if ms % 2_000 == 0 => format!("{}", ms / 1000),
            Some(ms) => format!("{}Z", iso(*ms)),
        };
        text.push_str(&format!("{symbol},{sector},{from}\n"));
    }
    text
}

/// The sector of `symbol` for the window ending at `end`: the row with the greatest
/// valid_from strictly before `end`.
pub fn sector_of<'a>(mapping: &'a [Row], symbol: &str, end: u64) -> Option<&'a str> {
    mapping
        .iter()
        .filter(|(s, _, from)| *s == symbol && from.is_none_or(|f| f < end))
        .max_by_key(|(_, _, from)| from.map_or(0, |f| f + 1))
        .map(|(_, sector, _)| *sector)
}

/// The naive recomputation: every sector window of `ticks` under `mapping` (`mapping_at`
/// picks the mapping by window end, for changes while running).
pub fn as_of_oracle<'a>(
    ticks: &[Tick],
    mapping_at: impl Fn(u64) -> &'a [Row],
) -> BTreeMap<RowKey, Value> {
    let first = ticks.iter().map(|t| t.ms).min().unwrap() / S * S + S;
    let last = ticks.iter().map(|t| t.ms).max().unwrap() / S * S + L;
    let mut out = BTreeMap::new();
    let mut end = first;
    while end <= last {
        let mapping = mapping_at(end);
        let mut sectors: BTreeMap<&str, Vec<&Tick>> = BTreeMap::new();
        for t in ticks.iter().filter(|t| t.ms + L >= end && t.ms < end) {
            if let Some(sector) = sector_of(mapping, &t.symbol, end) {
                sectors.entry(sector).or_default().push(t);
            }
        }
        for (sector, ts) in sectors {
            let n = ts.len() as u64;
            let volume: u64 = ts.iter().map(|t| t.volume).sum();
            let notional: f64 = ts.iter().map(|t| t.price * t.volume as f64).sum();
            let symbols: BTreeSet<&str> = ts.iter().map(|t| t.symbol.as_str()).collect();
            let v = serde_json::json!({
                "kind": "sector_average", "sector": sector,
                "window_start": rfc(end - L), "window_end": rfc(end),
                "avg_price": ts.iter().map(|t| t.price).sum::<f64>() / n as f64,
                "min_price": ts.iter().map(|t| t.price).fold(f64::INFINITY, f64::min),
                "max_price": ts.iter().map(|t| t.price).fold(f64::NEG_INFINITY, f64::max),
                "vwap": if volume > 0 { Value::from(notional / volume as f64) } else { Value::Null },
                "ticks": n, "volume": volume, "symbols": symbols.len(),
            });
            out.insert(("sector_average".into(), sector.into(), rfc(end)), v);
        }
        end += S;
    }
    out
}

pub fn rfc(ms: u64) -> String {
    tickflow::event::EventTime(ms).to_string()
}

/// The sector rows among `stdout` (each window once), and every line of them as written.
pub fn sector_rows(stdout: &[u8]) -> (BTreeMap<RowKey, Value>, BTreeSet<String>) {
    let text = String::from_utf8_lossy(stdout);
    let sector_lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"kind\":\"sector_average\""))
        .collect();
    let joined = sector_lines.join("\n");
    (
        rows(joined.as_bytes()),
        sector_lines.iter().map(|l| l.to_string()).collect(),
    )
}

pub fn window_args() -> Vec<&'static str> {
    vec!["--window", "4s", "--slide", "1s"]
}

/// The mapping of the file tests: A and B in tech, C in energy; B moves to energy at
/// T0 + 7.5 s (RFC 3339) and back at T0 + 12 s, exactly a window end (Unix seconds); D moves
/// from unmapped to energy at T0 + 9 s; Z is never mapped.
pub fn file_mapping() -> Vec<Row> {
    vec![
        ("A", "tech", None),
        ("B", "tech", None),
        ("C", "energy", None),
        ("B", "energy", Some(T0 + 7_500)),
        ("B", "tech", Some(T0 + 12_000)),
        ("D", "energy", Some(T0 + 9_000)),
    ]
}

/// Feeds `lines` to the child's stdin.
pub fn feed(stdin: &mut std::process::ChildStdin, lines: &[String]) {
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    stdin.flush().unwrap();
}

/// Waits for a sector row of the window ending at `end` on `out`, collecting every line.
pub fn wait_for_window(out: &std::sync::mpsc::Receiver<String>, seen: &mut Vec<String>, end: u64) {
    let want = format!("\"window_end\":\"{}\"", rfc(end));
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = out.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains("sector_average") && line.contains(&want);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no sector row for the window ending at {}", rfc(end));
}

/// Whether two rows are equal, floats within 1e-12.
pub fn close(a: &Value, b: &Value) -> bool {
    let mut one = BTreeMap::new();
    one.insert(("".into(), "".into(), "".into()), a.clone());
    let mut two = BTreeMap::new();
    two.insert(("".into(), "".into(), "".into()), b.clone());
    std::panic::catch_unwind(|| assert_rows_close(&one, &two, 1e-12)).is_ok()
}
