//! Input sources: each hands the dataflow lines (or ready records) from its partitions.
//!
//! A source is split into partitions, each with its own watermark; partitions are spread over
//! all workers deterministically so that every worker reads and parses. Which partitions a
//! source has never depends on the number of workers (a file's splits have a size fixed at the
//! pipeline's first run), so a pipeline can restart with any worker or process count.
//!
//! Each connector is one module (`file.rs`, `stdin.rs`, `generator.rs`, `socket.rs`, `kafka/`)
//! holding its typed config; [`SourceConfig`] (in `config.rs`) is parsed once from a URI and the
//! spec, and `prepared.rs` matches on it: [`prepare`] once per process, then
//! [`PreparedSources::open`] once per worker.

mod clock;
mod config;
mod file;
mod generator;
mod kafka;
mod layout;
mod line_index;
mod lines;
mod prepared;
mod socket;
mod stdin;

use std::time::Duration;

pub use clock::PartitionClock;
pub use config::{ConnectorSettings, SourceConfig, UnknownSource};
pub use file::FileSplit;
pub use generator::{Generator, GeneratorSpec, Kinds};
pub use kafka::{
    block_on as kafka_block_on, builtin_features as kafka_builtin_features,
    client_config as kafka_client_config, list_partitions, owner as kafka_owner, parse_setting,
    BadSetting, GroupCommitter, KafkaConfig, KafkaOptions, KafkaPartition, KafkaSourceError,
    PartitionWatch, StartOffset, TopicPartition,
};
pub use layout::{split_bytes_for, CutError, FileCut, SavedCut, MIN_SPLIT_BYTES};
pub use lines::{LineSplitter, Piece, Position, OVERSIZED_PREFIX};
pub use prepared::{prepare, PreparedSources};
pub use socket::{ListenConfig, Listener, ListenerShare, SocketConfig};
pub use stdin::Stdin;

use crate::event::Record;

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

    /// The byte size its source's splits were cut at (a file's), saved with its progress so a
    /// restart cuts the same splits; 0 for a partition that is not a cut (a Kafka partition).
    fn split_bytes(&self) -> u64 {
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
    #[error(transparent)]
    Cut(#[from] CutError),
}
