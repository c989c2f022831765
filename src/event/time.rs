//! Event time: milliseconds since the Unix epoch, parsed from ISO-8601 or a Unix number
//! (seconds, milliseconds, microseconds or nanoseconds), and the horizon of believable times.

use std::fmt;
use std::time::{Duration, SystemTime};

/// A point in event time, in whole milliseconds since 1970-01-01T00:00:00Z.
///
/// Timely timestamps are plain `u64` milliseconds; this newtype is what the rest of the code
/// speaks so that units never get mixed up.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct EventTime(pub u64);

/// Why a timestamp could not be turned into an [`EventTime`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("timestamp {0:?} is not ISO-8601 (expected YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM])")]
    Syntax(String),
    #[error("timestamp {0:?} has an out-of-range date or time field")]
    Range(String),
    #[error("timestamp {0} is before 1970-01-01, which tickflow does not support")]
    BeforeEpoch(String),
    #[error("timestamp {0} is not a finite number of seconds")]
    NotFinite(String),
}

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

impl EventTime {
    /// The largest representable time; used as "no watermark yet" never, only as a bound.
    pub const MAX: EventTime = EventTime(u64::MAX);

    /// Milliseconds since the epoch.
    pub fn millis(self) -> u64 {
        self.0
    }

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

    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no zone means UTC.
    pub fn parse_iso8601(text: &str) -> Result<EventTime, TimestampError> {
        let syntax = || TimestampError::Syntax(text.to_string());
        let b = text.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return Err(syntax());
        }
        if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
            return Err(syntax());
        }
        let year = digits(&b[0..4]).ok_or_else(syntax)? as i64;
        let month = digits(&b[5..7]).ok_or_else(syntax)?;
        let day = digits(&b[8..10]).ok_or_else(syntax)?;
        let hour = digits(&b[11..13]).ok_or_else(syntax)?;
        let minute = digits(&b[14..16]).ok_or_else(syntax)?;
        let second = digits(&b[17..19]).ok_or_else(syntax)?;
        let mut rest = &b[19..];
        let mut millis = 0u64;
        if let Some((&b'.', frac)) = rest.split_first() {
            let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
            if n == 0 {
                return Err(syntax());
            }
            // Keep milliseconds; finer digits are truncated, as event time is millisecond-grained.
            for (i, d) in frac[..n].iter().enumerate().take(3) {
                millis += u64::from(d - b'0') * [100, 10, 1][i];
            }
            rest = &frac[n..];
        }
        let offset_secs: i64 = match rest {
            [] | [b'Z'] | [b'z'] => 0,
            [sign @ (b'+' | b'-'), zone @ ..] => {
                let (h, m) = match zone {
                    [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                        (digits(&[*h1, *h2]), digits(&[*m1, *m2]))
                    }
                    [h1, h2] => (digits(&[*h1, *h2]), Some(0)),
                    _ => return Err(syntax()),
                };
                let (h, m) = (h.ok_or_else(syntax)?, m.ok_or_else(syntax)?);
                if h > 23 || m > 59 {
                    return Err(TimestampError::Range(text.to_string()));
                }
                let secs = i64::from(h * 3600 + m * 60);
                if *sign == b'+' {
                    secs
                } else {
                    -secs
                }
            }
            _ => return Err(syntax()),
        };
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(TimestampError::Range(text.to_string()));
        }
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
        if secs < 0 {
            return Err(TimestampError::BeforeEpoch(text.to_string()));
        }
        Ok(EventTime(secs as u64 * 1000 + millis))
    }

    /// Builds a time from calendar fields in UTC (used for Python `datetime(...)` literals).
    pub fn from_civil(
        year: i64,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        micros: u32,
    ) -> Result<EventTime, TimestampError> {
        let shown = || format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
        if !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
            || micros > 999_999
        {
            return Err(TimestampError::Range(shown()));
        }
        let secs = days_from_civil(year, month, day) * 86_400
            + i64::from(hour * 3600 + minute * 60 + second);
        if secs < 0 {
            return Err(TimestampError::BeforeEpoch(shown()));
        }
        Ok(EventTime(secs as u64 * 1000 + u64::from(micros / 1000)))
    }
}

impl EventTime {
    /// Appends RFC 3339 in UTC: `2025-11-20T09:30:01Z`, with `.mmm` only when milliseconds
    /// are set. Written digit by digit: output encoding calls this twice per result row.
    pub fn write_rfc3339(self, out: &mut Vec<u8>) {
        fn two(out: &mut Vec<u8>, n: u64) {
            out.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
        }
        let secs = self.0 / 1000;
        let millis = self.0 % 1000;
        let (y, m, d) = civil_from_days((secs / 86_400) as i64);
        let tod = secs % 86_400;
        let y = y as u64;
        if y > 9999 {
            // Only a time far beyond any real clock (a unit misread by `--timestamp-unit s`)
            // gets here; print the whole year rather than a wrong one.
            out.extend_from_slice(y.to_string().as_bytes());
        } else {
            two(out, y / 100 % 100);
            two(out, y % 100);
        }
        out.push(b'-');
        two(out, u64::from(m));
        out.push(b'-');
        two(out, u64::from(d));
        out.push(b'T');
        two(out, tod / 3600);
        out.push(b':');
        two(out, tod / 60 % 60);
        out.push(b':');
        two(out, tod % 60);
        if millis != 0 {
            out.extend_from_slice(&[
                b'.',
                b'0' + (millis / 100) as u8,
                b'0' + (millis / 10 % 10) as u8,
                b'0' + (millis % 10) as u8,
            ]);
        }
        out.push(b'Z');
    }
}

impl fmt::Display for EventTime {
    /// RFC 3339 in UTC, as [`EventTime::write_rfc3339`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(24);
        self.write_rfc3339(&mut out);
        f.write_str(std::str::from_utf8(&out).expect("RFC 3339 text is ASCII"))
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> u64 {
        EventTime::parse_iso8601(s).expect(s).0
    }

    #[test]
    fn iso_forms_agree() {
        let base = 1_763_631_000_000; // 2025-11-20T09:30:00Z
        assert_eq!(iso("2025-11-20T09:30:00"), base);
        assert_eq!(iso("2025-11-20T09:30:00Z"), base);
        assert_eq!(iso("2025-11-20 09:30:00"), base);
        assert_eq!(iso("2025-11-20T17:30:00+08:00"), base);
        assert_eq!(iso("2025-11-20T17:30:00+0800"), base);
        assert_eq!(iso("2025-11-20T04:30:00-05:00"), base);
        assert_eq!(iso("2025-11-20T09:30:00.123456"), base + 123);
        assert_eq!(iso("2025-11-20T09:30:00.9"), base + 900);
    }

    #[test]
    fn iso_rejects_garbage() {
        for bad in [
            "",
            "2025-11-20",
            "2025-13-01T00:00:00",
            "2025-02-29T00:00:00",
            "2025-11-20T24:00:00",
            "2025-11-20T09:30:00.",
            "2025-11-20T09:30:00+8",
            "2025-11-20T09:30:00 junk",
            "1969-12-31T23:59:59Z",
            "２０２５-11-20T09:30:00",
        ] {
            assert!(EventTime::parse_iso8601(bad).is_err(), "{bad:?} parsed");
        }
        assert!(EventTime::parse_iso8601("2024-02-29T00:00:00").is_ok());
    }

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

    #[test]
    fn display_round_trips() {
        for s in [
            "2025-11-20T09:30:01Z",
            "2000-02-29T23:59:59.001Z",
            "1970-01-01T00:00:00Z",
        ] {
            assert_eq!(EventTime::parse_iso8601(s).unwrap().to_string(), s);
        }
    }
}
