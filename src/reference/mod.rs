//! Reference data: which sector each symbol belongs to, and since when. Read from a CSV file, a
//! PostgreSQL table or a compacted Kafka topic; every reader hands over whole snapshots, and the
//! dataflow turns the difference between two snapshots into changes of an arranged collection.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::event::EventTime;

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
/// the last call (always at the first call), `None` when it is known not to have.
pub trait ReferenceReader: Send {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError>;
}
