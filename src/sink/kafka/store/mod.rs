//! Kafka as a delivery store: rows acknowledged first, then one progress record per process.
//!
//! How it works:
//! 1. A commit produces every row of the batch (value: the JSON-lines row without its newline;
//!    key: the symbol or category; headers `kind` and `window_end`) and waits until the broker
//!    has acknowledged all of them. Any failed delivery fails the commit: permanently for what
//!    the broker will always refuse (a message too large, a missing topic), transiently for
//!    the rest (an unreachable broker), which the committer retries by producing the whole
//!    batch again.
//! 2. Only then is the progress record written, and acknowledged in turn: one message per
//!    pipeline and process to the compacted progress topic, keyed `["PIPELINE",PROCESS]`,
//!    holding the committed frontier and every partition's resume point. One message is
//!    atomic, so a crash never leaves half a commit's progress behind.
//! 3. A crash between 1 and 2 repeats the batch's rows on restart. Results are bit-identical
//!    across runs, so a repeated message equals the one it repeats (at-least-once with
//!    identical repeats; Kafka transactions would make it exactly-once, but the test broker
//!    refuses EndTxn, so none are used).
//! 4. Saved progress is the last record per key of this pipeline, read from the start of
//!    every partition of the progress topic to its end; forgetting writes tombstones.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, PurgeConfig, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

mod deliveries;
mod record;

use self::deliveries::{Deliveries, PROGRESS, ROW};
use self::record::{PartitionRecord, ProgressRecord};
use super::{code_of, KafkaSinkConfig, KafkaSinkError};
use crate::delivery::{Batch, Saved, Store};
use crate::metrics::Metrics;
use crate::row::WindowRow;
use crate::sink::{encode, Format};

/// Where a [`KafkaStore`] writes, and who it writes for.
#[derive(Clone, Debug)]
pub struct StoreScope {
    pub pipeline: String,
    pub process: usize,
    pub processes: usize,
}

/// One process's producer to the result topic and the progress topic.
pub struct KafkaStore {
    producer: ThreadedProducer<Deliveries>,
    config: KafkaSinkConfig,
    scope: StoreScope,
    /// How long a commit waits for acknowledgements (librdkafka gives up on a message then).
    patience: Duration,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

impl KafkaStore {
    /// A producer for `config` (nothing is sent yet).
    pub fn new(
        config: KafkaSinkConfig,
        scope: StoreScope,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<KafkaStore, KafkaSinkError> {
        let producer = config
            .producer_config()
            .create_with_context(Deliveries::new(metrics))
            .map_err(|e| KafkaSinkError::Client {
                brokers: config.brokers.clone(),
                message: e.to_string(),
            })?;
        let patience = config.options.connect_timeout.max(Duration::from_secs(1));
        Ok(KafkaStore {
            producer,
            config,
            scope,
            patience,
            buf: Vec::with_capacity(512),
        })
    }

    fn rejected(&self, topic: &str, error: &KafkaError) -> KafkaSinkError {
        KafkaSinkError::Rejected {
            brokers: self.config.brokers.clone(),
            topic: topic.to_string(),
            message: error.to_string(),
            code: code_of(error),
        }
    }

    /// Queues one message, waiting while librdkafka's queue is full.
    fn send(&self, mut record: BaseRecord<'_, [u8], [u8], usize>) -> Result<(), KafkaSinkError> {
        let metrics = self.producer.context().metrics.as_deref();
        loop {
            match self.producer.send(record) {
                Ok(()) => {
                    if let Some(m) = metrics {
                        m.kafka_sink_in_flight.fetch_add(1, Relaxed);
                    }
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, r)) => return Err(self.rejected(r.topic, &e)),
            }
        }
    }

    /// Waits until every queued message is acknowledged; any failure fails the lot.
    fn acknowledged(&self, topic: &str, sent: u64) -> Result<(), KafkaSinkError> {
        let started = Instant::now();
        // Every queued message gets a report within message.timeout.ms; the margin covers the
        // report's own way back.
        let flushed = self.producer.flush(self.patience + Duration::from_secs(5));
        let deliveries = self.producer.context();
        if let Some(e) = deliveries.first_error() {
            return Err(self.rejected(topic, &e));
        }
        let delivered = deliveries.delivered.load(Relaxed);
        if flushed.is_err() || delivered < sent {
            return Err(KafkaSinkError::Unacknowledged {
                brokers: self.config.brokers.clone(),
                topic: topic.to_string(),
                sent,
                missing: sent.saturating_sub(delivered),
                waited: started.elapsed(),
            });
        }
        Ok(())
    }

    /// Produces `rows` to the result topic and waits for every acknowledgement.
    fn produce_rows(&mut self, rows: &[WindowRow]) -> Result<(), KafkaSinkError> {
        let deliveries = self.producer.context().clone();
        deliveries.reset();
        let topic = self.config.topic.clone();
        let mut buf = std::mem::take(&mut self.buf);
        let mut result = Ok(());
        for row in rows {
            buf.clear();
            encode(row, Format::Jsonl, &mut buf);
            let value = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let mut end = Vec::with_capacity(24);
            row.end().write_rfc3339(&mut end);
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header {
                    key: "kind",
                    value: Some(row.kind()),
                })
                .insert(Header {
                    key: "window_end",
                    value: Some(&end[..]),
                });
            let record = BaseRecord::with_opaque_to(&topic, ROW)
                .key(key_of(row).as_bytes())
                .payload(value)
                .headers(headers);
            result = self.send(record);
            if result.is_err() || deliveries.failed.load(Relaxed) > 0 {
                break;
            }
        }
        self.buf = buf;
        result.and_then(|()| self.acknowledged(&topic, rows.len() as u64))
    }

    /// Writes `value` (`None`: a tombstone) under `key` to the progress topic and waits for
    /// its acknowledgement.
    fn write_progress(&self, records: &[(String, Option<Vec<u8>>)]) -> Result<(), KafkaSinkError> {
        self.producer.context().reset();
        let topic = &self.config.progress_topic;
        for (key, value) in records {
            let mut record = BaseRecord::with_opaque_to(topic, PROGRESS).key(key.as_bytes());
            if let Some(v) = value {
                record = record.payload(&v[..]);
            }
            self.send(record)?;
        }
        self.acknowledged(topic, records.len() as u64)
    }

    /// Drops what is queued after a failed commit, so a retry starts clean.
    fn purge(&self) {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let _ = self.producer.flush(Duration::from_secs(1));
    }

    /// The last progress record of every process of this pipeline, by key.
    fn read_progress(&self) -> Result<BTreeMap<String, ProgressRecord>, KafkaSinkError> {
        let brokers = &self.config.brokers;
        let topic = &self.config.progress_topic;
        let failed = |message: String, transient: bool| KafkaSinkError::Progress {
            brokers: brokers.clone(),
            topic: topic.clone(),
            message,
            transient,
        };
        let listed = crate::source::list_partitions(&self.config.topic_config(topic))
            .map_err(|e| failed(e.to_string(), false))?;
        let mut reader = crate::source::kafka_client_config(brokers, &self.config.options);
        // Read to the end once at start-up: the broker need not hold a fetch open for more.
        reader.set("fetch.wait.max.ms", "10");
        let consumer: BaseConsumer = reader.create().map_err(|e| failed(e.to_string(), false))?;
        let mut assignment = TopicPartitionList::new();
        for p in &listed {
            assignment
                .add_partition_offset(topic, p.partition, Offset::Beginning)
                .map_err(|e| failed(e.to_string(), false))?;
        }
        consumer
            .assign(&assignment)
            .map_err(|e| failed(e.to_string(), true))?;
        let mut open: std::collections::BTreeSet<i32> =
            listed.iter().map(|p| p.partition).collect();
        let mut out = BTreeMap::new();
        let started = Instant::now();
        while !open.is_empty() {
            if started.elapsed() > self.patience {
                return Err(failed(
                    format!(
                        "partitions {open:?} did not reach their end within {}",
                        crate::human::duration(self.patience)
                    ),
                    true,
                ));
            }
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    open.remove(&p);
                }
                Some(Err(e)) => return Err(failed(e.to_string(), true)),
                Some(Ok(message)) => {
                    let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) else {
                        continue;
                    };
                    let Ok((pipeline, _process)) = serde_json::from_str::<(String, usize)>(key)
                    else {
                        continue;
                    };
                    if pipeline != self.scope.pipeline {
                        continue;
                    }
                    match message.payload() {
                        None => {
                            out.remove(key);
                        }
                        Some(value) => {
                            let record: ProgressRecord =
                                serde_json::from_slice(value).map_err(|e| {
                                    failed(
                                        format!("record {key} is not tickflow progress: {e}"),
                                        false,
                                    )
                                })?;
                            out.insert(key.to_string(), record);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    fn key(&self, process: usize) -> String {
        serde_json::to_string(&(&self.scope.pipeline, process)).expect("strings and numbers")
    }
}

/// The message key: the row's symbol, category or sector, so a compacted topic keeps each
/// key's latest window.
fn key_of(row: &WindowRow) -> &str {
    row.key()
}

impl Store for KafkaStore {
    type Error = KafkaSinkError;

    fn describe(&self) -> String {
        self.config.to_string()
    }

    fn saved(&mut self) -> Result<Vec<Saved>, KafkaSinkError> {
        Ok(self
            .read_progress()?
            .into_values()
            .flat_map(ProgressRecord::into_saved)
            .collect())
    }

    fn forget(&mut self) -> Result<(), KafkaSinkError> {
        let tombstones: Vec<(String, Option<Vec<u8>>)> = self
            .read_progress()?
            .into_keys()
            .map(|k| (k, None))
            .collect();
        let result = self.write_progress(&tombstones);
        if result.is_err() {
            self.purge();
        }
        result
    }

    fn reshape(&mut self, processes: usize, _: u64) -> Result<(), KafkaSinkError> {
        // Each process's record holds its own partitions: moving them between records cannot
        // be done in one atomic write, so the cluster's size stays as saved.
        let saved = self
            .read_progress()?
            .into_values()
            .map(|r| r.processes)
            .find(|&n| n != 0 && n != processes);
        match saved {
            Some(saved) => Err(KafkaSinkError::Reshape {
                pipeline: self.scope.pipeline.clone(),
                topic: self.config.progress_topic.clone(),
                saved,
                now: processes,
            }),
            None => Ok(()),
        }
    }

    fn commit(&mut self, batch: &Batch<'_>) -> Result<(), KafkaSinkError> {
        let record = ProgressRecord {
            pipeline: self.scope.pipeline.clone(),
            process: self.scope.process,
            committed_below_ms: batch.below,
            processes: self.scope.processes,
            partitions: batch
                .points
                .iter()
                .map(|p| PartitionRecord {
                    source: p.key.0.clone(),
                    partition: p.key.1,
                    resume_offset: p.resume.offset,
                    max_seen_ms: p.resume.max_seen.map(|t| t.0),
                    split_bytes: p.split_bytes,
                })
                .collect(),
        };
        let value = serde_json::to_vec(&record).expect("plain data");
        let result = self
            .produce_rows(batch.rows)
            .and_then(|()| self.write_progress(&[(self.key(self.scope.process), Some(value))]));
        if result.is_err() {
            self.purge();
        }
        result
    }

    fn others_committed(&mut self) -> Result<Option<u64>, KafkaSinkError> {
        if self.scope.processes <= 1 {
            return Ok(None);
        }
        let me = self.scope.process;
        let others: Vec<u64> = self
            .read_progress()?
            .into_values()
            .filter(|r| r.process != me && r.process < self.scope.processes)
            .map(|r| r.committed_below_ms)
            .collect();
        // A process that has not committed yet has committed nothing.
        Ok(Some(if others.len() < self.scope.processes - 1 {
            0
        } else {
            others.into_iter().min().unwrap_or(0)
        }))
    }

    fn is_transient(error: &KafkaSinkError) -> bool {
        error.is_transient()
    }
}

#[cfg(test)]
mod tests;
