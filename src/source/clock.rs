//! Per-partition watermarks and idleness.

use std::time::{Duration, Instant};

use crate::event::EventTime;

/// The event-time clock of one input partition.
///
/// Its watermark is `max event time seen - max_out_of_orderness`: records older than that are
/// late. Lateness depends only on this partition's own order, so a replay decides the same.
#[derive(Debug, Clone)]
pub struct PartitionClock {
    max_seen: Option<EventTime>,
    out_of_orderness_ms: u64,
    last_data: Instant,
}

impl PartitionClock {
    pub fn new(max_out_of_orderness: Duration, now: Instant) -> Self {
        PartitionClock {
            max_seen: None,
            out_of_orderness_ms: max_out_of_orderness.as_millis() as u64,
            last_data: now,
        }
    }

    /// A clock that continues from a saved maximum (a restart).
    pub fn resumed(
        max_out_of_orderness: Duration,
        now: Instant,
        max_seen: Option<EventTime>,
    ) -> Self {
        PartitionClock {
            max_seen,
            ..PartitionClock::new(max_out_of_orderness, now)
        }
    }

    /// No record earlier than this will be accepted from the partition.
    pub fn watermark(&self) -> EventTime {
        EventTime(
            self.max_seen
                .map_or(0, |m| m.0.saturating_sub(self.out_of_orderness_ms)),
        )
    }

    /// Whether a record at `t` is behind the watermark.
    #[inline]
    pub fn is_late(&self, t: EventTime) -> bool {
        t < self.watermark()
    }

    /// Notes an accepted record.
    #[inline]
    pub fn observe(&mut self, t: EventTime) {
        if self.max_seen.is_none_or(|m| t > m) {
            self.max_seen = Some(t);
        }
    }

    /// Notes that the partition delivered input (wall clock), so it is not idle.
    pub fn touch(&mut self, now: Instant) {
        self.last_data = now;
    }

    /// Whether the partition has had nothing to read for `idle_timeout`.
    pub fn is_idle(&self, now: Instant, idle_timeout: Duration) -> bool {
        now.duration_since(self.last_data) >= idle_timeout
    }

    /// The latest event time accepted, if any.
    pub fn max_seen(&self) -> Option<EventTime> {
        self.max_seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watermark_trails_max_by_out_of_orderness() {
        let now = Instant::now();
        let mut c = PartitionClock::new(Duration::from_secs(5), now);
        assert_eq!(c.watermark(), EventTime(0));
        c.observe(EventTime(10_000));
        c.observe(EventTime(7_000));
        assert_eq!(c.watermark(), EventTime(5_000));
        assert!(
            !c.is_late(EventTime(5_000)),
            "exactly at the watermark is on time"
        );
        assert!(c.is_late(EventTime(4_999)));
        assert!(!c.is_idle(now, Duration::from_secs(10)));
        assert!(c.is_idle(now + Duration::from_secs(10), Duration::from_secs(10)));
    }
}
