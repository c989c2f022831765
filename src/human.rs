//! Values written for people in messages: durations as `3s`, `1.5s`, `200ms`, `2m30s`.

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
