//! `--http-addr`: the live page, its JSON API, Prometheus metrics and health checks.
//!
//! What a run shares with the endpoint (all read-only to it):
//! 1. the process's [`Metrics`] (counters, per-partition watermarks, commit latency);
//! 2. a [`Chart`] the sink operator feeds with result rows, and [`RecentRejects`] the source
//!    operator feeds with rejected lines; both exist only when the endpoint is on;
//! 3. the [`Sinks`], once opened, for each sink's committed frontier.
//!
//! Nothing served can change the pipeline: the endpoint answers `GET` and `HEAD` only.

mod api;
mod assets;
mod chart;
mod http;
mod rates;
mod recent;
mod server;

use std::sync::{Arc, OnceLock};

pub use chart::{Chart, Series};
pub use recent::{RecentReject, RecentRejects};
pub use server::{bind_address, offset_port, HttpServer};

use crate::metrics::Metrics;
use crate::sink::Sinks;
use crate::window::WindowSpec;

/// What the live endpoint shows of one run.
pub struct LiveView {
    pub pipeline: String,
    pub window: WindowSpec,
    pub metrics: Arc<Metrics>,
    pub chart: Arc<Chart>,
    pub recent_rejects: Arc<RecentRejects>,
    /// Set once every source is prepared and every sink opened.
    sinks: OnceLock<Arc<Sinks>>,
    rates: rates::RateMeter,
}

impl LiveView {
    pub fn new(pipeline: String, window: WindowSpec, metrics: Arc<Metrics>) -> Arc<LiveView> {
        Arc::new(LiveView {
            pipeline,
            window,
            metrics,
            chart: Arc::default(),
            recent_rejects: Arc::default(),
            sinks: OnceLock::new(),
            rates: rates::RateMeter::default(),
        })
    }

    /// Marks the run's sources prepared and sinks opened (connected).
    pub fn opened(&self, sinks: Arc<Sinks>) {
        let _ = self.sinks.set(sinks);
    }

    /// `Ok` when sources and sinks are connected (the last commit, if any, succeeded) and a
    /// first watermark is reached; else why not.
    pub fn readiness(&self) -> Result<(), String> {
        if self.sinks.get().is_none() {
            return Err("starting: sources and sinks are not connected yet".into());
        }
        if let Some(failure) = self.metrics.sink_failure() {
            return Err(format!("commits are failing and being retried: {failure}"));
        }
        let partitions = self.metrics.partitions();
        let read_some = partitions.values().any(|p| p.watermark_ms > 0);
        // A process without partitions of its own (a Kafka topic with fewer partitions than
        // workers) is ready once its workers follow the cluster's watermark.
        let following = self.metrics.snapshot().watermark.is_some_and(|w| w.0 > 1);
        if read_some || following {
            return Ok(());
        }
        Err(format!(
            "no watermark yet: none of this process's {} input partitions has read a record",
            partitions.len()
        ))
    }
}
