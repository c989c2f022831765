//! The naive answer: every window recomputed from the records it holds, in exact rationals.

use std::collections::{BTreeMap, BTreeSet};

use num_bigint::BigInt;
use num_rational::BigRational;
use num_traits::{Signed, Zero};

use tickflow::row::WindowRow;

/// One accepted record, as the oracle sees it.
#[derive(Clone, Debug)]
pub enum Ev {
    Tick {
        symbol: String,
        t: u64,
        price: f64,
        volume: u64,
    },
    Reading {
        category: String,
        t: u64,
        value: f64,
    },
}

impl Ev {
    pub fn time(&self) -> u64 {
        match self {
            Ev::Tick { t, .. } | Ev::Reading { t, .. } => *t,
        }
    }

    fn key(&self) -> (&'static str, &str) {
        match self {
            Ev::Tick { symbol, .. } => ("symbol_average", symbol),
            Ev::Reading { category, .. } => ("category_mean", category),
        }
    }
}

/// A window row reduced to plain values, floats as their bits, so rows compare bit for bit.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flat {
    pub kind: &'static str,
    pub key: String,
    pub end: u64,
    pub start: u64,
    pub count: u64,
    /// `avg_price` or `mean_value`.
    pub mean: u64,
    pub min: Option<u64>,
    pub max: Option<u64>,
    pub vwap: Option<u64>,
    pub volume: u64,
}

impl Flat {
    pub fn of(row: &WindowRow) -> Flat {
        match row {
            WindowRow::SymbolAverage {
                symbol: key,
                start,
                end,
                agg,
                ..
            }
            | WindowRow::SectorAverage {
                sector: key,
                start,
                end,
                agg,
                ..
            } => Flat {
                kind: row.kind(),
                key: key.clone(),
                end: end.0,
                start: start.0,
                count: agg.ticks,
                mean: agg.avg_price().to_bits(),
                min: Some(agg.min_price.to_bits()),
                max: Some(agg.max_price.to_bits()),
                vwap: agg.vwap().map(f64::to_bits),
                volume: agg.volume,
            },
            WindowRow::CategoryMean {
                category,
                start,
                end,
                agg,
                ..
            } => Flat {
                kind: "category_mean",
                key: category.clone(),
                end: end.0,
                start: start.0,
                count: agg.readings,
                mean: agg.mean().to_bits(),
                min: None,
                max: None,
                vwap: None,
                volume: 0,
            },
        }
    }
}

/// One record's exact terms, converted once.
struct Terms {
    t: u64,
    value: f64,
    units: BigInt,
    notional: BigInt,
    volume: u64,
}

impl Terms {
    fn of(ev: &Ev) -> Terms {
        let (value, volume) = match ev {
            Ev::Tick { price, volume, .. } => (*price, *volume),
            Ev::Reading { value, .. } => (*value, 0),
        };
        let units = units(value);
        Terms {
            t: ev.time(),
            value,
            notional: &units * volume,
            units,
            volume,
        }
    }
}

/// Every non-empty window of every key, sorted: for each key and window end `e` (a multiple of
/// `slide`), the records with `e - length <= t < e`.
pub fn windows(length: u64, slide: u64, events: &[Ev]) -> Vec<Flat> {
    let mut by_key: BTreeMap<(&'static str, &str), Vec<Terms>> = BTreeMap::new();
    for ev in events {
        by_key.entry(ev.key()).or_default().push(Terms::of(ev));
    }
    let mut out = Vec::new();
    for ((kind, key), terms) in by_key {
        // Every end whose window holds at least one record.
        let ends: BTreeSet<u64> = terms
            .iter()
            .flat_map(|e| {
                let first = (e.t / slide + 1) * slide;
                (0..length / slide).map(move |i| first + i * slide)
            })
            .collect();
        for end in ends {
            let start = end.saturating_sub(length);
            let inside: Vec<&Terms> = terms.iter().filter(|e| start <= e.t && e.t < end).collect();
            assert!(!inside.is_empty(), "the oracle made an empty window");
            out.push(window(kind, key, start, end, &inside));
        }
    }
    out.sort();
    out
}

fn window(kind: &'static str, key: &str, start: u64, end: u64, inside: &[&Terms]) -> Flat {
    let count = inside.len() as u64;
    let (mut sum, mut notional) = (BigInt::zero(), BigInt::zero());
    let (mut min, mut max, mut volume) = (f64::INFINITY, f64::NEG_INFINITY, 0u64);
    for e in inside {
        sum += &e.units;
        notional += &e.notional;
        min = min.min(e.value);
        max = max.max(e.value);
        volume += e.volume;
    }
    let mean = nearest_f64(&quotient(sum, count)).to_bits();
    let ticks = kind == "symbol_average";
    Flat {
        kind,
        key: key.to_string(),
        end,
        start,
        count,
        mean,
        min: ticks.then(|| min.to_bits()),
        max: ticks.then(|| max.to_bits()),
        vwap: (ticks && volume > 0).then(|| nearest_f64(&quotient(notional, volume)).to_bits()),
        volume: if ticks { volume } else { 0 },
    }
}

/// Fractional bits of [`units`]: every finite f64 is a whole number of 2^-1074.
const UNIT_BITS: usize = 1074;

/// `x` exactly, as a whole number of 2^-1074 (integers add without the rational's gcds).
fn units(x: f64) -> BigInt {
    let q = BigRational::from_float(x).expect("a finite input");
    let scaled = q * BigRational::from_integer(BigInt::from(1) << UNIT_BITS);
    assert!(scaled.is_integer());
    scaled.to_integer()
}

/// `sum` units divided by `divisor`, unreduced.
fn quotient(sum: BigInt, divisor: u64) -> BigRational {
    BigRational::new_raw(sum, BigInt::from(divisor) << UNIT_BITS)
}

/// The f64 nearest to `q`, ties to the even significand (for `q` in the normal range).
pub fn nearest_f64(q: &BigRational) -> f64 {
    if q.numer().is_zero() {
        return 0.0;
    }
    let (n, d) = (q.numer().abs(), q.denom().abs());
    // Find `e` with 2^52 <= n / (d * 2^e) < 2^53: the significand's integer part is 53 bits.
    let mut e = n.bits() as i64 - d.bits() as i64 - 53;
    let (m, r, den) = loop {
        let (num, den) = if e >= 0 {
            (n.clone(), &d << e as usize)
        } else {
            (&n << (-e) as usize, d.clone())
        };
        let (m, r) = (&num / &den, &num % &den);
        if m.bits() > 53 {
            e += 1;
        } else if m.bits() < 53 {
            e -= 1;
        } else {
            break (m, r, den);
        }
    };
    let twice: BigInt = &r * 2;
    let m: u64 = m.try_into().expect("53 bits");
    let up = twice > den || (twice == den && m % 2 == 1);
    let m = m + u64::from(up);
    let magnitude = m as f64 * 2f64.powi(e as i32);
    if q.numer().is_negative() != q.denom().is_negative() {
        -magnitude
    } else {
        magnitude
    }
}

/// A small seeded generator (SplitMix64): fixed seeds give the same input on every run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A price or reading the fixed point holds exactly: mostly cents, some very large or very
/// small magnitudes, so that rounding the mean once matters.
pub fn value(rng: &mut Rng, signed: bool) -> f64 {
    let magnitude = match rng.below(10) {
        0 => (1 + rng.below(1 << 40)) as f64 * 1e-3,
        1 => (1 + rng.below(1_000_000)) as f64 * 1e-9,
        _ => (1 + rng.below(20_000)) as f64 / 100.0,
    };
    if signed && rng.one_in(3) {
        -magnitude
    } else {
        magnitude
    }
}

/// A record at `t` of one of a few symbols and categories; `ZERO` always trades volume 0.
pub fn event(rng: &mut Rng, t: u64) -> Ev {
    if rng.one_in(3) {
        Ev::Reading {
            category: rng.pick(&["A", "B", "C"]).to_string(),
            t,
            value: value(rng, true),
        }
    } else {
        let symbol = *rng.pick(&["AAA", "BBB", "CCC", "ZERO"]);
        let volume = if symbol == "ZERO" || rng.one_in(8) {
            0
        } else {
            rng.below(10_000)
        };
        Ev::Tick {
            symbol: symbol.to_string(),
            t,
            price: value(rng, false),
            volume,
        }
    }
}

#[test]
fn nearest_f64_rounds_once_and_ties_to_even() {
    let r = |n: i64, d: i64| BigRational::new(BigInt::from(n), BigInt::from(d));
    assert_eq!(nearest_f64(&r(1, 3)), 1.0 / 3.0);
    assert_eq!(nearest_f64(&r(-7, 2)), -3.5);
    let sum = units(0.1) + units(0.2) + units(0.3);
    assert_eq!(nearest_f64(&quotient(sum, 3)), 0.2);
    // Halfway between 2^53 and 2^53 + 2: the even significand wins.
    let big = BigInt::from(1u64 << 53);
    assert_eq!(
        nearest_f64(&BigRational::from_integer(&big + 1)),
        2f64.powi(53)
    );
    assert_eq!(
        nearest_f64(&BigRational::from_integer(&big + 3)),
        2f64.powi(53) + 4.0
    );
}
