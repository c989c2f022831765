//! Which pipeline writes each result table: claimed at setup, refused to every other pipeline.
//!
//! How it works:
//! 1. `tickflow_owners (schema_name, table_name, pipeline, claimed_at)`, in the schema of the
//!    tables it describes, holds one row per result table (`symbol_averages`,
//!    `category_means` or their configured names). It is read and written in the setup
//!    transaction, under the advisory lock that serialises table creation: creating a table
//!    and claiming it are one step, and two pipelines starting together cannot both claim it.
//! 2. A table without a row (new, or created by a tickflow that kept no owners) is claimed by
//!    the first pipeline that sets it up. A table created just now drops any row left from an
//!    earlier table of that name that was dropped.
//! 3. The processes of one pipeline's cluster carry its name, so they share the claim. Any
//!    other pipeline is refused, unless it starts with `--restart`: it then takes the tables
//!    over, and the previous owner's rows in the progress table are deleted, since that saved
//!    progress described results it no longer owns (its rejects stay, keyed by its name).
//!
//! Rejects and progress tables are keyed by pipeline and shared by design: they have no owner.

use postgres::Transaction;

use super::{PgError, Tables};

/// The table of owners, one per schema tickflow writes.
pub const OWNERS: &str = "tickflow_owners";

/// A result table whose claim passed from one pipeline to another (by `--restart`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TakenOver {
    /// `"schema"."table"`.
    pub table: String,
    pub previous: String,
}

/// Claims the result tables of `t` for `pipeline`, inside the setup transaction. `created`:
/// tables this transaction created. A table another pipeline owns is refused, or with
/// `take_over` claimed and that pipeline's progress rows deleted.
pub fn claim(
    tx: &mut Transaction<'_>,
    t: &Tables,
    pipeline: &str,
    take_over: bool,
    created: &[String],
) -> Result<Vec<TakenOver>, PgError> {
    let owners = t.qualified(OWNERS);
    let read = format!(
        "SELECT pipeline, to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
         FROM {owners} WHERE schema_name = $1 AND table_name = $2"
    );
    let write = format!(
        "INSERT INTO {owners} (schema_name, table_name, pipeline, claimed_at) \
         VALUES ($1, $2, $3, now()) ON CONFLICT (schema_name, table_name) \
         DO UPDATE SET pipeline = EXCLUDED.pipeline, claimed_at = EXCLUDED.claimed_at"
    );
    let mut taken = Vec::new();
    for table in [&t.symbol_averages, &t.category_means, &t.sector_averages] {
        let fresh = created.contains(table);
        let owner = tx
            .query_opt(&read, &[&t.schema, table])
            .map_err(|e| PgError::statement(&read, e))?
            .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1)));
        match owner {
            Some((owner, _)) if owner == pipeline => continue,
            Some((owner, since)) if !fresh && !take_over => {
                return Err(PgError::Owned {
                    table: t.qualified(table),
                    owner,
                    since,
                    pipeline: pipeline.to_string(),
                })
            }
            Some((owner, _)) if !fresh => taken.push(TakenOver {
                table: t.qualified(table),
                previous: owner,
            }),
            _ => {}
        }
        tx.execute(&write, &[&t.schema, table, &pipeline])
            .map_err(|e| PgError::statement(&write, e))?;
    }
    let progress = format!(
        "DELETE FROM {} WHERE pipeline = $1",
        t.qualified(&t.progress)
    );
    let mut previous: Vec<&str> = taken.iter().map(|t| t.previous.as_str()).collect();
    previous.sort_unstable();
    previous.dedup();
    for owner in previous {
        tx.execute(&progress, &[&owner])
            .map_err(|e| PgError::statement(&progress, e))?;
    }
    Ok(taken)
}
