//! Kafka topics: partitions assigned explicitly over all workers, one queue per partition.
//!
//! How it works:
//! 1. At start-up (before the dataflow runs) the topics' partitions are listed, retrying while
//!    the brokers are unreachable; a topic that does not exist is an error.
//! 2. Partition `p` of the `t`-th topic goes to worker `(t + p) % total_workers`, the same in
//!    every process; no group rebalancing ever moves it during a run. The rule does not depend
//!    on how many partitions there are, so partitions added later go where it says too.
//! 3. Each worker runs one consumer per topic with an explicit assignment and routes its
//!    messages into one backlog per partition, so each partition is polled (never blocking)
//!    with its own watermark.
//! 4. A message's offset is its position: rejects name topic, partition and offset, and saved
//!    progress is a Kafka offset to seek back to.
//! 5. Only a partition that has reached its end (partition EOF) counts as caught up; one that
//!    cannot reach its broker keeps holding the frontier, so nothing it later delivers is late.
//! 6. While running (not with `--exit-at-end`), a `PartitionWatch` thread per source lists the
//!    topics again every `--partition-discovery-interval`; each worker adds the new partitions
//!    the rule gives it to its consumer, read from their beginning (as Flink does: a partition
//!    created during the run holds nothing the run has read).
//!
//! Files: `config.rs` (the URI and the `[kafka]` settings), `client.rs` (the librdkafka client
//! and its statistics), `metadata.rs` (listing and watching partitions: the per-process
//! prepare), `assign.rs` (the owner rule), `consumer.rs` (the per-worker open and reading),
//! `group.rs` (consumer-group offsets after each durable commit).

mod assign;
mod client;
mod config;
mod consumer;
mod error;
mod group;
mod metadata;

pub use assign::owner;
pub use client::{block_on, builtin_features, client_config, Context};
pub use config::{parse_setting, BadSetting, KafkaConfig, KafkaOptions, StartOffset};
pub use consumer::{KafkaPartition, WorkerKafka};
pub use error::KafkaSourceError;
pub use group::GroupCommitter;
pub use metadata::{list_partitions, PartitionWatch, PreparedKafka, TopicPartition};
