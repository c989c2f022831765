//! Connecting to the server, retrying with capped backoff while it may yet answer.

use std::time::Duration;

use postgres::Client;

use super::handshake::{self, explain};
use super::{PgError, Target};
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
        let failure = match handshake::attempt(&config, &target.tls) {
            Ok(client) => return Ok(client),
            Err(e) => explain(e, target),
        };
        let message = failure.message;
        let pause = if failure.transient {
            backoff.next_pause()
        } else {
            None
        };
        let Some(pause) = pause else {
            return Err(PgError::Connect {
                target: target.to_string(),
                retried: warned.then(|| backoff.elapsed()),
                message,
                hint: failure.hint,
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

/// One attempt, for reconnecting between commits (the committer retries what may pass).
pub fn connect_once(target: &Target) -> Result<Client, PgError> {
    handshake::attempt(&target.config, &target.tls).map_err(|e| {
        let failure = explain(e, target);
        PgError::Statement {
            statement: "CONNECT".into(),
            message: format!("{}; {}", failure.message, failure.hint),
            transient: failure.transient,
            code: failure.code,
        }
    })
}
