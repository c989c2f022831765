//! The Kafka sink: checks both topics, reads where a restart begins, and commits through the
//! delivery protocol's committer with [`KafkaStore`] as its store.

use std::sync::Arc;

use super::store::{KafkaStore, StoreScope};
use super::{KafkaSinkConfig, KafkaSinkError};
use crate::delivery::{
    recover, AfterCommit, CommitterConfig, Delivery, Place, ProgressBook, Restart,
};
use crate::sink::CommittingSink;
use crate::source::KafkaSourceError;
use crate::window::WindowSpec;

/// Settings of the Kafka sink.
#[derive(Clone, Debug)]
pub struct KafkaSinkOptions {
    pub config: KafkaSinkConfig,
    pub pipeline: String,
    /// Commit once this many rows wait.
    pub max_batch_rows: usize,
    pub window: WindowSpec,
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Where this process stands in its cluster.
    pub place: Place,
}

/// The Kafka sink: opened, then started as a [`CommittingSink`] over a [`KafkaStore`].
pub struct KafkaSink;

impl KafkaSink {
    /// Checks that the result and progress topics exist (retrying unreachable brokers for
    /// `[kafka] connect_timeout`), and reads where a restart begins.
    ///
    /// `restart` (`--restart`) forgets saved progress; so do sources that cannot be replayed.
    pub fn open(
        options: &KafkaSinkOptions,
        restart: bool,
        replayable: bool,
    ) -> Result<(KafkaStore, Option<Restart>), KafkaSinkError> {
        let c = &options.config;
        for (topic, progress) in [(&c.topic, false), (&c.progress_topic, true)] {
            match crate::source::list_partitions(&c.topic_config(topic)) {
                Ok(_) => {}
                Err(KafkaSourceError::NoTopic { brokers, topic }) if progress => {
                    return Err(KafkaSinkError::NoProgressTopic { brokers, topic })
                }
                Err(KafkaSourceError::NoTopic { brokers, topic }) => {
                    return Err(KafkaSinkError::NoTopic { brokers, topic })
                }
                Err(e) => return Err(KafkaSinkError::Source(e)),
            }
        }
        let scope = StoreScope {
            pipeline: options.pipeline.clone(),
            process: options.place.process,
            processes: options.place.processes,
        };
        let mut store = KafkaStore::new(c.clone(), scope, options.metrics.clone())?;
        let restart = recover(
            &mut store,
            &options.pipeline,
            restart || !replayable,
            options.place.processes,
            c.options.connect_timeout,
        )?;
        Ok((store, restart))
    }

    /// Starts committing on an opened store; `hooks` run after each durable commit.
    pub fn start(
        store: KafkaStore,
        options: &KafkaSinkOptions,
        book: Arc<ProgressBook>,
        restart: Option<&Restart>,
        hooks: Vec<AfterCommit>,
    ) -> CommittingSink {
        let config = CommitterConfig {
            commit_interval: options.config.commit_interval,
            max_batch_rows: options.max_batch_rows,
            local_workers: options.place.local_workers,
            window: options.window,
            patience: options.config.options.connect_timeout,
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
        // Kafka keeps no rejects: they go to --rejects or stderr.
        CommittingSink::new(delivery, options.config.to_string(), false, None)
    }
}
