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
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    #[test]
    fn quotients_are_rounded_once() {
        // The examples: one rounding of the exact quotient gives the decimal back.
        let notional = ExactSum::of_product(126.33, 4321);
        assert_eq!(notional.div_to_f64(4321), 126.33);
        assert_ne!(notional.to_f64() / 4321.0, 126.33, "rounding twice drifts");
        let mut s = ExactSum::ZERO;
        for x in [0.1, 0.2, 0.3] {
            s.add(&ExactSum::of(x));
        }
        assert_eq!(s.div_to_f64(3), 0.2);
        assert_eq!(s.div_to_f64(1), s.to_f64());
        assert_eq!(ExactSum::ZERO.div_to_f64(7), 0.0);
        assert_eq!(ExactSum::of(-7.5).div_to_f64(3), -2.5);
        // f64 steps by 0.125 above 2^49, so these means lie halfway between two neighbours:
        // ties go to the one with an even last bit.
        let big = 2f64.powi(49);
        let mut tie = ExactSum::of(big);
        tie.add(&ExactSum::of(big + 0.125));
        assert_eq!(tie.div_to_f64(2), big);
        let mut tie = ExactSum::of(big + 0.125);
        tie.add(&ExactSum::of(big + 0.25));
        assert_eq!(tie.div_to_f64(2), big + 0.25);
        // Tiny and huge divisors stay exact: 1 / 2^64 and (2^64 - 1) * x / (2^64 - 1).
        assert_eq!(ExactSum::of(1.0).div_to_f64(1 << 63), 2f64.powi(-63));
        assert_eq!(
            ExactSum::of_product(153.21, u64::MAX).div_to_f64(u64::MAX),
            153.21
        );
        assert_eq!(
            ExactSum::of(2f64.powi(-48)).div_to_f64(u64::MAX),
            2f64.powi(-48) / u64::MAX as f64
        );
    }

    /// The independent answer: the inputs as exact rationals, their sum divided by the
    /// divisor, and the f64 nearest to it found by comparing neighbours exactly.
    fn nearest_f64_of_mean(terms: &[(f64, u64)], divisor: u64) -> f64 {
        use num_bigint::BigInt;
        use num_rational::BigRational;
        let exact = |x: f64| BigRational::from_float(x).expect("finite");
        let sum = terms
            .iter()
            .fold(BigRational::from_integer(0.into()), |acc, (x, n)| {
                acc + exact(*x) * BigRational::from_integer(BigInt::from(*n))
            });
        let q = sum / BigRational::from_integer(BigInt::from(divisor));
        let dist = |c: f64| {
            let c = exact(c);
            if c > q {
                c - &q
            } else {
                &q - c
            }
        };
        // A starting point close to the answer; the walk below settles it by exact comparison.
        let mut c = num_traits::ToPrimitive::to_f64(&q).expect("a finite quotient");
        while dist(c.next_up()) < dist(c) {
            c = c.next_up();
        }
        while dist(c.next_down()) < dist(c) {
            c = c.next_down();
        }
        for n in [c.next_up(), c.next_down()] {
            if dist(n) == dist(c) && n.to_bits() & 1 == 0 {
                c = n;
            }
        }
        if c == 0.0 {
            0.0
        } else {
            c
        }
    }

    /// An f64 the fixed point holds exactly: magnitude in [2^-48, 2^50), or zero.
    fn exact_input() -> impl Strategy<Value = f64> {
        prop_oneof![
            1 => Just(0.0),
            9 => (any::<bool>(), (1u64 << 52)..(1u64 << 53), -100i32..=-3).prop_map(
                |(negative, mantissa, exponent)| {
                    let x = mantissa as f64 * 2f64.powi(exponent);
                    if negative {
                        -x
                    } else {
                        x
                    }
                }
            ),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn quotient_is_the_nearest_f64(
            terms in proptest::collection::vec(
                (exact_input(), prop_oneof![1u64..=1, 1u64..10_000, any::<u64>()]),
                1..12,
            ),
            divisor in prop_oneof![1u64..20, 1u64..1_000_000, any::<u64>()],
        ) {
            let divisor = divisor.max(1);
            let mut sum = ExactSum::ZERO;
            for (x, n) in &terms {
                sum.add(&ExactSum::of_product(*x, *n));
            }
            prop_assert_eq!(sum.div_to_f64(divisor), nearest_f64_of_mean(&terms, divisor));
        }

        #[test]
        fn halfway_quotients_go_to_even(
            x in exact_input().prop_filter("non-zero", |x| *x != 0.0),
            k in 1u64..100_000,
        ) {
            // k ticks at x and k at the next f64 away from zero: the mean is exactly halfway.
            let y = if x > 0.0 { x.next_up() } else { x.next_down() };
            let mut sum = ExactSum::of_product(x, k);
            sum.add(&ExactSum::of_product(y, k));
            let got = sum.div_to_f64(2 * k);
            let even = if x.to_bits() & 1 == 0 { x } else { y };
            let want = nearest_f64_of_mean(&[(x, k), (y, k)], 2 * k);
            prop_assert_eq!(got, even);
            prop_assert_eq!(got, want);
        }
    }
}
