//! From the raw fields of a line to a tick or a reading: every value checked, the event time
//! read in the configured unit and held to the horizon.

use std::borrow::Cow;

use super::{
    DayCache, EventTime, Field, FieldNames, Horizon, RawFields, Reading, Record, RejectKind,
    Rejection, Scalar, Tick, TimestampUnit,
};
use crate::exact::MAX_MAGNITUDE;

/// Turns the raw fields of a record into a tick or a reading, its event time within `horizon`;
/// `days` carries the date of the previous ISO-8601 timestamp (see [`DayCache`]).
pub fn classify<'a>(
    f: &mut RawFields<'a>,
    names: &FieldNames,
    horizon: &Horizon,
    days: &mut DayCache,
) -> Result<Record<'a>, Rejection> {
    let get = |f: &mut RawFields<'a>, field: Field| {
        f.take(field).ok_or_else(|| {
            Rejection::new(
                RejectKind::MissingField,
                format!("missing field {:?}", names.name(field)),
            )
        })
    };
    if f.has(Field::Symbol) {
        let symbol = key(get(f, Field::Symbol)?, names.name(Field::Symbol))?;
        let time = timestamp(get(f, Field::Timestamp)?, names, horizon, days)?;
        let price = number(get(f, Field::Price)?, names.name(Field::Price))?;
        if price < 0.0 {
            return Err(invalid(
                names.name(Field::Price),
                &format!("{price} is negative"),
            ));
        }
        if price > MAX_MAGNITUDE {
            return Err(invalid(
                names.name(Field::Price),
                &format!("{price} is above the supported maximum {MAX_MAGNITUDE}"),
            ));
        }
        let volume = count(get(f, Field::Volume)?, names.name(Field::Volume))?;
        Ok(Record::Tick(Tick {
            time,
            symbol,
            price,
            volume,
        }))
    } else if f.has(Field::Category) {
        let category = key(get(f, Field::Category)?, names.name(Field::Category))?;
        let time = timestamp(get(f, Field::Timestamp)?, names, horizon, days)?;
        let value = number(get(f, Field::Value)?, names.name(Field::Value))?;
        if value.abs() > MAX_MAGNITUDE {
            return Err(invalid(
                names.name(Field::Value),
                &format!("{value} is beyond the supported magnitude {MAX_MAGNITUDE}"),
            ));
        }
        Ok(Record::Reading(Reading {
            time,
            category,
            value,
        }))
    } else {
        Err(Rejection::new(
            RejectKind::UnknownShape,
            format!(
                "neither {:?} (a tick) nor {:?} (a reading) is present",
                names.name(Field::Symbol),
                names.name(Field::Category)
            ),
        ))
    }
}

fn invalid(name: &str, why: &str) -> Rejection {
    Rejection::new(RejectKind::InvalidField, format!("field {name:?}: {why}"))
}

fn key<'a>(value: Scalar<'a>, name: &str) -> Result<Cow<'a, str>, Rejection> {
    match value {
        // Bytewise: keys are a few bytes, shorter than a memchr call pays off at.
        Scalar::Str(s) if s.bytes().any(|b| b == 0) => {
            Err(invalid(name, "contains a NUL character"))
        }
        Scalar::Str(s) if !s.is_empty() => Ok(s),
        Scalar::Str(_) => Err(invalid(name, "is empty")),
        other => Err(invalid(
            name,
            &format!("expected a string, found {}", other.kind()),
        )),
    }
}

fn number(value: Scalar<'_>, name: &str) -> Result<f64, Rejection> {
    let n = match value {
        Scalar::Int(n) => n as f64,
        Scalar::Float(n) => n,
        other => {
            return Err(invalid(
                name,
                &format!("expected a number, found {}", other.kind()),
            ))
        }
    };
    if n.is_finite() {
        Ok(n)
    } else {
        Err(invalid(name, &format!("{n} is not finite")))
    }
}

fn count(value: Scalar<'_>, name: &str) -> Result<u64, Rejection> {
    match value {
        Scalar::Int(n) if n >= 0 => Ok(n as u64),
        Scalar::Float(n) if n >= 0.0 && n.fract() == 0.0 && n < u64::MAX as f64 => Ok(n as u64),
        Scalar::Int(_) | Scalar::Float(_) => Err(invalid(name, "expected a non-negative integer")),
        other => Err(invalid(
            name,
            &format!("expected an integer, found {}", other.kind()),
        )),
    }
}

/// Reads an event time: ISO-8601 text, a Python datetime, or a number (or numeric text) in
/// the configured unit; then checks it is not beyond `horizon`.
fn timestamp(
    value: Scalar<'_>,
    names: &FieldNames,
    horizon: &Horizon,
    days: &mut DayCache,
) -> Result<EventTime, Rejection> {
    let name = names.name(Field::Timestamp);
    let unit = names.timestamp_unit;
    let parsed = match &value {
        Scalar::Str(s) => {
            // Text that begins and ends with an ASCII letter or digit (the usual timestamp)
            // has nothing to trim; only other text takes the walk over Unicode whitespace.
            let s: &str = s;
            let s = match s.as_bytes() {
                [a, .., z] if a.is_ascii_alphanumeric() && z.is_ascii_alphanumeric() => s,
                _ => s.trim(),
            };
            // A number written as a string is still a number in the configured unit. Text
            // that starts like a date (`2025-`) cannot be one, so it skips both tries.
            if looks_like_a_date(s) {
                EventTime::parse_iso8601_cached(s, days)
            } else if let Ok(n) = s.parse::<i64>() {
                EventTime::from_unix_int(n, unit)
            } else if let Ok(x) = s.parse::<f64>() {
                EventTime::from_unix_float(x, unit)
            } else {
                EventTime::parse_iso8601_cached(s, days)
            }
        }
        Scalar::Int(n) => EventTime::from_unix_int(*n, unit),
        Scalar::Float(x) => EventTime::from_unix_float(*x, unit),
        Scalar::Time(t) => Ok(*t),
        other => {
            return Err(invalid(
                name,
                &format!(
                    "expected an ISO-8601 string or a Unix time, found {}",
                    other.kind()
                ),
            ))
        }
    };
    let t = parsed.map_err(|e| invalid(name, &e.to_string()))?;
    if horizon.admits(t) {
        Ok(t)
    } else {
        Err(invalid(name, &too_far_ahead(&value, unit, t, horizon)))
    }
}

/// Four digits and a dash: neither an integer nor a float in any spelling Rust parses.
#[inline]
fn looks_like_a_date(s: &str) -> bool {
    matches!(s.as_bytes(), [a, b, c, d, b'-', ..] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()))
}

/// Why a time beyond the horizon was refused, naming the value and the unit it was read in.
fn too_far_ahead(value: &Scalar<'_>, unit: TimestampUnit, t: EventTime, h: &Horizon) -> String {
    let number = match value {
        // Whole numbers are resolved as integers, as `EventTime::from_unix_int` does.
        Scalar::Int(n) => Some((n.to_string(), unit.resolve_int(n.unsigned_abs()))),
        Scalar::Float(x) => Some((x.to_string(), unit.resolve(*x))),
        Scalar::Str(s) => {
            let s = s.trim();
            match s.parse::<i64>() {
                Ok(n) => Some((format!("{s:?}"), unit.resolve_int(n.unsigned_abs()))),
                Err(_) => s
                    .parse::<f64>()
                    .ok()
                    .map(|x| (format!("{s:?}"), unit.resolve(x))),
            }
        }
        _ => None,
    };
    match number {
        Some((shown, read)) => format!(
            "timestamp {shown} read as {}{} is {t}, more than {} ahead of the clock; \
             set --timestamp-unit (or [fields] timestamp_unit) to the producer's unit",
            read.name(),
            if unit == TimestampUnit::Auto {
                " (by magnitude)"
            } else {
                ""
            },
            h.lead(),
        ),
        None => format!(
            "timestamp {t} is more than {} ahead of the clock; check the producer's clock, \
             or raise --max-future",
            h.lead(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse_line, parse_line_at};

    #[test]
    fn numeric_timestamps_in_any_unit_on_every_path() {
        let want = EventTime(1_763_631_000_123);
        let h = Horizon::at(
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(want.0),
            std::time::Duration::from_secs(86_400),
        );
        let auto = FieldNames::default();
        for ts in [
            "1763631000123",
            "1763631000123.0",
            "\"1763631000123\"",
            "\"1763631000.123\"",
            "1763631000123456",
            "\"1763631000123456789\"",
            "1763631000.123",
        ] {
            for line in [
                format!(r#"{{"timestamp": {ts}, "value": 1, "category": "B"}}"#),
                format!(
                    "{{'timestamp': {}, 'value': 1, 'category': 'B'}}",
                    ts.replace('"', "'")
                ),
            ] {
                let got = parse_line_at(line.as_bytes(), &auto, &h).expect(&line);
                assert_eq!(got.time(), want, "{line}");
            }
        }
        let ms = FieldNames {
            timestamp_unit: TimestampUnit::Ms,
            ..FieldNames::default()
        };
        let line = br#"{"timestamp": 1763631000123, "value": 1, "category": "B"}"#;
        assert_eq!(parse_line_at(line, &ms, &h).unwrap().time(), want);
    }

    #[test]
    fn times_far_ahead_of_the_clock_are_refused_naming_the_unit() {
        let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_763_631_000);
        let h = Horizon::at(now, std::time::Duration::from_secs(86_400));
        let seconds = FieldNames {
            timestamp_unit: TimestampUnit::S,
            ..FieldNames::default()
        };
        let refused = |line: &str, names: &FieldNames| {
            let r = parse_line_at(line.as_bytes(), names, &h).expect_err(line);
            assert_eq!(r.kind, RejectKind::InvalidField, "{line}");
            r.detail
        };
        let detail = refused(
            r#"{"timestamp": 1763631000123, "value": 1, "category": "B"}"#,
            &seconds,
        );
        assert!(
            detail.contains("timestamp 1763631000123 read as seconds is 57857-03-29T20:02:03Z, more than 1day ahead of the clock; set --timestamp-unit"),
            "{detail}"
        );
        let detail = refused(
            "{'timestamp': '1763631000123', 'stock_code': 'A', 'price': 1, 'volume': 1}",
            &seconds,
        );
        assert!(
            detail.contains(r#"timestamp "1763631000123" read as seconds"#),
            "{detail}"
        );
        // Under auto, a number that is seconds by magnitude but far ahead is named as such.
        let detail = refused(
            r#"{"timestamp": 99999999999, "value": 1, "category": "B"}"#,
            &FieldNames::default(),
        );
        assert!(
            detail.contains("read as seconds (by magnitude)"),
            "{detail}"
        );
        // ISO text and Python datetimes have no unit, but the same limit.
        for line in [
            r#"{"timestamp": "2025-11-21T09:30:00.001Z", "value": 1, "category": "B"}"#,
            "{'timestamp': datetime.datetime(2030, 1, 1), 'value': 1, 'category': 'B'}",
        ] {
            let detail = refused(line, &FieldNames::default());
            assert!(
                detail.contains("more than 1day ahead of the clock"),
                "{detail}"
            );
        }
        // Exactly one day ahead is still accepted; without a horizon, anything is.
        let line = br#"{"timestamp": "2025-11-21T09:30:00Z", "value": 1, "category": "B"}"#;
        assert!(parse_line_at(line, &FieldNames::default(), &h).is_ok());
        let line = br#"{"timestamp": 1763631000123, "value": 1, "category": "B"}"#;
        assert!(parse_line(line, &seconds).is_ok());
    }
}
