//! Unit tests of exact sums: round trips, order independence, and correctly rounded means
//! against exact rationals.

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
