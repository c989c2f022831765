//! Python names and calls: `True`/`False`/`None`, `inf`/`nan`, `Decimal(...)`, and the
//! `datetime`, `timedelta` and `timezone` calls, which become an event time in UTC.

use super::{Parser, PyError};
use crate::event::{EventTime, Scalar};

/// The arguments of a call: positional in order, keyword ones with their names.
#[derive(Default)]
struct Call<'a> {
    args: Vec<Scalar<'a>>,
    keywords: Vec<(&'a str, Scalar<'a>)>,
}

impl<'a> Parser<'a> {
    /// Reads a name: a constant (`True`, `nan`), `timezone.utc`, or a call; a call it does
    /// not know is read and skipped, like a collection.
    pub(super) fn word(&mut self, depth: usize) -> Result<Scalar<'a>, PyError> {
        let start = self.i;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
        {
            self.i += 1;
        }
        let word = &self.s[start..self.i];
        match word {
            "True" => return Ok(Scalar::Bool(true)),
            "False" => return Ok(Scalar::Bool(false)),
            "None" => return Ok(Scalar::Null),
            "inf" => return Ok(Scalar::Float(f64::INFINITY)),
            "nan" => return Ok(Scalar::Float(f64::NAN)),
            _ => {}
        }
        if matches!(word, "timezone.utc" | "datetime.timezone.utc") {
            return Ok(Scalar::Zone(0));
        }
        if self.peek() != Some(b'(') {
            self.i = start;
            return Err(self.error("unknown name"));
        }
        let call = self.call_args(depth)?;
        match word {
            "datetime.datetime" | "datetime" => self.datetime(start, &call),
            "datetime.timedelta" | "timedelta" => self.timedelta(start, &call),
            "datetime.timezone" | "timezone" => self.timezone(start, &call),
            "Decimal" | "decimal.Decimal" => match call.args.as_slice() {
                [Scalar::Str(s)] => s
                    .trim()
                    .parse::<f64>()
                    .map(Scalar::Float)
                    .map_err(|_| self.error_at(start, "Decimal of a non-number")),
                [Scalar::Int(n)] => Ok(Scalar::Float(*n as f64)),
                _ => Err(self.error_at(start, "Decimal takes one argument")),
            },
            _ => Ok(Scalar::Nested),
        }
    }

    /// Reads `(a, b, name=c)`: positional arguments in order, keyword ones with their names.
    fn call_args(&mut self, depth: usize) -> Result<Call<'a>, PyError> {
        self.expect(b'(')?;
        let mut call = Call::default();
        loop {
            self.ws();
            if self.eat(b')') {
                return Ok(call);
            }
            let keyword = {
                let rest = &self.s[self.i..];
                let n = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                (n > 0 && rest[n..].trim_start().starts_with('=')).then(|| &rest[..n])
            };
            if let Some(name) = keyword {
                while self.peek() != Some(b'=') {
                    self.i += 1;
                }
                self.i += 1;
                self.ws();
                let value = self.value(depth + 1)?;
                call.keywords.push((name, value));
            } else {
                call.args.push(self.value(depth + 1)?);
            }
            self.ws();
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(call);
            }
        }
    }

    /// `datetime(year, month, day[, hour, minute, second, microsecond][, tzinfo])`, in UTC.
    fn datetime(&self, start: usize, call: &Call<'a>) -> Result<Scalar<'a>, PyError> {
        let args = &call.args;
        if args.len() < 3 || args.len() > 8 {
            return Err(self.error_at(
                start,
                "datetime takes 3 to 7 integer arguments and an optional tzinfo",
            ));
        }
        let mut parts = [0i64, 1, 1, 0, 0, 0, 0];
        for (slot, arg) in parts.iter_mut().zip(args) {
            match arg {
                Scalar::Int(n) => *slot = *n,
                _ => return Err(self.error_at(start, "datetime arguments must be integers")),
            }
        }
        let mut tzinfo = args.get(7);
        for (name, value) in &call.keywords {
            match *name {
                "tzinfo" if tzinfo.is_none() => tzinfo = Some(value),
                // `fold` only disambiguates repeated wall times in named zones.
                "fold" => {}
                other => {
                    return Err(self.error_at(
                        start,
                        &format!("datetime keyword {other:?} is not supported here"),
                    ))
                }
            }
        }
        let offset_micros = match tzinfo {
            None | Some(Scalar::Null) => 0,
            Some(Scalar::Zone(offset)) => *offset,
            Some(_) => {
                return Err(self.error_at(
                    start,
                    "tzinfo must be timezone.utc or timezone(timedelta(...)), a fixed offset; \
                     named zones are not supported, so send UTC or a fixed offset",
                ))
            }
        };
        let field = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        let micros = field(parts[6]);
        let local = EventTime::from_civil(
            parts[0],
            field(parts[1]),
            field(parts[2]),
            field(parts[3]),
            field(parts[4]),
            field(parts[5]),
            micros,
        )
        .map_err(|e| self.error_at(start, &e.to_string()))?;
        if offset_micros == 0 {
            return Ok(Scalar::Time(local));
        }
        // Back to whole microseconds, minus the zone's offset east of UTC.
        let utc_micros = i128::from(local.0 - u64::from(micros / 1000)) * 1000 + i128::from(micros)
            - i128::from(offset_micros);
        u64::try_from(utc_micros.div_euclid(1000))
            .map(|ms| Scalar::Time(EventTime(ms)))
            .map_err(|_| self.error_at(start, "datetime is before 1970-01-01 in UTC"))
    }

    /// `timedelta(days, seconds, microseconds, milliseconds, minutes, hours, weeks)`, each
    /// positional or by name, integers or floats, as Python defines it.
    fn timedelta(&self, start: usize, call: &Call<'a>) -> Result<Scalar<'a>, PyError> {
        const UNITS: [(&str, i128); 7] = [
            ("days", 86_400_000_000),
            ("seconds", 1_000_000),
            ("microseconds", 1),
            ("milliseconds", 1_000),
            ("minutes", 60_000_000),
            ("hours", 3_600_000_000),
            ("weeks", 604_800_000_000),
        ];
        if call.args.len() > UNITS.len() {
            return Err(self.error_at(start, "timedelta takes at most 7 arguments"));
        }
        let named = call.keywords.iter().map(|(name, value)| {
            UNITS
                .iter()
                .position(|(unit, _)| unit == name)
                .map(|i| (i, value))
                .ok_or_else(|| self.error_at(start, &format!("timedelta has no argument {name:?}")))
        });
        let mut seen = [false; 7];
        let mut micros = 0i128;
        for item in call.args.iter().enumerate().map(Ok).chain(named) {
            let (i, value) = item?;
            if std::mem::replace(&mut seen[i], true) {
                return Err(self.error_at(
                    start,
                    &format!("timedelta argument {:?} given twice", UNITS[i].0),
                ));
            }
            let unit = UNITS[i].1;
            micros += match value {
                // |n| < 2^63 and unit < 2^40: no i128 overflow, even summed over seven.
                Scalar::Int(n) => i128::from(*n) * unit,
                Scalar::Float(x) if x.is_finite() && x.abs() < 1e15 => {
                    (x * unit as f64).round() as i128
                }
                _ => return Err(self.error_at(start, "timedelta arguments must be numbers")),
            };
        }
        i64::try_from(micros)
            .map(Scalar::Delta)
            .map_err(|_| self.error_at(start, "timedelta out of range"))
    }

    /// `timezone(offset[, name])`: a fixed offset strictly within a day of UTC.
    fn timezone(&self, start: usize, call: &Call<'a>) -> Result<Scalar<'a>, PyError> {
        let offset = call.args.first().or_else(|| {
            call.keywords
                .iter()
                .find(|(name, _)| *name == "offset")
                .map(|(_, v)| v)
        });
        match offset {
            Some(Scalar::Delta(micros)) if micros.abs() < 86_400_000_000 => {
                Ok(Scalar::Zone(*micros))
            }
            Some(Scalar::Delta(_)) => Err(self.error_at(
                start,
                "timezone offset must be strictly between -24 and 24 hours",
            )),
            _ => Err(self.error_at(start, "timezone takes a timedelta offset")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fields::Field;
    use crate::event::python::parse;
    use crate::event::{FieldNames, RawFields};

    fn read(line: &str) -> RawFields<'_> {
        parse(line, &FieldNames::default()).expect(line)
    }

    fn time_of(literal: &str) -> EventTime {
        let line = format!("{{'timestamp': {literal}}}");
        match read(&line).take(Field::Timestamp) {
            Some(Scalar::Time(t)) => t,
            other => panic!("{literal}: {other:?}"),
        }
    }

    #[test]
    fn datetimes_with_fixed_offsets_become_utc() {
        // 2025-11-20T09:30:00.123Z, written in every zone form Python's repr uses.
        let utc = EventTime(1_763_631_000_123);
        for literal in [
            "datetime.datetime(2025, 11, 20, 9, 30, 0, 123456, tzinfo=datetime.timezone.utc)",
            "datetime.datetime(2025, 11, 20, 9, 30, 0, 123456, tzinfo=timezone.utc)",
            "datetime(2025, 11, 20, 9, 30, 0, 123456, timezone.utc)",
            "datetime.datetime(2025, 11, 20, 9, 30, 0, 123456, tzinfo=None, fold=0)",
            // +05:30 as repr writes it, and as people write it.
            "datetime.datetime(2025, 11, 20, 15, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(seconds=19800)))",
            "datetime.datetime(2025, 11, 20, 15, 0, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(hours=5, minutes=30)))",
            "datetime(2025, 11, 20, 17, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))",
            "datetime(2025, 11, 20, 17, 30, 0, 123456, tzinfo=timezone(timedelta(0, 28800), 'CST'))",
            // -05:00: repr's days=-1 form, a negative keyword, and positional days and seconds.
            "datetime.datetime(2025, 11, 20, 4, 30, 0, 123456, tzinfo=datetime.timezone(datetime.timedelta(days=-1, seconds=68400)))",
            "datetime(2025, 11, 20, 4, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))",
            "datetime(2025, 11, 20, 4, 30, 0, 123456, tzinfo=timezone(timedelta(-1, 68400)))",
            "datetime(2025, 11, 20, 4, 30, 0, 123456, tzinfo=timezone(timedelta(minutes=-300)))",
        ] {
            assert_eq!(time_of(literal), utc, "{literal}");
        }
        // An offset that carries the time across midnight and a month end.
        assert_eq!(
            time_of("datetime(2025, 12, 1, 1, 0, tzinfo=timezone(timedelta(hours=3)))"),
            EventTime::parse_iso8601("2025-11-30T22:00:00Z").unwrap()
        );
    }

    #[test]
    fn refuses_zones_it_cannot_resolve() {
        for bad in [
            "{'timestamp': datetime.datetime(2025, 11, 20, tzinfo=zoneinfo.ZoneInfo(key='Europe/Paris'))}",
            "{'timestamp': datetime.datetime(2025, 11, 20, tzinfo=timezone(timedelta(hours=24)))}",
            "{'timestamp': datetime.datetime(2025, 11, 20, tzinfo=timezone(5))}",
            "{'timestamp': datetime.datetime(2025, 11, 20, tzinfo=timedelta(hours=1))}",
            "{'timestamp': datetime.datetime(2025, 11, 20, hour=9)}",
            "{'timestamp': datetime.datetime(1970, 1, 1, tzinfo=timezone(timedelta(hours=1)))}",
            "{'timestamp': timedelta(fortnights=1)}",
            "{'timestamp': timedelta(1, days=1)}",
        ] {
            let error = parse(bad, &FieldNames::default()).expect_err(bad);
            assert!(error.column > 0, "{bad}: {error}");
        }
    }
}
