//! Connecting to the server, retrying with capped backoff while it may yet answer.

use std::time::Duration;

use postgres::{Client, NoTls};

use super::{describe, is_transient, redact, PgError, Target};
use crate::retry::{retry, RetryError, RetryPolicy};

/// Connects, retrying transient failures (refused, reset, the server starting) until `timeout`.
pub fn connect(target: &Target, timeout: Duration) -> Result<Client, PgError> {
    let mut warned = false;
    retry(
        RetryPolicy::for_up_to(timeout),
        || target.config.connect(NoTls),
        is_transient,
        |e, _| {
            if !warned {
                let message = redact(&describe(e));
                let timeout = crate::units::human(timeout);
                eprintln!("tickflow: cannot connect to {target} ({message}); retrying for up to {timeout}");
                warned = true;
            }
        },
    )
    .map_err(|e| {
        let waited = match &e {
            RetryError::GaveUp { waited, .. } => *waited,
            RetryError::Permanent(_) => Duration::ZERO,
        };
        PgError::Connect {
            target: target.to_string(),
            waited,
            message: redact(&describe(&e.into_inner())),
        }
    })
}
