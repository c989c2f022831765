//! Input sources: each hands the dataflow lines (or ready records) from its partitions.
//!
//! A source is split into partitions, each with its own watermark; partitions are spread over
//! all workers deterministically so that every worker reads and parses.

mod clock;
mod file;
mod generator;
mod kafka;
mod lines;
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
    #[error("reading {path} failed at byte {offset}: {error}; the input was not read to its end")]
    Read {
        path: String,
        offset: u64,
        error: std::io::Error,
    },
    #[error(transparent)]
    Kafka(#[from] KafkaSourceError),
}

/// Everything a worker needs to open its partitions.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    pub generator: GeneratorSpec,
    pub max_line_bytes: usize,
    pub kafka: KafkaOptions,
    /// The partitions of each Kafka source, listed at start-up, in `sources` order.
    pub kafka_partitions: Vec<Vec<TopicPartition>>,
    /// Each Kafka source's watch for partitions added while running, in `sources` order.
    pub kafka_watches: Vec<Option<std::sync::Arc<PartitionWatch>>>,
    /// The bound listener of each `listen://` source, in `sources` order.
    pub listeners: Vec<std::sync::Arc<Listener>>,
    /// End sources at the end of their input (socket: when the server closes).
    pub exit_at_end: bool,
    /// Set when the run is stopping; reconnecting threads give up.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Opens the partitions of `specs` that belong to `worker` out of `workers`.
///
/// `wake` is called from other threads (stdin's reader) when input arrives.
/// `resume_at(source, index)` gives the offset a replayable partition continues from.
pub fn open_partitions(
    specs: &[SourceSpec],
    options: &SourceOptions,
    worker: usize,
    workers: usize,
    wake: impl Fn() + Send + Sync + Clone + 'static,
    resume_at: &dyn Fn(&str, usize) -> Option<u64>,
) -> Result<Opened, SourceError> {
    let mut parts: Vec<Box<dyn Partition>> = Vec::new();
    let mut discover: Vec<Box<dyn Discover>> = Vec::new();
    let mut kafka_lists = options.kafka_partitions.iter();
    let mut kafka_watches = options.kafka_watches.iter();
    let mut listeners = options.listeners.iter();
    for spec in specs {
        match spec {
            SourceSpec::Kafka(k) => {
                let listed = kafka_lists.next().map_or(&[][..], Vec::as_slice);
                let watch = kafka_watches.next().cloned().flatten();
                let (opened, share) = kafka::WorkerKafka::open(
                    k,
                    &options.kafka,
                    listed,
                    watch,
                    worker,
                    workers,
                    options.max_line_bytes,
                    resume_at,
                )?;
                parts.extend(
                    opened
                        .into_iter()
                        .map(|p| Box::new(p) as Box<dyn Partition>),
                );
                if !share.finished() {
                    discover.push(Box::new(share));
                }
            }
            SourceSpec::Generator => {
                if let Some(g) = Generator::new(&options.generator, worker, workers) {
                    parts.push(Box::new(g));
                }
            }
            SourceSpec::File(path) => {
                let name = spec.to_string();
                let resume = resume_at(&name, worker);
                parts.push(Box::new(FileSplit::open(
                    path,
                    name,
                    worker,
                    workers,
                    options.max_line_bytes,
                    resume,
                )?))
            }
            SourceSpec::Stdin if worker == 0 => {
                parts.push(Box::new(Stdin::spawn(options.max_line_bytes, wake.clone())))
            }
            SourceSpec::Stdin => {}
            SourceSpec::Socket(address) if worker == 0 => parts.push(Box::new(socket::connect(
                address,
                options.max_line_bytes,
                options.exit_at_end,
                options.stop.clone(),
                wake.clone(),
            ))),
            SourceSpec::Socket(_) => {}
            SourceSpec::Listen(_) => {
                if let Some(listener) = listeners.next() {
                    discover.push(Box::new(listener.for_worker(worker)));
                }
            }
        }
    }
    Ok((parts, discover))
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
