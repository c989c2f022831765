//! Exact, order-independent sums of f64 values: 256-bit fixed point with 2^-100 resolution.
//!
//! Floating-point addition is not associative: summing the same prices in another grouping
//! (another worker count, another batch boundary after a restart) can change the last bit of an
//! average. Window results must not change when a run is replayed, so sums are kept as exact
//! integers of 2^-100 units and rounded to f64 once, when a row is written.
//!
//! Every f64 from 2^-48 (3.6e-15) up to the input limit [`MAX_MAGNITUDE`] converts without loss;
//! smaller magnitudes are truncated below 2^-100. With magnitudes up to 2^50 multiplied by
//! volumes up to 2^64, more than 2^40 terms fit before the 255-bit range could overflow.

use serde::{Deserialize, Serialize};

/// Fractional bits of the fixed point.
const FRACTION_BITS: i32 = 100;

/// Largest magnitude accepted as a price or reading (2^50, about 1.1e15).
pub const MAX_MAGNITUDE: f64 = 1_125_899_906_842_624.0;

/// A signed 256-bit integer counting 2^-100 units, two's complement, `[low, high]` halves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExactSum {
    lo: u128,
    hi: u128,
}

impl ExactSum {
    pub const ZERO: ExactSum = ExactSum { lo: 0, hi: 0 };

    /// `x` exactly (for `|x| <= MAX_MAGNITUDE`; the caller rejects anything larger).
    #[inline]
    pub fn of(x: f64) -> ExactSum {
        Self::of_product(x, 1)
    }

    /// `x * n` exactly (for `|x| <= MAX_MAGNITUDE`).
    #[inline]
    pub fn of_product(x: f64, n: u64) -> ExactSum {
        debug_assert!(x.is_finite() && x.abs() <= MAX_MAGNITUDE);
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1 << 52) - 1);
        if exponent == 0 && fraction == 0 {
            return ExactSum::ZERO;
        }
        // x = mantissa * 2^(exponent - 1075); in units: mantissa * 2^(exponent - 1075 + 100).
        let (mantissa, exponent) = if exponent == 0 {
            (fraction, -1074)
        } else {
            (fraction | (1 << 52), exponent - 1075)
        };
        let shift = exponent + FRACTION_BITS;
        // mantissa < 2^53 and n < 2^64: the product fits in 117 bits.
        let product = u128::from(mantissa) * u128::from(n);
        let magnitude = if shift >= 0 {
            shl(product, shift as u32)
        } else if shift > -128 {
            ExactSum {
                lo: product >> (-shift) as u32,
                hi: 0,
            }
        } else {
            ExactSum::ZERO
        };
        if x.is_sign_negative() {
            magnitude.negate()
        } else {
            magnitude
        }
    }

    /// Adds `other` (wrapping, which the input limits make unreachable).
    #[inline]
    pub fn add(&mut self, other: &ExactSum) {
        let (lo, carry) = self.lo.overflowing_add(other.lo);
        self.lo = lo;
        self.hi = self
            .hi
            .wrapping_add(other.hi)
            .wrapping_add(u128::from(carry));
    }

    fn negate(self) -> ExactSum {
        let (lo, borrow) = (!self.lo).overflowing_add(1);
        ExactSum {
            lo,
            hi: (!self.hi).wrapping_add(u128::from(borrow)),
        }
    }

    fn is_negative(&self) -> bool {
        self.hi >> 127 == 1
    }

    /// The sum rounded to the nearest f64 (the same value for the same sum, always).
    pub fn to_f64(&self) -> f64 {
        let (negative, m) = if self.is_negative() {
            (true, self.negate())
        } else {
            (false, *self)
        };
        // Keep the top 128 significant bits, folding any lower ones into a sticky bit so the
        // conversion still rounds to nearest.
        let (top, scale) = if m.hi == 0 {
            (m.lo, -FRACTION_BITS)
        } else {
            let lead = m.hi.leading_zeros();
            let shift = 128 - lead;
            let top = (m.hi << lead) | (m.lo >> shift);
            let sticky = u128::from(m.lo << lead != 0);
            (top | sticky, shift as i32 - FRACTION_BITS)
        };
        let value = top as f64 * 2f64.powi(scale);
        if negative {
            -value
        } else {
            value
        }
    }
}

/// `value << shift` in 256 bits (`shift < 256`; bits beyond are dropped).
fn shl(value: u128, shift: u32) -> ExactSum {
    match shift {
        0 => ExactSum { lo: value, hi: 0 },
        1..=127 => ExactSum {
            lo: value << shift,
            hi: value >> (128 - shift),
        },
        128..=255 => ExactSum {
            lo: 0,
            hi: value << (shift - 128),
        },
        _ => ExactSum::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(xs: &[f64]) -> f64 {
        let mut s = ExactSum::ZERO;
        for x in xs {
            s.add(&ExactSum::of(*x));
        }
        s.to_f64()
    }

    #[test]
    fn round_trips_single_values() {
        for x in [
            0.0,
            1.0,
            -1.0,
            153.21,
            0.1,
            1e-10,
            123_456_789.125,
            MAX_MAGNITUDE,
            -42.17,
        ] {
            assert_eq!(sum(&[x]), x, "{x}");
        }
    }

    #[test]
    fn order_does_not_matter() {
        let xs: Vec<f64> = (0..1000)
            .map(|i| (i as f64 * 0.37).sin() * 1e3 + 0.01)
            .collect();
        let forward = sum(&xs);
        let mut reversed = xs.clone();
        reversed.reverse();
        assert_eq!(forward, sum(&reversed));
        // A different grouping of partial sums gives the same bits.
        let mut a = ExactSum::ZERO;
        let mut b = ExactSum::ZERO;
        for (i, x) in xs.iter().enumerate() {
            if i % 3 == 0 {
                a.add(&ExactSum::of(*x))
            } else {
                b.add(&ExactSum::of(*x))
            }
        }
        a.add(&b);
        assert_eq!(a.to_f64(), forward);
        // And it is the correctly rounded sum where naive summation drifts.
        assert_eq!(sum(&[0.1, 0.2, 0.3]), 0.6);
        assert_eq!(sum(&[1e15, 0.1, -1e15]), 0.1);
    }

    #[test]
    fn products_are_exact() {
        let mut s = ExactSum::ZERO;
        s.add(&ExactSum::of_product(153.21, 1234));
        s.add(&ExactSum::of_product(0.5, u64::MAX));
        assert_eq!(s.to_f64(), 153.21 * 1234.0 + 0.5 * u64::MAX as f64);
        assert_eq!(ExactSum::of_product(-2.5, 4).to_f64(), -10.0);
    }
}
