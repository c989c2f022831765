//! Flags of `tickflow bench`.

use clap::Args;

/// `tickflow bench`: the throughput of the whole dataflow, one configuration at a time, or the
/// suite of them.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Input: `generator` (default), `file:PATH` or `kafka://BROKER[,BROKER...]/TOPIC` (read
    /// to its end).
    #[arg(long, default_value = "generator")]
    pub source: String,
    /// Worker counts to measure, comma-separated.
    #[arg(
        short = 'w',
        long = "workers",
        value_delimiter = ',',
        default_value = "1,2"
    )]
    pub workers: Vec<usize>,
    /// Generator events per configuration.
    #[arg(long, default_value_t = 2_000_000)]
    pub events: u64,
    /// Generator symbols.
    #[arg(long, default_value_t = 100)]
    pub symbols: usize,
    /// Generator events per second of event time.
    #[arg(long, default_value_t = 2000.0)]
    pub event_rate: f64,
    /// Kafka client setting for a `kafka://` source, passed to librdkafka as is
    /// (`-X security.protocol=SSL -X ssl.ca.location=ca.pem`); repeatable; not with --suite.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = crate::source::parse_setting)]
    pub kafka_settings: Vec<(String, String)>,
    /// Where results go: `discard` (default), `file:PATH`, a PostgreSQL URL (TLS settings such
    /// as `?sslmode=verify-full&sslrootcert=ca.pem` included) or `redis://HOST:PORT`.
    #[arg(long, default_value = "discard")]
    pub sink: String,
    /// PostgreSQL schema for the tables of a PostgreSQL sink, created if missing, so that a
    /// benchmark never writes into a pipeline's tables (`--suite` always uses `tickflow_bench`).
    #[arg(long, value_name = "SCHEMA", default_value = "tickflow_bench")]
    pub pg_schema: String,
    /// Window length.
    #[arg(long, default_value = "60s")]
    pub window: String,
    /// Window slide.
    #[arg(long, default_value = "1s")]
    pub slide: String,
    /// Allowed lateness, as `run --allowed-lateness` (default 0s: late records are rejects).
    #[arg(long, value_name = "DURATION", default_value = "0s")]
    pub allowed_lateness: String,
    /// Reference data for `sector_average` rows, as `run --reference` (a `file:PATH.csv`,
    /// or `postgres://...` with `--reference-table`, or `kafka://BROKER/TOPIC`).
    #[arg(long, value_name = "URI")]
    pub reference: Option<String>,
    /// The PostgreSQL reference table, as `run --reference-table`.
    #[arg(long, value_name = "NAME")]
    pub reference_table: Option<String>,
    /// Count windows of the last N records per key, as `run --count-window`.
    #[arg(long, value_name = "N")]
    pub count_window: Option<usize>,
    /// Runs per configuration; the best is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Print results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the benchmark matrix (workers x windows x keys x sources x sinks), each
    /// configuration in its own process, with peak memory.
    #[arg(long)]
    pub suite: bool,
    /// With --suite: the small matrix (what CI runs).
    #[arg(long)]
    pub quick: bool,
    /// With --suite: also measure a PostgreSQL sink at this URL.
    #[arg(long, value_name = "URL")]
    pub pg: Option<String>,
    /// With --suite: also measure a Kafka source on this broker (a 4-partition topic per key
    /// count is created, filled by `tickflow produce`, and deleted afterwards).
    #[arg(long, value_name = "BROKER")]
    pub kafka: Option<String>,
    /// Instead of the dataflow, drain this Kafka topic with bare consumers (one per worker,
    /// counting messages): the ceiling to compare `--source kafka://...` with.
    #[arg(long, value_name = "kafka://BROKER/TOPIC")]
    pub drain: Option<String>,
}
