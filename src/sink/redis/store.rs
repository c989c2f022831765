//! Redis as a delivery store: one Lua script per commit writes its rows, rejects and progress,
//! and Redis runs a script alone, so a commit is all there or not at all.
//!
//! How it works:
//! 1. Each row sets its key's hash `{prefix}{kind}:{key}` (the JSON row's fields, plus
//!    `window_end_ms`) only if its window ends after the one stored, and adds an entry with ID
//!    `{window_end_ms}-0` to the stream `{prefix}{kind}:{key}:history`, capped at the history
//!    length; Redis refuses an ID not above the last, so a replayed window is skipped.
//! 2. Every partition's resume point and this process's committed frontier are fields of the
//!    hash `{prefix}progress:{pipeline}`, written by the same script.
//! 3. Rejects go to the capped stream `{prefix}rejects:{pipeline}`; the highest position added
//!    per partition (hash `{prefix}rejects-seen:{pipeline}`) keeps a replayed reject out.
//! 4. A lost connection is dropped and the next attempt reconnects and runs the script again:
//!    it either ran or did not, and running it twice changes nothing.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::config::{RedisSettings, RedisTarget};
use super::error::RedisError;
use crate::delivery::{Batch, Resume, Saved, Store};
use crate::event::EventTime;
use crate::row::{RejectRow, WindowRow};

/// The commit script (see its header for its keys and arguments).
static COMMIT: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("commit.lua")));

/// Rewrites the process fields for another cluster size, atomically (see its header).
static RESHAPE: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(include_str!("reshape.lua")));

/// Entries the rejects stream keeps (approximately: `MAXLEN ~`).
pub const REJECTS_CAP: u64 = 100_000;

/// One input partition's saved progress, a field `partition:{index}:{source}` of the progress
/// hash.
#[derive(Debug, Serialize, Deserialize)]
struct PartitionEntry {
    source: String,
    partition: usize,
    resume_offset: u64,
    max_seen_ms: Option<u64>,
    committed_below_ms: u64,
    /// The size its source's splits were cut at (a file's; 0 for Kafka). Named `splits` as
    /// before, when it held the run's worker count.
    #[serde(rename = "splits")]
    split_bytes: u64,
}

/// One process's committed frontier, the field `process:{index}` of the progress hash.
#[derive(Debug, Serialize, Deserialize)]
struct ProcessEntry {
    process: usize,
    committed_below_ms: u64,
    /// Processes of the cluster that wrote it (0: written by an older tickflow).
    #[serde(default)]
    processes: usize,
}

/// Where a [`RedisStore`] writes, and who it writes for.
#[derive(Clone, Debug)]
pub struct RedisScope {
    pub settings: RedisSettings,
    pub pipeline: String,
    pub process: usize,
    pub processes: usize,
}

/// One process's connection to the pipeline's keys.
pub struct RedisStore {
    client: redis::Client,
    connection: Option<redis::Connection>,
    target: RedisTarget,
    scope: RedisScope,
}

impl RedisStore {
    /// A store on `target` (connected on first use).
    pub fn new(target: RedisTarget, scope: RedisScope) -> Result<RedisStore, RedisError> {
        let client = redis::Client::open(target.connection_info())
            .map_err(|e| RedisError::connect(&target.to_string(), None, &e))?;
        Ok(RedisStore {
            client,
            connection: None,
            target,
            scope,
        })
    }

    /// Connects now (one attempt), so that a refused password fails before workers start.
    pub fn connect(&mut self) -> Result<(), RedisError> {
        self.connection()?;
        Ok(())
    }

    /// The connection, made again if it was lost (one attempt: callers retry).
    fn connection(&mut self) -> Result<&mut redis::Connection, RedisError> {
        if self.connection.is_none() {
            let timeout = self
                .scope
                .settings
                .connect_timeout
                .max(Duration::from_secs(1));
            let shown = self.target.to_string();
            let connection = self
                .client
                .get_connection_with_timeout(timeout)
                .map_err(|e| RedisError::command(&shown, "CONNECT", &e))?;
            // A server that stops answering must not hang the committer forever; a script
            // of a large batch takes well under this.
            connection
                .set_read_timeout(Some(timeout))
                .and_then(|()| connection.set_write_timeout(Some(timeout)))
                .map_err(|e| RedisError::command(&shown, "CONNECT", &e))?;
            self.connection = Some(connection);
        }
        Ok(self.connection.as_mut().expect("connected above"))
    }

    /// Runs `f` on the connection; a failure that may pass drops the connection.
    fn with_connection<T>(
        &mut self,
        command: &'static str,
        f: impl FnOnce(&mut redis::Connection, &RedisStoreKeys) -> redis::RedisResult<T>,
    ) -> Result<T, RedisError> {
        let keys = RedisStoreKeys::new(&self.scope);
        let shown = self.target.to_string();
        let result = f(self.connection()?, &keys);
        result.map_err(|e| {
            let error = RedisError::command(&shown, command, &e);
            if error.is_transient() || e.is_unrecoverable_error() {
                self.connection = None;
            }
            error
        })
    }

    fn progress_entries(&mut self) -> Result<Vec<(String, String)>, RedisError> {
        self.with_connection("HGETALL", |c, keys| {
            redis::cmd("HGETALL").arg(&keys.progress).query(c)
        })
    }

    fn bad_progress(&self, field: &str, message: impl ToString) -> RedisError {
        RedisError::Progress {
            target: self.target.to_string(),
            pipeline: self.scope.pipeline.clone(),
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

/// The keys a store writes besides the rows'.
pub struct RedisStoreKeys {
    prefix: String,
    pub progress: String,
    pub rejects: String,
    pub rejects_seen: String,
    pub updates: String,
}

impl RedisStoreKeys {
    fn new(scope: &RedisScope) -> RedisStoreKeys {
        let (p, name) = (&scope.settings.prefix, &scope.pipeline);
        RedisStoreKeys {
            prefix: p.clone(),
            progress: format!("{p}progress:{name}"),
            rejects: format!("{p}rejects:{name}"),
            rejects_seen: format!("{p}rejects-seen:{name}"),
            updates: format!("{p}updates"),
        }
    }

    /// The latest-row hash of `row`'s key: `{prefix}symbol_average:{symbol}`.
    pub fn row(&self, row: &WindowRow) -> String {
        format!("{}{}:{}", self.prefix, row.kind(), row.key())
    }
}

impl Store for RedisStore {
    type Error = RedisError;

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn saved(&mut self) -> Result<Vec<Saved>, RedisError> {
        let entries = self.progress_entries()?;
        let mut saved = Vec::with_capacity(entries.len());
        for (field, value) in entries {
            if field.starts_with("process:") {
                let e: ProcessEntry =
                    serde_json::from_str(&value).map_err(|e| self.bad_progress(&field, e))?;
                saved.push(Saved::Process {
                    process: e.process,
                    processes: e.processes,
                    committed_below: e.committed_below_ms,
                });
            } else if field.starts_with("partition:") {
                let e: PartitionEntry =
                    serde_json::from_str(&value).map_err(|e| self.bad_progress(&field, e))?;
                saved.push(Saved::Partition {
                    key: (e.source, e.partition),
                    resume: Resume {
                        offset: e.resume_offset,
                        max_seen: e.max_seen_ms.map(EventTime),
                    },
                    split_bytes: e.split_bytes,
                });
            } else {
                return Err(self.bad_progress(&field, "not a field tickflow writes"));
            }
        }
        Ok(saved)
    }

    fn forget(&mut self) -> Result<(), RedisError> {
        self.with_connection("DEL", |c, keys| {
            redis::cmd("DEL").arg(&keys.progress).query::<()>(c)
        })
    }

    fn reshape(&mut self, processes: usize, committed_below: u64) -> Result<(), RedisError> {
        let fresh = |process| ProcessEntry {
            process,
            committed_below_ms: committed_below,
            processes,
        };
        let fresh: Vec<String> = (0..processes)
            .map(|p| serde_json::to_string(&fresh(p)).expect("progress serializes"))
            .collect();
        self.with_connection("the reshape script", |c, keys| {
            RESHAPE
                .key(&keys.progress)
                .arg(processes)
                .arg(fresh)
                .invoke::<i64>(c)
                .map(drop)
        })
    }

    fn commit(&mut self, batch: &Batch<'_>) -> Result<(), RedisError> {
        let keys = RedisStoreKeys::new(&self.scope);
        let mut invocation = COMMIT.prepare_invoke();
        invocation
            .key(&keys.progress)
            .key(&keys.rejects)
            .key(&keys.rejects_seen)
            .key(&keys.updates);
        let settings = &self.scope.settings;
        let update = serde_json::json!({
            "pipeline": self.scope.pipeline,
            "committed_below_ms": batch.below,
            "rows": batch.rows.len(),
        })
        .to_string();
        invocation
            .arg(settings.history)
            .arg(batch.rows.len())
            .arg(if settings.publish { "1" } else { "0" })
            .arg(REJECTS_CAP)
            .arg(update);
        for row in batch.rows {
            let hash = keys.row(row);
            invocation.key(&hash).key(format!("{hash}:history"));
            let fields = crate::sink::fields(row);
            let revision = row.revision().map_or(-1, |r| i64::from(r.number));
            invocation.arg(row.end().0).arg(revision).arg(fields.len());
            for (name, value) in fields {
                invocation.arg(name).arg(value);
            }
        }
        let progress = progress_fields(batch, &self.scope);
        invocation.arg(progress.len());
        for (field, value) in progress {
            invocation.arg(field).arg(value);
        }
        let mut rejects: Vec<&RejectRow> = batch.rejects.iter().collect();
        rejects.sort_by(|a, b| {
            (&a.source, a.partition, a.position).cmp(&(&b.source, b.partition, b.position))
        });
        invocation.arg(rejects.len());
        for r in rejects {
            invocation
                .arg(format!("{}:{}", r.partition, r.source))
                .arg(r.position);
            let fields = reject_fields(r);
            invocation.arg(fields.len());
            for (name, value) in fields {
                invocation.arg(name).arg(value);
            }
        }
        self.with_connection("the commit script", |c, _| {
            invocation.invoke::<i64>(c).map(drop)
        })
    }

    fn others_committed(&mut self) -> Result<Option<u64>, RedisError> {
        let (me, processes) = (self.scope.process, self.scope.processes);
        if processes <= 1 {
            return Ok(None);
        }
        let mut found = 0;
        let mut min = u64::MAX;
        for (field, value) in self.progress_entries()? {
            if !field.starts_with("process:") {
                continue;
            }
            let e: ProcessEntry =
                serde_json::from_str(&value).map_err(|e| self.bad_progress(&field, e))?;
            if e.process != me {
                found += 1;
                min = min.min(e.committed_below_ms);
            }
        }
        // A process that has not committed yet has committed nothing.
        Ok(Some(if found < processes - 1 { 0 } else { min }))
    }

    fn is_transient(error: &RedisError) -> bool {
        error.is_transient()
    }
}

/// The progress hash's fields this commit writes: every partition, and this process's frontier.
fn progress_fields(batch: &Batch<'_>, scope: &RedisScope) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = batch
        .points
        .iter()
        .map(|p| {
            let ((source, partition), resume) = (&p.key, p.resume);
            let entry = PartitionEntry {
                source: source.clone(),
                partition: *partition,
                resume_offset: resume.offset,
                max_seen_ms: resume.max_seen.map(|t| t.0),
                committed_below_ms: batch.below,
                split_bytes: p.split_bytes,
            };
            (
                format!("partition:{partition}:{source}"),
                serde_json::to_string(&entry).expect("progress serializes"),
            )
        })
        .collect();
    let own = ProcessEntry {
        process: scope.process,
        committed_below_ms: batch.below,
        processes: scope.processes,
    };
    fields.push((
        format!("process:{}", scope.process),
        serde_json::to_string(&own).expect("progress serializes"),
    ));
    fields
}

/// A reject's stream entry: the columns of PostgreSQL's `tickflow_rejects`.
fn reject_fields(r: &RejectRow) -> Vec<(&'static str, String)> {
    let received = r
        .received_at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    vec![
        ("source", r.source.clone()),
        ("partition", r.partition.to_string()),
        ("position", r.position.to_string()),
        ("line", r.line.to_string()),
        ("received_at", EventTime(received).to_string()),
        ("reason", r.reason.to_string()),
        ("detail", r.detail.clone()),
        ("raw", r.raw.clone()),
    ]
}
