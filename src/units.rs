//! Quantities as people write them in messages: `3s`, `1.5s`, `200ms`.

use std::time::Duration;

/// A duration the way it would be typed on the command line: the largest unit that keeps it
/// short, with at most three significant decimals (`3s`, `1.5s`, `250ms`, `2m 30s`).
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        return format!("{}us", d.as_micros());
    }
    if ms < 1_000.0 {
        return format!("{}ms", trim(ms, 0));
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{}s", trim(secs, if secs < 10.0 { 2 } else { 1 }));
    }
    let whole = d.as_secs();
    let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
    match (h, m, s) {
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, 0) => format!("{h}h {m}m"),
        (h, m, s) => format!("{h}h {m}m {s}s"),
    }
}

/// `x` with at most `decimals` decimals and no trailing zeros.
fn trim(x: f64, decimals: usize) -> String {
    let text = format!("{x:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_typed() {
        let ms = Duration::from_millis;
        assert_eq!(human(ms(3_000)), "3s");
        assert_eq!(human(Duration::from_nanos(2_999_455_831)), "3s");
        assert_eq!(human(ms(1_500)), "1.5s");
        assert_eq!(human(ms(200)), "200ms");
        assert_eq!(human(ms(12_340)), "12.3s");
        assert_eq!(human(ms(90_000)), "1m 30s");
        assert_eq!(human(ms(3_600_000)), "1h");
        assert_eq!(human(Duration::from_micros(250)), "250us");
    }
}
