//! Topic metadata: the partitions listed at start-up (with retries) and watched while running.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::client::LastError;
use super::{client_config, KafkaConfig, KafkaSourceError};

/// A topic partition, in the order partitions are spread over workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// A Kafka source prepared in this process: its partitions listed and, while running, watched.
pub struct PreparedKafka {
    pub config: KafkaConfig,
    /// The partitions at start-up.
    pub listed: Vec<TopicPartition>,
    /// `None` when discovery is off.
    pub watch: Option<Arc<PartitionWatch>>,
}

impl PreparedKafka {
    /// Lists the topics' partitions (a missing topic or unreachable brokers fail here) and starts
    /// watching for new ones until `stop`.
    pub fn prepare(
        config: &KafkaConfig,
        stop: Arc<AtomicBool>,
    ) -> Result<PreparedKafka, KafkaSourceError> {
        let listed = list_partitions(config)?;
        let watch = PartitionWatch::start(config, listed.clone(), stop);
        Ok(PreparedKafka {
            config: config.clone(),
            listed,
            watch,
        })
    }
}

/// Lists the partitions of every topic, retrying with capped backoff while brokers are down.
pub fn list_partitions(spec: &KafkaConfig) -> Result<Vec<TopicPartition>, KafkaSourceError> {
    let consumer: BaseConsumer<LastError> = client_config(&spec.brokers, &spec.options)
        .create_with_context(LastError::default())
        .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
    let patience = spec.options.connect_timeout;
    let mut backoff = crate::retry::RetryPolicy {
        first: Duration::from_millis(200),
        ..crate::retry::RetryPolicy::for_up_to(patience)
    }
    .start();
    let mut warned = false;
    let mut out = Vec::new();
    for topic in &spec.topics {
        loop {
            let remaining = patience.saturating_sub(backoff.elapsed());
            // One attempt may not outlast the patience by much: "retrying for up to 2s" gives
            // up at about 2 s, not a whole attempt later.
            let attempt = remaining.clamp(Duration::from_millis(100), Duration::from_secs(5));
            let failure = match consumer.fetch_metadata(Some(topic), attempt) {
                Ok(metadata) => {
                    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else {
                        return Err(KafkaSourceError::NoTopic {
                            brokers: spec.brokers.clone(),
                            topic: topic.clone(),
                        });
                    };
                    let missing = matches!(
                        t.error(),
                        Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition
                    );
                    if missing || (t.partitions().is_empty() && t.error().is_some()) {
                        return Err(KafkaSourceError::NoTopic {
                            brokers: spec.brokers.clone(),
                            topic: topic.clone(),
                        });
                    }
                    if !t.partitions().is_empty() {
                        let mut parts: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
                        parts.sort_unstable();
                        out.extend(parts.into_iter().map(|partition| TopicPartition {
                            topic: topic.clone(),
                            partition,
                        }));
                        break;
                    }
                    // Metadata not ready yet (a topic being created): ask again.
                    format!("the brokers list no partitions of topic {topic:?} yet")
                }
                Err(e) => {
                    if !warned {
                        eprintln!(
                            "tickflow: cannot reach Kafka brokers {} ({e}); retrying for up to {}",
                            spec.brokers,
                            crate::human::duration(patience)
                        );
                        warned = true;
                    }
                    e.to_string()
                }
            };
            if !backoff.wait() {
                // The client's logs and errors reach its context only when it is polled.
                for _ in 0..1000 {
                    if consumer.poll(Duration::ZERO).is_none() {
                        break;
                    }
                }
                let message = match consumer.context().latest() {
                    Some(reason) => {
                        // Name the file that failed to verify the broker, as the client does not.
                        let ca = spec.options.settings.get("ssl.ca.location");
                        let file = match ca {
                            Some(ca) if reason.contains("certificate") => {
                                format!(" (the broker's certificate was checked against ssl.ca.location={ca})")
                            }
                            _ => String::new(),
                        };
                        format!("{failure}; last client error: {reason}{file}")
                    }
                    None => failure,
                };
                return Err(KafkaSourceError::Unreachable {
                    brokers: spec.brokers.clone(),
                    waited: backoff.elapsed(),
                    message,
                });
            }
        }
    }
    Ok(out)
}

/// A source's topics' partitions as the brokers list them now: a thread per source and process
/// lists them again every `--partition-discovery-interval` while the run lasts. Partitions only
/// ever get added (Kafka cannot remove them).
#[derive(Debug)]
pub struct PartitionWatch {
    listed: Mutex<Vec<TopicPartition>>,
    /// Bumped whenever `listed` grows.
    generation: AtomicU64,
}

impl PartitionWatch {
    /// Starts watching `spec`'s topics, which have `listed` partitions now; `None` when
    /// discovery is off (`--exit-at-end`, or an interval of zero).
    pub fn start(
        spec: &KafkaConfig,
        listed: Vec<TopicPartition>,
        stop: Arc<AtomicBool>,
    ) -> Option<Arc<PartitionWatch>> {
        let every = spec.options.discovery_interval;
        if spec.options.exit_at_end || every.is_zero() {
            return None;
        }
        let consumer: BaseConsumer = client_config(&spec.brokers, &spec.options).create().ok()?;
        let watch = Arc::new(PartitionWatch {
            listed: Mutex::new(listed),
            generation: AtomicU64::new(0),
        });
        let topics = spec.topics.clone();
        let weak = Arc::downgrade(&watch);
        let spawned = std::thread::Builder::new()
            .name("kafka-partitions".into())
            .spawn(move || {
                let mut next = Instant::now() + every;
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    if stop.load(Relaxed) {
                        return;
                    }
                    if Instant::now() < next {
                        continue;
                    }
                    next = Instant::now() + every;
                    let Some(watch) = weak.upgrade() else {
                        return;
                    };
                    for topic in &topics {
                        match consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
                            Ok(metadata) => {
                                if let Some(t) =
                                    metadata.topics().iter().find(|t| t.name() == topic)
                                {
                                    let ids: Vec<i32> =
                                        t.partitions().iter().map(|p| p.id()).collect();
                                    watch.add(topic, &ids);
                                }
                            }
                            Err(e) => {
                                tracing::debug!(error = %e, topic, "listing Kafka partitions")
                            }
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start watching for new Kafka partitions");
        }
        Some(watch)
    }

    /// Records the partitions `ids` of `topic`, bumping the generation if any is new.
    fn add(&self, topic: &str, ids: &[i32]) {
        let mut listed = self.listed.lock().unwrap_or_else(|p| p.into_inner());
        let mut grew = false;
        for &partition in ids {
            if !listed
                .iter()
                .any(|tp| tp.topic == topic && tp.partition == partition)
            {
                tracing::info!(topic, partition, "a new Kafka partition appeared");
                listed.push(TopicPartition {
                    topic: topic.to_string(),
                    partition,
                });
                grew = true;
            }
        }
        if grew {
            self.generation.fetch_add(1, Relaxed);
        }
    }

    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    pub(super) fn listed(&self) -> Vec<TopicPartition> {
        self.listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watch_announces_only_new_partitions() {
        let tp = |p| TopicPartition {
            topic: "t".into(),
            partition: p,
        };
        let watch = PartitionWatch {
            listed: Mutex::new(vec![tp(0), tp(1)]),
            generation: AtomicU64::new(0),
        };
        watch.add("t", &[0, 1]);
        assert_eq!(watch.generation(), 0);
        watch.add("t", &[1, 0, 2, 3]);
        assert_eq!(watch.generation(), 1);
        assert_eq!(watch.listed(), vec![tp(0), tp(1), tp(2), tp(3)]);
    }
}
