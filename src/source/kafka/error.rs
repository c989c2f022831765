//! Why a Kafka source cannot start.

use std::time::Duration;

/// Why a Kafka source cannot start.
#[derive(Debug, thiserror::Error)]
pub enum KafkaSourceError {
    #[error("cannot reach Kafka brokers {brokers} within {}: {message}; are they running and reachable?", crate::human::duration(*.waited))]
    Unreachable {
        brokers: String,
        waited: Duration,
        message: String,
    },
    #[error("Kafka topic {topic:?} does not exist on {brokers}; create it first (tickflow does not create topics)")]
    NoTopic { brokers: String, topic: String },
    #[error("invalid Kafka client setting: {0}")]
    Config(String),
}
