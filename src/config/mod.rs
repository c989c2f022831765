//! The pipeline spec: a `dataflows/*.toml` file, overridden by command-line flags, validated.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::event::FieldNames;
use crate::reference::ReferenceSpec;
use crate::sink::postgres::Tables;
use crate::sink::redis::{RedisSection, RedisSettings};
use crate::sink::{Format, SinkSpec};
use crate::source::{ConnectorSettings, GeneratorSpec, KafkaOptions, ListenConfig, SourceConfig};
use crate::window::WindowSpec;

/// A spec or flag that cannot be used, naming the setting and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read pipeline spec {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("pipeline spec {path} is invalid: {message}")]
    Parse { path: String, message: String },
    #[error("invalid setting `{setting}`: {message}")]
    Invalid {
        setting: &'static str,
        message: String,
    },
}

fn invalid(setting: &'static str, message: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        setting,
        message: message.to_string(),
    }
}

/// Reads the duration `text` of `setting` (`60s`, `500ms`, `1h`), naming the setting when it is
/// not one.
pub fn duration(setting: &'static str, text: &str) -> Result<Duration, ConfigError> {
    crate::human::parse_duration(text).map_err(|message| invalid(setting, message))
}

/// The pipeline spec as written in TOML; every field optional, unknown fields refused.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpecFile {
    pub name: Option<String>,
    pub sources: Option<Vec<String>>,
    pub sinks: Option<Vec<String>>,
    pub format: Option<Format>,
    /// Where rejects go: a file path, or "stderr".
    pub rejects: Option<String>,
    pub workers: Option<usize>,
    pub max_line_bytes: Option<usize>,
    /// Producers a `listen://` source accepts at once (default 1024).
    pub max_connections: Option<usize>,
    /// Stop at the end of the input, whatever the source: Kafka partitions at their end, a
    /// `socket://` source when its server closes, a `listen://` source once its producers have
    /// all gone (what `--exit-at-end` sets; `[kafka] exit_at_end` is for Kafka alone).
    pub exit_at_end: Option<bool>,
    /// Where to serve the live page, `/api/...`, `/metrics`, `/healthz` and `/readyz` (what
    /// `--http-addr` sets; the flag wins).
    pub http_addr: Option<String>,
    /// Where each symbol's sector comes from, for `sector_average` rows: `file:PATH.csv`,
    /// `postgres://...` (with `reference_table`) or `kafka://BROKER/TOPIC` (`--reference`).
    pub reference: Option<String>,
    /// The PostgreSQL reference table (`--reference-table`).
    pub reference_table: Option<String>,
    /// How often the PostgreSQL reference table is read again (`--reference-poll`, default 5s).
    pub reference_poll: Option<String>,
    pub window: WindowSection,
    pub event_time: EventTimeSection,
    pub filter: FilterSection,
    pub fields: Option<FieldNames>,
    pub generator: Option<GeneratorSpec>,
    pub postgres: PostgresSection,
    /// Kafka client settings, typed and with their defaults (durations read as durations).
    pub kafka: KafkaOptions,
    /// The Redis sink's settings (key prefix, history length).
    pub redis: RedisSection,
}

/// The PostgreSQL sink's settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresSection {
    pub schema: Option<String>,
    pub symbol_averages: Option<String>,
    pub category_means: Option<String>,
    pub sector_averages: Option<String>,
    pub rejects: Option<String>,
    pub progress: Option<String>,
    /// How long to keep trying to reach the server (default 30s).
    pub connect_timeout: Option<String>,
    /// Commit at least this often while windows complete (default 200ms).
    pub commit_interval: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WindowSection {
    /// e.g. "60s"
    pub length: Option<String>,
    /// e.g. "1s"
    pub slide: Option<String>,
    /// Count windows: each key's last N records at every slide end (the length is unused).
    pub count: Option<usize>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventTimeSection {
    pub max_out_of_orderness: Option<String>,
    /// How far behind its partition's watermark a record may be and still correct its windows
    /// (default 0s: late records are rejects and windows are final when first emitted).
    pub allowed_lateness: Option<String>,
    pub idle_timeout: Option<String>,
    /// How far ahead of the wall clock an event time may be before it is rejected (default 1d).
    pub max_future: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilterSection {
    /// Keep readings with `value < keep_below` (default 90).
    pub keep_below: Option<f64>,
    /// Keep readings with `value > keep_above` (default: no lower bound).
    pub keep_above: Option<f64>,
    /// Keep every reading.
    pub disabled: Option<bool>,
}

impl SpecFile {
    /// Reads a spec; relative paths in it are resolved against the spec's own directory.
    pub fn load(path: &Path) -> Result<SpecFile, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: shown.clone(),
            error,
        })?;
        let mut spec: SpecFile = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: shown,
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rebase = |uri: &str, prefix: &str| match uri.strip_prefix(prefix) {
            Some(p) if Path::new(p).is_relative() => {
                format!("{prefix}{}", base.join(p).display())
            }
            _ => uri.to_string(),
        };
        if let Some(sources) = &mut spec.sources {
            sources.iter_mut().for_each(|s| *s = rebase(s, "file:"));
        }
        if let Some(sinks) = &mut spec.sinks {
            sinks.iter_mut().for_each(|s| *s = rebase(s, "file:"));
        }
        if let Some(r) = &mut spec.reference {
            *r = rebase(r, "file:");
        }
        if let Some(r) = &mut spec.rejects {
            if r != "stderr" {
                *r = rebase(r, "");
            }
        }
        if spec.name.is_none() {
            spec.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(spec)
    }
}

/// Which readings pass the outlier filter (both bounds exclusive).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReadingFilter {
    pub keep_below: Option<f64>,
    pub keep_above: Option<f64>,
}

impl ReadingFilter {
    #[inline]
    pub fn keeps(&self, value: f64) -> bool {
        self.keep_below.is_none_or(|b| value < b) && self.keep_above.is_none_or(|a| value > a)
    }
}

/// A validated pipeline: everything a run needs.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub name: String,
    /// Every source with its connector's typed config.
    pub sources: Vec<SourceConfig>,
    pub sinks: Vec<SinkSpec>,
    pub format: Format,
    /// `None`: rejects go to stderr.
    pub rejects: Option<PathBuf>,
    pub workers: usize,
    pub window: WindowSpec,
    pub max_out_of_orderness: Duration,
    pub idle_timeout: Duration,
    /// Event times further than this ahead of the wall clock are `invalid_field` rejects.
    pub max_future: Duration,
    pub filter: ReadingFilter,
    pub fields: FieldNames,
    pub max_line_bytes: usize,
    pub postgres: PostgresSettings,
    pub redis: RedisSettings,
    /// Where each symbol's sector comes from; `None`: no `sector_average` rows.
    pub reference: Option<ReferenceSpec>,
}

/// Validated PostgreSQL sink settings.
#[derive(Clone, Debug)]
pub struct PostgresSettings {
    pub tables: Tables,
    pub connect_timeout: Duration,
    pub commit_interval: Duration,
}

/// Default line limit: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1 << 20;

impl Pipeline {
    /// Validates a spec (already merged with command-line overrides).
    pub fn from_spec(spec: SpecFile) -> Result<Pipeline, ConfigError> {
        let kafka_settings = spec.kafka.clone();
        let reference_poll = spec
            .reference_poll
            .as_deref()
            .map(|text| duration("reference_poll", text))
            .transpose()?;
        let reference = match &spec.reference {
            Some(uri) => Some(
                ReferenceSpec::parse(
                    uri,
                    spec.reference_table.as_deref(),
                    reference_poll,
                    &kafka_settings.settings,
                )
                .map_err(|e| invalid("reference", e))?,
            ),
            None if spec.reference_table.is_some() || reference_poll.is_some() => {
                return Err(invalid(
                    "reference",
                    "--reference-table and --reference-poll need --reference postgres://...",
                ))
            }
            None => None,
        };
        let connectors = ConnectorSettings {
            generator: spec.generator.unwrap_or_default(),
            kafka: spec.kafka,
            exit_at_end: spec.exit_at_end.unwrap_or(false),
            max_connections: spec
                .max_connections
                .unwrap_or(ListenConfig::DEFAULT_MAX_CONNECTIONS),
        };
        let sources = spec
            .sources
            .unwrap_or_else(|| vec!["generator".into()])
            .iter()
            .map(|s| SourceConfig::parse(s, &connectors).map_err(|e| invalid("source", e)))
            .collect::<Result<Vec<_>, _>>()?;
        if sources.is_empty() {
            return Err(invalid("source", "at least one source is needed"));
        }
        if sources
            .iter()
            .filter(|s| **s == SourceConfig::Stdin)
            .count()
            > 1
        {
            return Err(invalid("source", "stdin can be read only once"));
        }
        let mut sinks = spec
            .sinks
            .unwrap_or_else(|| vec!["stdout".into()])
            .iter()
            .map(|s| SinkSpec::parse(s).map_err(|e| invalid("sink", e)))
            .collect::<Result<Vec<_>, _>>()?;
        for sink in &mut sinks {
            // A Kafka sink's producer takes the same `[kafka]`/`-X` settings as the consumers.
            if let SinkSpec::Kafka(k) = sink {
                k.options = kafka_settings.clone();
                if spec.format == Some(Format::Csv) {
                    return Err(invalid(
                        "format",
                        format!("{k} takes JSON rows only; drop --format csv or write CSV to a file sink in another run"),
                    ));
                }
            }
        }
        let duration = |setting: &'static str, text: Option<String>, default: &str| {
            duration(setting, text.as_deref().unwrap_or(default))
        };
        let length = duration("window.length", spec.window.length, "60s")?;
        let slide = duration("window.slide", spec.window.slide, "1s")?;
        let allowed_lateness = duration(
            "event_time.allowed_lateness",
            spec.event_time.allowed_lateness,
            "0s",
        )?;
        let window = WindowSpec::new(length, slide)
            .and_then(|w| w.with_allowed_lateness(allowed_lateness))
            .and_then(|w| match spec.window.count {
                Some(n) => w.with_count(n),
                None => Ok(w),
            })
            .map_err(|e| invalid("window", e))?;
        if reference.is_some() && window.count().is_some() {
            // A count window's row is no span of time: there is no window end to take the
            // mapping as of, and no sum of its symbols' rows that means anything.
            return Err(invalid(
                "reference",
                "sector rollups need time windows: drop --reference or --count-window",
            ));
        }
        let max_out_of_orderness = duration(
            "event_time.max_out_of_orderness",
            spec.event_time.max_out_of_orderness,
            "5s",
        )?;
        let idle_timeout = duration(
            "event_time.idle_timeout",
            spec.event_time.idle_timeout,
            "10s",
        )?;
        let max_future = duration("event_time.max_future", spec.event_time.max_future, "1d")?;
        let filter = if spec.filter.disabled == Some(true) {
            ReadingFilter {
                keep_below: None,
                keep_above: None,
            }
        } else {
            ReadingFilter {
                keep_below: Some(spec.filter.keep_below.unwrap_or(90.0)),
                keep_above: spec.filter.keep_above,
            }
        };
        for (setting, bound) in [
            ("filter.keep_below", filter.keep_below),
            ("filter.keep_above", filter.keep_above),
        ] {
            if bound.is_some_and(|b| !b.is_finite()) {
                return Err(invalid(setting, "must be a finite number"));
            }
        }
        let fields = spec.fields.unwrap_or_default();
        fields.validate().map_err(|e| invalid("fields", e))?;
        for source in &sources {
            if let SourceConfig::Generator(generator) = source {
                generator.validate().map_err(|e| invalid("generator", e))?;
            }
        }
        let workers = spec.workers.unwrap_or(1);
        if workers == 0 || workers > 1024 {
            return Err(invalid(
                "workers",
                format!("{workers} is not between 1 and 1024"),
            ));
        }
        let max_line_bytes = spec.max_line_bytes.unwrap_or(DEFAULT_MAX_LINE_BYTES);
        if max_line_bytes < 64 {
            return Err(invalid("max_line_bytes", "must be at least 64"));
        }
        let pg = spec.postgres;
        let defaults = Tables::default();
        let tables = Tables {
            schema: pg.schema.unwrap_or(defaults.schema),
            symbol_averages: pg.symbol_averages.unwrap_or(defaults.symbol_averages),
            category_means: pg.category_means.unwrap_or(defaults.category_means),
            sector_averages: pg.sector_averages.unwrap_or(defaults.sector_averages),
            rejects: pg.rejects.unwrap_or(defaults.rejects),
            progress: pg.progress.unwrap_or(defaults.progress),
        };
        tables.validate().map_err(|e| invalid("postgres", e))?;
        let postgres = PostgresSettings {
            tables,
            connect_timeout: duration("postgres.connect_timeout", pg.connect_timeout, "30s")?,
            commit_interval: duration("postgres.commit_interval", pg.commit_interval, "200ms")?,
        };
        let redis = spec.redis.validate()?;
        let keeping: Vec<String> = sinks
            .iter()
            .filter(|s| s.keeps_progress())
            .map(ToString::to_string)
            .collect();
        if keeping.len() > 1 {
            return Err(invalid(
                "sink",
                format!(
                    "at most one sink that keeps progress (PostgreSQL, Kafka or Redis) per pipeline, got {}; run one pipeline per such sink",
                    keeping.join(" and ")
                ),
            ));
        }
        let name = spec.name.unwrap_or_else(|| derived_name(&sources));
        if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
            return Err(invalid(
                "pipeline",
                format!("{name:?} is not a usable pipeline name"),
            ));
        }
        Ok(Pipeline {
            name,
            sources,
            sinks,
            format: spec.format.unwrap_or_default(),
            rejects: spec.rejects.filter(|r| r != "stderr").map(PathBuf::from),
            workers,
            window,
            max_out_of_orderness,
            idle_timeout,
            max_future,
            filter,
            fields,
            max_line_bytes,
            postgres,
            redis,
            reference,
        })
    }

    /// Whether every source can be read again from a saved position, so that results
    /// committed to PostgreSQL can be exactly-once across restarts.
    pub fn replayable(&self) -> bool {
        self.sources.iter().all(SourceConfig::replayable)
    }

    /// The pipeline's Kafka sources.
    pub fn kafka_sources(&self) -> impl Iterator<Item = &crate::source::KafkaConfig> {
        self.sources.iter().filter_map(|s| match s {
            SourceConfig::Kafka(k) => Some(k),
            _ => None,
        })
    }
}

/// A pipeline name from its sources when the spec gives none: `ticks` for `file:ticks.jsonl`.
fn derived_name(sources: &[SourceConfig]) -> String {
    let parts: Vec<String> = sources
        .iter()
        .map(|s| match s {
            SourceConfig::File(p) => p
                .file_stem()
                .map_or_else(|| "file".into(), |s| s.to_string_lossy().into_owned()),
            SourceConfig::Kafka(k) => k.topics.join("+"),
            SourceConfig::Socket(s) => s.address.replace(':', "-"),
            SourceConfig::Listen(l) => l.address.replace(':', "-"),
            other => other.to_string(),
        })
        .collect();
    parts.join("+")
}

#[cfg(test)]
mod tests;
