//! Connecting to the server, retrying with capped backoff while it may yet answer.

use std::time::Duration;

use postgres::{Client, NoTls};

use super::{connect_hint, describe, is_transient, redact, PgError, Target};
use crate::human;
use crate::retry::RetryPolicy;

/// Shortest wait for one connection attempt, even when the deadline is closer.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// Connects, retrying failures that may pass (refused, reset, the server starting) until
/// `timeout` has passed, with one last attempt at the deadline. Errors the server sends for
/// good (no such database, a bad password) end it at once, with the hint that fits them.
pub fn connect(target: &Target, timeout: Duration) -> Result<Client, PgError> {
    let mut backoff = RetryPolicy::for_up_to(timeout).start();
    let mut warned = false;
    loop {
        // One attempt may not outlast the deadline (libpq's connect_timeout is 10s).
        let left = timeout.saturating_sub(backoff.elapsed());
        let mut config = target.config.clone();
        let attempt = config
            .get_connect_timeout()
            .map_or(left, |t| left.min(*t))
            .max(MIN_ATTEMPT);
        config.connect_timeout(attempt);
        let e = match config.connect(NoTls) {
            Ok(client) => return Ok(client),
            Err(e) => e,
        };
        let message = redact(&describe(&e));
        let pause = if is_transient(&e) {
            backoff.next_pause()
        } else {
            None
        };
        let Some(pause) = pause else {
            return Err(PgError::Connect {
                target: target.to_string(),
                retried: warned.then(|| backoff.elapsed()),
                message,
                hint: connect_hint(&e, target),
            });
        };
        if !warned {
            eprintln!(
                "tickflow: cannot connect to {target} ({message}); retrying for up to {}",
                human::duration(timeout)
            );
            warned = true;
        }
        std::thread::sleep(pause);
    }
}
