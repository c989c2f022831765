//! Reference data: which sector each symbol belongs to, and since when. Read from a CSV file, a
//! PostgreSQL table or a compacted Kafka topic; every reader hands over whole snapshots, and the
//! dataflow turns the difference between two snapshots into changes of an arranged collection.
//!
//! Files: `file.rs`, `postgres.rs`, `kafka/` (one reader each), `valid_from.rs` (how sources
//! write valid_from: Unix seconds or RFC 3339), `snapshot.rs` (a reading made canonical, and
//! the summary `tickflow check` prints). Rows or messages a reader skips, and reads that fail
//! while running, are counted in `tickflow_reference_errors_total` ([`crate::metrics`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::event::EventTime;

mod file;
mod kafka;
mod postgres;
mod snapshot;
mod valid_from;

pub use kafka::KafkaReference;
pub use postgres::PostgresReference;
pub use snapshot::{canonical, summary};
pub use valid_from::{parse_valid_from, valid_from_json};

/// One row of the mapping: `symbol` is in `sector` from `valid_from` on (since always when
/// `None`). A symbol may have several rows with different `valid_from`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mapping {
    pub symbol: String,
    pub sector: String,
    pub valid_from: Option<EventTime>,
}

/// Where the mapping comes from (`--reference URI`, `--reference-table`, `--reference-poll`).
#[derive(Clone, Debug, PartialEq)]
pub enum ReferenceSpec {
    /// `file:PATH.csv`, header `symbol,sector[,valid_from]`; re-read when it changes.
    File { path: PathBuf },
    /// `postgres://...` with the table to read, re-read every `poll`.
    Postgres {
        url: String,
        table: String,
        poll: Duration,
    },
    /// `kafka://BROKER[,BROKER]/TOPIC`: a compacted topic, key = symbol, value
    /// `{"sector": "...", "valid_from": ...}`, a tombstone removes the symbol. `settings` are
    /// the run's `-X` / `[kafka] settings`, passed to librdkafka unchanged.
    Kafka {
        brokers: String,
        topic: String,
        settings: BTreeMap<String, String>,
    },
}

impl ReferenceSpec {
    /// How often a PostgreSQL table is read again when `--reference-poll` is not given.
    pub const DEFAULT_POLL: Duration = Duration::from_secs(5);

    /// Reads `--reference URI` with `--reference-table` (PostgreSQL only, where it is needed)
    /// and `--reference-poll`; `kafka` holds the run's `-X` settings for a Kafka topic.
    pub fn parse(
        uri: &str,
        table: Option<&str>,
        poll: Option<Duration>,
        kafka: &BTreeMap<String, String>,
    ) -> Result<ReferenceSpec, String> {
        let postgres = uri.starts_with("postgres://") || uri.starts_with("postgresql://");
        if table.is_some() && !postgres {
            return Err(format!(
                "--reference-table is for a postgres:// reference, not {uri}"
            ));
        }
        if poll.is_some() && !postgres {
            return Err(format!(
                "--reference-poll is for a postgres:// reference, not {uri} (a file is re-read when it changes, a topic as messages arrive)"
            ));
        }
        if let Some(path) = uri.strip_prefix("file:") {
            if path.is_empty() {
                return Err("file: needs a path, e.g. file:sectors.csv".into());
            }
            return Ok(ReferenceSpec::File { path: path.into() });
        }
        if postgres {
            let table = table.ok_or_else(|| {
                "a postgres:// reference needs --reference-table NAME (columns symbol text, sector text, valid_from timestamptz null)".to_string()
            })?;
            if table.is_empty() {
                return Err("--reference-table is empty".into());
            }
            let poll = poll.unwrap_or(Self::DEFAULT_POLL);
            if poll.is_zero() {
                return Err("--reference-poll must be above 0".into());
            }
            return Ok(ReferenceSpec::Postgres {
                url: uri.to_string(),
                table: table.to_string(),
                poll,
            });
        }
        if let Some(rest) = uri.strip_prefix("kafka://") {
            let (brokers, topic) = rest
                .split_once('/')
                .ok_or_else(|| format!("{uri}: no topic after the brokers"))?;
            if brokers.is_empty() {
                return Err(format!("{uri}: no broker"));
            }
            if topic.is_empty() || topic.contains([',', '/', '?']) {
                return Err(format!("{uri}: name exactly one topic"));
            }
            return Ok(ReferenceSpec::Kafka {
                brokers: brokers.to_string(),
                topic: topic.to_string(),
                settings: kafka.clone(),
            });
        }
        Err(format!(
            "{uri} is not a reference source: use file:PATH.csv, postgres://... with --reference-table, or kafka://BROKER/TOPIC"
        ))
    }
}

impl std::fmt::Display for ReferenceSpec {
    /// The source as a message names it (a PostgreSQL URL without its password).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReferenceSpec::File { path } => write!(f, "file:{}", path.display()),
            ReferenceSpec::Postgres { url, table, .. } => {
                write!(f, "{} table {table}", crate::sink::postgres::redact(url))
            }
            ReferenceSpec::Kafka { brokers, topic, .. } => write!(f, "kafka://{brokers}/{topic}"),
        }
    }
}

/// Why the mapping could not be read, naming the source and, for a bad row, where it is.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("reference {source_name}: {message}")]
    Unusable {
        source_name: String,
        message: String,
    },
}

/// Reads one reference source. `read` returns the whole mapping when it may have changed since
/// the last call (always at the first call, which waits until the whole current mapping is
/// read), `None` when it has not. It is called over and over from a thread of its own, so it
/// may block for a moment; each reader decides how often it really looks (a file's metadata at
/// every call, a PostgreSQL table once per poll interval, a Kafka topic as messages arrive).
pub trait ReferenceReader: Send {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError>;
}

/// Opens the reader for `spec`.
pub fn open(spec: &ReferenceSpec) -> Result<Box<dyn ReferenceReader>, ReferenceError> {
    Ok(match spec {
        ReferenceSpec::File { path } => Box::new(file::FileReference::new(path.clone())),
        ReferenceSpec::Postgres { url, table, poll } => {
            Box::new(postgres::PostgresReference::connect(url, table, *poll)?)
        }
        ReferenceSpec::Kafka {
            brokers,
            topic,
            settings,
        } => Box::new(kafka::KafkaReference::connect(brokers, topic, settings)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(uri: &str, table: Option<&str>, poll: Option<u64>) -> Result<ReferenceSpec, String> {
        let poll = poll.map(Duration::from_secs);
        ReferenceSpec::parse(uri, table, poll, &BTreeMap::new())
    }

    #[test]
    fn reads_each_kind_of_uri() {
        assert_eq!(
            parse("file:sectors.csv", None, None),
            Ok(ReferenceSpec::File {
                path: "sectors.csv".into()
            })
        );
        let Ok(ReferenceSpec::Postgres { table, poll, .. }) =
            parse("postgres://u@h/db", Some("ref.sectors"), None)
        else {
            panic!("not a PostgreSQL reference")
        };
        assert_eq!(
            (table.as_str(), poll),
            ("ref.sectors", ReferenceSpec::DEFAULT_POLL)
        );
        let Ok(ReferenceSpec::Kafka { brokers, topic, .. }) =
            parse("kafka://a:1,b:2/sectors", None, None)
        else {
            panic!("not a Kafka reference")
        };
        assert_eq!((brokers.as_str(), topic.as_str()), ("a:1,b:2", "sectors"));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        for (uri, table, poll, says) in [
            ("postgres://h/db", None, None, "--reference-table"),
            ("file:x.csv", Some("t"), None, "--reference-table is for"),
            ("kafka://b/t", None, Some(1), "--reference-poll is for"),
            ("postgres://h/db", Some("t"), Some(0), "above 0"),
            ("kafka://b", None, None, "no topic"),
            ("kafka://b/t1,t2", None, None, "exactly one topic"),
            ("file:", None, None, "needs a path"),
            ("http://x", None, None, "not a reference source"),
        ] {
            let error = parse(uri, table, poll).unwrap_err();
            assert!(error.contains(says), "{uri}: {error}");
        }
    }
}
