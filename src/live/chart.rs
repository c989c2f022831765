//! The live chart's memory: per symbol and category, the last 10 minutes of window results.
//!
//! How it works:
//! 1. The sink operator hands every batch of rows to [`Chart::record`] (only with
//!    `--http-addr`), which takes the lock once per batch and appends one point per row: the
//!    window's end and its `avg_price` (symbols) or `mean_value` (categories).
//! 2. Each key keeps a ring of at most [`MAX_POINTS`] points, and points more than
//!    [`SPAN_MS`] of event time behind the key's newest are dropped as new ones arrive, so
//!    memory is bounded by keys times points whatever the input.
//! 3. A revision of a window already charted replaces its point.
//! 4. At most [`MAX_KEYS`] keys are charted; rows of further keys are counted, not kept.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use crate::row::WindowRow;

/// How much event time the chart shows: 10 minutes behind the newest window end.
pub const SPAN_MS: u64 = 10 * 60 * 1000;
/// Points kept per key (10 minutes of 1 s slides, twice over for finer slides).
pub const MAX_POINTS: usize = 1200;
/// Keys charted at most; the picker lists these.
pub const MAX_KEYS: usize = 2000;

/// What a charted key is: a symbol's moving average or a category's mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Series {
    Symbol,
    Category,
}

impl Series {
    /// The prefix of a key in the API (`symbol:SYM001`, `category:A`).
    pub fn prefix(self) -> &'static str {
        match self {
            Series::Symbol => "symbol",
            Series::Category => "category",
        }
    }

    /// Splits an API key into its series and name.
    pub fn parse(key: &str) -> Option<(Series, &str)> {
        let (prefix, name) = key.split_once(':')?;
        match prefix {
            "symbol" => Some((Series::Symbol, name)),
            "category" => Some((Series::Category, name)),
            _ => None,
        }
    }
}

/// One point: a window's end (ms since the epoch) and its average.
pub type Point = (u64, f64);

/// The last 10 minutes of results per key.
#[derive(Default)]
pub struct Chart {
    keys: Mutex<Keys>,
    /// Rows of keys beyond [`MAX_KEYS`], not charted.
    untracked_rows: AtomicU64,
}

#[derive(Default)]
struct Keys {
    symbols: BTreeMap<String, VecDeque<Point>>,
    categories: BTreeMap<String, VecDeque<Point>>,
    /// The newest window end charted, over every key.
    newest_ms: u64,
}

impl Chart {
    /// Adds one point per row (one lock per batch).
    pub fn record(&self, rows: &[WindowRow]) {
        if rows.is_empty() {
            return;
        }
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut untracked = 0;
        for row in rows {
            let (map, name, point) = match row {
                WindowRow::SymbolAverage {
                    symbol, end, agg, ..
                } => (&mut keys.symbols, symbol, (end.0, agg.avg_price())),
                WindowRow::CategoryMean {
                    category, end, agg, ..
                } => (&mut keys.categories, category, (end.0, agg.mean())),
                // The page charts symbols and categories; sectors are in the sinks.
                WindowRow::SectorAverage { .. } => continue,
            };
            let charted = map.len();
            let ring = match map.get_mut(name.as_str()) {
                Some(ring) => ring,
                None if charted < MAX_KEYS => map.entry(name.clone()).or_default(),
                None => {
                    untracked += 1;
                    continue;
                }
            };
            push(ring, point);
            keys.newest_ms = keys.newest_ms.max(point.0);
        }
        if untracked > 0 {
            self.untracked_rows.fetch_add(untracked, Relaxed);
        }
    }

    /// The charted keys of each series, in order.
    pub fn keys(&self) -> (Vec<String>, Vec<String>) {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        (
            keys.symbols.keys().cloned().collect(),
            keys.categories.keys().cloned().collect(),
        )
    }

    /// The points of `name` within [`SPAN_MS`] of the newest window end over all keys,
    /// oldest first; `None` for a key never charted.
    pub fn points(&self, series: Series, name: &str) -> Option<Vec<Point>> {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let map = match series {
            Series::Symbol => &keys.symbols,
            Series::Category => &keys.categories,
        };
        let from = keys.newest_ms.saturating_sub(SPAN_MS);
        map.get(name)
            .map(|ring| ring.iter().filter(|p| p.0 >= from).copied().collect())
    }

    /// The newest window end charted (0 before any).
    pub fn newest_ms(&self) -> u64 {
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .newest_ms
    }

    /// Rows not charted because [`MAX_KEYS`] keys already were.
    pub fn untracked_rows(&self) -> u64 {
        self.untracked_rows.load(Relaxed)
    }
}

/// Adds `point` to a key's ring: in order of window end, a revision replacing its window's
/// point, the oldest dropped past [`SPAN_MS`] or [`MAX_POINTS`].
fn push(ring: &mut VecDeque<Point>, point: Point) {
    match ring.iter().rposition(|p| p.0 <= point.0) {
        Some(i) if ring[i].0 == point.0 => ring[i] = point,
        Some(i) => ring.insert(i + 1, point),
        None => ring.push_front(point),
    }
    let newest = ring.back().map_or(0, |p| p.0);
    while ring
        .front()
        .is_some_and(|p| p.0 + SPAN_MS < newest || ring.len() > MAX_POINTS)
    {
        ring.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTime;
    use crate::window::TickAgg;

    fn tick_row(symbol: &str, end_ms: u64, price: f64) -> WindowRow {
        WindowRow::SymbolAverage {
            symbol: symbol.into(),
            start: EventTime(end_ms.saturating_sub(60_000)),
            end: EventTime(end_ms),
            agg: TickAgg::of(price, 1),
            revision: None,
        }
    }

    #[test]
    fn keeps_ten_minutes_in_order_with_revisions_replacing() {
        let chart = Chart::default();
        // Out of order, and a revision of the window ending at 3 s.
        let ends = [1_000, 3_000, 2_000];
        let rows: Vec<_> = ends.iter().map(|&e| tick_row("A", e, e as f64)).collect();
        chart.record(&rows);
        chart.record(&[tick_row("A", 3_000, 7.0)]);
        assert_eq!(
            chart.points(Series::Symbol, "A").unwrap(),
            vec![(1_000, 1_000.0), (2_000, 2_000.0), (3_000, 7.0)]
        );
        // Eleven minutes later only what is within ten minutes of the newest remains.
        let later = 3_000 + 11 * 60_000;
        chart.record(&[
            tick_row("A", later - SPAN_MS, 1.0),
            tick_row("A", later, 2.0),
        ]);
        assert_eq!(
            chart.points(Series::Symbol, "A").unwrap(),
            vec![(later - SPAN_MS, 1.0), (later, 2.0)]
        );
        assert_eq!(chart.points(Series::Category, "A"), None);
    }

    #[test]
    fn bounds_points_and_keys() {
        let chart = Chart::default();
        let rows: Vec<_> = (1..=5_000).map(|i| tick_row("A", i * 10, 1.0)).collect();
        chart.record(&rows);
        let points = chart.points(Series::Symbol, "A").unwrap();
        assert_eq!(points.len(), MAX_POINTS);
        assert_eq!(points.last().unwrap().0, 50_000);
        let many: Vec<_> = (0..MAX_KEYS + 10)
            .map(|i| tick_row(&format!("K{i}"), 1_000, 1.0))
            .collect();
        chart.record(&many);
        assert_eq!(chart.keys().0.len(), MAX_KEYS);
        assert_eq!(chart.untracked_rows(), 11);
    }

    #[test]
    fn api_keys_parse() {
        assert_eq!(
            Series::parse("symbol:SYM:1"),
            Some((Series::Symbol, "SYM:1"))
        );
        assert_eq!(Series::parse("category:A"), Some((Series::Category, "A")));
        assert_eq!(Series::parse("sector:X"), None);
    }
}
