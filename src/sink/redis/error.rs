//! Why the Redis sink stopped, and which failures may pass if retried.

/// An error of the Redis sink; messages name the server, never its password.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("cannot connect to {target}{}: {message}; {hint}", within(*retried))]
    Connect {
        target: String,
        /// How long connecting was retried, if it was.
        retried: Option<std::time::Duration>,
        message: String,
        hint: String,
    },
    #[error("Redis at {target} refused {command}: {message}")]
    Command {
        target: String,
        command: &'static str,
        message: String,
        /// The failure may pass if retried (a lost connection, a server loading its data).
        transient: bool,
    },
    #[error("Redis at {target} holds progress of pipeline {pipeline:?} that cannot be read ({field}: {message}); pass --restart to start over")]
    Progress {
        target: String,
        pipeline: String,
        field: String,
        message: String,
    },
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
}

impl RedisError {
    /// A failed command on `target`.
    pub fn command(target: &str, command: &'static str, e: &redis::RedisError) -> RedisError {
        if is_auth(e) {
            return RedisError::connect(target, None, e);
        }
        RedisError::Command {
            target: target.to_string(),
            command,
            message: e.to_string(),
            transient: is_transient(e),
        }
    }

    /// A failed connection to `target`, with what to do about it.
    pub fn connect(
        target: &str,
        retried: Option<std::time::Duration>,
        e: &redis::RedisError,
    ) -> RedisError {
        let hint = if is_auth(e) {
            "check the user and password in the redis:// URI (and the server's requirepass or ACL)"
        } else if is_transient(e) {
            "is the server running and reachable?"
        } else {
            "see the server's log for more"
        };
        RedisError::Connect {
            target: target.to_string(),
            retried,
            message: e.to_string(),
            hint: hint.into(),
        }
    }

    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RedisError::Command {
                transient: true,
                ..
            }
        )
    }
}

/// ` within 3s` after a connection retried that long, else nothing.
fn within(retried: Option<std::time::Duration>) -> String {
    retried.map_or_else(String::new, |d| {
        format!(" within {}", crate::human::duration(d))
    })
}

/// A refused password or user (NOAUTH, WRONGPASS), or an ACL that forbids the commands.
fn is_auth(e: &redis::RedisError) -> bool {
    e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM"))
}

/// Whether retrying (on a new connection) may succeed: refused, reset or timed-out connections,
/// a server loading its data set or failing over. Refused credentials, keys of the wrong type
/// and script errors are permanent.
pub fn is_transient(e: &redis::RedisError) -> bool {
    if is_auth(e) || e.code() == Some("WRONGTYPE") {
        return false;
    }
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_connection_dropped()
        || e.is_timeout()
        || matches!(
            e.kind(),
            redis::ErrorKind::BusyLoadingError
                | redis::ErrorKind::TryAgain
                | redis::ErrorKind::MasterDown
                | redis::ErrorKind::ReadOnly
        )
        || matches!(
            e.code(),
            Some("LOADING" | "BUSY" | "MASTERDOWN" | "READONLY")
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::ErrorKind;

    fn server(kind: ErrorKind, code: &str) -> redis::RedisError {
        redis::RedisError::from((kind, "server says", code.to_string()))
    }

    #[test]
    fn lost_servers_are_transient_refusals_are_not() {
        let io = |k| redis::RedisError::from(std::io::Error::from(k));
        assert!(is_transient(&io(std::io::ErrorKind::ConnectionRefused)));
        assert!(is_transient(&io(std::io::ErrorKind::ConnectionReset)));
        assert!(is_transient(&server(ErrorKind::BusyLoadingError, "")));
        assert!(!is_transient(&server(ErrorKind::AuthenticationFailed, "")));
        assert!(!is_transient(&server(
            ErrorKind::ExtensionError,
            "WRONGPASS invalid"
        )));
        assert!(!is_transient(&server(ErrorKind::ResponseError, "")));
        let e = RedisError::command(
            "redis://:***@h:1/0",
            "HGETALL",
            &server(ErrorKind::AuthenticationFailed, ""),
        );
        assert!(!e.is_transient());
        assert!(e.to_string().contains("check the user and password"), "{e}");
    }
}
