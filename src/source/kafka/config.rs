//! A Kafka source's typed config: its `kafka://` URI and the `[kafka]` settings, defaults beside.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::human::serde_duration;

/// Where a pipeline without saved progress starts reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StartOffset {
    #[default]
    Earliest,
    Latest,
}

/// Kafka client settings shared by all Kafka sources of a pipeline: the spec's `[kafka]`
/// section, which `-X`, `--group-id`, `--start-offset`, `--exit-at-end`, `--kafka-timeout`
/// and `--partition-discovery-interval` override. Every field has its default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaOptions {
    /// `-X key=value` settings passed to librdkafka as they are (SASL, TLS, timeouts...).
    pub settings: BTreeMap<String, String>,
    /// Consumer group whose committed offsets mirror progress (for lag monitoring only).
    pub group_id: Option<String>,
    pub start_offset: StartOffset,
    /// End a partition at its first end-of-partition (also set by `--exit-at-end`).
    pub exit_at_end: bool,
    /// How long to keep trying to reach the brokers at start-up (default 30s).
    #[serde(
        serialize_with = "serde_duration::serialize",
        deserialize_with = "connect_timeout"
    )]
    pub connect_timeout: Duration,
    /// How often to look for new partitions while running (default 10s; zero: never).
    #[serde(
        rename = "partition_discovery_interval",
        serialize_with = "serde_duration::serialize",
        deserialize_with = "discovery_interval"
    )]
    pub discovery_interval: Duration,
}

fn connect_timeout<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    serde_duration::deserialize_setting("kafka.connect_timeout", d)
}

fn discovery_interval<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    serde_duration::deserialize_setting("kafka.partition_discovery_interval", d)
}

impl KafkaOptions {
    /// `connect_timeout` when neither the spec nor a flag sets it, as a flag's default is
    /// written.
    pub const DEFAULT_CONNECT_TIMEOUT: &'static str = "30s";
    /// `partition_discovery_interval` when neither the spec nor a flag sets it.
    pub const DEFAULT_DISCOVERY_INTERVAL: Duration = Duration::from_secs(10);

    fn default_connect_timeout() -> Duration {
        humantime::parse_duration(Self::DEFAULT_CONNECT_TIMEOUT).expect("a valid duration literal")
    }
}

impl Default for KafkaOptions {
    fn default() -> Self {
        KafkaOptions {
            settings: BTreeMap::new(),
            group_id: None,
            start_offset: StartOffset::Earliest,
            exit_at_end: false,
            connect_timeout: Self::default_connect_timeout(),
            discovery_interval: Self::DEFAULT_DISCOVERY_INTERVAL,
        }
    }
}

/// A `-X` value that is not `KEY=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("-X {0:?} is not KEY=VALUE; write e.g. -X security.protocol=SASL_SSL")]
pub struct BadSetting(pub String);

/// Reads one `-X KEY=VALUE` (the key trimmed, the value as it is): the one place `run` and
/// `produce` split their `-X` settings, as clap's value parser.
pub fn parse_setting(kv: &str) -> Result<(String, String), BadSetting> {
    match kv.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(BadSetting(kv.to_string())),
    }
}

/// One Kafka source: `kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]` with the pipeline's
/// Kafka settings.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`, as written in the URI.
    pub brokers: String,
    pub topics: Vec<String>,
    pub options: KafkaOptions,
}

impl KafkaConfig {
    /// Parses the part after `kafka://`; `None` without a broker or a topic.
    pub fn parse(rest: &str, options: &KafkaOptions) -> Option<KafkaConfig> {
        let (brokers, topics) = rest.split_once('/')?;
        let topics: Vec<String> = topics
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect();
        (!brokers.is_empty() && !topics.is_empty()).then(|| KafkaConfig {
            brokers: brokers.to_string(),
            topics,
            options: options.clone(),
        })
    }

    /// The source name of one topic, as rejects and progress rows carry it.
    pub fn source_name(&self, topic: &str) -> String {
        format!("kafka://{}/{topic}", self.brokers)
    }
}

impl fmt::Display for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka://{}/{}", self.brokers, self.topics.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let options = KafkaOptions::default();
        assert_eq!(
            KafkaConfig::parse("b1:9092,b2:9092/ticks,more", &options),
            Some(KafkaConfig {
                brokers: "b1:9092,b2:9092".into(),
                topics: vec!["ticks".into(), "more".into()],
                options: options.clone(),
            })
        );
        assert_eq!(KafkaConfig::parse("b1:9092", &options), None);
        assert_eq!(KafkaConfig::parse("/t", &options), None);
        assert_eq!(KafkaConfig::parse("b/", &options), None);
    }

    #[test]
    fn settings_are_key_equals_value() {
        assert_eq!(
            parse_setting(" linger.ms =5=6"),
            Ok(("linger.ms".into(), "5=6".into()))
        );
        assert_eq!(parse_setting("a="), Ok(("a".into(), String::new())));
        let bad = parse_setting("linger.ms").unwrap_err().to_string();
        assert!(
            bad.contains("\"linger.ms\"") && bad.contains("KEY=VALUE"),
            "{bad}"
        );
        assert!(parse_setting("=5").is_err());
    }

    #[test]
    fn durations_are_read_as_durations_with_defaults() {
        let o: KafkaOptions = toml::from_str("").unwrap();
        assert_eq!(o.connect_timeout, Duration::from_secs(30));
        assert_eq!(o.discovery_interval, Duration::from_secs(10));
        let o: KafkaOptions =
            toml::from_str("connect_timeout = '2s'\npartition_discovery_interval = '0s'").unwrap();
        assert_eq!(o.connect_timeout, Duration::from_secs(2));
        assert!(o.discovery_interval.is_zero());
        let bad = toml::from_str::<KafkaOptions>("connect_timeout = 'soon'")
            .unwrap_err()
            .to_string();
        assert!(
            bad.contains("invalid setting `kafka.connect_timeout`: \"soon\" is not a duration"),
            "{bad}"
        );
    }
}
