//! Retries with capped, jittered exponential backoff: the one retry policy every connector uses.
//!
//! How it works:
//! 1. The first pause is `first`; each later one doubles, up to `cap`.
//! 2. Each pause is jittered to between half and all of its nominal length, so processes that
//!    lost the same server do not come back in lockstep.
//! 3. With a deadline, the last pause is cut so that one attempt is made at the deadline itself:
//!    "retrying for up to 3s" really keeps trying for 3 s.
//!
//! Whether an error is worth retrying is the connector's call (each has one predicate); this
//! module only decides when.

use std::time::{Duration, Instant};

/// When to try again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first pause.
    pub first: Duration,
    /// No pause is longer than this.
    pub cap: Duration,
    /// Give up once this much time has passed since the first attempt (`None`: never).
    pub patience: Option<Duration>,
}

impl RetryPolicy {
    /// 100 ms doubling up to 5 s, the pace every connector of tickflow used before it had one.
    pub const DEFAULT_FIRST: Duration = Duration::from_millis(100);
    /// The longest pause between two attempts.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(5);

    /// Retries for up to `patience` with the default pace.
    pub fn for_up_to(patience: Duration) -> RetryPolicy {
        RetryPolicy {
            first: Self::DEFAULT_FIRST,
            cap: Self::DEFAULT_CAP,
            patience: Some(patience),
        }
    }

    /// Retries for as long as it takes, with the default pace.
    pub fn forever() -> RetryPolicy {
        RetryPolicy {
            first: Self::DEFAULT_FIRST,
            cap: Self::DEFAULT_CAP,
            patience: None,
        }
    }

    /// Starts a backoff clock for one operation.
    pub fn start(self) -> Backoff {
        Backoff::new(self)
    }
}

/// The pauses of one operation's retries.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    started: Instant,
    nominal: Duration,
    jitter: u64,
}

impl Backoff {
    fn new(policy: RetryPolicy) -> Backoff {
        let started = Instant::now();
        // Any varying seed will do: jitter only has to differ between processes and runs.
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Backoff {
            policy,
            started,
            nominal: policy.first,
            jitter: seed | 1,
        }
    }

    /// How long the operation has been tried.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The patience this backoff was started with.
    pub fn patience(&self) -> Option<Duration> {
        self.policy.patience
    }

    /// The pause before the next attempt, or `None` when the deadline has passed.
    pub fn next_pause(&mut self) -> Option<Duration> {
        let nominal = self.nominal;
        self.nominal = (self.nominal * 2).min(self.policy.cap);
        let pause = self.jittered(nominal);
        match self.policy.patience {
            None => Some(pause),
            Some(patience) => {
                let left = patience.checked_sub(self.elapsed())?;
                (!left.is_zero()).then(|| pause.min(left))
            }
        }
    }

    /// Sleeps before the next attempt; `false` when the deadline has passed (give up).
    pub fn wait(&mut self) -> bool {
        match self.next_pause() {
            Some(pause) => {
                std::thread::sleep(pause);
                true
            }
            None => false,
        }
    }

    /// Back to the first pause (after a success, for an operation that keeps going).
    pub fn reset(&mut self) {
        self.nominal = self.policy.first;
        self.started = Instant::now();
    }

    /// Between half and all of `nominal` (xorshift: no crate needed for this much randomness).
    fn jittered(&mut self, nominal: Duration) -> Duration {
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let fraction = (self.jitter >> 11) as f64 / (1u64 << 53) as f64;
        nominal.mul_f64(0.5 + fraction / 2.0)
    }
}

/// Why [`retry`] stopped without a result.
#[derive(Debug)]
pub enum RetryError<E> {
    /// The error is not worth retrying.
    Permanent(E),
    /// Every attempt failed until the deadline; the last error, and how long it was tried.
    GaveUp { last: E, waited: Duration },
}

impl<E> RetryError<E> {
    /// The error behind it, whichever way it stopped.
    pub fn into_inner(self) -> E {
        match self {
            RetryError::Permanent(e) | RetryError::GaveUp { last: e, .. } => e,
        }
    }
}

/// Runs `attempt` until it succeeds, fails with an error `transient` says is permanent, or the
/// policy's patience runs out. `on_retry` is told of each failure that will be retried (to
/// warn once, count retries, drop a broken connection).
pub fn retry<T, E>(
    policy: RetryPolicy,
    mut attempt: impl FnMut() -> Result<T, E>,
    transient: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E, &Backoff),
) -> Result<T, RetryError<E>> {
    let mut backoff = policy.start();
    loop {
        match attempt() {
            Ok(value) => return Ok(value),
            Err(e) if !transient(&e) => return Err(RetryError::Permanent(e)),
            Err(e) => {
                let Some(pause) = backoff.next_pause() else {
                    let waited = backoff.elapsed();
                    return Err(RetryError::GaveUp { last: e, waited });
                };
                on_retry(&e, &backoff);
                std::thread::sleep(pause);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_with_jitter() {
        let mut b = RetryPolicy {
            first: Duration::from_millis(100),
            cap: Duration::from_millis(400),
            patience: None,
        }
        .start();
        for nominal in [100, 200, 400, 400, 400] {
            let pause = b.next_pause().expect("no deadline").as_millis() as u64;
            assert!(
                (nominal / 2..=nominal).contains(&pause),
                "{pause} ms outside [{}, {nominal}]",
                nominal / 2
            );
        }
        b.reset();
        assert!(b.next_pause().expect("no deadline") <= Duration::from_millis(100));
    }

    #[test]
    fn the_last_pause_ends_at_the_deadline() {
        let mut b = RetryPolicy {
            first: Duration::from_secs(10),
            cap: Duration::from_secs(10),
            patience: Some(Duration::from_millis(50)),
        }
        .start();
        let pause = b.next_pause().expect("time is left");
        assert!(pause <= Duration::from_millis(50), "{pause:?}");
        std::thread::sleep(pause);
        assert_eq!(b.next_pause(), None, "the deadline has passed");
    }

    #[test]
    fn retries_transient_errors_until_success() {
        let mut calls = 0;
        let mut retried = 0;
        let result = retry(
            RetryPolicy {
                first: Duration::from_millis(1),
                cap: Duration::from_millis(2),
                patience: Some(Duration::from_secs(10)),
            },
            || {
                calls += 1;
                if calls < 4 {
                    Err("down")
                } else {
                    Ok(calls)
                }
            },
            |_| true,
            |_, _| retried += 1,
        );
        assert_eq!(result.expect("fourth attempt succeeds"), 4);
        assert_eq!(retried, 3);
    }

    #[test]
    fn a_permanent_error_stops_at_once() {
        let mut calls = 0;
        let result: Result<(), _> = retry(
            RetryPolicy::for_up_to(Duration::from_secs(10)),
            || {
                calls += 1;
                Err("no such database")
            },
            |e| *e != "no such database",
            |_, _| {},
        );
        assert!(matches!(
            result,
            Err(RetryError::Permanent("no such database"))
        ));
        assert_eq!(calls, 1);
    }

    #[test]
    fn gives_up_after_trying_at_the_deadline() {
        let started = Instant::now();
        let mut calls = 0;
        let result: Result<(), _> = retry(
            RetryPolicy {
                first: Duration::from_millis(20),
                cap: Duration::from_millis(20),
                patience: Some(Duration::from_millis(100)),
            },
            || {
                calls += 1;
                Err("refused")
            },
            |_| true,
            |_, _| {},
        );
        let Err(RetryError::GaveUp { last, waited }) = result else {
            panic!("expected to give up");
        };
        assert_eq!(last, "refused");
        // It kept trying for the whole patience, not one pause less.
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(calls >= 5, "{calls} attempts");
    }
}
