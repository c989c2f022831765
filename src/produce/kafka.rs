//! `tickflow produce --to kafka://...`: every event acknowledged by the broker, or an error
//! naming the broker and the topic.
//!
//! How it works:
//! 1. Before the first event the topic's partitions are listed the way the Kafka source lists
//!    them ([`list_partitions`]): brokers that do not answer within `--kafka-timeout`, and a
//!    topic that does not exist, are errors naming them. Topics are never created.
//! 2. Events are queued with librdkafka, which batches them. Every delivery report is counted;
//!    the first failed one stops producing.
//! 3. At the end the queue is flushed. An event that failed, or one still unacknowledged once
//!    librdkafka has given up on it, fails the run.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, PurgeConfig, ThreadedProducer};

use super::{run, ProduceError};
use crate::source::{list_partitions, Generator, KafkaConfig};

/// Delivery reports as they come back from librdkafka's thread.
#[derive(Default)]
struct Deliveries {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Deliveries {
    fn failed(&self) -> u64 {
        self.failed.load(Relaxed)
    }

    fn first_error(&self) -> String {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .unwrap_or_else(|| "no delivery report".into())
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Relaxed);
                self.first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Produces the generator's records to the one topic of `spec`; returns how many the broker
/// acknowledged, which is all of them unless this returns an error.
pub(super) fn produce(spec: &KafkaConfig, generator: &mut Generator) -> Result<u64, ProduceError> {
    let [topic] = spec.topics.as_slice() else {
        return Err(ProduceError::Target(format!(
            "kafka://{}/{} (name exactly one topic)",
            spec.brokers,
            spec.topics.join(",")
        )));
    };
    list_partitions(spec)?;
    let timeout = spec.options.connect_timeout;
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &spec.brokers)
        // Throughput over latency: batch for up to 5 ms.
        .set("linger.ms", "5")
        // librdkafka would retry an unreachable broker for 5 minutes per message; give up
        // (and report it) within the same patience the start-up check had.
        .set(
            "message.timeout.ms",
            // librdkafka wants it above linger.ms.
            timeout.max(Duration::from_secs(1)).as_millis().to_string(),
        );
    for (key, value) in &spec.options.settings {
        config.set(key, value);
    }
    let producer: ThreadedProducer<Deliveries> = config
        .create_with_context(Deliveries::default())
        .map_err(|e| ProduceError::Kafka(e.to_string()))?;
    let deliveries = producer.context();
    let mut sent = 0u64;
    let undelivered = |sent: u64, failed: u64, first: String| ProduceError::Undelivered {
        brokers: spec.brokers.clone(),
        topic: topic.clone(),
        sent,
        failed,
        first,
    };
    let result = run(generator, |line, key| {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut record = BaseRecord::to(topic).key(key).payload(line);
        loop {
            if deliveries.failed() > 0 {
                return Err(undelivered(
                    sent,
                    deliveries.failed(),
                    deliveries.first_error(),
                ));
            }
            match producer.send(record) {
                Ok(()) => {
                    sent += 1;
                    return Ok(());
                }
                // The local queue is full: wait for the broker to take some.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(undelivered(sent + 1, 1, e.to_string())),
            }
        }
    });
    if let Err(e) = result {
        producer.purge(PurgeConfig::default().queue().inflight());
        return Err(e);
    }
    // Every queued event gets a report within `message.timeout.ms`; the margin covers the
    // report's own way back.
    let flushed = producer.flush(timeout + Duration::from_secs(5));
    let delivered = deliveries.delivered.load(Relaxed);
    if deliveries.failed() > 0 || flushed.is_err() || delivered < sent {
        let first = match flushed {
            Err(e) if deliveries.failed() == 0 => {
                format!("not acknowledged within {timeout:?} ({e})")
            }
            _ => deliveries.first_error(),
        };
        producer.purge(PurgeConfig::default().queue().inflight());
        return Err(undelivered(sent, sent - delivered, first));
    }
    Ok(delivered)
}
