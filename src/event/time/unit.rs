//! Numeric timestamps: the unit a Unix number is read in, and the reading itself.

use super::{EventTime, TimestampError};

/// The unit of a numeric timestamp (`--timestamp-unit`, `[fields] timestamp_unit`).
///
/// `auto` tells by magnitude, which is unambiguous for present-day times: a number of 1e17 or
/// more is nanoseconds, 1e14 or more microseconds, 1e11 or more milliseconds, anything smaller
/// seconds. (1e11 seconds is the year 5138; 1e11 milliseconds is March 1973, so milliseconds
/// before then must be given as `ms`.)
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum TimestampUnit {
    /// By magnitude.
    #[default]
    Auto,
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl TimestampUnit {
    /// The unit a number of this magnitude is read in: `self`, or by magnitude for `auto`.
    #[inline]
    pub fn resolve(self, magnitude: f64) -> TimestampUnit {
        match self {
            TimestampUnit::Auto if magnitude >= 1e17 => TimestampUnit::Ns,
            TimestampUnit::Auto if magnitude >= 1e14 => TimestampUnit::Us,
            TimestampUnit::Auto if magnitude >= 1e11 => TimestampUnit::Ms,
            TimestampUnit::Auto => TimestampUnit::S,
            unit => unit,
        }
    }

    /// The unit a whole number is read in, compared as an integer so that numbers just below
    /// a boundary (which f64 would round onto it) stay on their side.
    #[inline]
    pub fn resolve_int(self, n: u64) -> TimestampUnit {
        match self {
            TimestampUnit::Auto if n >= 100_000_000_000_000_000 => TimestampUnit::Ns,
            TimestampUnit::Auto if n >= 100_000_000_000_000 => TimestampUnit::Us,
            TimestampUnit::Auto if n >= 100_000_000_000 => TimestampUnit::Ms,
            TimestampUnit::Auto => TimestampUnit::S,
            unit => unit,
        }
    }

    /// The unit's name, as messages say it.
    pub fn name(self) -> &'static str {
        match self {
            TimestampUnit::Auto => "auto",
            TimestampUnit::S => "seconds",
            TimestampUnit::Ms => "milliseconds",
            TimestampUnit::Us => "microseconds",
            TimestampUnit::Ns => "nanoseconds",
        }
    }
}

impl EventTime {
    /// Unix seconds (integer or fractional) to event time, truncating below the millisecond.
    ///
    /// The value is first rounded to whole microseconds so that decimal inputs such as
    /// `1763631000.123` (which f64 stores as ...122.9999) land on the millisecond they name.
    pub fn from_unix_seconds(secs: f64) -> Result<EventTime, TimestampError> {
        EventTime::from_unix_float(secs, TimestampUnit::S)
    }

    /// Whole Unix seconds to event time, without going through floating point.
    pub fn from_unix_seconds_int(secs: i64) -> Result<EventTime, TimestampError> {
        EventTime::from_unix_int(secs, TimestampUnit::S)
    }

    /// A whole number of `unit`s since the epoch (`auto`: by magnitude), truncating below the
    /// millisecond, without going through floating point.
    pub fn from_unix_int(n: i64, unit: TimestampUnit) -> Result<EventTime, TimestampError> {
        if n < 0 {
            return Err(TimestampError::BeforeEpoch(n.to_string()));
        }
        let n = n as u64;
        match unit.resolve_int(n) {
            TimestampUnit::S | TimestampUnit::Auto => n
                .checked_mul(1000)
                .map(EventTime)
                .ok_or_else(|| TimestampError::Range(n.to_string())),
            TimestampUnit::Ms => Ok(EventTime(n)),
            TimestampUnit::Us => Ok(EventTime(n / 1000)),
            TimestampUnit::Ns => Ok(EventTime(n / 1_000_000)),
        }
    }

    /// A fractional number of `unit`s since the epoch (`auto`: by magnitude), rounded to whole
    /// microseconds (as [`EventTime::from_unix_seconds`]) and truncated below the millisecond.
    pub fn from_unix_float(x: f64, unit: TimestampUnit) -> Result<EventTime, TimestampError> {
        if !x.is_finite() {
            return Err(TimestampError::NotFinite(x.to_string()));
        }
        if x < 0.0 {
            return Err(TimestampError::BeforeEpoch(x.to_string()));
        }
        let micros = match unit.resolve(x) {
            TimestampUnit::S | TimestampUnit::Auto => x * 1e6,
            TimestampUnit::Ms => x * 1e3,
            TimestampUnit::Us => x,
            TimestampUnit::Ns => x / 1e3,
        }
        .round();
        if micros >= u64::MAX as f64 {
            return Err(TimestampError::Range(x.to_string()));
        }
        Ok(EventTime(micros as u64 / 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds() {
        assert_eq!(
            EventTime::from_unix_seconds(1_763_631_000.123).unwrap().0,
            1_763_631_000_123
        );
        assert_eq!(
            EventTime::from_unix_seconds_int(1_763_631_000).unwrap().0,
            1_763_631_000_000
        );
        assert!(EventTime::from_unix_seconds(f64::NAN).is_err());
        assert!(EventTime::from_unix_seconds(-1.0).is_err());
        assert!(EventTime::from_unix_seconds(1e300).is_err());
    }

    #[test]
    fn unix_numbers_in_every_unit() {
        use TimestampUnit::*;
        let want = EventTime(1_763_631_000_123);
        let int = |n: i64, unit| EventTime::from_unix_int(n, unit).unwrap();
        let float = |x: f64, unit| EventTime::from_unix_float(x, unit).unwrap();
        assert_eq!(float(1_763_631_000.123, S), want);
        assert_eq!(int(1_763_631_000_123, Ms), want);
        assert_eq!(int(1_763_631_000_123_456, Us), want);
        assert_eq!(int(1_763_631_000_123_456_789, Ns), want);
        assert_eq!(float(1_763_631_000_123.4, Ms), want);
        assert_eq!(float(1_763_631_000_123_456.0, Us), want);
        assert_eq!(float(1.763_631_000_123_456_7e18, Ns), want);
        assert_eq!(int(1_763_631_000, S), EventTime(1_763_631_000_000));
        // The same numbers under auto, which reads them by magnitude.
        assert_eq!(int(1_763_631_000_123, Auto), want);
        assert_eq!(int(1_763_631_000_123_456, Auto), want);
        assert_eq!(int(1_763_631_000_123_456_789, Auto), want);
        assert_eq!(float(1_763_631_000.123, Auto), want);
        assert_eq!(int(1_763_631_000, Auto), EventTime(1_763_631_000_000));
        // Read in the wrong unit, milliseconds land some 56,000 years ahead.
        assert_eq!(
            int(1_763_631_000_123, S).to_string(),
            "57857-03-29T20:02:03Z"
        );
        assert!(EventTime::from_unix_int(-1, Ms).is_err());
        assert!(EventTime::from_unix_int(i64::MAX, S).is_err());
        assert!(EventTime::from_unix_float(f64::INFINITY, Ns).is_err());
    }

    #[test]
    fn auto_unit_boundaries() {
        use TimestampUnit::*;
        for (at, unit) in [(1e11f64, Ms), (1e14, Us), (1e17, Ns)] {
            let just_below = at.next_down();
            assert_ne!(Auto.resolve(just_below), unit, "{just_below}");
            assert_eq!(Auto.resolve(at), unit, "{at}");
        }
        assert_eq!(Auto.resolve(99_999_999_999.0), S);
        assert_eq!(Auto.resolve(99_999_999_999_999.0), Ms);
        assert_eq!(Auto.resolve_int(99_999_999_999_999_999), Us);
        assert_eq!(Auto.resolve_int(100_000_000_000_000_000), Ns);
        // Integers at the boundaries: 1e11 is milliseconds (1973-03-03T09:46:40Z), one less is
        // seconds (year 5138).
        let int = |n: i64| EventTime::from_unix_int(n, Auto).unwrap().0;
        assert_eq!(int(100_000_000_000), 100_000_000_000);
        assert_eq!(int(99_999_999_999), 99_999_999_999_000);
        assert_eq!(int(100_000_000_000_000), 100_000_000_000);
        assert_eq!(int(99_999_999_999_999), 99_999_999_999_999);
        assert_eq!(int(100_000_000_000_000_000), 100_000_000_000);
        assert_eq!(int(99_999_999_999_999_999), 99_999_999_999_999);
        // An explicit unit is never second-guessed.
        assert_eq!(S.resolve(1e18), S);
        assert_eq!(Ns.resolve(1.0), Ns);
    }
}
