//! The writer thread: commits each frontier's rows, rejects and resume points in one transaction.
//!
//! How it works:
//! 1. Workers send rows, rejects and "my rows below F are all sent" notes over a bounded
//!    channel; a full channel blocks them, so a slow database slows the sources.
//! 2. The committable frontier is the lowest note over this process's workers. When it moves
//!    (and a batch is big or old enough, or input has ended), the writer first snapshots every
//!    partition's resume point for it, then drains what is queued (so every reject before a
//!    resume point is in hand), then writes in one transaction: rows ending below the frontier
//!    (binary COPY into a staging table, then `INSERT ... ON CONFLICT DO UPDATE`), rejects
//!    (`ON CONFLICT DO NOTHING`), and the progress rows.
//! 3. A failure retries the whole transaction, on a new connection if needed, with capped
//!    backoff. Every statement is idempotent, so a commit whose outcome was lost is harmless.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, NoTls};

use super::schema::{self, wire_type, Tables, CATEGORY_COLUMNS, REJECT_COLUMNS, SYMBOL_COLUMNS};
use super::{describe, is_transient, PgError, Target};
use crate::dataflow::{PartitionKey, ProgressBook, Restart, Resume};
use crate::event::EventTime;
use crate::row::WindowRow;
use crate::window::WindowSpec;

/// Messages from workers to the writer.
pub enum ToWriter {
    Rows(Vec<WindowRow>),
    Rejects(Vec<RejectRow>),
    /// Worker `worker` has sent every row ending below `below` (`None`: all of its rows).
    Frontier {
        worker: usize,
        below: Option<u64>,
    },
}

/// A reject bound for the rejects table.
#[derive(Clone, Debug)]
pub struct RejectRow {
    pub source: String,
    pub partition: usize,
    pub position: u64,
    pub line: u64,
    pub received_at: SystemTime,
    pub reason: &'static str,
    pub detail: String,
    pub raw: String,
}

/// Called with the resume points after each successful commit (Kafka group offsets).
pub type AfterCommit = Box<dyn FnMut(&[(PartitionKey, Resume)]) + Send>;

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
    /// Worker threads of this process (each sends its own frontier).
    pub local_workers: usize,
    /// Input splits over all processes (a file's partitions depend on it).
    pub splits: usize,
    pub window: WindowSpec,
    /// Where commit latency and size are reported.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// This process's index in its cluster (0 alone); its committed frontier is kept in the
    /// progress row of partition `-1 - process`.
    pub process: usize,
}

/// What the writer did.
#[derive(Clone, Debug, Default)]
pub struct WriterStats {
    pub rows: u64,
    pub rejects: u64,
    pub commits: u64,
    pub retries: u64,
    /// Per committed window end: time from the sink's frontier passing it to its commit.
    pub latencies: Vec<Duration>,
}

impl WriterStats {
    /// The `q` quantile (0..=1) of the commit latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        let mut l = self.latencies.clone();
        l.sort_unstable();
        let i = ((l.len() as f64 - 1.0) * q).round() as usize;
        l.get(i).copied()
    }
}

/// Messages queued between workers and the writer (each at most 4,096 rows): with a full
/// queue, workers wait, and so do the sources.
const QUEUE: usize = 64;
/// Committed frontier stored when all input ended (fits an `int8`).
const END: u64 = i64::MAX as u64;

/// A running PostgreSQL sink.
pub struct PgSink {
    tx: Sender<ToWriter>,
    thread: std::thread::JoinHandle<Result<WriterStats, PgError>>,
}

/// Shortest wait for one connection attempt, even when the deadline is closer.
const MIN_ATTEMPT: Duration = Duration::from_millis(100);

/// Connects, retrying with capped backoff until `timeout` has passed. Errors the server sends
/// for good (no such database, bad password) end it at once.
pub fn connect(target: &Target, timeout: Duration) -> Result<Client, PgError> {
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut warned = false;
    loop {
        // One attempt may not outlast the deadline (libpq's connect_timeout is 10s).
        let left = timeout.saturating_sub(started.elapsed());
        let mut config = target.config.clone();
        let attempt = config
            .get_connect_timeout()
            .map_or(left, |t| left.min(*t))
            .max(MIN_ATTEMPT);
        config.connect_timeout(attempt);
        match config.connect(NoTls) {
            Ok(client) => return Ok(client),
            Err(e) => {
                let message = super::redact(&describe(&e));
                let left = timeout.saturating_sub(started.elapsed());
                if left.is_zero() || !is_transient(&e) {
                    return Err(PgError::Connect {
                        target: target.to_string(),
                        retried: warned.then(|| started.elapsed()),
                        message,
                        hint: super::connect_hint(&e, target),
                    });
                }
                if !warned {
                    eprintln!(
                        "tickflow: cannot connect to {target} ({message}); retrying for up to {}",
                        crate::human::duration(timeout)
                    );
                    warned = true;
                }
                // The last wait ends at the deadline, for one attempt there.
                std::thread::sleep(backoff.min(left));
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

impl PgSink {
    /// Connects, creates or checks the tables, and reads where a restart begins.
    ///
    /// `restart`: forget saved progress. `resumable`: every source can be read again, so saved
    /// progress is used; otherwise the run starts from the beginning of its input.
    pub fn prepare(
        options: &PgSinkOptions,
        restart: bool,
        resumable: bool,
    ) -> Result<(Client, Option<Restart>), PgError> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            match Self::try_prepare(options, restart, resumable) {
                Err(e) if e.is_transient() && started.elapsed() < options.connect_timeout => {
                    tracing::warn!(error = %e, "preparing PostgreSQL failed; retrying");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                result => return result,
            }
        }
    }

    fn try_prepare(
        options: &PgSinkOptions,
        restart: bool,
        resumable: bool,
    ) -> Result<(Client, Option<Restart>), PgError> {
        let mut client = connect(&options.target, options.connect_timeout)?;
        let taken = schema::ensure(&mut client, &options.tables, &options.pipeline, restart)?;
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
                "tickflow: pipeline {:?} takes over {} from pipeline {owner:?} (--restart); the saved progress of {owner:?} is deleted",
                options.pipeline,
                tables.join(" and ")
            );
        }
        let progress = options.tables.qualified(&options.tables.progress);
        if restart || !resumable {
            let sql = format!("DELETE FROM {progress} WHERE pipeline = $1");
            client
                .execute(&sql, &[&options.pipeline])
                .map_err(|e| PgError::statement(&sql, e))?;
            return Ok((client, None));
        }
        let sql = format!(
            "SELECT source, partition, resume_offset, max_seen_ms, committed_below_ms, splits \
             FROM {progress} WHERE pipeline = $1"
        );
        let rows = client
            .query(&sql, &[&options.pipeline])
            .map_err(|e| PgError::statement(&sql, e))?;
        if rows.is_empty() {
            return Ok((client, None));
        }
        let mut state = Restart::default();
        let mut committed: Option<u64> = None;
        let mut process_rows = 0usize;
        for row in rows {
            let (source, partition): (String, i32) = (row.get(0), row.get(1));
            let saved_splits: i32 = row.get(5);
            if partition < 0 {
                // A process's own row: the cluster resumes from the lowest of them.
                let below = row.get::<_, i64>(4) as u64;
                committed = Some(committed.map_or(below, |c| c.min(below)));
                process_rows += 1;
                continue;
            }
            // A file's partitions are byte ranges per worker; a Kafka partition is itself.
            if source.starts_with("file:") && saved_splits as usize != options.splits {
                return Err(PgError::Splits {
                    pipeline: options.pipeline.clone(),
                    saved: saved_splits,
                    now: options.splits,
                });
            }
            let max_seen: Option<i64> = row.get(3);
            state.partitions.insert(
                (source, partition as usize),
                Resume {
                    offset: row.get::<_, i64>(2) as u64,
                    max_seen: max_seen.map(|m| EventTime(m as u64)),
                },
            );
        }
        // Every process must have a row, or the ones without have committed nothing.
        let processes = (options.splits / options.local_workers.max(1)).max(1);
        state.committed_below = if process_rows < processes {
            0
        } else {
            committed.unwrap_or(0)
        };
        Ok((client, Some(state)))
    }

    /// Starts the writer thread on a prepared connection.
    pub fn start(
        client: Client,
        options: PgSinkOptions,
        book: Arc<ProgressBook>,
        committed: Arc<AtomicU64>,
        after_commit: Option<AfterCommit>,
    ) -> PgSink {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE);
        let thread = std::thread::Builder::new()
            .name("tickflow-pg".into())
            .spawn(move || {
                let (local_workers, splits, spec) =
                    (options.local_workers, options.splits, options.window);
                let mut w = Writer {
                    client: Some(client),
                    staged: false,
                    direct: true,
                    last: committed.load(Relaxed),
                    options,
                    rx,
                    book,
                    committed,
                    spec,
                    splits,
                    frontiers: vec![Some(0); local_workers],
                    rows: Vec::new(),
                    rejects: Vec::new(),
                    stats: WriterStats::default(),
                    after_commit,
                    passed: std::collections::VecDeque::new(),
                };
                w.run()
            })
            .expect("spawning a thread at startup");
        PgSink { tx, thread }
    }

    /// A handle for workers to send on.
    pub fn sender(&self) -> Sender<ToWriter> {
        self.tx.clone()
    }

    /// Waits for the last commit.
    pub fn finish(self) -> Result<WriterStats, PgError> {
        drop(self.tx);
        self.thread.join().unwrap_or_else(|_| {
            Err(PgError::GaveUp {
                waited: Duration::ZERO,
                message: "the writer thread panicked".into(),
            })
        })
    }
}

struct Writer {
    client: Option<Client>,
    /// The staging tables exist on the current connection.
    staged: bool,
    /// Rows go straight into the tables by COPY; false once a window was found already there.
    direct: bool,
    /// This process has committed every window ending below this.
    last: u64,
    options: PgSinkOptions,
    rx: Receiver<ToWriter>,
    book: Arc<ProgressBook>,
    committed: Arc<AtomicU64>,
    spec: WindowSpec,
    splits: usize,
    /// Per local worker: rows below this have all arrived (`None`: all rows).
    frontiers: Vec<Option<u64>>,
    rows: Vec<WindowRow>,
    rejects: Vec<RejectRow>,
    stats: WriterStats,
    after_commit: Option<AfterCommit>,
    /// Frontiers the writer has seen and when, oldest first (dropped once committed).
    passed: std::collections::VecDeque<(u64, Instant)>,
}

impl Writer {
    fn run(&mut self) -> Result<WriterStats, PgError> {
        let mut last_commit = Instant::now();
        let mut open = true;
        while open {
            match self.rx.recv_timeout(self.options.commit_interval) {
                Ok(msg) => self.take(msg),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            let frontier = self.frontier();
            let due = !open
                || last_commit.elapsed() >= self.options.commit_interval
                || self.rows.len() >= self.options.max_batch_rows;
            if due && frontier > self.last {
                // Large backlogs go in slices, each a complete commit at a lower frontier:
                // transactions stay short, and so does the work a crash throws away.
                while self.last < frontier {
                    let slice = self.slice_below(frontier);
                    self.commit(slice)?;
                }
                last_commit = Instant::now();
            }
        }
        Ok(self.stats.clone())
    }

    fn take(&mut self, msg: ToWriter) {
        match msg {
            ToWriter::Rows(mut rows) => self.rows.append(&mut rows),
            ToWriter::Rejects(mut rejects) => self.rejects.append(&mut rejects),
            ToWriter::Frontier { worker, below } => {
                let slot = worker % self.frontiers.len();
                self.frontiers[slot] = below;
                // When each frontier was reached, to measure how long windows wait for commit.
                let now = self.frontier();
                if self.passed.back().is_none_or(|(f, _)| now > *f) {
                    self.passed.push_back((now, Instant::now()));
                }
            }
        }
    }

    /// The lowest frontier up to `frontier` below which at most `max_batch_rows` rows wait
    /// (or, if a single window end holds more, just past that end).
    fn slice_below(&self, frontier: u64) -> u64 {
        let mut ends: Vec<u64> = self
            .rows
            .iter()
            .map(|r| r.end().0)
            .filter(|&e| e < frontier)
            .collect();
        if ends.len() <= self.options.max_batch_rows {
            return frontier;
        }
        ends.sort_unstable();
        let cut = ends[self.options.max_batch_rows];
        if cut > ends[0] {
            cut
        } else {
            cut + 1
        }
    }

    /// Every row ending below this has arrived from every local worker.
    fn frontier(&self) -> u64 {
        self.frontiers
            .iter()
            .map(|f| f.unwrap_or(END).min(END))
            .min()
            .unwrap_or(END)
    }

    fn commit(&mut self, below: u64) -> Result<(), PgError> {
        // In a cluster, a restart begins at the lowest frontier any process committed: resume
        // points must cover every window from there (unknown: cover everything).
        let floor = match self.others_committed() {
            Ok(Some(others)) => below.min(others),
            Ok(None) => below,
            Err(()) => 0,
        };
        // Resume points first, then what is queued: every reject read before a resume point
        // was queued before that point was published.
        let points = self.book.resume_points(&self.spec, floor);
        tracing::debug!(below, ?points, "commit");
        for _ in 0..self.rx.len() {
            match self.rx.try_recv() {
                Ok(msg) => self.take(msg),
                Err(_) => break,
            }
        }
        let (now, later): (Vec<WindowRow>, Vec<WindowRow>) = std::mem::take(&mut self.rows)
            .into_iter()
            .partition(|r| r.end().0 < below);
        self.rows = later;
        let rejects = std::mem::take(&mut self.rejects);
        let started = Instant::now();
        let mut backoff = Duration::from_millis(100);
        loop {
            let attempt = Instant::now();
            let result = self.try_commit(&now, &rejects, &points, below);
            if let (Ok(()), Some(m)) = (&result, &self.options.metrics) {
                m.commit_seconds.observe(attempt.elapsed().as_secs_f64());
                m.commit_rows.observe(now.len() as f64);
            }
            match result {
                Ok(()) => break,
                Err(Failure::Permanent(e)) => return Err(e),
                Err(Failure::Conflict) if self.direct => {
                    tracing::info!(
                        "windows already in the tables (a re-run); switching to upserts"
                    );
                    self.direct = false;
                }
                Err(Failure::Conflict) => {
                    return Err(PgError::GaveUp {
                        waited: started.elapsed(),
                        message: "a unique violation even with upserts".into(),
                    })
                }
                Err(Failure::Transient(message)) => {
                    if started.elapsed() >= self.options.connect_timeout {
                        return Err(PgError::GaveUp {
                            waited: started.elapsed(),
                            message,
                        });
                    }
                    tracing::warn!(%message, "commit failed; retrying");
                    self.stats.retries += 1;
                    self.client = None;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
        self.stats.rows += now.len() as u64;
        self.stats.rejects += rejects.len() as u64;
        self.stats.commits += 1;
        self.last = below;
        // Sources may forget what only windows below the cluster's floor needed.
        self.committed.store(floor, Relaxed);
        self.note_latencies(&now, below);
        if let Some(hook) = self.after_commit.as_mut() {
            hook(&points);
        }
        Ok(())
    }

    /// The lowest frontier committed by the other processes of the cluster, if any.
    fn others_committed(&mut self) -> Result<Option<u64>, ()> {
        if self.options.process == 0 && self.splits == self.frontiers.len() {
            return Ok(None); // a single process
        }
        let Some(client) = self.client.as_mut() else {
            return Err(());
        };
        let sql = format!(
            "SELECT count(*), min(committed_below_ms) FROM {} \
             WHERE pipeline = $1 AND partition < 0 AND partition <> $2",
            self.options.tables.qualified(&self.options.tables.progress)
        );
        let me = -1 - self.options.process as i32;
        let others = (self.splits / self.frontiers.len().max(1)).saturating_sub(1) as i64;
        let row = client
            .query_one(&sql, &[&self.options.pipeline, &me])
            .map_err(|_| ())?;
        let (count, min): (i64, Option<i64>) = (row.get(0), row.get(1));
        // A process that has not committed yet has committed nothing.
        Ok(Some(if count < others {
            0
        } else {
            min.unwrap_or(0) as u64
        }))
    }

    /// Records, per distinct window end just committed, how long ago the frontier passed it.
    fn note_latencies(&mut self, rows: &[WindowRow], below: u64) {
        if below >= END {
            return; // the final flush at end of input is not a steady-state latency
        }
        let committed = Instant::now();
        let mut ends: Vec<u64> = rows.iter().map(|r| r.end().0).collect();
        ends.sort_unstable();
        ends.dedup();
        for end in ends {
            if let Some((_, at)) = self.passed.iter().find(|(f, _)| *f > end) {
                self.stats.latencies.push(committed.duration_since(*at));
            }
        }
        while self.passed.len() > 1 && self.passed[1].0 <= below {
            self.passed.pop_front();
        }
    }

    fn try_commit(
        &mut self,
        rows: &[WindowRow],
        rejects: &[RejectRow],
        points: &[(PartitionKey, Resume)],
        below: u64,
    ) -> Result<(), Failure> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = connect(&self.options.target, self.options.connect_timeout)
                .map_err(|e| Failure::Transient(e.to_string()))?;
            self.client = Some(client);
            self.staged = false;
        }
        let client = self.client.as_mut().expect("connected above");
        let t = &self.options.tables;
        if !self.staged {
            let sql = staging_ddl(t);
            client.batch_execute(&sql).map_err(|e| fail(&sql, e))?;
            self.staged = true;
        }
        let mut tx = client.transaction().map_err(|e| fail("BEGIN", e))?;
        let (symbols, categories): (Vec<&WindowRow>, Vec<&WindowRow>) = rows
            .iter()
            .partition(|r| matches!(r, WindowRow::SymbolAverage { .. }));
        // Copy straight into the tables while no window can already be there (the protocol
        // never writes a window twice); after a conflict, stage and upsert instead.
        let direct = self.direct;
        if !symbols.is_empty() {
            if direct {
                copy_symbols(&mut tx, &t.qualified(&t.symbol_averages), &symbols)?;
            } else {
                copy_symbols(&mut tx, "tickflow_stage_symbols", &symbols)?;
                let sql = upsert(
                    t,
                    &t.symbol_averages,
                    "tickflow_stage_symbols",
                    &SYMBOL_COLUMNS,
                    &["symbol", "window_end"],
                );
                tx.batch_execute(&sql).map_err(|e| fail(&sql, e))?;
            }
        }
        if !categories.is_empty() {
            if direct {
                copy_categories(&mut tx, &t.qualified(&t.category_means), &categories)?;
            } else {
                copy_categories(&mut tx, "tickflow_stage_categories", &categories)?;
                let sql = upsert(
                    t,
                    &t.category_means,
                    "tickflow_stage_categories",
                    &CATEGORY_COLUMNS,
                    &["category", "window_end"],
                );
                tx.batch_execute(&sql).map_err(|e| fail(&sql, e))?;
            }
        }
        if !rejects.is_empty() {
            copy_rejects(&mut tx, &self.options.pipeline, rejects)?;
            let cols = names(&REJECT_COLUMNS);
            let sql = format!(
                "INSERT INTO {} ({cols}) SELECT {cols} FROM tickflow_stage_rejects ON CONFLICT DO NOTHING",
                t.qualified(&t.rejects)
            );
            tx.batch_execute(&sql).map_err(|e| fail(&sql, e))?;
        }
        let sql = format!(
            "INSERT INTO {} (pipeline, source, partition, resume_offset, max_seen_ms, committed_below_ms, splits, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (pipeline, source, partition) DO UPDATE SET \
             resume_offset = EXCLUDED.resume_offset, max_seen_ms = EXCLUDED.max_seen_ms, \
             committed_below_ms = EXCLUDED.committed_below_ms, splits = EXCLUDED.splits, updated_at = now()",
            t.qualified(&t.progress)
        );
        let statement = tx.prepare(&sql).map_err(|e| fail(&sql, e))?;
        let below = below.min(END) as i64;
        let splits = self.splits as i32;
        // The pipeline's own row carries the committed frontier even without partitions.
        let pipeline_row = (
            ("".to_string(), usize::MAX),
            Resume {
                offset: 0,
                max_seen: None,
            },
        );
        for ((source, partition), resume) in points.iter().chain(std::iter::once(&pipeline_row)) {
            let partition = if *partition == usize::MAX {
                -1 - self.options.process as i32
            } else {
                *partition as i32
            };
            let max_seen = resume.max_seen.map(|t| t.0 as i64);
            tx.execute(
                &statement,
                &[
                    &self.options.pipeline,
                    source,
                    &partition,
                    &(resume.offset as i64),
                    &max_seen,
                    &below,
                    &splits,
                ],
            )
            .map_err(|e| fail(&sql, e))?;
        }
        tx.commit().map_err(|e| fail("COMMIT", e))
    }
}

enum Failure {
    Transient(String),
    /// A window was already in a table: redo the transaction with upserts.
    Conflict,
    Permanent(PgError),
}

fn fail(sql: &str, e: postgres::Error) -> Failure {
    if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION) {
        Failure::Conflict
    } else if is_transient(&e) {
        Failure::Transient(super::redact(&describe(&e)))
    } else {
        Failure::Permanent(PgError::statement(sql, e))
    }
}

fn names(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Session-local staging tables, emptied at every commit.
fn staging_ddl(t: &Tables) -> String {
    let stage = |name: &str, table: &str| {
        format!(
            "CREATE TEMP TABLE IF NOT EXISTS {name} ON COMMIT DELETE ROWS AS SELECT * FROM {} WITH NO DATA;",
            t.qualified(table)
        )
    };
    // Rows and progress commit in one transaction, so a commit PostgreSQL loses in a crash
    // is redone from the progress it also lost: durability of the last few commits is not
    // needed for exactly-once, and not waiting for each WAL flush lets commits run back to back.
    let session = "SET synchronous_commit = off;".to_string();
    [
        session,
        stage("tickflow_stage_symbols", &t.symbol_averages),
        stage("tickflow_stage_categories", &t.category_means),
        stage("tickflow_stage_rejects", &t.rejects),
    ]
    .concat()
}

fn upsert(t: &Tables, table: &str, stage: &str, columns: &[(&str, &str)], key: &[&str]) -> String {
    let cols = names(columns);
    let updates: Vec<String> = columns
        .iter()
        .filter(|(c, _)| !key.contains(c))
        .map(|(c, _)| format!("\"{c}\" = EXCLUDED.\"{c}\""))
        .collect();
    let key: Vec<String> = key.iter().map(|k| format!("\"{k}\"")).collect();
    format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({}) DO UPDATE SET {}",
        t.qualified(table),
        key.join(", "),
        updates.join(", ")
    )
}

fn time(t: EventTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(t.0)
}

/// Binary `COPY` of `items` into `into`, whose columns are `columns`; `write` sends one item.
fn copy_in<T>(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    columns: &[(&str, &str)],
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut BinaryCopyInWriter<'_>, T) -> Result<(), postgres::Error>,
) -> Result<(), Failure> {
    let sql = format!(
        "COPY {into} ({}) FROM STDIN (FORMAT binary)",
        names(columns)
    );
    let types: Vec<Type> = columns.iter().map(|(_, ty)| wire_type(ty)).collect();
    let sink = tx.copy_in(&sql).map_err(|e| fail(&sql, e))?;
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for item in items {
        write(&mut w, item).map_err(|e| fail(&sql, e))?;
    }
    w.finish().map_err(|e| fail(&sql, e)).map(drop)
}

fn copy_symbols(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    rows: &[&WindowRow],
) -> Result<(), Failure> {
    copy_in(tx, into, &SYMBOL_COLUMNS, rows, |w, row| match row {
        WindowRow::SymbolAverage {
            symbol,
            start,
            end,
            agg,
        } => w.write(&[
            symbol,
            &time(*start),
            &time(*end),
            &agg.avg_price(),
            &agg.min_price,
            &agg.max_price,
            &agg.vwap(),
            &(agg.ticks as i64),
            &(agg.volume as i64),
        ]),
        WindowRow::CategoryMean { .. } => Ok(()),
    })
}

fn copy_categories(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    rows: &[&WindowRow],
) -> Result<(), Failure> {
    copy_in(tx, into, &CATEGORY_COLUMNS, rows, |w, row| match row {
        WindowRow::CategoryMean {
            category,
            start,
            end,
            agg,
        } => w.write(&[
            category,
            &time(*start),
            &time(*end),
            &agg.mean(),
            &(agg.readings as i64),
        ]),
        WindowRow::SymbolAverage { .. } => Ok(()),
    })
}

fn copy_rejects(
    tx: &mut postgres::Transaction<'_>,
    pipeline: &str,
    rows: &[RejectRow],
) -> Result<(), Failure> {
    copy_in(
        tx,
        "tickflow_stage_rejects",
        &REJECT_COLUMNS,
        rows,
        |w, r| {
            // PostgreSQL text cannot hold NUL; keep the rest of the line as it came.
            let raw = r.raw.replace('\0', "\u{FFFD}");
            let detail = r.detail.replace('\0', "\u{FFFD}");
            w.write(&[
                &pipeline,
                &r.source,
                &(r.partition as i32),
                &(r.position as i64),
                &(r.line as i64),
                &r.received_at,
                &r.reason,
                &detail,
                &raw,
            ])
        },
    )
}
