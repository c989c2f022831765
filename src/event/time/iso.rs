//! ISO-8601 text both ways: parsing what producers write, and writing RFC 3339 in UTC.

use std::fmt;

use super::civil::{civil_from_days, days_from_civil, days_in_month};
use super::{EventTime, TimestampError};

/// The date of the last ISO-8601 timestamp one parser read, and its days since the epoch.
///
/// Lines of the same day share their first ten bytes (`YYYY-MM-DD`); when the next timestamp
/// starts with the same bytes, the date is not read or checked again. Only a date that was
/// valid is kept, so the result is exactly what a fresh parse gives. One per parser instance.
#[derive(Clone, Copy, Debug, Default)]
pub struct DayCache {
    /// All zeros at first, which no timestamp that gets this far starts with (`b[4]` is `-`).
    date: [u8; 10],
    days: i64,
}

impl EventTime {
    /// Parses `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH:MM|±HHMM]`; no zone means UTC.
    pub fn parse_iso8601(text: &str) -> Result<EventTime, TimestampError> {
        EventTime::parse_iso8601_cached(text, &mut DayCache::default())
    }

    /// Parses as [`EventTime::parse_iso8601`] does, reusing the date of the previous call
    /// through `cache` when this one has the same.
    pub fn parse_iso8601_cached(
        text: &str,
        cache: &mut DayCache,
    ) -> Result<EventTime, TimestampError> {
        let syntax = || TimestampError::Syntax(text.to_string());
        let b = text.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return Err(syntax());
        }
        if b[10] != b'T' && b[10] != b't' && b[10] != b' ' {
            return Err(syntax());
        }
        let date: [u8; 10] = b[..10].try_into().expect("at least 19 bytes");
        // `None` when the date is the cached one, already read and found valid.
        let civil = if date == cache.date {
            None
        } else {
            let year = digits(&b[0..4]).ok_or_else(syntax)? as i64;
            let month = digits(&b[5..7]).ok_or_else(syntax)?;
            let day = digits(&b[8..10]).ok_or_else(syntax)?;
            Some((year, month, day))
        };
        let clock: [u8; 8] = b[11..19].try_into().expect("at least 19 bytes");
        let (hour, minute, second) = match time_of_day(clock) {
            Some(hms) => hms,
            None => (
                digits(&b[11..13]).ok_or_else(syntax)?,
                digits(&b[14..16]).ok_or_else(syntax)?,
                digits(&b[17..19]).ok_or_else(syntax)?,
            ),
        };
        let mut rest = &b[19..];
        let mut millis = 0u64;
        if let Some((&b'.', frac)) = rest.split_first() {
            // Keep milliseconds; finer digits are truncated, as event time is millisecond-grained.
            let mut n = 0;
            while let Some(&d) = frac.get(n).filter(|d| d.is_ascii_digit()) {
                if n < 3 {
                    millis = millis * 10 + u64::from(d - b'0');
                }
                n += 1;
            }
            if n == 0 {
                return Err(syntax());
            }
            millis *= [1, 100, 10, 1][n.min(3)];
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
        let date_valid = civil.is_none_or(|(year, month, day)| {
            (1..=12).contains(&month) && day != 0 && day <= days_in_month(year, month)
        });
        if !date_valid || hour > 23 || minute > 59 || second > 60 {
            return Err(TimestampError::Range(text.to_string()));
        }
        let days = match civil {
            None => cache.days,
            Some((year, month, day)) => {
                let days = days_from_civil(year, month, day);
                *cache = DayCache { date, days };
                days
            }
        };
        let secs = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs;
        if secs < 0 {
            return Err(TimestampError::BeforeEpoch(text.to_string()));
        }
        Ok(EventTime(secs as u64 * 1000 + millis))
    }

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

/// Hours, minutes and seconds of `HH:MM:SS` (its colons already checked) read in one word, or
/// `None` if a digit is not one; the same values `digits` gives for each pair, in fewer steps.
#[inline]
fn time_of_day(clock: [u8; 8]) -> Option<(u32, u32, u32)> {
    const ZEROS: u64 = u64::from_le_bytes(*b"00000000");
    const HIGH_NIBBLES: u64 = 0xf0f0_f0f0_f0f0_f0f0;
    // The colons (bytes 2 and 5) turned into `0`, so every byte must be a digit.
    let colons = u64::from_le_bytes([0, 0, b':' ^ b'0', 0, 0, b':' ^ b'0', 0, 0]);
    let w = u64::from_le_bytes(clock) ^ colons;
    // A byte is a digit when its high nibble is 3, and still is after adding 6 (no byte
    // carries into the next: each is at most 0x3f once the first test passes).
    let six = u64::from_le_bytes([6; 8]);
    if w & HIGH_NIBBLES != ZEROS || (w + six) & HIGH_NIBBLES != ZEROS {
        return None;
    }
    // Each byte is now its digit (0 at the colons); byte i of `pairs` is 10 * d[i] + d[i + 1].
    let d = w - ZEROS;
    let pairs = d * 10 + (d >> 8);
    let pair = |at: u32| ((pairs >> (8 * at)) & 0xff) as u32;
    Some((pair(0), pair(3), pair(6)))
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
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

    /// The one-word read agrees with `digits` pair by pair: every two-digit value, and every
    /// byte value at every position of a valid clock.
    #[test]
    fn time_of_day_agrees_with_digits() {
        let by_pairs = |c: [u8; 8]| Some((digits(&c[0..2])?, digits(&c[3..5])?, digits(&c[6..8])?));
        for n in 0..100u8 {
            let (hi, lo) = (b'0' + n / 10, b'0' + n % 10);
            for clock in [
                [hi, lo, b':', b'0', b'0', b':', b'0', b'0'],
                [b'0', b'0', b':', hi, lo, b':', b'0', b'0'],
                [b'0', b'0', b':', b'0', b'0', b':', hi, lo],
            ] {
                assert_eq!(time_of_day(clock), by_pairs(clock), "{clock:?}");
            }
        }
        for at in [0, 1, 3, 4, 6, 7] {
            for byte in 0..=255u8 {
                let mut clock = *b"23:59:60";
                clock[at] = byte;
                assert_eq!(time_of_day(clock), by_pairs(clock), "{clock:?}");
            }
        }
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
    fn cached_dates_give_what_a_fresh_parse_gives() {
        let mut cache = DayCache::default();
        for s in [
            "2025-11-20T09:30:00Z",
            "2025-11-20T09:30:01.5Z",
            "2025-11-20T24:00:00",
            "2025-11-20T09:3x:00",
            "2025-11-20 23:59:59-05:00",
            "2025-02-29T00:00:00",
            "2025-02-29T00:00:00",
            "2024-02-29T00:00:00",
            "2024-02-29T12:00:00+01:00",
            "1970-01-01T00:00:00+00:01",
            "1970-01-01T00:01:00+00:01",
            "2025-11-20T09:30:00 junk",
        ] {
            let fresh = EventTime::parse_iso8601(s);
            assert_eq!(EventTime::parse_iso8601_cached(s, &mut cache), fresh, "{s}");
        }
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
