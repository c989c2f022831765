//! The Kafka sink: one message per result row, keyed by symbol or category; progress made
//! durable in a compacted topic only after the broker acknowledged every row below it.

mod config;
mod sink;
mod store;

pub use config::{BadKafkaSink, KafkaSinkConfig};
pub use sink::{KafkaSink, KafkaSinkOptions};
pub use store::KafkaStore;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// Why the Kafka sink stopped.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    #[error("Kafka topic {topic:?} does not exist on {brokers}; create it first (tickflow does not create topics), e.g. `kafka-topics.sh --bootstrap-server {brokers} --create --topic {topic}`")]
    NoTopic { brokers: String, topic: String },
    #[error("the Kafka sink's progress topic {topic:?} does not exist on {brokers}; create it with cleanup.policy=compact, e.g. `kafka-topics.sh --bootstrap-server {brokers} --create --topic {topic} --partitions 1 --config cleanup.policy=compact`, or name another with kafka://{brokers}/TOPIC?progress_topic=NAME")]
    NoProgressTopic { brokers: String, topic: String },
    #[error(transparent)]
    Source(crate::source::KafkaSourceError),
    #[error("Kafka producer for {brokers}: {message}")]
    Client { brokers: String, message: String },
    #[error("Kafka refused a message to topic {topic:?} on {brokers}: {message}{}", hint(*code))]
    Rejected {
        brokers: String,
        topic: String,
        message: String,
        code: Option<RDKafkaErrorCode>,
    },
    #[error("Kafka brokers {brokers} did not acknowledge {missing} of {sent} messages to {topic:?} within {}; are they running and reachable?", crate::human::duration(*.waited))]
    Unacknowledged {
        brokers: String,
        topic: String,
        sent: u64,
        missing: u64,
        waited: std::time::Duration,
    },
    #[error("reading progress topic {topic:?} on {brokers}: {message}")]
    Progress {
        brokers: String,
        topic: String,
        message: String,
        transient: bool,
    },
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
    #[error("pipeline {pipeline:?} saved its progress in {topic:?} from {saved} process(es), this run has {now}; the Kafka sink keeps progress per process and cannot change their number (the worker count can change): run with {saved} process(es), or pass --restart")]
    Reshape {
        pipeline: String,
        topic: String,
        saved: usize,
        now: usize,
    },
}

/// What to do about a refusal the broker will repeat.
fn hint(code: Option<RDKafkaErrorCode>) -> &'static str {
    match code {
        Some(RDKafkaErrorCode::MessageSizeTooLarge | RDKafkaErrorCode::InvalidMessageSize) => {
            "; a result row is larger than the producer's or the topic's maximum message size (message.max.bytes, -X message.max.bytes=..., the topic's max.message.bytes)"
        }
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            "; the topic was deleted or never existed: create it"
        }
        Some(
            RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed,
        ) => "; grant the producer's principal WRITE on the topic",
        _ => "",
    }
}

impl KafkaSinkError {
    /// A failure the broker will repeat however often it is retried.
    pub fn is_permanent_code(code: RDKafkaErrorCode) -> bool {
        use RDKafkaErrorCode as C;
        matches!(
            code,
            C::MessageSizeTooLarge
                | C::InvalidMessageSize
                | C::InvalidMessage
                | C::InvalidRecord
                | C::UnknownTopicOrPartition
                | C::UnknownTopic
                | C::UnknownPartition
                | C::InvalidTopic
                | C::TopicAuthorizationFailed
                | C::ClusterAuthorizationFailed
                | C::PolicyViolation
                | C::InvalidRequiredAcks
                | C::Fatal
        )
    }

    /// Whether retrying may succeed (an unreachable broker, a leader moving, a timeout).
    pub fn is_transient(&self) -> bool {
        match self {
            KafkaSinkError::Rejected { code, .. } => {
                !code.is_some_and(KafkaSinkError::is_permanent_code)
            }
            KafkaSinkError::Unacknowledged { .. } => true,
            KafkaSinkError::Progress { transient, .. } => *transient,
            _ => false,
        }
    }
}

/// The librdkafka error code inside `e`, if it carries one.
fn code_of(e: &KafkaError) -> Option<RDKafkaErrorCode> {
    e.rdkafka_error_code()
}
