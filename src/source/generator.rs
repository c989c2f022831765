//! Synthetic ticks and readings, deterministic for a seed whatever the number of workers.
//!
//! The generator is a set of streams, one per symbol (ticks) and one per category (readings).
//! Global event `j` belongs to stream `j % streams` and happens at `start + j * spacing`; each
//! stream is its own random walk seeded from `(seed, stream)`. A worker runs the streams whose
//! index is congruent to it, so the union over workers is the same event set for any `-w N`.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Item, Partition, Poll, Position};
use crate::event::{EventTime, Reading, Record, Tick};

/// Which record shapes to generate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kinds {
    Ticks,
    Readings,
    Both,
}

/// Generator settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneratorSpec {
    /// Events per second of wall time; 0 = as fast as possible.
    pub rate: f64,
    /// Events per second of event time (density); default: `rate`, or 2,000 when `rate` is 0.
    pub event_rate: Option<f64>,
    /// Stop after this many events in total (all workers); none = run until stopped.
    pub events: Option<u64>,
    /// Number of symbols, named SYM001, SYM002, ...
    pub symbols: usize,
    /// Category names for readings.
    pub categories: Vec<String>,
    pub seed: u64,
    pub kinds: Kinds,
    /// Event time of the first event (RFC 3339), or "now".
    pub start: String,
}

/// `tickflow run`'s generator when neither the spec nor a flag says otherwise: a slow live demo
/// of both shapes at a fixed start, so its output is the same every time.
impl Default for GeneratorSpec {
    fn default() -> Self {
        GeneratorSpec {
            rate: 20.0,
            event_rate: None,
            events: None,
            symbols: 10,
            categories: GeneratorSpec::DEFAULT_CATEGORIES
                .split(',')
                .map(String::from)
                .collect(),
            seed: 42,
            kinds: Kinds::Both,
            start: "2025-11-20T09:30:00Z".into(),
        }
    }
}

/// Event-time spacing when generating as fast as possible: 2,000 events per event-second.
const FAST_SPACING_US: u64 = 500;
/// Events produced per poll: bounded so progress and shutdown stay visible.
const EVENTS_PER_POLL: usize = 4096;

impl GeneratorSpec {
    /// The default reading categories, as `--categories` is written.
    pub const DEFAULT_CATEGORIES: &'static str = "A,B,C";

    /// `tickflow produce`'s defaults, different from `run`'s on purpose (it fills a topic or a
    /// file rather than showing a demo): 1000 ticks a second of 100 symbols, starting now; the
    /// rest as [`GeneratorSpec::default`]. `produce`'s flags take their defaults from here.
    pub fn for_produce() -> GeneratorSpec {
        GeneratorSpec {
            rate: 1000.0,
            symbols: 100,
            kinds: Kinds::Ticks,
            start: "now".into(),
            ..GeneratorSpec::default()
        }
    }

    /// Checks the settings, naming the one that is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.rate.is_finite() && self.rate >= 0.0) {
            return Err(format!("generator rate must be >= 0, got {}", self.rate));
        }
        if let Some(r) = self.event_rate {
            if !(r.is_finite() && (0.001..=1e6).contains(&r)) {
                return Err(format!(
                    "generator event_rate must be in 0.001..=1000000, got {r}"
                ));
            }
        }
        if self.kinds != Kinds::Readings && self.symbols == 0 {
            return Err("generator needs at least one symbol".into());
        }
        if self.kinds != Kinds::Ticks && self.categories.is_empty() {
            return Err("generator needs at least one category".into());
        }
        if self.categories.iter().any(|c| c.is_empty()) {
            return Err("generator categories may not be empty strings".into());
        }
        self.start_time().map(|_| ())
    }

    /// Event time of the first event.
    pub fn start_time(&self) -> Result<EventTime, String> {
        if self.start == "now" {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_err(|e| e.to_string())?;
            return Ok(EventTime(now.as_millis() as u64));
        }
        EventTime::parse_iso8601(&self.start).map_err(|e| format!("generator start: {e}"))
    }

    /// Microseconds of event time between consecutive events.
    fn spacing_us(&self) -> u64 {
        match self.event_rate {
            Some(r) => ((1e6 / r).round() as u64).max(1),
            None if self.rate > 0.0 => ((1e6 / self.rate).round() as u64).max(1),
            None => FAST_SPACING_US,
        }
    }

    fn stream_names(&self) -> Vec<(bool, String)> {
        let mut names = Vec::new();
        if self.kinds != Kinds::Readings {
            let width = self.symbols.to_string().len().max(3);
            names.extend((1..=self.symbols).map(|i| (true, format!("SYM{i:0width$}"))));
        }
        if self.kinds != Kinds::Ticks {
            names.extend(self.categories.iter().map(|c| (false, c.clone())));
        }
        names
    }
}

/// SplitMix64: tiny, fast, and stable forever, so a seed means the same data in every release.
#[derive(Clone, Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Stream {
    index: u64,
    is_tick: bool,
    name: String,
    rng: SplitMix,
    price: f64,
}

/// The streams of the generator that one worker runs.
pub struct Generator {
    streams: Vec<Stream>,
    total_streams: u64,
    /// The global event number of the next round's first event.
    round: u64,
    next_in_round: usize,
    limit: Option<u64>,
    start_us: u64,
    spacing_us: u64,
    rate: f64,
    began: Instant,
    worker: usize,
    emitted: u64,
}

impl Generator {
    /// The generator streams of `worker` out of `workers`, or `None` if it runs none.
    pub fn new(spec: &GeneratorSpec, worker: usize, workers: usize) -> Option<Generator> {
        let names = spec.stream_names();
        let total_streams = names.len() as u64;
        let streams: Vec<Stream> = names
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % workers == worker)
            .map(|(i, (is_tick, name))| {
                let mut rng = SplitMix(spec.seed ^ (i as u64).wrapping_mul(0xa076_1d64_78bd_642f));
                let price = 100.0 + 100.0 * rng.unit();
                Stream {
                    index: i as u64,
                    is_tick,
                    name,
                    rng,
                    price,
                }
            })
            .collect();
        if streams.is_empty() {
            return None;
        }
        Some(Generator {
            streams,
            total_streams,
            round: 0,
            next_in_round: 0,
            limit: spec.events,
            start_us: spec.start_time().ok()?.0 * 1000,
            spacing_us: spec.spacing_us(),
            rate: spec.rate,
            began: Instant::now(),
            worker,
            emitted: 0,
        })
    }
}

impl Partition for Generator {
    fn source(&self) -> &str {
        "generator"
    }

    fn index(&self) -> usize {
        self.worker
    }

    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll {
        for _ in 0..EVENTS_PER_POLL {
            let stream = &mut self.streams[self.next_in_round];
            let j = self.round * self.total_streams + stream.index;
            if self.limit.is_some_and(|n| j >= n) {
                return Poll::Done;
            }
            if self.rate > 0.0 {
                let due = Duration::from_secs_f64(j as f64 / self.rate);
                let now = self.began.elapsed();
                if due > now {
                    return Poll::Pending(due - now);
                }
            }
            let time = EventTime((self.start_us + j * self.spacing_us) / 1000);
            let record = if stream.is_tick {
                // A random walk of at most half a percent a step, in whole cents.
                let step = 1.0 + (stream.rng.unit() - 0.5) * 0.01;
                stream.price = (stream.price * step).max(1.0);
                let volume = 1000 + stream.rng.next() % 4001;
                Record::Tick(Tick {
                    time,
                    symbol: Cow::Borrowed(&stream.name),
                    price: (stream.price * 100.0).round() / 100.0,
                    volume,
                })
            } else {
                let value = (stream.rng.unit() * 10_000.0).floor() / 100.0;
                Record::Reading(Reading {
                    time,
                    category: Cow::Borrowed(&stream.name),
                    value,
                })
            };
            self.emitted += 1;
            out(Item::Record(
                record,
                Position {
                    line: self.emitted,
                    offset: j,
                },
            ));
            self.next_in_round += 1;
            if self.next_in_round == self.streams.len() {
                self.next_in_round = 0;
                self.round += 1;
            }
        }
        Poll::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(spec: &GeneratorSpec, workers: usize) -> Vec<String> {
        let mut all = Vec::new();
        for w in 0..workers {
            let Some(mut g) = Generator::new(spec, w, workers) else {
                continue;
            };
            while g.poll(&mut |item| {
                if let Item::Record(r, _) = item {
                    all.push(format!("{r:?}"));
                }
            }) != Poll::Done
            {}
        }
        all.sort();
        all
    }

    #[test]
    fn same_events_for_any_worker_count() {
        let spec = GeneratorSpec {
            rate: 0.0,
            events: Some(10_000),
            ..GeneratorSpec::default()
        };
        let one = run(&spec, 1);
        assert_eq!(one.len(), 10_000);
        assert_eq!(one, run(&spec, 2));
        assert_eq!(one, run(&spec, 5));
        assert_eq!(one, run(&spec, 64));
        let other_seed = GeneratorSpec { seed: 7, ..spec };
        assert_ne!(one, run(&other_seed, 1));
    }
}
