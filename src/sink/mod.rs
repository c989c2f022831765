//! Where results and rejects go.

mod committing;
mod encode;
mod interface;
pub mod kafka;
pub mod postgres;
pub mod redis;
mod rejects;
mod text;

use std::fmt;
use std::path::PathBuf;

pub use committing::CommittingSink;
pub use encode::{csv_header, encode, encode_with, fields, Format, CSV_HEADER};
pub use interface::{Sink, Sinks};
pub use rejects::{encode_reject, RejectRecord, RejectSink};
pub use text::TextSink;

/// Which sink to write results to, as written after `--sink`.
#[derive(Clone, Debug, PartialEq)]
pub enum SinkSpec {
    /// `stdout`
    Stdout,
    /// `file:PATH`, truncated at start.
    File(PathBuf),
    /// `discard`: compute everything, write nothing (benchmarks).
    Discard,
    /// `postgres://USER@HOST:PORT/DB` or `host=... dbname=...`.
    Postgres(String),
    /// `kafka://BROKER[,BROKER]/TOPIC`: one message per row, progress in a compacted topic.
    Kafka(kafka::KafkaSinkConfig),
    /// `redis://[USER:PASSWORD@]HOST:PORT[/DB]`.
    Redis(redis::RedisTarget),
}

/// A `--sink` value that names no known sink.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown sink {0:?}: expected `stdout`, `file:PATH`, `discard`, `postgres://USER@HOST:PORT/DB`, `kafka://BROKER/TOPIC` or `redis://HOST:PORT`")]
pub struct UnknownSink(pub String);

impl SinkSpec {
    /// Whether the sink keeps the pipeline's progress (at most one may).
    pub fn keeps_progress(&self) -> bool {
        matches!(
            self,
            SinkSpec::Postgres(_) | SinkSpec::Kafka(_) | SinkSpec::Redis(_)
        )
    }

    pub fn parse(uri: &str) -> Result<SinkSpec, UnknownSink> {
        if postgres::is_postgres_uri(uri) {
            return postgres::Target::parse(uri)
                .map(|_| SinkSpec::Postgres(uri.to_string()))
                .map_err(|e| UnknownSink(e.to_string()));
        }
        if kafka::KafkaSinkConfig::is_kafka_uri(uri) {
            return kafka::KafkaSinkConfig::parse(uri)
                .map(SinkSpec::Kafka)
                .map_err(|e| UnknownSink(e.to_string()));
        }
        if redis::is_redis_uri(uri) {
            return redis::RedisTarget::parse(uri)
                .map(SinkSpec::Redis)
                .map_err(|e| UnknownSink(e.to_string()));
        }
        match uri {
            "stdout" | "-" => Ok(SinkSpec::Stdout),
            "discard" => Ok(SinkSpec::Discard),
            _ => match uri.strip_prefix("file:") {
                Some(p) if !p.is_empty() => Ok(SinkSpec::File(PathBuf::from(p))),
                _ => Err(UnknownSink(uri.to_string())),
            },
        }
    }
}

impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkSpec::Stdout => f.write_str("stdout"),
            SinkSpec::File(p) => write!(f, "file:{}", p.display()),
            SinkSpec::Discard => f.write_str("discard"),
            SinkSpec::Postgres(uri) => match postgres::Target::parse(uri) {
                Ok(target) => write!(f, "{target}"),
                Err(_) => f.write_str("postgres"),
            },
            SinkSpec::Kafka(k) => write!(f, "{k}"),
            SinkSpec::Redis(target) => write!(f, "{target}"),
        }
    }
}

/// An error setting up or writing a sink.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create {path}: {error}; check that the directory exists and is writable")]
    Create { path: String, error: std::io::Error },
    #[error("writing results to {sink} failed: {error}")]
    Write { sink: String, error: std::io::Error },
    /// A sink's committer stopped; why is reported when the sink finishes.
    #[error("{0} stopped accepting results")]
    Stopped(String),
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
}

impl SinkError {
    /// The reader of a pipe went away (`tickflow run | head`): stop quietly, as Unix tools do.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, SinkError::Write { error, .. } if error.kind() == std::io::ErrorKind::BrokenPipe)
    }
}
