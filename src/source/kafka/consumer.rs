//! Reading Kafka partitions: one consumer per worker and topic, a backlog per partition.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{
    client_config, owner, Context, KafkaConfig, KafkaSourceError, PartitionWatch, StartOffset,
    TopicPartition,
};
use crate::source::{Discover, Item, Partition, Poll, Position};

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
    fn new(spec: &KafkaConfig) -> Result<Rc<WorkerConsumer>, KafkaSourceError> {
        let consumer: BaseConsumer<Context> = client_config(&spec.brokers, &spec.options)
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
        spec: &KafkaConfig,
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
                exit_at_end: spec.options.exit_at_end,
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
            let keep = payload.len().min(crate::source::OVERSIZED_PREFIX);
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
    spec: KafkaConfig,
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
        spec: &KafkaConfig,
        listed: &[TopicPartition],
        watch: Option<Arc<PartitionWatch>>,
        (worker, workers): (usize, usize),
        max_message: usize,
        resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<(Vec<KafkaPartition>, WorkerKafka), KafkaSourceError> {
        let mut me = WorkerKafka {
            spec: spec.clone(),
            max_message,
            worker,
            workers,
            consumers: HashMap::new(),
            reading: HashSet::new(),
            seen: watch.as_ref().map_or(0, |w| w.generation()),
            watch,
        };
        let fresh = match spec.options.start_offset {
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
                    let c = WorkerConsumer::new(&self.spec)?;
                    self.consumers.insert(topic.clone(), c.clone());
                    c
                }
            };
            opened.extend(consumer.assign(&self.spec, &new, fresh, self.max_message)?);
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
