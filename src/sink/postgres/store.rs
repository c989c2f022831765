//! PostgreSQL as a delivery store: one transaction holds a commit's rows, rejects and progress.
//!
//! How it works:
//! 1. Rows go straight into the tables by binary `COPY` while no window can already be there
//!    (the protocol never writes a window twice in a run). A unique violation means an earlier
//!    run wrote some (a `--restart`, or a re-run over input that cannot be replayed): from then
//!    on rows are copied into session-local staging tables and upserted.
//! 2. Rejects are staged and inserted with `ON CONFLICT DO NOTHING`, progress rows upserted.
//! 3. A lost connection drops the client; the next attempt reconnects and redoes the whole
//!    transaction. Every statement is idempotent, so a commit whose outcome was lost is harmless.
//! 4. Each process of a cluster keeps its committed frontier in the progress row of partition
//!    `-1 - process` (its `resume_offset` holds the cluster's size); a partition's row keeps,
//!    in `splits`, the size its source's splits were cut at (a file's; 0 for Kafka).

use postgres::Client;

use super::copy::{
    copy_categories, copy_rejects, copy_sectors, copy_symbols, insert_rejects, staging_ddl, upsert,
    STAGE_CATEGORIES, STAGE_SECTORS, STAGE_SYMBOLS,
};
use super::schema::{Tables, CATEGORY_COLUMNS, SECTOR_COLUMNS, SYMBOL_COLUMNS};
use super::{PgError, Target};
use crate::delivery::{Batch, Resume, Saved, Store};
use crate::event::EventTime;
use crate::row::WindowRow;

/// One process's connection to the pipeline's tables.
pub struct PgStore {
    client: Option<Client>,
    target: Target,
    tables: Tables,
    pipeline: String,
    /// This process's index in its cluster, and how many there are.
    process: usize,
    processes: usize,
    /// The staging tables exist on the current connection.
    staged: bool,
    /// Rows go straight into the tables by COPY; false once a window was found already there.
    direct: bool,
}

/// Where a [`PgStore`] writes, and who it writes for.
#[derive(Clone, Debug)]
pub struct StoreScope {
    pub tables: Tables,
    pub pipeline: String,
    pub process: usize,
    pub processes: usize,
}

impl PgStore {
    /// A store on a connected `client` whose tables exist.
    pub fn new(client: Client, target: Target, scope: StoreScope) -> PgStore {
        PgStore {
            client: Some(client),
            target,
            tables: scope.tables,
            pipeline: scope.pipeline,
            process: scope.process,
            processes: scope.processes.max(1),
            staged: false,
            direct: true,
        }
    }

    /// The connection, made again if it was lost (one attempt: the committer retries).
    fn client(&mut self) -> Result<&mut Client, PgError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let client = super::connect::connect_once(&self.target)?;
            self.client = Some(client);
            self.staged = false;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// Runs `f` on the connection; a failure that may pass drops the connection, so the next
    /// attempt starts on a fresh one.
    fn with_client<T>(
        &mut self,
        f: impl FnOnce(&mut Client, &Tables, &str) -> Result<T, PgError>,
    ) -> Result<T, PgError> {
        let (tables, pipeline) = (self.tables.clone(), self.pipeline.clone());
        let result = f(self.client()?, &tables, &pipeline);
        if result.as_ref().is_err_and(PgError::is_transient) {
            self.client = None;
        }
        result
    }

    fn try_commit(&mut self, batch: &Batch<'_>) -> Result<(), PgError> {
        // Reconnecting forgets the staging tables: look at `staged` only after.
        self.client()?;
        let (direct, staged) = (self.direct, self.staged);
        let (process, processes) = (self.process, self.processes);
        self.with_client(|client, t, pipeline| {
            if !staged {
                let sql = staging_ddl(t);
                client
                    .batch_execute(&sql)
                    .map_err(|e| PgError::statement(&sql, e))?;
            }
            let mut tx = client
                .transaction()
                .map_err(|e| PgError::statement("BEGIN", e))?;
            write_rows(&mut tx, t, batch.rows, direct)?;
            if !batch.rejects.is_empty() {
                copy_rejects(&mut tx, pipeline, batch.rejects).map_err(copy_failed)?;
                let sql = insert_rejects(t);
                tx.batch_execute(&sql)
                    .map_err(|e| PgError::statement(&sql, e))?;
            }
            write_progress(&mut tx, t, pipeline, batch, (process, processes))?;
            tx.commit().map_err(|e| PgError::statement("COMMIT", e))
        })?;
        self.staged = true;
        Ok(())
    }
}

impl Store for PgStore {
    type Error = PgError;

    fn describe(&self) -> String {
        self.target.to_string()
    }

    fn saved(&mut self) -> Result<Vec<Saved>, PgError> {
        self.with_client(|client, t, pipeline| {
            let sql = format!(
                "SELECT source, partition, resume_offset, max_seen_ms, committed_below_ms, splits \
                 FROM {} WHERE pipeline = $1",
                t.qualified(&t.progress)
            );
            let rows = client
                .query(&sql, &[&pipeline])
                .map_err(|e| PgError::statement(&sql, e))?;
            Ok(rows
                .iter()
                .map(|row| {
                    let partition: i32 = row.get(1);
                    if partition < 0 {
                        Saved::Process {
                            process: (-1 - partition) as usize,
                            processes: row.get::<_, i64>(2).max(0) as usize,
                            committed_below: row.get::<_, i64>(4) as u64,
                        }
                    } else {
                        let max_seen: Option<i64> = row.get(3);
                        Saved::Partition {
                            key: (row.get(0), partition as usize),
                            resume: Resume {
                                offset: row.get::<_, i64>(2) as u64,
                                max_seen: max_seen.map(|m| EventTime(m as u64)),
                            },
                            split_bytes: row.get::<_, i32>(5).max(0) as u64,
                        }
                    }
                })
                .collect())
        })
    }

    fn forget(&mut self) -> Result<(), PgError> {
        self.with_client(|client, t, pipeline| {
            let sql = format!(
                "DELETE FROM {} WHERE pipeline = $1",
                t.qualified(&t.progress)
            );
            client
                .execute(&sql, &[&pipeline])
                .map(drop)
                .map_err(|e| PgError::statement(&sql, e))
        })
    }

    fn reshape(&mut self, processes: usize, committed_below: u64) -> Result<(), PgError> {
        self.with_client(|client, t, pipeline| {
            let table = t.qualified(&t.progress);
            // Process rows are `source = ''`, partition `-1 - process`, the cluster's size in
            // `resume_offset`; one transaction, each statement idempotent.
            let sql = [
                format!(
                    "DELETE FROM {table} WHERE pipeline = $1 AND source = '' AND partition < -$2::int4"
                ),
                format!(
                    "INSERT INTO {table} (pipeline, source, partition, resume_offset, max_seen_ms, committed_below_ms, splits, updated_at) \
                     SELECT $1, '', -1 - p, $2::int8, NULL, $3, 0, now() FROM generate_series(0, $2::int8 - 1) AS p \
                     ON CONFLICT (pipeline, source, partition) DO UPDATE SET \
                     resume_offset = EXCLUDED.resume_offset, committed_below_ms = EXCLUDED.committed_below_ms, updated_at = now() \
                     WHERE {table}.resume_offset <> EXCLUDED.resume_offset"
                ),
            ];
            let mut tx = client
                .transaction()
                .map_err(|e| PgError::statement("BEGIN", e))?;
            let (n, below) = (processes as i64, committed_below as i64);
            tx.execute(&sql[0], &[&pipeline, &(processes as i32)])
                .map_err(|e| PgError::statement(&sql[0], e))?;
            tx.execute(&sql[1], &[&pipeline, &n, &below])
                .map_err(|e| PgError::statement(&sql[1], e))?;
            tx.commit().map_err(|e| PgError::statement("COMMIT", e))
        })
    }

    fn commit(&mut self, batch: &Batch<'_>) -> Result<(), PgError> {
        match self.try_commit(batch) {
            Err(e) if self.direct && e.is_unique_violation() => {
                tracing::info!("windows already in the tables (a re-run); switching to upserts");
                self.direct = false;
                self.try_commit(batch)
            }
            result => result,
        }
    }

    fn others_committed(&mut self) -> Result<Option<u64>, PgError> {
        if self.processes == 1 {
            return Ok(None);
        }
        let me = -1 - self.process as i32;
        let others = (self.processes - 1) as i64;
        self.with_client(|client, t, pipeline| {
            let sql = format!(
                "SELECT count(*), min(committed_below_ms) FROM {} \
                 WHERE pipeline = $1 AND partition < 0 AND partition <> $2",
                t.qualified(&t.progress)
            );
            let row = client
                .query_one(&sql, &[&pipeline, &me])
                .map_err(|e| PgError::statement(&sql, e))?;
            let (count, min): (i64, Option<i64>) = (row.get(0), row.get(1));
            // A process that has not committed yet has committed nothing.
            Ok(Some(if count < others {
                0
            } else {
                min.unwrap_or(0) as u64
            }))
        })
    }

    fn is_transient(error: &PgError) -> bool {
        error.is_transient()
    }
}

fn copy_failed((sql, e): super::copy::CopyError) -> PgError {
    PgError::statement(&sql, e)
}

/// Result rows: copied straight into their tables, or (`direct` false, or when windows take
/// corrections) staged and upserted, each window's latest revision only.
fn write_rows(
    tx: &mut postgres::Transaction<'_>,
    t: &Tables,
    rows: &[WindowRow],
    direct: bool,
) -> Result<(), PgError> {
    let revised = rows.iter().any(|r| r.revision().is_some());
    let direct = direct && !revised;
    let rows = if revised {
        latest_revisions(rows)
    } else {
        rows.iter().collect()
    };
    let (mut symbols, mut categories, mut sectors) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        match row {
            WindowRow::SymbolAverage { .. } => symbols.push(row),
            WindowRow::CategoryMean { .. } => categories.push(row),
            WindowRow::SectorAverage { .. } => sectors.push(row),
        }
    }
    if !symbols.is_empty() {
        if direct {
            copy_symbols(tx, &t.qualified(&t.symbol_averages), &symbols).map_err(copy_failed)?;
        } else {
            copy_symbols(tx, STAGE_SYMBOLS, &symbols).map_err(copy_failed)?;
            let key = ["symbol", "window_end"];
            let sql = upsert(t, &t.symbol_averages, STAGE_SYMBOLS, &SYMBOL_COLUMNS, &key);
            tx.batch_execute(&sql)
                .map_err(|e| PgError::statement(&sql, e))?;
        }
    }
    if !categories.is_empty() {
        if direct {
            copy_categories(tx, &t.qualified(&t.category_means), &categories)
                .map_err(copy_failed)?;
        } else {
            copy_categories(tx, STAGE_CATEGORIES, &categories).map_err(copy_failed)?;
            let key = ["category", "window_end"];
            let sql = upsert(
                t,
                &t.category_means,
                STAGE_CATEGORIES,
                &CATEGORY_COLUMNS,
                &key,
            );
            tx.batch_execute(&sql)
                .map_err(|e| PgError::statement(&sql, e))?;
        }
    }
    if !sectors.is_empty() {
        if direct {
            copy_sectors(tx, &t.qualified(&t.sector_averages), &sectors).map_err(copy_failed)?;
        } else {
            copy_sectors(tx, STAGE_SECTORS, &sectors).map_err(copy_failed)?;
            let key = ["sector", "window_end"];
            let sql = upsert(t, &t.sector_averages, STAGE_SECTORS, &SECTOR_COLUMNS, &key);
            tx.batch_execute(&sql)
                .map_err(|e| PgError::statement(&sql, e))?;
        }
    }
    Ok(())
}

/// The latest revision of each window among `rows`: one upsert may not touch a row twice.
fn latest_revisions(rows: &[WindowRow]) -> Vec<&WindowRow> {
    let mut latest: std::collections::HashMap<(&str, &str, EventTime), &WindowRow> =
        std::collections::HashMap::with_capacity(rows.len());
    for row in rows {
        let key = (row.kind(), row.key(), row.end());
        let newer = |r: &WindowRow| r.revision().map(|r| (r.sent_at, r.number));
        latest
            .entry(key)
            .and_modify(|kept| {
                if newer(row) >= newer(kept) {
                    *kept = row;
                }
            })
            .or_insert(row);
    }
    latest.into_values().collect()
}

/// Every partition's resume point, and this process's own row with its committed frontier.
fn write_progress(
    tx: &mut postgres::Transaction<'_>,
    t: &Tables,
    pipeline: &str,
    batch: &Batch<'_>,
    (process, processes): (usize, usize),
) -> Result<(), PgError> {
    let sql = format!(
        "INSERT INTO {} (pipeline, source, partition, resume_offset, max_seen_ms, committed_below_ms, splits, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (pipeline, source, partition) DO UPDATE SET \
         resume_offset = EXCLUDED.resume_offset, max_seen_ms = EXCLUDED.max_seen_ms, \
         committed_below_ms = EXCLUDED.committed_below_ms, splits = EXCLUDED.splits, updated_at = now()",
        t.qualified(&t.progress)
    );
    let statement = tx.prepare(&sql).map_err(|e| PgError::statement(&sql, e))?;
    let below = batch.below as i64;
    let own = (
        String::new(),
        -1 - process as i32,
        Resume {
            offset: processes as u64,
            max_seen: None,
        },
        0,
    );
    let partitions = batch.points.iter().map(|p| {
        // Split sizes are at most 1 GiB (`source::MAX_SPLIT_BYTES`): they fit an `integer`.
        let split_bytes = i32::try_from(p.split_bytes).unwrap_or(i32::MAX);
        (p.key.0.clone(), p.key.1 as i32, p.resume, split_bytes)
    });
    for (source, partition, resume, splits) in partitions.chain(std::iter::once(own)) {
        let max_seen = resume.max_seen.map(|t| t.0 as i64);
        tx.execute(
            &statement,
            &[
                &pipeline,
                &source,
                &partition,
                &(resume.offset as i64),
                &max_seen,
                &below,
                &splits,
            ],
        )
        .map_err(|e| PgError::statement(&sql, e))?;
    }
    Ok(())
}
