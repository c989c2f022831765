//! The Redis sink: connects, reads where a restart begins, and commits through the delivery
//! protocol's committer with [`RedisStore`] as its store.

use std::sync::Arc;
use std::time::Instant;

use super::config::{RedisSettings, RedisTarget};
use super::error::RedisError;
use super::store::{RedisScope, RedisStore};
use crate::delivery::{
    recover, AfterCommit, CommitterConfig, Delivery, Place, ProgressBook, Restart,
};
use crate::retry::{retry, RetryPolicy};
use crate::sink::CommittingSink;
use crate::window::WindowSpec;

/// Settings of the Redis sink.
#[derive(Clone, Debug)]
pub struct RedisSinkOptions {
    pub target: RedisTarget,
    pub settings: RedisSettings,
    pub pipeline: String,
    /// Commit once this many rows wait (a backlog is committed in slices of this size).
    pub max_batch_rows: usize,
    pub window: WindowSpec,
    /// Where commit latency and size are reported.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Where this process stands in its cluster.
    pub place: Place,
}

/// The Redis sink: opened, then started as a [`CommittingSink`] over a [`RedisStore`].
pub struct RedisSink;

impl RedisSink {
    /// Connects (retrying a server that is down for the connect timeout; a refused password
    /// fails at once) and reads where a restart begins.
    ///
    /// `restart` (`--restart`) or sources that cannot be replayed: forget saved progress.
    pub fn open(
        options: &RedisSinkOptions,
        restart: bool,
        replayable: bool,
    ) -> Result<(RedisStore, Option<Restart>), RedisError> {
        let scope = RedisScope {
            settings: options.settings.clone(),
            pipeline: options.pipeline.clone(),
            process: options.place.process,
            processes: options.place.processes,
        };
        let mut store = RedisStore::new(options.target.clone(), scope)?;
        let patience = options.settings.connect_timeout;
        let started = Instant::now();
        retry(
            RetryPolicy::for_up_to(patience),
            || store.connect(),
            RedisError::is_transient,
            |e, _| tracing::warn!(error = %e, "connecting to Redis failed; retrying"),
        )
        .map_err(|e| match e.into_inner() {
            RedisError::Command {
                target, message, ..
            } => RedisError::Connect {
                target,
                retried: Some(started.elapsed()),
                message,
                hint: "is the server running and reachable?".into(),
            },
            other => other,
        })?;
        let restart = recover(
            &mut store,
            &options.pipeline,
            restart || !replayable,
            options.place.processes,
            patience,
        )?;
        Ok((store, restart))
    }

    /// Starts committing on an opened store; `hooks` run after each durable commit. `run_id`
    /// names this run when its sources cannot be replayed.
    pub fn start(
        store: RedisStore,
        options: &RedisSinkOptions,
        book: Arc<ProgressBook>,
        restart: Option<&Restart>,
        hooks: Vec<AfterCommit>,
        run_id: Option<String>,
    ) -> CommittingSink {
        let config = CommitterConfig {
            commit_interval: options.settings.commit_interval,
            max_batch_rows: options.max_batch_rows,
            local_workers: options.place.local_workers,
            window: options.window,
            patience: options.settings.connect_timeout,
        };
        let committed = restart.map_or(0, |r| r.committed_below);
        let delivery = Delivery::start(
            store,
            config,
            book,
            committed,
            hooks,
            options.metrics.clone(),
        );
        CommittingSink::new(delivery, options.target.to_string(), true, run_id)
    }
}
