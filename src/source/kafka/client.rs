//! The librdkafka client: tickflow's fixed settings, its callbacks and consumer-lag statistics.

use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaOptions, StartOffset};

/// The client configuration: tickflow's choices first, then the user's `-X` settings.
pub fn client_config(brokers: &str, options: &KafkaOptions) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        // Partitions are assigned explicitly; the group only mirrors offsets for monitoring.
        .set(
            "group.id",
            options.group_id.as_deref().unwrap_or("tickflow"),
        )
        // Progress lives in the sink's transaction; Kafka's own offsets never decide anything.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // End of a partition is how "caught up" is known (ListOffsets is not trusted).
        .set("enable.partition.eof", "true")
        // A missing topic is an error, not something to create by accident.
        .set("allow.auto.create.topics", "false")
        .set(
            "auto.offset.reset",
            match options.start_offset {
                StartOffset::Earliest => "earliest",
                StartOffset::Latest => "latest",
            },
        );
    for (k, v) in &options.settings {
        c.set(k, v);
    }
    c
}

/// librdkafka's `builtin.features`: what this build can speak (`ssl`, `sasl_scram`, ...).
pub fn builtin_features() -> Vec<String> {
    ClientConfig::new()
        .create_native_config()
        .and_then(|native| native.get("builtin.features"))
        .map(|list| list.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// A client context that keeps librdkafka's latest error report: a failed TLS handshake or
/// SASL login is told there (which certificate did not verify, which mechanism failed),
/// while a metadata request only fails with "broker transport failure".
#[derive(Default)]
pub struct LastError(Mutex<Option<String>>);

impl LastError {
    /// The latest report, if any came.
    pub fn latest(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl LastError {
    fn keep(&self, reason: &str) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
    }
}

impl ClientContext for LastError {
    /// Broker threads log a failed connection (`FAIL`) as it happens; errors reach
    /// [`ClientContext::error`] only when the client is polled, which a metadata request is not.
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        use RDKafkaLogLevel::*;
        let error = matches!(level, Emerg | Alert | Critical | Error);
        if error || facility == "FAIL" {
            self.keep(message);
        }
        match level {
            _ if error => tracing::error!(facility, message, "Kafka client"),
            Warning => tracing::warn!(facility, message, "Kafka client"),
            _ => tracing::debug!(facility, message, "Kafka client"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "Kafka client");
        self.keep(reason);
    }
}

impl ConsumerContext for LastError {}

/// Client callbacks: librdkafka reports every end of partition as an error as well; that is
/// how tickflow knows it is caught up, not a problem, so only real errors are logged.
pub struct Context;

impl ClientContext for Context {
    fn stats(&self, statistics: rdkafka::statistics::Statistics) {
        Context::publish_lag(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            tracing::warn!(%error, reason, "Kafka client");
        }
    }
}

impl ConsumerContext for Context {}

impl Context {
    /// Publishes consumer lag from librdkafka's statistics (enabled with `--metrics-addr`).
    fn publish_lag(statistics: &rdkafka::statistics::Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.hi_offset >= 0 && p.app_offset >= 0 {
                    crate::metrics::set_kafka_lag(
                        topic,
                        *partition,
                        (p.hi_offset - p.app_offset).max(0),
                    );
                }
            }
        }
    }
}

/// Runs a future to completion on this thread (rdkafka's admin futures are completed by its
/// own background thread; no async runtime is needed).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::sync::Arc::new(Unpark(std::thread::current())).into();
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    /// Managed Kafka needs TLS and SASL: the bundled librdkafka must be built with them.
    #[test]
    fn librdkafka_speaks_tls_and_sasl() {
        let features = super::builtin_features();
        for wanted in ["ssl", "sasl_plain", "sasl_scram", "sasl_oauthbearer"] {
            assert!(
                features.iter().any(|f| f == wanted),
                "librdkafka lacks {wanted}: {features:?}"
            );
        }
    }
}
