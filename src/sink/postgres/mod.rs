//! The PostgreSQL sink: batched idempotent upserts, one transaction per committed frontier.

mod connect;
mod copy;
mod schema;
mod sink;
mod store;
mod target;

pub use connect::connect;
pub use schema::{validate_identifier, Tables};
pub use sink::{PgSink, PgSinkOptions};
pub use store::{PgStore, StoreScope};
pub use target::{is_postgres_uri, redact, Target, TargetError};

/// Why the PostgreSQL sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to {target} within {}: {message}; is the server running and reachable?", crate::units::human(*.waited))]
    Connect {
        target: String,
        waited: std::time::Duration,
        message: String,
    },
    #[error("PostgreSQL refused `{statement}`: {message}")]
    Statement {
        statement: String,
        message: String,
        /// The failure may pass if retried (a lost connection, a server restart).
        transient: bool,
        /// The server's SQLSTATE, when it answered.
        code: Option<String>,
    },
    #[error("table {table} exists with an incompatible shape: {problems}; drop or rename it, or configure other table names in the spec's [postgres] section")]
    Shape { table: String, problems: String },
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
}

impl PgError {
    /// A failed statement, shortened and with any password removed.
    pub fn statement(sql: &str, e: postgres::Error) -> PgError {
        let mut statement: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
        if statement.len() > 200 {
            let cut = (0..=200)
                .rev()
                .find(|&i| statement.is_char_boundary(i))
                .unwrap_or(0);
            statement.truncate(cut);
            statement.push_str(" ...");
        }
        PgError::Statement {
            statement,
            message: redact(&describe(&e)),
            transient: is_transient(&e),
            code: e.code().map(|c| c.code().to_string()),
        }
    }

    /// A row with the same key is already in a table.
    pub fn is_unique_violation(&self) -> bool {
        let unique = postgres::error::SqlState::UNIQUE_VIOLATION;
        matches!(self, PgError::Statement { code: Some(c), .. } if c == unique.code())
    }

    /// Whether retrying may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PgError::Statement {
                transient: true,
                ..
            }
        )
    }
}

/// The server's message and code when there is one, else the client's.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether retrying (on a new connection if needed) may succeed: lost connections, server
/// shutdowns and restarts, serialization failures, too many connections. Permission errors,
/// full disks and bad SQL are permanent.
pub fn is_transient(e: &postgres::Error) -> bool {
    match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            c.starts_with("08")
                || matches!(
                    c,
                    "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300" | "55P03"
                )
        }
    }
}
