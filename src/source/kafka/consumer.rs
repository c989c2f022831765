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

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;

use super::{Discover, Item, Partition, Poll, Position};

/// `kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSpec {
    pub brokers: String,
    pub topics: Vec<String>,
}

impl KafkaSpec {
    /// Parses the part after `kafka://`.
    pub fn parse(rest: &str) -> Option<KafkaSpec> {
        let (brokers, topics) = rest.split_once('/')?;
        let topics: Vec<String> = topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        (!brokers.is_empty() && !topics.is_empty()).then(|| KafkaSpec {
            brokers: brokers.to_string(),
            topics,
        })
    }

    /// The source name of one topic, as rejects and progress rows carry it.
    pub fn source_name(&self, topic: &str) -> String {
        format!("kafka://{}/{topic}", self.brokers)
    }
}

/// Where a pipeline without saved progress starts reading.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum StartOffset {
    #[default]
    Earliest,
    Latest,
}

/// Kafka client settings shared by all Kafka sources of a pipeline.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KafkaOptions {
    /// `-X key=value` settings passed to librdkafka as they are.
    pub settings: Vec<(String, String)>,
    /// Consumer group whose committed offsets mirror progress (for lag monitoring only).
    pub group_id: Option<String>,
    pub start_offset: StartOffset,
    /// End a partition at its first end-of-partition.
    pub exit_at_end: bool,
    /// How long to keep trying to reach the brokers at start-up.
    pub connect_timeout: Duration,
    /// How often to look for new partitions while running; zero: never.
    pub discovery_interval: Duration,
}

/// A topic partition, in the order partitions are spread over workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// The worker (of all workers of all processes) that reads partition `partition` of the
/// source's `topic_index`-th topic.
pub fn owner(topic_index: usize, partition: i32, workers: usize) -> usize {
    (topic_index + partition.max(0) as usize) % workers
}

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

/// Lists the partitions of every topic, retrying with capped backoff while brokers are down.
pub fn list_partitions(
    spec: &KafkaSpec,
    options: &KafkaOptions,
) -> Result<Vec<TopicPartition>, KafkaSourceError> {
    let consumer: BaseConsumer = client_config(&spec.brokers, options)
        .create()
        .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
    let patience = options.connect_timeout;
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
            let attempt = remaining.clamp(Duration::from_millis(500), Duration::from_secs(5));
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
                return Err(KafkaSourceError::Unreachable {
                    brokers: spec.brokers.clone(),
                    waited: backoff.elapsed(),
                    message: failure,
                });
            }
        }
    }
    Ok(out)
}

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

/// Messages taken from one partition per poll: bounded so every partition, progress and
/// shutdown stay live under load.
const MESSAGES_PER_POLL: usize = 4096;

/// One worker's consumer of one topic, shared by the partitions assigned to it.
///
/// All messages come through the consumer's own queue, which keeps each partition's order, and
/// are routed into per-partition backlogs. (librdkafka's per-partition queues are not used: a
/// partition's messages fetched before its queue is split out stay on the consumer's queue, so
/// the two can hand out a partition's messages out of order.)
pub struct WorkerConsumer {
    consumer: Arc<BaseConsumer<Context>>,
    backlog: RefCell<HashMap<i32, Backlog>>,
}

#[derive(Default)]
struct Backlog {
    messages: VecDeque<OwnedMessage>,
    /// The partition's end was reached after the last message in `messages`.
    at_end: bool,
}

/// Messages moved from the consumer's queue into backlogs per pump: bounded, like all work
/// per activation.
const MESSAGES_PER_PUMP: usize = 8192;

impl WorkerConsumer {
    fn new(
        spec: &KafkaSpec,
        options: &KafkaOptions,
    ) -> Result<Rc<WorkerConsumer>, KafkaSourceError> {
        let consumer: BaseConsumer<Context> = client_config(&spec.brokers, options)
            .create_with_context(Context)
            .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
        Ok(Rc::new(WorkerConsumer {
            consumer: Arc::new(consumer),
            backlog: RefCell::new(HashMap::new()),
        }))
    }

    /// Adds `partitions` to the assignment, each at its resume offset or else at `fresh`.
    fn assign(
        self: &Rc<Self>,
        spec: &KafkaSpec,
        options: &KafkaOptions,
        partitions: &[(TopicPartition, Option<u64>)],
        fresh: Offset,
        max_message: usize,
    ) -> Result<Vec<KafkaPartition>, KafkaSourceError> {
        let mut assignment = TopicPartitionList::new();
        for (tp, resume) in partitions {
            let offset = resume.map_or(fresh, |o| Offset::Offset(o as i64));
            assignment
                .add_partition_offset(&tp.topic, tp.partition, offset)
                .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
        }
        // Without a group subscription, librdkafka lets the assignment grow this way at any time.
        self.consumer
            .incremental_assign(&assignment)
            .map_err(|e| KafkaSourceError::Config(e.to_string()))?;
        Ok(partitions
            .iter()
            .map(|(tp, resume)| KafkaPartition {
                source: spec.source_name(&tp.topic),
                partition: tp.partition,
                owner: self.clone(),
                cursor: Cursor {
                    next_offset: resume.unwrap_or(0),
                    started: false,
                    max_message,
                },
                at_end: false,
                exit_at_end: options.exit_at_end,
            })
            .collect())
    }

    /// Moves what the consumer has fetched into the partitions' backlogs, in order.
    fn pump(&self) {
        let mut backlog = self.backlog.borrow_mut();
        for _ in 0..MESSAGES_PER_PUMP {
            match self.consumer.poll(Duration::ZERO) {
                None => return,
                Some(Ok(message)) => {
                    let b = backlog.entry(message.partition()).or_default();
                    b.messages.push_back(message.detach());
                    b.at_end = false;
                }
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    backlog.entry(p).or_default().at_end = true;
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "Kafka consumer");
                    return;
                }
            }
        }
    }

    /// Takes up to `n` messages of `partition`, and whether its end follows them.
    fn take(&self, partition: i32, n: usize) -> (Vec<OwnedMessage>, bool) {
        let mut backlog = self.backlog.borrow_mut();
        let Some(b) = backlog.get_mut(&partition) else {
            return (Vec::new(), false);
        };
        let n = n.min(b.messages.len());
        let taken: Vec<OwnedMessage> = b.messages.drain(..n).collect();
        let at_end = b.at_end && b.messages.is_empty();
        if at_end {
            b.at_end = false;
        }
        (taken, at_end)
    }
}

/// One Kafka partition, read by one worker.
pub struct KafkaPartition {
    source: String,
    partition: i32,
    owner: Rc<WorkerConsumer>,
    cursor: Cursor,
    /// Nothing more to read since the last partition EOF.
    at_end: bool,
    exit_at_end: bool,
}

impl KafkaPartition {
    /// Notes the end of the partition; `Some(Done)` when the run stops there.
    fn reached_end(&mut self) -> Option<Poll> {
        self.at_end = true;
        self.exit_at_end.then_some(Poll::Done)
    }
}

/// How far a partition has been handed out.
struct Cursor {
    /// Offset of the next message to hand out.
    next_offset: u64,
    /// A message has been handed out since the partition was opened.
    started: bool,
    max_message: usize,
}

impl Cursor {
    /// Hands one message out as a line (or an over-long one).
    fn hand_out(&mut self, message: &impl Message, out: &mut dyn FnMut(Item<'_>)) {
        let offset = message.offset().max(0) as u64;
        self.next_offset = offset + 1;
        let position = Position {
            line: offset,
            offset,
        };
        let payload = message.payload().unwrap_or(&[]);
        let payload = payload.strip_suffix(b"\n").unwrap_or(payload);
        if payload.len() > self.max_message {
            let keep = payload.len().min(super::OVERSIZED_PREFIX);
            out(Item::Oversized(&payload[..keep], position));
        } else {
            out(Item::Line(payload, position));
        }
    }
}

impl Partition for KafkaPartition {
    fn source(&self) -> &str {
        &self.source
    }

    fn index(&self) -> usize {
        self.partition as usize
    }

    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll {
        self.owner.pump();
        let (messages, at_end) = self.owner.take(self.partition, MESSAGES_PER_POLL);
        let got = !messages.is_empty();
        if let (Some(first), false) = (messages.first(), self.cursor.started) {
            self.cursor.started = true;
            let (asked, got) = (self.cursor.next_offset, first.offset().max(0) as u64);
            if got > asked && asked > 0 {
                // Compaction and transaction markers leave gaps, but a broker that answers a
                // fetch from inside a record batch with the next batch skips real messages.
                tracing::warn!(
                    source = %self.source,
                    partition = self.partition,
                    asked,
                    got,
                    "resumed at a later offset than saved; offsets in between were not delivered by the broker"
                );
            }
        }
        for message in &messages {
            self.cursor.hand_out(message, out);
        }
        if got {
            self.at_end = false;
        }
        if at_end {
            if let Some(done) = self.reached_end() {
                return done;
            }
        }
        if got {
            Poll::Ready
        } else {
            // No callback wakes the worker for the consumer's queue: look again soon.
            Poll::Pending(Duration::from_millis(10))
        }
    }

    fn position(&self) -> u64 {
        self.cursor.next_offset
    }

    fn caught_up(&self) -> bool {
        self.at_end
    }
}

/// One worker's share of a Kafka source: a consumer per topic it has partitions of, and the
/// partitions found while running that the assignment rule gives it.
pub struct WorkerKafka {
    spec: KafkaSpec,
    options: KafkaOptions,
    max_message: usize,
    worker: usize,
    workers: usize,
    consumers: HashMap<String, Rc<WorkerConsumer>>,
    /// Every partition of the source this worker reads.
    reading: HashSet<(String, i32)>,
    watch: Option<Arc<PartitionWatch>>,
    seen: u64,
}

impl WorkerKafka {
    /// Opens the partitions of `listed` (the partitions at start-up) that the assignment rule
    /// gives `worker` out of `workers`.
    pub fn open(
        spec: &KafkaSpec,
        options: &KafkaOptions,
        listed: &[TopicPartition],
        watch: Option<Arc<PartitionWatch>>,
        (worker, workers): (usize, usize),
        max_message: usize,
        resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<(Vec<KafkaPartition>, WorkerKafka), KafkaSourceError> {
        let mut me = WorkerKafka {
            spec: spec.clone(),
            options: options.clone(),
            max_message,
            worker,
            workers,
            consumers: HashMap::new(),
            reading: HashSet::new(),
            seen: watch.as_ref().map_or(0, |w| w.generation()),
            watch,
        };
        let fresh = match options.start_offset {
            StartOffset::Earliest => Offset::Beginning,
            StartOffset::Latest => Offset::End,
        };
        let opened = me.take_on(listed, fresh, resume_at)?;
        Ok((opened, me))
    }

    /// Starts reading the partitions of `listed` that are this worker's and not read yet.
    fn take_on(
        &mut self,
        listed: &[TopicPartition],
        fresh: Offset,
        resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<Vec<KafkaPartition>, KafkaSourceError> {
        let mut opened = Vec::new();
        for (topic_index, topic) in self.spec.topics.iter().enumerate() {
            let new: Vec<(TopicPartition, Option<u64>)> = listed
                .iter()
                .filter(|tp| &tp.topic == topic)
                .filter(|tp| owner(topic_index, tp.partition, self.workers) == self.worker)
                .filter(|tp| !self.reading.contains(&(tp.topic.clone(), tp.partition)))
                .map(|tp| {
                    let resume = resume_at(&self.spec.source_name(topic), tp.partition as usize);
                    (tp.clone(), resume)
                })
                .collect();
            if new.is_empty() {
                continue;
            }
            let consumer = match self.consumers.get(topic) {
                Some(c) => c.clone(),
                None => {
                    // One consumer per topic: partition numbers are then unambiguous in its events.
                    let c = WorkerConsumer::new(&self.spec, &self.options)?;
                    self.consumers.insert(topic.clone(), c.clone());
                    c
                }
            };
            opened.extend(consumer.assign(
                &self.spec,
                &self.options,
                &new,
                fresh,
                self.max_message,
            )?);
            self.reading
                .extend(new.into_iter().map(|(tp, _)| (tp.topic, tp.partition)));
        }
        Ok(opened)
    }
}

impl Discover for WorkerKafka {
    fn discover(
        &mut self,
        resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<Vec<Box<dyn Partition>>, String> {
        let Some(watch) = &self.watch else {
            return Ok(Vec::new());
        };
        let generation = watch.generation();
        if generation == self.seen {
            return Ok(Vec::new());
        }
        self.seen = generation;
        let listed = watch.listed();
        let opened = self
            .take_on(&listed, Offset::Beginning, resume_at)
            .map_err(|e| format!("cannot read new Kafka partitions: {e}"))?;
        for p in &opened {
            tracing::info!(source = %p.source, partition = p.partition, worker = self.worker, "reading a new Kafka partition");
        }
        Ok(opened
            .into_iter()
            .map(|p| Box::new(p) as Box<dyn Partition>)
            .collect())
    }

    fn finished(&self) -> bool {
        self.watch.is_none()
    }
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
        spec: &KafkaSpec,
        options: &KafkaOptions,
        listed: Vec<TopicPartition>,
        stop: Arc<AtomicBool>,
    ) -> Option<Arc<PartitionWatch>> {
        let every = options.discovery_interval;
        if options.exit_at_end || every.is_zero() {
            return None;
        }
        let consumer: BaseConsumer = client_config(&spec.brokers, options).create().ok()?;
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

    fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    fn listed(&self) -> Vec<TopicPartition> {
        self.listed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Commits resume offsets to the consumer group after the sink has committed them, so lag
/// tools (`kafka-consumer-groups --describe`) show what is really done. Monitoring only:
/// tickflow never reads these offsets back.
pub struct GroupCommitter {
    consumer: BaseConsumer<Context>,
    /// Source name -> (topic) for the sources this committer serves.
    topics: Vec<(String, String)>,
    /// The last offsets committed, committed once more, synchronously, at the end of the run.
    last: Option<TopicPartitionList>,
}

impl GroupCommitter {
    pub fn new(specs: &[KafkaSpec], options: &KafkaOptions) -> Option<GroupCommitter> {
        let spec = specs.first()?;
        options.group_id.as_ref()?;
        let consumer: BaseConsumer<Context> = client_config(&spec.brokers, options)
            .create_with_context(Context)
            .ok()?;
        let topics = specs
            .iter()
            .flat_map(|s| s.topics.iter().map(|t| (s.source_name(t), t.clone())))
            .collect();
        Some(GroupCommitter {
            consumer,
            topics,
            last: None,
        })
    }

    /// Commits `offset` of each `(source, partition)` that is one of this committer's topics.
    pub fn commit(&mut self, points: &[((String, usize), u64)]) {
        tracing::debug!(?points, topics = ?self.topics, "committing group offsets");
        let mut list = TopicPartitionList::new();
        for ((source, partition), offset) in points {
            if let Some((_, topic)) = self.topics.iter().find(|(s, _)| s == source) {
                let _ = list.add_partition_offset(
                    topic,
                    *partition as i32,
                    Offset::Offset(*offset as i64),
                );
            }
        }
        if list.count() > 0 {
            if let Err(e) = self
                .consumer
                .commit(&list, rdkafka::consumer::CommitMode::Async)
            {
                tracing::warn!(error = %e, "committing consumer-group offsets (monitoring only)");
            }
            // Serves the commit's callback; never blocks.
            let _ = self.consumer.poll(Duration::ZERO);
            self.last = Some(list);
        }
    }
}

impl Drop for GroupCommitter {
    fn drop(&mut self) {
        if let Some(list) = self.last.take() {
            if let Err(e) = self
                .consumer
                .commit(&list, rdkafka::consumer::CommitMode::Sync)
            {
                tracing::warn!(error = %e, "committing final consumer-group offsets (monitoring only)");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_do_not_move_when_partitions_are_added() {
        // Two topics of 4 partitions over 3 workers: spread evenly...
        let mut load = [0; 3];
        for t in 0..2 {
            for p in 0..4 {
                load[owner(t, p, 3)] += 1;
            }
        }
        assert_eq!(load.iter().sum::<i32>(), 8);
        assert!(load.iter().all(|&n| n >= 2), "{load:?}");
        // ...and a partition's owner depends on nothing that grows.
        assert_eq!(owner(1, 5, 4), 2);
        assert_eq!(owner(0, 4, 4), 0);
    }

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

    #[test]
    fn parses_uris() {
        assert_eq!(
            KafkaSpec::parse("b1:9092,b2:9092/ticks,more"),
            Some(KafkaSpec {
                brokers: "b1:9092,b2:9092".into(),
                topics: vec!["ticks".into(), "more".into()]
            })
        );
        assert_eq!(KafkaSpec::parse("b1:9092"), None);
        assert_eq!(KafkaSpec::parse("/t"), None);
        assert_eq!(KafkaSpec::parse("b/"), None);
    }
}
