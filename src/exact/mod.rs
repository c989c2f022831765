//! Exact, order-independent sums of f64 values: 256-bit fixed point with 2^-100 resolution.
//!
//! Floating-point addition is not associative: summing the same prices in another grouping
//! (another worker count, another batch boundary after a restart) can change the last bit of an
//! average. Window results must not change when a run is replayed, so sums are kept as exact
//! integers of 2^-100 units, and an average is the exact sum divided by its count and rounded
//! to f64 once ([`ExactSum::div_to_f64`]), when a row is written.
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
/// `Ord` is a total order for sorting (differential dataflow's collections need one), not the
/// order of the values.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
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

    /// The sum divided by `divisor`, rounded to the nearest f64 once (ties to even).
    ///
    /// "Exact" means: the result is the f64 nearest to `S / divisor`, where `S` is this sum
    /// taken as the rational number it holds (a multiple of 2^-100). `S` is the exact sum of the
    /// inputs whenever each input's lowest set bit is at least 2^-100, which holds for every
    /// f64 of magnitude 2^-48 or more (and for zero); smaller inputs were truncated toward zero
    /// to 2^-100 by [`ExactSum::of`]. No intermediate value is rounded, so a mean of 0.1, 0.2
    /// and 0.3 is 0.2, the f64 nearest their true mean, and not the quotient of a rounded sum.
    ///
    /// How it works:
    /// 1. The magnitude `M` is shifted left by `s` so that `M << s` divided by `divisor` has
    ///    at least 66 significant bits; since `divisor < 2^64`, `M << s` still fits 256 bits.
    /// 2. Long division by 64-bit limbs gives the quotient `q` and the remainder exactly.
    /// 3. `q`, with a non-zero remainder folded in as a sticky bit, is rounded to f64 once
    ///    and scaled by `2^(-100 - s)`, which is exact (results stay far from subnormals).
    pub fn div_to_f64(&self, divisor: u64) -> f64 {
        if divisor == 0 {
            // Callers divide by a count of at least one; keep f64's answer rather than panic.
            return self.to_f64() / 0.0;
        }
        let (negative, m) = if self.is_negative() {
            (true, self.negate())
        } else {
            (false, *self)
        };
        let bits = m.bit_len();
        if bits == 0 {
            return 0.0;
        }
        let divisor_bits = 64 - divisor.leading_zeros();
        let shift = (divisor_bits + 66).saturating_sub(bits);
        let (quotient, remainder) = m.shifted_left(shift).div_rem_u64(divisor);
        let value = quotient.round_to_f64(remainder != 0, -FRACTION_BITS - shift as i32);
        if negative {
            -value
        } else {
            value
        }
    }

    /// Number of significant bits of a non-negative value.
    fn bit_len(&self) -> u32 {
        if self.hi != 0 {
            256 - self.hi.leading_zeros()
        } else {
            128 - self.lo.leading_zeros()
        }
    }

    /// `self << shift` for a non-negative value whose bits stay within 256.
    fn shifted_left(&self, shift: u32) -> ExactSum {
        debug_assert!(shift == 0 || self.bit_len() + shift <= 256);
        match shift {
            0 => *self,
            1..=127 => ExactSum {
                lo: self.lo << shift,
                hi: (self.hi << shift) | (self.lo >> (128 - shift)),
            },
            _ => ExactSum {
                lo: 0,
                hi: self.lo << (shift - 128),
            },
        }
    }

    /// Quotient and remainder of a non-negative value by `divisor`, one 64-bit limb at a time.
    fn div_rem_u64(&self, divisor: u64) -> (ExactSum, u64) {
        let d = u128::from(divisor);
        let limbs = [
            (self.hi >> 64) as u64,
            self.hi as u64,
            (self.lo >> 64) as u64,
            self.lo as u64,
        ];
        let mut quotient = [0u64; 4];
        let mut remainder = 0u128;
        for (q, limb) in quotient.iter_mut().zip(limbs) {
            // remainder < divisor < 2^64, so the partial dividend fits 128 bits.
            let partial = (remainder << 64) | u128::from(limb);
            let digit = partial / d;
            // One 128-bit division a limb; the remainder follows by multiplication.
            remainder = partial - digit * d;
            *q = digit as u64;
        }
        let join = |h: u64, l: u64| (u128::from(h) << 64) | u128::from(l);
        (
            ExactSum {
                hi: join(quotient[0], quotient[1]),
                lo: join(quotient[2], quotient[3]),
            },
            remainder as u64,
        )
    }

    /// A non-negative value times `2^scale`, rounded to the nearest f64 once; `sticky` says a
    /// non-zero part below the value's last bit was dropped (it breaks ties upward).
    fn round_to_f64(&self, sticky: bool, scale: i32) -> f64 {
        // Keep the top 128 significant bits, folding any lower ones into a sticky bit: with at
        // least 66 significant bits kept, the last bit lies far below f64's rounding position,
        // so the single conversion below rounds to nearest, ties to even, correctly.
        let (top, dropped, scale) = if self.hi == 0 {
            (self.lo, false, scale)
        } else {
            let lead = self.hi.leading_zeros();
            if lead == 0 {
                (self.hi, self.lo != 0, scale + 128)
            } else {
                let shift = 128 - lead;
                let top = (self.hi << lead) | (self.lo >> shift);
                (top, self.lo << lead != 0, scale + shift as i32)
            }
        };
        let top = top | u128::from(sticky || dropped);
        top as f64 * pow2(scale)
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

/// `2^exponent` exactly, for exponents of normal f64 values.
fn pow2(exponent: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&exponent));
    f64::from_bits(((exponent + 1023) as u64) << 52)
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
mod tests;
