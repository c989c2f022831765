//! Records per second per input partition, from the counters as the endpoint samples them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::metrics::PartitionStats;

/// Rates are measured over at least this much wall time, so a page polling faster than once
/// a second sees steady figures.
const MIN_SPAN: Duration = Duration::from_secs(1);

type Key = (String, usize);

/// The last sample of every partition's record count and the rates it gave.
#[derive(Default)]
pub struct RateMeter(Mutex<State>);

#[derive(Default)]
struct State {
    sampled: Option<(Instant, BTreeMap<Key, u64>)>,
    rates: BTreeMap<Key, f64>,
}

impl RateMeter {
    /// Each partition's records per second since a sample at least [`MIN_SPAN`] old (the
    /// previous rates until one is; 0 for a partition seen once).
    pub fn rates(&self, now: Instant, parts: &BTreeMap<Key, PartitionStats>) -> BTreeMap<Key, f64> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let due = match &state.sampled {
            None => true,
            Some((at, _)) => now.duration_since(*at) >= MIN_SPAN,
        };
        if due {
            let counts: BTreeMap<Key, u64> = parts
                .iter()
                .map(|(k, s)| (k.clone(), s.records_in))
                .collect();
            if let Some((at, before)) = &state.sampled {
                let secs = now.duration_since(*at).as_secs_f64();
                state.rates = counts
                    .iter()
                    .map(|(k, n)| {
                        let was = before.get(k).copied().unwrap_or(*n);
                        (k.clone(), n.saturating_sub(was) as f64 / secs)
                    })
                    .collect();
            }
            state.sampled = Some((now, counts));
        }
        parts
            .keys()
            .map(|k| (k.clone(), state.rates.get(k).copied().unwrap_or(0.0)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(n: u64) -> BTreeMap<Key, PartitionStats> {
        let stats = PartitionStats {
            records_in: n,
            watermark_ms: 1,
        };
        BTreeMap::from([(("s".to_string(), 0), stats)])
    }

    #[test]
    fn rate_over_at_least_a_second() {
        let meter = RateMeter::default();
        let t0 = Instant::now();
        let key = ("s".to_string(), 0);
        assert_eq!(meter.rates(t0, &parts(100))[&key], 0.0);
        // Too soon: still the previous figure.
        assert_eq!(meter.rates(t0 + MIN_SPAN / 2, &parts(150))[&key], 0.0);
        assert_eq!(meter.rates(t0 + 2 * MIN_SPAN, &parts(300))[&key], 100.0);
    }
}
