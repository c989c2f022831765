//! The horizon: the latest event time believable now, which refuses times read in the wrong unit.

use std::time::{Duration, SystemTime};

use super::EventTime;

/// The latest event time a record may carry: the wall clock plus `--max-future`.
///
/// Read from the clock once per batch (a source activation), not per record: a horizon a few
/// milliseconds stale moves the limit by as much, which a limit of hours does not notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Horizon {
    latest: EventTime,
    lead: Duration,
}

impl Horizon {
    /// No limit: every time is admitted.
    pub const UNBOUNDED: Horizon = Horizon {
        latest: EventTime::MAX,
        lead: Duration::MAX,
    };

    /// Admits times up to `now + lead`.
    pub fn at(now: SystemTime, lead: Duration) -> Horizon {
        let now_ms = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let latest = now_ms.saturating_add(lead.as_millis());
        Horizon {
            latest: EventTime(u64::try_from(latest).unwrap_or(u64::MAX)),
            lead,
        }
    }

    /// Admits times up to the wall clock now plus `lead`.
    pub fn now(lead: Duration) -> Horizon {
        Horizon::at(SystemTime::now(), lead)
    }

    /// Whether `t` is no further ahead of the clock than allowed.
    #[inline]
    pub fn admits(&self, t: EventTime) -> bool {
        t <= self.latest
    }

    /// How far ahead of the clock a time may be, as messages say it (`1day`).
    pub fn lead(&self) -> String {
        humantime::format_duration(self.lead).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_admits_up_to_the_clock_plus_lead() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_millis(1_763_631_000_000);
        let h = Horizon::at(now, Duration::from_secs(86_400));
        assert!(h.admits(EventTime(1_763_631_000_000 + 86_400_000)));
        assert!(!h.admits(EventTime(1_763_631_000_000 + 86_400_001)));
        assert_eq!(h.lead(), "1day");
        assert!(Horizon::UNBOUNDED.admits(EventTime::MAX));
        assert!(Horizon::at(now, Duration::MAX).admits(EventTime::MAX));
    }
}
