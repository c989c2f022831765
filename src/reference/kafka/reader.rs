//! The reader of a Kafka reference topic: one consumer over every partition, the latest
//! usable message of each symbol.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::message::decode;
use crate::metrics::{add_reference_errors, ReferenceProblem};
use crate::reference::{Mapping, ReferenceError, ReferenceReader};
use crate::source::{
    kafka_client_config, list_partitions, KafkaConfig, KafkaOptions, KafkaSourceError,
};

/// Messages taken per later read: bounded, so a burst of changes still yields a snapshot soon.
const MESSAGES_PER_READ: usize = 10_000;
/// How often the topic's partitions are listed again.
const DISCOVERY_INTERVAL: Duration = KafkaOptions::DEFAULT_DISCOVERY_INTERVAL;
/// Most bad messages named one by one per read; the rest are counted.
const WARNINGS_PER_READ: usize = 20;

/// A compacted Kafka reference topic, read from its beginning.
pub struct KafkaReference {
    consumer: BaseConsumer<Quiet>,
    topic: String,
    /// `kafka://BROKERS/TOPIC`, as messages name the source.
    shown: String,
    /// How long the first read may go without progress.
    patience: Duration,
    latest: Latest,
    /// Every assigned partition.
    partitions: BTreeSet<i32>,
    /// Partitions whose end the reader has reached at least once.
    ended: BTreeSet<i32>,
    /// Whether the first read has returned.
    started: bool,
    next_discovery: Instant,
    /// The last client error, so a broker outage is warned about once, not at every poll.
    failing: Option<String>,
}

impl KafkaReference {
    /// Lists `topic`'s partitions on `brokers` and assigns them all from their beginning;
    /// `settings` (the run's `-X`) go to librdkafka as they are.
    pub fn connect(
        brokers: &str,
        topic: &str,
        settings: &BTreeMap<String, String>,
    ) -> Result<Self, ReferenceError> {
        let shown = format!("kafka://{brokers}/{topic}");
        let unusable = |message: String| ReferenceError::Unusable {
            source_name: shown.clone(),
            message,
        };
        let options = KafkaOptions {
            settings: settings.clone(),
            ..KafkaOptions::default()
        };
        let spec = KafkaConfig {
            brokers: brokers.to_string(),
            topics: vec![topic.to_string()],
            options: options.clone(),
        };
        let listed = list_partitions(&spec).map_err(|e| unusable(explain(e)))?;
        let mut config = kafka_client_config(brokers, &options);
        // What the reader relies on, whatever -X says: the end of each partition is how the
        // first read knows it has everything, and nothing is ever committed.
        config
            .set("enable.partition.eof", "true")
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer<Quiet> = config
            .create_with_context(Quiet)
            .map_err(|e| unusable(format!("invalid Kafka client setting: {e}; fix -X")))?;
        let mut reader = KafkaReference {
            consumer,
            topic: topic.to_string(),
            shown: shown.clone(),
            patience: options.connect_timeout,
            latest: Latest {
                rows: BTreeMap::new(),
                topic: topic.to_string(),
                shown: shown.clone(),
            },
            partitions: BTreeSet::new(),
            ended: BTreeSet::new(),
            started: false,
            next_discovery: Instant::now() + DISCOVERY_INTERVAL,
            failing: None,
        };
        let ids: Vec<i32> = listed.iter().map(|tp| tp.partition).collect();
        reader.assign(&ids).map_err(unusable)?;
        Ok(reader)
    }

    /// Adds the partitions of `ids` not yet assigned, from their beginning.
    fn assign(&mut self, ids: &[i32]) -> Result<(), String> {
        let mut list = TopicPartitionList::new();
        for &p in ids.iter().filter(|p| !self.partitions.contains(p)) {
            list.add_partition_offset(&self.topic, p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        // Without a group, librdkafka lets the assignment grow this way at any time.
        self.consumer
            .incremental_assign(&list)
            .map_err(|e| format!("cannot assign the topic's partitions: {e}"))?;
        self.partitions.extend(ids.iter().copied());
        Ok(())
    }

    /// Reads until every partition has reached its end once.
    fn read_to_end(&mut self) -> Result<(), ReferenceError> {
        let mut progress = Instant::now();
        let mut warnings = 0;
        let mut last_error = None;
        while self.ended.len() < self.partitions.len() {
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(message)) => {
                    self.latest.apply(&message, &mut warnings);
                    progress = Instant::now();
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    self.ended.insert(p);
                    progress = Instant::now();
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, reference = %self.shown, "Kafka client");
                    last_error = Some(e.to_string());
                }
            }
            if progress.elapsed() > self.patience {
                let waiting: Vec<String> = self
                    .partitions
                    .difference(&self.ended)
                    .map(ToString::to_string)
                    .collect();
                return Err(ReferenceError::Unusable {
                    source_name: self.shown.clone(),
                    message: format!(
                        "partitions {} did not reach their end: nothing arrived from them for {}{}; are the brokers reachable (check -X security.protocol, ssl.* and sasl.*)?",
                        waiting.join(", "),
                        crate::human::duration(self.patience),
                        last_error.map_or_else(String::new, |e| format!(" (last client error: {e})"))
                    ),
                });
            }
        }
        Ok(())
    }

    /// Takes what has arrived since the last read, at most [`MESSAGES_PER_READ`]; whether the
    /// mapping changed.
    fn read_arrived(&mut self) -> bool {
        let mut changed = false;
        let mut warnings = 0;
        for i in 0..MESSAGES_PER_READ {
            // Wait a moment for the first message only: the caller comes back soon anyway.
            let wait = if i == 0 {
                Duration::from_millis(100)
            } else {
                Duration::ZERO
            };
            match self.consumer.poll(wait) {
                None => break,
                Some(Ok(message)) => {
                    changed |= self.latest.apply(&message, &mut warnings);
                    self.recovered();
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    self.ended.insert(p);
                    self.recovered();
                }
                Some(Err(e)) => {
                    let message = e.to_string();
                    if self.failing.as_ref() != Some(&message) {
                        tracing::warn!(reference = %self.shown, error = %message, "cannot read the reference topic; keeping the last mapping");
                        add_reference_errors(&self.shown, ReferenceProblem::ReadFailed, 1);
                    }
                    self.failing = Some(message);
                    break;
                }
            }
        }
        changed
    }

    fn recovered(&mut self) {
        if let Some(why) = self.failing.take() {
            tracing::info!(reference = %self.shown, after = %why, "reference topic readable again");
        }
    }

    /// Lists the topic's partitions again (every [`DISCOVERY_INTERVAL`]) and reads new ones.
    fn discover(&mut self) {
        if Instant::now() < self.next_discovery {
            return;
        }
        self.next_discovery = Instant::now() + DISCOVERY_INTERVAL;
        let metadata = match self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(2))
        {
            Ok(m) => m,
            Err(e) => {
                tracing::debug!(error = %e, reference = %self.shown, "listing partitions");
                return;
            }
        };
        let Some(t) = metadata.topics().iter().find(|t| t.name() == self.topic) else {
            return;
        };
        let ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
        let new: Vec<i32> = ids
            .iter()
            .copied()
            .filter(|p| !self.partitions.contains(p))
            .collect();
        if new.is_empty() {
            return;
        }
        tracing::info!(reference = %self.shown, partitions = ?new, "new partitions of the reference topic; reading them from their beginning");
        if let Err(e) = self.assign(&new) {
            tracing::warn!(reference = %self.shown, error = %e, "cannot read the new partitions");
        }
    }
}

/// The last usable message of each symbol: the mapping the topic holds.
struct Latest {
    rows: BTreeMap<String, Mapping>,
    topic: String,
    shown: String,
}

impl Latest {
    /// Applies one message; whether it changed the mapping.
    fn apply(&mut self, message: &BorrowedMessage<'_>, warnings: &mut usize) -> bool {
        match decode(message.key(), message.payload()) {
            Ok((symbol, Some(mapping))) => {
                if self.rows.get(&symbol) == Some(&mapping) {
                    return false;
                }
                self.rows.insert(symbol, mapping);
                true
            }
            Ok((symbol, None)) => self.rows.remove(&symbol).is_some(),
            Err(why) => {
                *warnings += 1;
                if *warnings <= WARNINGS_PER_READ {
                    tracing::warn!(
                        topic = %self.topic,
                        partition = message.partition(),
                        offset = message.offset(),
                        "skipped the reference message at topic {} partition {} offset {}: {why}; the symbol keeps its previous mapping",
                        self.topic,
                        message.partition(),
                        message.offset()
                    );
                }
                add_reference_errors(&self.shown, ReferenceProblem::Invalid, 1);
                false
            }
        }
    }

    fn snapshot(&self) -> Vec<Mapping> {
        self.rows.values().cloned().collect()
    }
}

/// librdkafka's log, at debug level: the reader warns about what matters itself, once.
struct Quiet;

impl ClientContext for Quiet {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(?level, facility, message, "Kafka client (reference)");
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "Kafka client (reference)");
    }
}

impl ConsumerContext for Quiet {}

impl ReferenceReader for KafkaReference {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError> {
        if !self.started {
            self.read_to_end()?;
            self.started = true;
            return Ok(Some(self.latest.snapshot()));
        }
        self.discover();
        Ok(self.read_arrived().then(|| self.latest.snapshot()))
    }
}

/// Why the topic cannot be read, with the setting to change.
fn explain(error: KafkaSourceError) -> String {
    match error {
        e @ KafkaSourceError::NoTopic { .. } => format!("{e}, or fix the topic in --reference"),
        e @ KafkaSourceError::Unreachable { .. } => format!(
            "{e} (check the brokers in --reference and the -X settings security.protocol, ssl.* and sasl.*)"
        ),
        KafkaSourceError::Config(e) => format!("invalid Kafka client setting: {e}; fix -X"),
    }
}
