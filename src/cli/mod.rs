//! Command-line interface: `tickflow run`, `tickflow check`, `tickflow bench`, `tickflow produce`.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

mod bench;

pub use bench::BenchArgs;

use crate::config::{duration, ConfigError, SpecFile};
use crate::event::FieldNames;
use crate::sink::Format;
use crate::source::{parse_setting, GeneratorSpec, KafkaOptions, Kinds};

/// Event-time moving averages and category means over streams.
#[derive(Debug, Parser)]
#[command(name = "tickflow", version, about, propagate_version = true)]
pub struct Cli {
    /// How log lines on stderr look: `text` (coloured only on a terminal, and not with
    /// NO_COLOR set) or `json` (one object a line).
    #[arg(long, value_enum, global = true, default_value = "text")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

/// The shape of log lines on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object a line, with `timestamp`, `level`, `target` and `fields`.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline; with no arguments, the live demo (generator to stdout).
    Run(Box<RunArgs>),
    /// Measure throughput of the whole dataflow with output discarded.
    Bench(BenchArgs),
    /// Write synthetic ticks or readings to stdout or a Kafka topic.
    Produce(ProduceArgs),
    /// Reach every source and sink a pipeline names (same spec and flags as `run`) and say
    /// per component `ok` or `FAILED` with the reason; writes nothing; exits 0 only if all
    /// are usable.
    Check(Box<RunArgs>),
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// `stdout`, `kafka://BROKER[,BROKER...]/TOPIC`, `socket://HOST:PORT` (connect and send) or
    /// `listen://HOST:PORT` (serve the stream to every client that connects).
    #[arg(long, default_value = "stdout")]
    pub to: String,
    /// Which records to write.
    #[arg(long, value_enum, default_value_t = GeneratorSpec::for_produce().kinds)]
    pub kind: Kinds,
    /// Events per second (0: as fast as the target takes them).
    #[arg(long, default_value_t = GeneratorSpec::for_produce().rate)]
    pub rate: f64,
    /// Events per second of event time (default: --rate, or 2000 when --rate is 0).
    #[arg(long)]
    pub event_rate: Option<f64>,
    /// Stop after this many events (default: run until stopped).
    #[arg(long)]
    pub events: Option<u64>,
    /// Number of symbols (SYM001, ...).
    #[arg(long, default_value_t = GeneratorSpec::for_produce().symbols)]
    pub symbols: usize,
    /// Reading categories, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = GeneratorSpec::DEFAULT_CATEGORIES)]
    pub categories: Vec<String>,
    /// Random seed.
    #[arg(long, default_value_t = GeneratorSpec::for_produce().seed)]
    pub seed: u64,
    /// Event time of the first event (RFC 3339) or `now`.
    #[arg(long, default_value_t = GeneratorSpec::for_produce().start)]
    pub start: String,
    /// Kafka producer setting passed to librdkafka as is; repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub kafka_settings: Vec<(String, String)>,
    /// How long to keep trying to reach the Kafka brokers at start, and to wait for the broker
    /// to acknowledge an event, before failing.
    #[arg(long, value_name = "DURATION", default_value = KafkaOptions::DEFAULT_CONNECT_TIMEOUT, value_parser = humantime::parse_duration)]
    pub kafka_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Pipeline spec (TOML, see dataflows/); flags override it.
    pub spec: Option<PathBuf>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print a progress line to stderr every 2 s (default: on for a terminal or a live generator).
    #[arg(long, conflicts_with = "quiet")]
    pub progress: bool,
    /// No progress line and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Serve a read-only live page at http://ADDR/ (watermarks, lag, rejects, a chart of
    /// chosen keys), its JSON at /api/..., Prometheus metrics at /metrics, /healthz and
    /// /readyz; e.g. 127.0.0.1:9898, or a bare port for 127.0.0.1 (--metrics-addr: the same).
    #[arg(long, value_name = "ADDR", visible_alias = "metrics-addr")]
    pub http_addr: Option<String>,
    /// Print help.
    #[arg(long, action = ArgAction::Help)]
    pub help: Option<bool>,
}

/// What `run -h` without a file says: `-h` is timely's hostfile flag, not help.
pub const HOSTFILE_NOT_HELP: &str =
    "-h is --hostfile (timely's convention) and needs a file; for help use --help";

/// Whether a command-line error is `-h` (or `--hostfile`) given without its file, as someone
/// asking for help with `-h` would.
pub fn is_hostfile_without_value(error: &clap::Error) -> bool {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    matches!(error.kind(), ErrorKind::InvalidValue | ErrorKind::NoEquals)
        && matches!(
            error.get(ContextKind::InvalidArg),
            Some(ContextValue::String(arg)) if arg.starts_with("--hostfile")
        )
}

/// timely's process-cluster flags (`-h` is the hostfile, so help is `--help` only).
#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Number of processes in the cluster.
    #[arg(short = 'n', long = "processes", value_name = "P")]
    pub processes: Option<usize>,
    /// This process's index, 0 to P-1.
    #[arg(short = 'p', long = "process", value_name = "I")]
    pub process: Option<usize>,
    /// File listing `host:port` of every process, one a line, in process order.
    #[arg(short = 'h', long = "hostfile", value_name = "HOSTFILE")]
    pub hostfile: Option<PathBuf>,
    /// Start P processes of this pipeline on loopback ports (a cluster on one machine); Ctrl-C
    /// reaches them all; exits non-zero if any fails.
    #[arg(long, value_name = "P", conflicts_with_all = ["processes", "process", "hostfile"])]
    pub local_cluster: Option<usize>,
}

/// Flags that override the pipeline spec.
#[derive(Debug, Args, Clone, Default)]
pub struct PipelineArgs {
    /// Input, repeatable: `generator` (synthetic ticks and readings), `file:PATH`, `-` (stdin),
    /// `kafka://BROKER[,BROKER...]/TOPIC[,TOPIC...]`, `socket://HOST:PORT` (connect to a
    /// producer) or `listen://ADDR:PORT` (accept producers; `listen://:PORT` is loopback).
    #[arg(long = "source", value_name = "URI")]
    pub sources: Vec<String>,
    /// Output, repeatable: `stdout`, `file:PATH`, `discard`, `postgres://USER@HOST:PORT/DB`
    /// (or `postgresql://`), a libpq key/value string (`"host=H port=P user=U dbname=D"`);
    /// TLS as libpq: `?sslmode=verify-full&sslrootcert=CA.pem` (also `sslcert`, `sslkey`,
    /// `PGSSLMODE`...; default `prefer`),
    /// `kafka://BROKER[,BROKER]/TOPIC[?progress_topic=NAME]` (one message per row) or
    /// `redis://[USER:PASSWORD@]HOST:PORT[/DB]`.
    #[arg(long = "sink", value_name = "URI")]
    pub sinks: Vec<String>,
    /// Output format of stdout and file sinks.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Where rejected and late records go (JSON lines); default stderr.
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<String>,
    /// Worker threads. A pipeline with saved progress may restart with another number, and
    /// another number of processes: progress is kept per Kafka partition and file split.
    #[arg(short = 'w', long = "workers", value_name = "N")]
    pub workers: Option<usize>,
    /// Pipeline name, keying its progress in PostgreSQL (default: the spec's file name, or the
    /// input files' names).
    #[arg(long = "pipeline", value_name = "NAME")]
    pub name: Option<String>,
    /// Forget the pipeline's saved progress in PostgreSQL and start from the beginning.
    #[arg(long)]
    pub restart: bool,
    /// PostgreSQL schema for the tables (default `public`).
    #[arg(long, value_name = "SCHEMA")]
    pub pg_schema: Option<String>,
    /// How long to keep trying to reach PostgreSQL, at start and after losing it (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub pg_connect_timeout: Option<String>,
    /// Commit to PostgreSQL at least this often while windows complete (default 200ms).
    #[arg(long, value_name = "DURATION")]
    pub pg_commit_interval: Option<String>,
    /// Redis sink: entries kept in each key's history stream (default 3600; 0: no history).
    #[arg(long, value_name = "N")]
    pub redis_history: Option<u64>,
    /// Redis sink: prefix of every key (default `tickflow:`).
    #[arg(long, value_name = "PREFIX")]
    pub redis_prefix: Option<String>,
    /// Redis sink: `PUBLISH {prefix}updates` after each commit, for live subscribers.
    #[arg(long)]
    pub redis_publish: bool,
    /// Reference data for `sector_average` rows: `file:PATH.csv` (header
    /// `symbol,sector[,valid_from]`), `postgres://...` with --reference-table, or
    /// `kafka://BROKER/TOPIC` (a compacted topic keyed by symbol).
    #[arg(long, value_name = "URI")]
    pub reference: Option<String>,
    /// The PostgreSQL reference table (columns symbol text, sector text, valid_from timestamptz).
    #[arg(long, value_name = "NAME")]
    pub reference_table: Option<String>,
    /// How often the PostgreSQL reference table is read again (default 5s).
    #[arg(long, value_name = "DURATION")]
    pub reference_poll: Option<String>,
    /// Window length, e.g. 60s.
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,
    /// Window slide, e.g. 1s; equal to --window for tumbling windows.
    #[arg(long, value_name = "DURATION")]
    pub slide: Option<String>,
    /// Count windows: at each slide end, each key's last N records (ticks ordered by time,
    /// then price, then volume) instead of a time span.
    #[arg(long, value_name = "N")]
    pub count_window: Option<usize>,
    /// How far out of order events may arrive before they are late.
    #[arg(long, value_name = "DURATION")]
    pub max_out_of_orderness: Option<String>,
    /// Records behind their partition's watermark by at most this still count: the windows they
    /// belong to are emitted again with `revision` + 1 (default 0s: they are late rejects).
    #[arg(long, value_name = "DURATION")]
    pub allowed_lateness: Option<String>,
    /// Wall time without input after which a partition stops holding back the watermark.
    #[arg(long, value_name = "DURATION")]
    pub idle_timeout: Option<String>,
    /// Event times further than this ahead of the wall clock are rejected (default 1d).
    #[arg(long, value_name = "DURATION")]
    pub max_future: Option<String>,
    /// Unit of numeric timestamps (default auto: 1e11 or more is ms, 1e14 us, 1e17 ns).
    #[arg(long, value_enum, value_name = "UNIT")]
    pub timestamp_unit: Option<crate::event::TimestampUnit>,
    /// Keep readings with value below this (default 90).
    #[arg(long, value_name = "X")]
    pub keep_below: Option<f64>,
    /// Keep readings with value above this.
    #[arg(long, value_name = "X")]
    pub keep_above: Option<f64>,
    /// Keep every reading (no outlier filter).
    #[arg(long, conflicts_with_all = ["keep_below", "keep_above"])]
    pub no_filter: bool,
    /// Lines longer than this many bytes are rejected.
    #[arg(long, value_name = "BYTES")]
    pub max_line_bytes: Option<usize>,
    /// Producers a `listen://` source accepts at once.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Input key of the event time (default `timestamp`).
    #[arg(long, value_name = "KEY")]
    pub timestamp_field: Option<String>,
    /// Input key of a tick's symbol (default `stock_code`).
    #[arg(long, value_name = "KEY")]
    pub symbol_field: Option<String>,
    /// Input key of a tick's price (default `price`).
    #[arg(long, value_name = "KEY")]
    pub price_field: Option<String>,
    /// Input key of a tick's volume (default `volume`).
    #[arg(long, value_name = "KEY")]
    pub volume_field: Option<String>,
    /// Input key of a reading's value (default `value`).
    #[arg(long, value_name = "KEY")]
    pub value_field: Option<String>,
    /// Input key of a reading's category (default `category`).
    #[arg(long, value_name = "KEY")]
    pub category_field: Option<String>,
    /// Kafka client setting passed to librdkafka as is, TLS and SASL included
    /// (`-X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN`); repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    pub kafka_settings: Vec<(String, String)>,
    /// Kafka consumer group whose offsets mirror committed progress (for lag monitoring).
    #[arg(long, value_name = "GROUP")]
    pub group_id: Option<String>,
    /// Where Kafka partitions without saved progress start.
    #[arg(long, value_enum)]
    pub start_offset: Option<crate::source::StartOffset>,
    /// Stop at the end of the input: every Kafka partition at its end, a `socket://` source
    /// when the server closes, a `listen://` source once its producers have all gone
    /// (`exit_at_end = true` in a spec).
    #[arg(long)]
    pub exit_at_end: bool,
    /// How long to keep trying to reach the Kafka brokers at start (default 30s).
    #[arg(long, value_name = "DURATION")]
    pub kafka_timeout: Option<String>,
    /// How often to look for new partitions of the Kafka topics while running (default 10s;
    /// 0s: never). Not done with --exit-at-end, which reads the partitions there were at start.
    #[arg(long, value_name = "DURATION")]
    pub partition_discovery_interval: Option<String>,
    #[command(flatten)]
    pub generator: GeneratorArgs,
}

/// Generator settings.
#[derive(Debug, Args, Clone, Default)]
pub struct GeneratorArgs {
    /// Generator: events per second (0 = as fast as possible; event time then advances 0.5 ms
    /// per event).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Generator: events per second of event time (default: --rate, or 2000 when --rate is 0).
    #[arg(long)]
    pub event_rate: Option<f64>,
    /// Generator: stop after this many events.
    #[arg(long)]
    pub events: Option<u64>,
    /// Generator: number of symbols (SYM001, SYM002, ...).
    #[arg(long)]
    pub symbols: Option<usize>,
    /// Generator: reading categories, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub categories: Option<Vec<String>>,
    /// Generator: random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Generator: which records to make.
    #[arg(long, value_enum)]
    pub kind: Option<Kinds>,
    /// Generator: event time of the first event (RFC 3339) or `now`.
    #[arg(long)]
    pub start: Option<String>,
}

impl PipelineArgs {
    /// Writes every flag that was given over the spec; a duration flag that is not one is an
    /// error naming its setting.
    pub fn apply(&self, spec: &mut SpecFile) -> Result<(), ConfigError> {
        fn set<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
            if value.is_some() {
                slot.clone_from(value);
            }
        }
        if !self.sources.is_empty() {
            spec.sources = Some(self.sources.clone());
        }
        if !self.sinks.is_empty() {
            spec.sinks = Some(self.sinks.clone());
        }
        set(&mut spec.format, &self.format);
        set(&mut spec.rejects, &self.rejects);
        set(&mut spec.workers, &self.workers);
        set(&mut spec.name, &self.name);
        set(&mut spec.max_line_bytes, &self.max_line_bytes);
        set(&mut spec.max_connections, &self.max_connections);
        set(&mut spec.postgres.schema, &self.pg_schema);
        set(&mut spec.postgres.connect_timeout, &self.pg_connect_timeout);
        set(&mut spec.postgres.commit_interval, &self.pg_commit_interval);
        set(&mut spec.redis.history, &self.redis_history);
        set(&mut spec.redis.prefix, &self.redis_prefix);
        if self.redis_publish {
            spec.redis.publish = Some(true);
        }
        spec.kafka
            .settings
            .extend(self.kafka_settings.iter().cloned());
        set(&mut spec.kafka.group_id, &self.group_id);
        if let Some(start) = self.start_offset {
            spec.kafka.start_offset = start;
        }
        if let Some(text) = &self.kafka_timeout {
            spec.kafka.connect_timeout = duration("kafka.connect_timeout", text)?;
        }
        if let Some(text) = &self.partition_discovery_interval {
            spec.kafka.discovery_interval = duration("kafka.partition_discovery_interval", text)?;
        }
        if self.exit_at_end {
            spec.exit_at_end = Some(true);
        }
        set(&mut spec.reference, &self.reference);
        set(&mut spec.reference_table, &self.reference_table);
        set(&mut spec.reference_poll, &self.reference_poll);
        set(&mut spec.window.length, &self.window);
        set(&mut spec.window.slide, &self.slide);
        set(&mut spec.window.count, &self.count_window);
        set(
            &mut spec.event_time.max_out_of_orderness,
            &self.max_out_of_orderness,
        );
        set(&mut spec.event_time.idle_timeout, &self.idle_timeout);
        set(
            &mut spec.event_time.allowed_lateness,
            &self.allowed_lateness,
        );
        set(&mut spec.event_time.max_future, &self.max_future);
        if self.no_filter {
            spec.filter.disabled = Some(true);
        }
        if self.keep_below.is_some() || self.keep_above.is_some() {
            spec.filter.disabled = Some(false);
        }
        set(&mut spec.filter.keep_below, &self.keep_below);
        set(&mut spec.filter.keep_above, &self.keep_above);
        let fields = spec.fields.get_or_insert_with(FieldNames::default);
        for (slot, value) in [
            (&mut fields.timestamp, &self.timestamp_field),
            (&mut fields.symbol, &self.symbol_field),
            (&mut fields.price, &self.price_field),
            (&mut fields.volume, &self.volume_field),
            (&mut fields.value, &self.value_field),
            (&mut fields.category, &self.category_field),
        ] {
            if let Some(v) = value {
                slot.clone_from(v);
            }
        }
        if let Some(unit) = self.timestamp_unit {
            fields.timestamp_unit = unit;
        }
        let g = &self.generator;
        let gen = spec.generator.get_or_insert_with(GeneratorSpec::default);
        if let Some(v) = g.rate {
            gen.rate = v;
        }
        if g.events.is_some() {
            gen.events = g.events;
        }
        if g.event_rate.is_some() {
            gen.event_rate = g.event_rate;
        }
        if let Some(v) = g.symbols {
            gen.symbols = v;
        }
        if let Some(v) = &g.categories {
            gen.categories.clone_from(v);
        }
        if let Some(v) = g.seed {
            gen.seed = v;
        }
        if let Some(v) = g.kind {
            gen.kinds = v;
        }
        if let Some(v) = &g.start {
            gen.start.clone_from(v);
        }
        Ok(())
    }
}
