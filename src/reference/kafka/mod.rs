//! The mapping from a compacted Kafka topic: key = symbol, value `{"sector": "...",
//! "valid_from": ...}`, a tombstone (null value) removes the symbol.
//!
//! How it works:
//! 1. [`KafkaReference::connect`] lists the topic's partitions as the Kafka source does
//!    (retrying unreachable brokers for up to 30 s; a missing topic is an error) and assigns
//!    every one of them from its beginning. There is no consumer group and nothing is ever
//!    committed: the reader writes nothing, and reads the whole topic at every start.
//! 2. Each symbol keeps the last usable message of its key, so a topic read before or after
//!    compaction gives the same mapping: one row per symbol.
//! 3. The first `read` returns once every partition has reached its end (partition EOF, which
//!    is trusted over the brokers' offset answers); if the topic stops advancing for 30 s
//!    before that, it is an error naming the partitions. Later reads take what has arrived
//!    (a bounded batch) and return `Some` when it changed the mapping.
//! 4. A message that cannot be used (no key, a key that is not UTF-8, a value that is not the
//!    JSON shape, a bad valid_from) is warned about with topic, partition, offset and why,
//!    counted in `tickflow_reference_errors_total{reason="invalid"}`, and leaves the symbol's
//!    previous mapping as it was.
//! 5. Every 10 s the topic's partitions are listed again; new ones are read from their
//!    beginning, as the Kafka source does.
//!
//! Files: `reader.rs` (the consumer and the mapping it keeps), `message.rs` (what one message
//! says).

mod message;
mod reader;

pub use reader::KafkaReference;
