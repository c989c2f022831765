//! The PostgreSQL sink: prepares the tables, reads where a restart begins, and commits through
//! the delivery protocol's committer with [`PgStore`] as its store.

use std::sync::Arc;
use std::time::Duration;

use super::store::{PgStore, StoreScope};
use super::{connect, schema, PgError, Tables, TakenOver, Target};
use crate::delivery::{
    recover, AfterCommit, CommitterConfig, Delivery, Place, ProgressBook, Restart,
};
use crate::retry::{retry, RetryError, RetryPolicy};
use crate::sink::CommittingSink;
use crate::window::WindowSpec;

/// Settings of the PostgreSQL sink.
#[derive(Clone, Debug)]
pub struct PgSinkOptions {
    pub target: Target,
    pub tables: Tables,
    pub pipeline: String,
    /// How long to keep retrying to connect (at start, and after a connection is lost).
    pub connect_timeout: Duration,
    /// Commit at least this often while windows complete.
    pub commit_interval: Duration,
    /// Commit once this many rows wait.
    pub max_batch_rows: usize,
    pub window: WindowSpec,
    /// Where commit latency and size are reported.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Where this process stands in its cluster.
    pub place: Place,
}

/// The PostgreSQL sink: opened, then started as a [`CommittingSink`] over a [`PgStore`].
pub struct PgSink;

impl PgSink {
    /// Connects, creates or checks the tables (claiming them for this pipeline), and reads
    /// where a restart begins.
    ///
    /// `restart` (`--restart`): take the tables over from another pipeline if need be, and
    /// forget saved progress. `replayable`: every source can be read again, so saved progress
    /// is used; otherwise it means nothing to a new run and is forgotten.
    pub fn open(
        options: &PgSinkOptions,
        restart: bool,
        replayable: bool,
    ) -> Result<(PgStore, Option<Restart>), PgError> {
        // A connection lost while setting up (a server restarting, a terminated backend) is
        // retried on a new one; every step of the setup is idempotent.
        let (client, taken) = retry(
            RetryPolicy::for_up_to(options.connect_timeout),
            || {
                let mut client = connect(&options.target, options.connect_timeout)?;
                let taken =
                    schema::ensure(&mut client, &options.tables, &options.pipeline, restart)?;
                Ok((client, taken))
            },
            PgError::is_transient,
            |e, _| tracing::warn!(error = %e, "preparing PostgreSQL failed; retrying"),
        )
        .map_err(RetryError::into_inner)?;
        announce_take_over(&options.pipeline, &taken);
        let scope = StoreScope {
            tables: options.tables.clone(),
            pipeline: options.pipeline.clone(),
            process: options.place.process,
            processes: options.place.processes,
        };
        let mut store = PgStore::new(client, options.target.clone(), scope);
        let restart = recover(
            &mut store,
            &options.pipeline,
            restart || !replayable,
            options.place.processes,
            options.connect_timeout,
        )?;
        Ok((store, restart))
    }

    /// Starts committing on an opened store; `hooks` run after each durable commit. `run_id`
    /// names this run when its sources cannot be replayed.
    pub fn start(
        store: PgStore,
        options: &PgSinkOptions,
        book: Arc<ProgressBook>,
        restart: Option<&Restart>,
        hooks: Vec<AfterCommit>,
        run_id: Option<String>,
    ) -> CommittingSink {
        let config = CommitterConfig {
            commit_interval: options.commit_interval,
            max_batch_rows: options.max_batch_rows,
            local_workers: options.place.local_workers,
            window: options.window,
            patience: options.connect_timeout,
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

/// Says which tables `pipeline` took over from which pipeline (`--restart`).
fn announce_take_over(pipeline: &str, taken: &[TakenOver]) {
    let mut previous: Vec<&str> = taken.iter().map(|t| t.previous.as_str()).collect();
    previous.sort_unstable();
    previous.dedup();
    for owner in previous {
        let tables: Vec<&str> = taken
            .iter()
            .filter(|t| t.previous == owner)
            .map(|t| t.table.as_str())
            .collect();
        eprintln!(
            "tickflow: pipeline {pipeline:?} takes over {} from pipeline {owner:?} (--restart); the saved progress of {owner:?} is deleted",
            tables.join(" and ")
        );
    }
}
