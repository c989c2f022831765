//! The PostgreSQL sink: batched idempotent upserts, one transaction per committed frontier.

mod connect;
mod copy;
mod handshake;
mod inspect;
mod owner;
mod schema;
mod sink;
mod store;
mod target;
mod tls;

pub use connect::connect;
pub use inspect::inspect;
pub use owner::{TakenOver, OWNERS};
pub use schema::{validate_identifier, Tables};
pub use sink::{PgSink, PgSinkOptions};
pub use store::{PgStore, StoreScope};
pub use target::{is_postgres_uri, redact, Target, TargetError};
pub use tls::{RootCert, SslMode, TlsSettings};

/// Why the PostgreSQL sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("cannot connect to {target}{}: {message}; {hint}", within(*retried))]
    Connect {
        target: String,
        /// How long connecting was retried, if it was.
        retried: Option<std::time::Duration>,
        message: String,
        /// What to do about it, from the SQLSTATE (see [`connect_hint`]).
        hint: String,
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
    #[error("table {table} holds the results of pipeline {owner:?} (claimed {since} UTC), so pipeline {pipeline:?} will not write into it; give this pipeline tables of its own with --pg-schema or other table names in the spec's [postgres] section, or pass --restart to take the tables over (pipeline {owner:?} then loses its saved progress)")]
    Owned {
        table: String,
        owner: String,
        since: String,
        pipeline: String,
    },
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

/// ` within 3s` after a connection retried that long, else nothing.
fn within(retried: Option<std::time::Duration>) -> String {
    retried.map_or_else(String::new, |d| {
        format!(" within {}", crate::human::duration(d))
    })
}

/// What to do when connecting to `target` failed with `e`, from the SQLSTATE the server sent:
/// only an error without one (refused, timed out, unreachable) asks whether the server runs.
pub fn connect_hint(e: &postgres::Error, target: &Target) -> String {
    let db = target.dbname();
    let user = target.config.get_user().unwrap_or("");
    let Some(code) = e.code() else {
        return "is the server running and reachable?".into();
    };
    match code.code() {
        "3D000" => format!(
            "create the database (`createdb {db}`) or fix the database name in the connection string"
        ),
        "28P01" | "28000" => format!(
            "check the user ({user}) and password (in the URL, PGPASSWORD or ~/.pgpass) and the server's pg_hba.conf"
        ),
        "42501" => format!(
            "user {user} may not connect to {db}: have it granted (`GRANT CONNECT ON DATABASE \"{db}\" TO \"{user}\"`) or connect as another user"
        ),
        "53300" => {
            "the server has no free connections: close some, or raise its max_connections".into()
        }
        c if c.starts_with("57P") || c.starts_with("08") => {
            "the server is starting, stopping or unreachable; is it running and reachable?".into()
        }
        _ => "see the server's log for more".into(),
    }
}

/// The server's message and code when there is one, else the client's.
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        // The client's own message ("error connecting to server") leaves out why.
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
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
