//! Delivery reports of the Kafka sink's producer, counted for the commit under way.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::ProducerContext;

use crate::metrics::Metrics;

/// Delivery opaque of a result row (counted in the metrics) and of a progress record.
pub(super) const ROW: usize = 1;
pub(super) const PROGRESS: usize = 0;

/// Delivery reports as they come back from librdkafka's thread, for the commit under way.
#[derive(Default)]
pub(crate) struct Deliveries {
    pub(super) delivered: AtomicU64,
    pub(super) failed: AtomicU64,
    first_error: Mutex<Option<KafkaError>>,
    pub(super) metrics: Option<Arc<Metrics>>,
}

impl Deliveries {
    /// Reports counted into `metrics` (if any) as they come.
    pub(super) fn new(metrics: Option<Arc<Metrics>>) -> Deliveries {
        Deliveries {
            metrics,
            ..Deliveries::default()
        }
    }

    pub(super) fn reset(&self) {
        self.delivered.store(0, Relaxed);
        self.failed.store(0, Relaxed);
        *self.first_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub(super) fn first_error(&self) -> Option<KafkaError> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, kind: usize) {
        let m = self.metrics.as_deref();
        if let Some(m) = m {
            m.kafka_sink_in_flight.fetch_sub(1, Relaxed);
        }
        match result {
            Ok(message) => {
                self.delivered.fetch_add(1, Relaxed);
                if let (Some(m), ROW) = (m, kind) {
                    m.kafka_sink_rows.fetch_add(1, Relaxed);
                    m.kafka_sink_bytes
                        .fetch_add(message.payload_len() as u64, Relaxed);
                }
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Relaxed);
                if let Some(m) = m {
                    m.kafka_sink_delivery_errors.fetch_add(1, Relaxed);
                }
                self.first_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| error.clone());
            }
        }
    }
}
