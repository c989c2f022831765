//! `valid_from` as reference sources write it: Unix seconds (integer or fractional) or
//! ISO-8601 / RFC 3339 text (no zone means UTC), empty or null meaning "since always".

use crate::event::EventTime;

/// Reads `valid_from` from text (a CSV field, a JSON string): empty means `None` (since
/// always), a number is Unix seconds, anything else must be ISO-8601.
pub fn parse_valid_from(text: &str) -> Result<Option<EventTime>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = if text.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
        && !text.contains([':', 'T', 't', ' '])
        && text.len() < 19
    {
        let secs: f64 = text.parse().map_err(|_| {
            format!("valid_from {text:?} is neither Unix seconds nor an RFC 3339 time")
        })?;
        return from_seconds(secs);
    } else {
        EventTime::parse_iso8601(text)
    };
    parsed.map(Some).map_err(|e| format!("valid_from: {e}"))
}

/// Unix seconds to event time. A number of 1e11 or more (past the year 5000) is refused: it
/// is almost surely milliseconds, which read as seconds would never apply.
fn from_seconds(secs: f64) -> Result<Option<EventTime>, String> {
    if secs >= 1e11 {
        return Err(format!(
            "valid_from {secs} is past the year 5000: write Unix seconds, not milliseconds"
        ));
    }
    EventTime::from_unix_seconds(secs)
        .map(Some)
        .map_err(|e| format!("valid_from: {e}"))
}

/// Reads `valid_from` from a JSON value: absent or null means since always, a number is Unix
/// seconds, a string as [`parse_valid_from`].
pub fn valid_from_json(value: Option<&serde_json::Value>) -> Result<Option<EventTime>, String> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => {
            let secs = n
                .as_f64()
                .ok_or_else(|| format!("valid_from {n} is not a number of seconds"))?;
            from_seconds(secs)
        }
        Some(serde_json::Value::String(s)) if s.trim().is_empty() => Err(
            "valid_from is an empty string (leave it out or write null for since always)".into(),
        ),
        Some(serde_json::Value::String(s)) => parse_valid_from(s),
        Some(other) => Err(format!(
            "valid_from {other} is neither Unix seconds, an RFC 3339 string nor null"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: u64 = 1_763_631_000_000;

    #[test]
    fn seconds_text_and_nothing() {
        assert_eq!(parse_valid_from(""), Ok(None));
        assert_eq!(parse_valid_from("  "), Ok(None));
        assert_eq!(parse_valid_from("1763631000"), Ok(Some(EventTime(T))));
        assert_eq!(
            parse_valid_from("1763631000.25"),
            Ok(Some(EventTime(T + 250)))
        );
        assert_eq!(
            parse_valid_from("2025-11-20T09:30:00Z"),
            Ok(Some(EventTime(T)))
        );
        assert_eq!(
            parse_valid_from("2025-11-20T10:30:00+01:00"),
            Ok(Some(EventTime(T)))
        );
        for bad in [
            "-5",
            "soon",
            "2025-13-20T09:30:00Z",
            "12abc",
            "NaN",
            "1763631000000",
        ] {
            let e = parse_valid_from(bad).unwrap_err();
            assert!(e.contains("valid_from"), "{bad}: {e}");
        }
    }

    #[test]
    fn json_values() {
        assert_eq!(valid_from_json(None), Ok(None));
        assert_eq!(valid_from_json(Some(&json!(null))), Ok(None));
        assert_eq!(
            valid_from_json(Some(&json!(1763631000))),
            Ok(Some(EventTime(T)))
        );
        assert_eq!(
            valid_from_json(Some(&json!(1763631000.5))),
            Ok(Some(EventTime(T + 500)))
        );
        assert_eq!(
            valid_from_json(Some(&json!("2025-11-20T09:30:00Z"))),
            Ok(Some(EventTime(T)))
        );
        for bad in [
            json!(-1),
            json!(""),
            json!(true),
            json!([1]),
            json!("x"),
            json!(1763631000000u64),
        ] {
            assert!(valid_from_json(Some(&bad)).is_err(), "{bad}");
        }
    }
}
