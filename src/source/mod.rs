//! Input sources: each hands the dataflow lines (or ready records) from its partitions.
//!
//! A source is split into partitions, each with its own watermark; partitions are spread over
//! all workers deterministically so that every worker reads and parses.

mod clock;
mod file;
mod generator;
mod kafka;
mod lines;
mod prepared;
mod socket;
mod stdin;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use clock::PartitionClock;
pub use file::FileSplit;
pub use generator::{Generator, GeneratorSpec, Kinds};
pub use kafka::{
    client_config as kafka_client_config, list_partitions, owner as kafka_owner, GroupCommitter,
    KafkaOptions, KafkaPartition, KafkaSourceError, KafkaSpec, PartitionWatch, StartOffset,
    TopicPartition,
};
pub use lines::{LineSplitter, Piece, Position, OVERSIZED_PREFIX};
pub use prepared::{prepare, PreparedSources, SourceSettings};
pub use socket::{Listener, ListenerShare};
pub use stdin::Stdin;

use crate::event::Record;

/// Which source to read, as written after `--source`.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceSpec {
    /// `generator`: synthetic ticks and readings.
    Generator,
    /// `file:PATH`: a newline-delimited file, split by byte ranges over all workers.
    File(PathBuf),
    /// `-`: standard input, read by the first worker.
    Stdin,
    /// `kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]`
    Kafka(KafkaSpec),
    /// `socket://HOST:PORT`: connect to a producer that serves a stream.
    Socket(String),
    /// `listen://HOST:PORT`: accept producers (127.0.0.1 when HOST is empty).
    Listen(String),
}

/// A `--source` value that names no known source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}: expected `generator`, `file:PATH`, `-` (stdin), `kafka://BROKER/TOPIC`, `socket://HOST:PORT` or `listen://HOST:PORT`")]
pub struct UnknownSource(pub String);

impl SourceSpec {
    /// Parses a source URI.
    pub fn parse(uri: &str) -> Result<SourceSpec, UnknownSource> {
        match uri {
            "generator" => Ok(SourceSpec::Generator),
            "-" | "stdin" => Ok(SourceSpec::Stdin),
            _ if uri.starts_with("kafka://") => KafkaSpec::parse(&uri["kafka://".len()..])
                .map(SourceSpec::Kafka)
                .ok_or_else(|| UnknownSource(uri.to_string())),
            _ if uri.starts_with("socket://") => match &uri["socket://".len()..] {
                a if a.contains(':') => Ok(SourceSpec::Socket(a.to_string())),
                _ => Err(UnknownSource(uri.to_string())),
            },
            _ if uri.starts_with("listen://") => match &uri["listen://".len()..] {
                a if a.starts_with(':') => Ok(SourceSpec::Listen(format!("127.0.0.1{a}"))),
                a if a.contains(':') => Ok(SourceSpec::Listen(a.to_string())),
                _ => Err(UnknownSource(uri.to_string())),
            },
            _ => match uri.strip_prefix("file:") {
                Some(path) if !path.is_empty() => Ok(SourceSpec::File(PathBuf::from(path))),
                _ => Err(UnknownSource(uri.to_string())),
            },
        }
    }
}

impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Generator => f.write_str("generator"),
            SourceSpec::File(p) => write!(f, "file:{}", p.display()),
            SourceSpec::Stdin => f.write_str("stdin"),
            SourceSpec::Kafka(k) => write!(f, "kafka://{}/{}", k.brokers, k.topics.join(",")),
            SourceSpec::Socket(a) => write!(f, "socket://{a}"),
            SourceSpec::Listen(a) => write!(f, "listen://{a}"),
        }
    }
}

/// What one read of a partition produced.
pub enum Item<'a> {
    /// A line to parse.
    Line(&'a [u8], Position),
    /// A line over the size limit (its first bytes only).
    Oversized(&'a [u8], Position),
    /// A record that needs no parsing (the generator's).
    Record(Record<'a>, Position),
    /// A line cut off by its connection closing.
    Truncated(&'a [u8], Position),
}

/// A worker's partitions now, and where more of them may come from.
pub type Opened = (Vec<Box<dyn Partition>>, Vec<Box<dyn Discover>>);

/// Partitions that appear while running (accepted connections, new Kafka partitions).
pub trait Discover {
    /// Partitions that arrived since the last call; `resume_at(source, index)` gives the
    /// offset a replayable one continues from.
    fn discover(
        &mut self,
        resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<Vec<Box<dyn Partition>>, String>;

    /// No partition will come any more.
    fn finished(&self) -> bool;
}

/// Whether a partition has more to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// More input may be ready right away.
    Ready,
    /// Nothing to read now; ask again after this long at the latest (or when woken).
    Pending(Duration),
    /// The partition has ended.
    Done,
}

/// One partition of a source, read by one worker.
pub trait Partition {
    /// The source it belongs to, as the user named it.
    fn source(&self) -> &str;

    /// Its index within the source.
    fn index(&self) -> usize;

    /// Reads a bounded amount of input, handing each item to `out`.
    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll;

    /// The absolute line number of a position (file splits count the lines before them lazily).
    fn absolute_line(&mut self, position: Position) -> u64 {
        position.line
    }

    /// Offset of the next record to be handed out: where a restart would continue.
    fn position(&self) -> u64 {
        0
    }

    /// Whether a partition with nothing to read has read everything there is (as opposed to
    /// not being able to reach its data): only then may it go idle.
    fn caught_up(&self) -> bool {
        true
    }

    /// Why a partition that said `Poll::Done` ended before its input did (a read error); the
    /// run then fails with it instead of passing for complete.
    fn failure(&mut self) -> Option<SourceError> {
        None
    }
}

/// An error opening a source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {error}; check the path and permissions")]
    Open { path: String, error: std::io::Error },
    #[error(
        "cannot read {path}: it is a directory; name a file (repeat --source for several files)"
    )]
    Directory { path: String },
    #[error("reading {path} failed at byte {offset}: {error}; the input was not read to its end")]
    Read {
        path: String,
        offset: u64,
        error: std::io::Error,
    },
    #[error("cannot listen on {address}: {error}")]
    Listen {
        address: String,
        error: std::io::Error,
    },
    #[error(transparent)]
    Kafka(#[from] KafkaSourceError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        assert_eq!(SourceSpec::parse("generator"), Ok(SourceSpec::Generator));
        assert_eq!(SourceSpec::parse("-"), Ok(SourceSpec::Stdin));
        assert_eq!(
            SourceSpec::parse("file:a/b.jsonl"),
            Ok(SourceSpec::File("a/b.jsonl".into()))
        );
        assert!(SourceSpec::parse("file:").is_err());
        assert!(SourceSpec::parse("kafka").is_err());
    }
}
