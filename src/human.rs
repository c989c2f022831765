//! Durations as people write them: printed in messages as `3s`, `1.5s`, `200ms`, `2m30s`, and
//! read from flags and spec files (`"30s"`, `"500ms"`, `"0s"`).

use std::time::Duration;

/// A duration as people write it, rounded to what a reader can use: milliseconds below a
/// second, tenths of a second below a minute, whole seconds above. `2.999455831s` is `3s`.
/// The output is also accepted wherever tickflow reads a duration.
///
/// ```
/// use std::time::Duration;
/// use tickflow::human::duration;
/// assert_eq!(duration(Duration::from_millis(2_999)), "3s");
/// assert_eq!(duration(Duration::from_millis(1_500)), "1.5s");
/// assert_eq!(duration(Duration::from_millis(200)), "200ms");
/// ```
pub fn duration(d: Duration) -> String {
    let ms = (d.as_micros() + 500) / 1000;
    if ms == 0 {
        return if d.is_zero() {
            "0s".into()
        } else {
            format!("{}µs", d.as_micros().max(1))
        };
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let tenths = (ms + 50) / 100;
    if tenths < 600 {
        return match tenths % 10 {
            0 => format!("{}s", tenths / 10),
            t => format!("{}.{t}s", tenths / 10),
        };
    }
    let secs = (ms + 500) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// Reads a duration as people write it (`60s`, `500ms`, `1h`); the error quotes the text and
/// shows how to write one (the caller names the setting).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 60s, 500ms, 1h"))
}

/// A `Duration` field of a spec file written as people write it (`connect_timeout = "30s"`),
/// for `#[serde(with = "crate::human::serde_duration")]`. A bad value fails the spec's parse,
/// whose message points at the setting.
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `d` exactly (`1m 30s`), which [`deserialize`] reads back.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads a duration string with [`super::parse_duration`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    /// As [`deserialize`], with an error that names `setting` as the other settings' errors
    /// do (``invalid setting `kafka.connect_timeout`: "soon" is not a duration ...``).
    pub fn deserialize_setting<'de, D: Deserializer<'de>>(
        setting: &str,
        d: D,
    ) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text)
            .map_err(|e| serde::de::Error::custom(format!("invalid setting `{setting}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_micros(40), "40µs"),
            (Duration::from_micros(999_600), "1s"),
            (Duration::from_millis(200), "200ms"),
            (Duration::from_nanos(2_999_455_831), "3s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_millis(1_049), "1s"),
            (Duration::from_millis(59_960), "1m"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(150), "2m30s"),
            (Duration::from_secs(3_605), "1h5s"),
        ];
        for (d, want) in cases {
            assert_eq!(duration(d), want, "{d:?}");
        }
        // What it prints, tickflow reads back.
        for (d, _) in &cases[3..] {
            assert!(humantime::parse_duration(&duration(*d)).is_ok(), "{d:?}");
        }
    }
}
