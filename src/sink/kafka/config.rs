//! The Kafka sink's typed config: its `kafka://` URI and the `[kafka]` settings, defaults beside.

use std::fmt;
use std::time::Duration;

use crate::source::{KafkaConfig, KafkaOptions};

/// One Kafka sink: `kafka://BROKER[,BROKER...]/TOPIC[?progress_topic=NAME&commit_interval=D]`,
/// with the
/// pipeline's `[kafka]` settings (`-X` settings, TLS and SASL included, apply to its producer
/// as to the consumers of Kafka sources).
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSinkConfig {
    /// `bootstrap.servers`, as written in the URI.
    pub brokers: String,
    /// Where result rows go; it must exist.
    pub topic: String,
    /// The compacted topic keeping the pipeline's progress; it must exist.
    pub progress_topic: String,
    /// Commit at least this often while windows complete.
    pub commit_interval: Duration,
    pub options: KafkaOptions,
}

/// A `kafka://` sink URI that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Kafka sink {uri:?}: {problem}; write kafka://BROKER[,BROKER]/TOPIC[?progress_topic=NAME&commit_interval=DURATION]")]
pub struct BadKafkaSink {
    pub uri: String,
    pub problem: String,
}

impl KafkaSinkConfig {
    /// The progress topic when the URI names none.
    pub const DEFAULT_PROGRESS_TOPIC: &'static str = "tickflow_progress";
    /// How often to commit when the URI does not say: each commit waits for the broker's
    /// acknowledgements, so fewer and larger ones keep the producer's batches full.
    pub const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_millis(500);
    /// Producer batching: wait this long for a batch to fill (throughput over latency; a
    /// commit flushes anyway, so this only shapes batches within one commit).
    pub const LINGER: Duration = Duration::from_millis(10);

    /// Whether `uri` names a Kafka sink.
    pub fn is_kafka_uri(uri: &str) -> bool {
        uri.starts_with("kafka://")
    }

    /// Parses a `kafka://` URI with default settings (the pipeline's are set after).
    pub fn parse(uri: &str) -> Result<KafkaSinkConfig, BadKafkaSink> {
        let bad = |problem: &str| BadKafkaSink {
            uri: uri.to_string(),
            problem: problem.to_string(),
        };
        let rest = uri
            .strip_prefix("kafka://")
            .ok_or_else(|| bad("not a kafka:// URI"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| bad("no topic after the brokers"))?;
        if brokers.is_empty() {
            return Err(bad("no broker"));
        }
        if topic.is_empty() || topic.contains([',', '/']) {
            return Err(bad("name exactly one topic"));
        }
        let mut progress_topic = Self::DEFAULT_PROGRESS_TOPIC.to_string();
        let mut commit_interval = Self::DEFAULT_COMMIT_INTERVAL;
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("progress_topic", name)) if !name.is_empty() => {
                    progress_topic = name.to_string()
                }
                Some(("commit_interval", text)) => {
                    commit_interval = crate::human::parse_duration(text)
                        .map_err(|e| bad(&format!("commit_interval: {e}")))?;
                }
                _ => return Err(bad(&format!("unknown parameter {pair:?}"))),
            }
        }
        if progress_topic == topic {
            return Err(bad("the progress topic must not be the result topic"));
        }
        Ok(KafkaSinkConfig {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            progress_topic,
            commit_interval,
            options: KafkaOptions::default(),
        })
    }

    /// The result topic as a source config, to list its partitions the way sources do.
    pub fn topic_config(&self, topic: &str) -> KafkaConfig {
        KafkaConfig {
            brokers: self.brokers.clone(),
            topics: vec![topic.to_string()],
            options: self.options.clone(),
        }
    }

    /// The producer's configuration: tickflow's choices first, then the user's `-X` settings.
    pub fn producer_config(&self) -> rdkafka::ClientConfig {
        let mut c = rdkafka::ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            // Retries inside librdkafka never duplicate or reorder a message.
            .set("enable.idempotence", "true")
            // Throughput: batches of up to 10,000 messages or 1 MiB, filled for 10 ms at most.
            .set("linger.ms", Self::LINGER.as_millis().to_string())
            .set("batch.num.messages", "10000")
            .set("batch.size", "1048576")
            // Room for a large commit's rows while the broker takes them.
            .set("queue.buffering.max.messages", "500000")
            // A broker unreachable for this long fails the commit (and the committer retries
            // it), instead of librdkafka's own 5 minutes per message.
            .set(
                "message.timeout.ms",
                self.options
                    .connect_timeout
                    .max(Duration::from_secs(1))
                    .as_millis()
                    .to_string(),
            );
        for (k, v) in &self.options.settings {
            c.set(k, v);
        }
        c
    }
}

impl fmt::Display for KafkaSinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka://{}/{}", self.brokers, self.topic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let c = KafkaSinkConfig::parse("kafka://b1:9092,b2:9092/out").unwrap();
        assert_eq!(
            (c.brokers.as_str(), c.topic.as_str()),
            ("b1:9092,b2:9092", "out")
        );
        assert_eq!(c.progress_topic, "tickflow_progress");
        assert_eq!(c.commit_interval, Duration::from_millis(500));
        let c =
            KafkaSinkConfig::parse("kafka://b/out?progress_topic=p&commit_interval=20ms").unwrap();
        assert_eq!(c.progress_topic, "p");
        assert_eq!(c.commit_interval, Duration::from_millis(20));
        for bad in [
            "kafka://b",
            "kafka:///t",
            "kafka://b/",
            "kafka://b/a,b",
            "kafka://b/t?x=1",
            "kafka://b/t?commit_interval=soon",
            "kafka://b/t?progress_topic=t",
        ] {
            assert!(KafkaSinkConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_settings_override_tickflow_choices() {
        let mut c = KafkaSinkConfig::parse("kafka://b/out").unwrap();
        c.options.settings.insert("linger.ms".into(), "0".into());
        let p = c.producer_config();
        assert_eq!(p.get("linger.ms"), Some("0"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
    }
}
