//! Commits resume offsets to the consumer group: the Kafka side of the sink's after-commit hook.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{client_config, Context, KafkaConfig};

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
    /// A committer for the topics of `specs`, which share their client settings; `None`
    /// without a group id (or without Kafka sources).
    pub fn new(specs: &[KafkaConfig]) -> Option<GroupCommitter> {
        let spec = specs.first()?;
        spec.options.group_id.as_ref()?;
        let consumer: BaseConsumer<Context> = client_config(&spec.brokers, &spec.options)
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
