//! Plain numbers for the fast path (`scan.rs`): integers exactly, decimals correctly rounded,
//! with the same result serde_json or the Python reader would give, or `None` to let them.
//!
//! The grammar taken is JSON's, minus the cases where the two readers differ or need more
//! care: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, an integer part of at most 18
//! digits when there is no fraction or exponent (so it fits an `i64`), no `-0` (serde_json
//! reads it as the float -0.0, Python as the integer 0), and a finite result.
//!
//! A decimal `m * 10^e` with `m < 2^53` and `|e| <= 22` is one multiplication or division of
//! two exactly represented f64s, which IEEE 754 rounds correctly (Clinger's fast path); any
//! other is handed to the standard library's parser, which also rounds correctly.

use super::fields::Scalar;

/// Powers of ten that an f64 holds exactly.
const EXACT_POWERS: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Reads the number at the start of `text`: its value and its length in bytes. JSON and
/// Python literals spell the plain grammar alike and both readers give it the same value.
// Inlined at both callers (the scanner and the layout): as a call, with its 40-byte result
// written through memory, it cost about 130 instructions a number in callgrind.
#[inline(always)]
pub fn plain(b: &[u8]) -> Option<(Scalar<'static>, usize)> {
    let negative = b.first() == Some(&b'-');
    let mut i = usize::from(negative);
    let int_start = i;
    let mut mantissa = 0u64;
    i = digit_run(b, i, &mut mantissa);
    let int_digits = i - int_start;
    let mut digits = int_digits;
    if int_digits == 0 || (int_digits > 1 && b[int_start] == b'0') {
        return None;
    }
    let mut exponent = 0i64;
    let mut is_float = false;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        i = digit_run(b, i, &mut mantissa);
        if i == frac_start {
            return None;
        }
        digits += i - frac_start;
        exponent = -((i - frac_start) as i64);
        is_float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        let sign = b.get(i).copied();
        if matches!(sign, Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_negative = sign == Some(b'-');
        let exp_start = i;
        let mut e = 0i64;
        while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            // Saturates far beyond any finite f64; the standard parser then decides.
            e = (e * 10 + i64::from(c - b'0')).min(1 << 40);
            i += 1;
        }
        if i == exp_start {
            return None;
        }
        exponent += if exp_negative { -e } else { e };
        is_float = true;
    }
    if !is_float {
        if int_digits > 18 || (negative && mantissa == 0) {
            return None;
        }
        let n = mantissa as i64;
        return Some((Scalar::Int(if negative { -n } else { n }), i));
    }
    let value = if digits <= 19 && mantissa < 1 << 53 && exponent.unsigned_abs() <= 22 {
        let m = mantissa as f64;
        let x = if exponent >= 0 {
            m * EXACT_POWERS[exponent as usize]
        } else {
            m / EXACT_POWERS[exponent.unsigned_abs() as usize]
        };
        if negative {
            -x
        } else {
            x
        }
    } else {
        // The bytes read are ASCII digits, signs, `.` and `e`.
        std::str::from_utf8(&b[..i]).ok()?.parse::<f64>().ok()?
    };
    value.is_finite().then_some((Scalar::Float(value), i))
}

/// Reads the ASCII digits of `b` from `i` into `mantissa` (wrapping: up to 19 digits fit a
/// u64; more go to the standard parser); returns the index after the last.
#[inline(always)]
fn digit_run(b: &[u8], mut i: usize, mantissa: &mut u64) -> usize {
    while let Some(&c) = b.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        *mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d));
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Option<(Scalar<'static>, usize)> {
        plain(text.as_bytes())
    }

    #[test]
    fn integers_and_decimals() {
        assert_eq!(read("1234,"), Some((Scalar::Int(1234), 4)));
        assert_eq!(read("-7}"), Some((Scalar::Int(-7), 2)));
        assert_eq!(read("0 "), Some((Scalar::Int(0), 1)));
        assert_eq!(read("153.21"), Some((Scalar::Float(153.21), 6)));
        assert_eq!(read("-0.0"), Some((Scalar::Float(-0.0), 4)));
        assert_eq!(read("1e3"), Some((Scalar::Float(1000.0), 3)));
        assert_eq!(read("2.5E-3x"), Some((Scalar::Float(0.0025), 6)));
        assert_eq!(read("1e-400"), Some((Scalar::Float(0.0), 6)));
        assert_eq!(
            read("12345678901234567890.123"),
            Some((Scalar::Float(12345678901234567890.123), 24))
        );
    }

    #[test]
    fn leaves_the_unusual_to_the_full_readers() {
        for text in [
            "-0",
            "01",
            "1.",
            ".5",
            "1e",
            "1e+",
            "-",
            "+1",
            "1e999",
            "1234567890123456789",
        ] {
            assert_eq!(read(text), None, "{text}");
        }
    }

    /// Negative zero keeps its sign through the fast path; `f64` equality would hide it.
    #[test]
    fn negative_zero_decimal_keeps_its_sign() {
        let Some((Scalar::Float(x), _)) = read("-0.000") else {
            panic!("a float")
        };
        assert!(x == 0.0 && x.is_sign_negative());
    }
}
