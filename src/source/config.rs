//! Each source's typed config, parsed once from its `--source` URI and the spec's settings.

use std::fmt;
use std::path::PathBuf;

use super::kafka::{KafkaConfig, KafkaOptions};
use super::socket::{ListenConfig, SocketConfig};
use super::GeneratorSpec;

/// One source of a pipeline, with everything its connector needs: the registry of connectors
/// is a `match` on this.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceConfig {
    /// `generator`: synthetic ticks and readings.
    Generator(GeneratorSpec),
    /// `file:PATH`: a newline-delimited file, split by byte ranges over all workers.
    File(PathBuf),
    /// `-` (or `stdin`): standard input, read by the first worker.
    Stdin,
    /// `kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]`
    Kafka(KafkaConfig),
    /// `socket://HOST:PORT`: connect to a producer that serves a stream.
    Socket(SocketConfig),
    /// `listen://HOST:PORT`: accept producers (127.0.0.1 when HOST is empty).
    Listen(ListenConfig),
}

/// The spec's settings (merged with their flags) that complete a source URI: each connector
/// takes its own part.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorSettings {
    /// The `[generator]` section.
    pub generator: GeneratorSpec,
    /// The `[kafka]` section (its `exit_at_end` also follows `exit_at_end` below).
    pub kafka: KafkaOptions,
    /// Stop at the end of the input (`--exit-at-end`, or `exit_at_end` at the top of a spec):
    /// sockets when the server closes, listeners once their producers have all gone, Kafka
    /// partitions at their end.
    pub exit_at_end: bool,
    /// Producers a `listen://` source accepts at once (at least one).
    pub max_connections: usize,
}

impl Default for ConnectorSettings {
    fn default() -> Self {
        ConnectorSettings {
            generator: GeneratorSpec::default(),
            kafka: KafkaOptions::default(),
            exit_at_end: false,
            max_connections: ListenConfig::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A `--source` value that names no known source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown source {0:?}: expected `generator`, `file:PATH`, `-` (stdin), `kafka://BROKER/TOPIC`, `socket://HOST:PORT` or `listen://HOST:PORT`")]
pub struct UnknownSource(pub String);

impl SourceConfig {
    /// Parses a source URI, taking what it leaves open from `settings`.
    pub fn parse(uri: &str, settings: &ConnectorSettings) -> Result<SourceConfig, UnknownSource> {
        let unknown = || UnknownSource(uri.to_string());
        let exit_at_end = settings.exit_at_end;
        if uri == "generator" {
            return Ok(SourceConfig::Generator(settings.generator.clone()));
        }
        if uri == "-" || uri == "stdin" {
            return Ok(SourceConfig::Stdin);
        }
        if let Some(rest) = uri.strip_prefix("kafka://") {
            let mut options = settings.kafka.clone();
            options.exit_at_end |= exit_at_end;
            return KafkaConfig::parse(rest, &options)
                .map(SourceConfig::Kafka)
                .ok_or_else(unknown);
        }
        if let Some(address) = uri.strip_prefix("socket://") {
            return match address.contains(':') {
                true => Ok(SourceConfig::Socket(SocketConfig::new(
                    address,
                    exit_at_end,
                ))),
                false => Err(unknown()),
            };
        }
        if let Some(address) = uri.strip_prefix("listen://") {
            let address = match address {
                a if a.starts_with(':') => format!("127.0.0.1{a}"),
                a if a.contains(':') => a.to_string(),
                _ => return Err(unknown()),
            };
            return Ok(SourceConfig::Listen(ListenConfig {
                address,
                max_connections: settings.max_connections.max(1),
                exit_at_end,
            }));
        }
        match uri.strip_prefix("file:") {
            Some(path) if !path.is_empty() => Ok(SourceConfig::File(PathBuf::from(path))),
            _ => Err(unknown()),
        }
    }

    /// Whether the source can be read again from a saved position (files, Kafka), so that
    /// results committed by a durable sink can be exactly-once across restarts.
    pub fn replayable(&self) -> bool {
        matches!(self, SourceConfig::File(_) | SourceConfig::Kafka(_))
    }
}

impl fmt::Display for SourceConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceConfig::Generator(_) => f.write_str("generator"),
            SourceConfig::File(p) => write!(f, "file:{}", p.display()),
            SourceConfig::Stdin => f.write_str("stdin"),
            SourceConfig::Kafka(k) => k.fmt(f),
            SourceConfig::Socket(s) => write!(f, "socket://{}", s.address),
            SourceConfig::Listen(l) => write!(f, "listen://{}", l.address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris() {
        let settings = ConnectorSettings::default();
        let parse = |uri| SourceConfig::parse(uri, &settings);
        assert_eq!(
            parse("generator"),
            Ok(SourceConfig::Generator(GeneratorSpec::default()))
        );
        assert_eq!(parse("-"), Ok(SourceConfig::Stdin));
        assert_eq!(
            parse("file:a/b.jsonl"),
            Ok(SourceConfig::File("a/b.jsonl".into()))
        );
        assert!(parse("file:").is_err());
        assert!(parse("kafka").is_err());
    }

    #[test]
    fn exit_at_end_reaches_every_connector_and_kafka_alone_only_kafka() {
        let everywhere = ConnectorSettings {
            exit_at_end: true,
            ..ConnectorSettings::default()
        };
        let kafka_only = ConnectorSettings {
            kafka: KafkaOptions {
                exit_at_end: true,
                ..KafkaOptions::default()
            },
            ..ConnectorSettings::default()
        };
        let exits = |uri, settings: &ConnectorSettings| match SourceConfig::parse(uri, settings)
            .expect("a valid URI")
        {
            SourceConfig::Kafka(k) => k.options.exit_at_end,
            SourceConfig::Socket(s) => s.exit_at_end,
            SourceConfig::Listen(l) => l.exit_at_end,
            other => panic!("{other} has no end"),
        };
        for uri in ["kafka://b:9092/t", "socket://h:1", "listen://:1"] {
            assert!(exits(uri, &everywhere), "{uri}");
            assert_eq!(exits(uri, &kafka_only), uri.starts_with("kafka"), "{uri}");
        }
    }

    #[test]
    fn listen_without_a_host_is_loopback() {
        let settings = ConnectorSettings {
            max_connections: 7,
            ..ConnectorSettings::default()
        };
        assert_eq!(
            SourceConfig::parse("listen://:9000", &settings),
            Ok(SourceConfig::Listen(ListenConfig {
                address: "127.0.0.1:9000".into(),
                max_connections: 7,
                exit_at_end: false,
            }))
        );
        assert!(SourceConfig::parse("listen://9000", &settings).is_err());
        assert!(SourceConfig::parse("socket://nohost", &settings).is_err());
    }
}
