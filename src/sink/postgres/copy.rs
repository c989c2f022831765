//! Statements that move rows in bulk: binary `COPY` of results and rejects, staging tables, and
//! the upserts that fold staged rows into the tables.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;

use super::schema::{
    wire_type, Tables, CATEGORY_COLUMNS, REJECT_COLUMNS, REVISION, SECTOR_COLUMNS, SYMBOL_COLUMNS,
};
use crate::event::EventTime;
use crate::row::{RejectRow, WindowRow};

/// Session-local staging tables of the result and rejects tables.
pub const STAGE_SYMBOLS: &str = "tickflow_stage_symbols";
pub const STAGE_CATEGORIES: &str = "tickflow_stage_categories";
pub const STAGE_SECTORS: &str = "tickflow_stage_sectors";
pub const STAGE_REJECTS: &str = "tickflow_stage_rejects";

/// `"a", "b", ...` of `columns`.
pub fn names(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Session settings and the staging tables, emptied at every commit.
pub fn staging_ddl(t: &Tables) -> String {
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
        stage(STAGE_SYMBOLS, &t.symbol_averages),
        stage(STAGE_CATEGORIES, &t.category_means),
        stage(STAGE_SECTORS, &t.sector_averages),
        stage(STAGE_REJECTS, &t.rejects),
    ]
    .concat()
}

/// Folds `stage` into `table`, replacing rows with the same `key`.
///
/// A row whose values change gets the greater of its new revision and the stored one + 1, so
/// the stored revision only goes up, also when a restart emits a window again from revision 0;
/// a row written again with the same values (a retried commit, a replay) keeps its revision.
pub fn upsert(
    t: &Tables,
    table: &str,
    stage: &str,
    columns: &[(&str, &str)],
    key: &[&str],
) -> String {
    let cols = names(columns);
    let values: Vec<&str> = columns
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !key.contains(c) && *c != REVISION)
        .collect();
    let mut updates: Vec<String> = values
        .iter()
        .map(|c| format!("\"{c}\" = EXCLUDED.\"{c}\""))
        .collect();
    if columns.iter().any(|(c, _)| *c == REVISION) {
        let old = values
            .iter()
            .map(|c| format!("t.\"{c}\""))
            .collect::<Vec<_>>();
        let new = values
            .iter()
            .map(|c| format!("EXCLUDED.\"{c}\""))
            .collect::<Vec<_>>();
        updates.push(format!(
            "\"{REVISION}\" = CASE WHEN ({}) IS NOT DISTINCT FROM ({}) THEN t.\"{REVISION}\" \
             ELSE GREATEST(EXCLUDED.\"{REVISION}\", t.\"{REVISION}\" + 1) END",
            old.join(", "),
            new.join(", ")
        ));
    }
    let key: Vec<String> = key.iter().map(|k| format!("\"{k}\"")).collect();
    format!(
        "INSERT INTO {} AS t ({cols}) SELECT {cols} FROM {stage} ON CONFLICT ({}) DO UPDATE SET {}",
        t.qualified(table),
        key.join(", "),
        updates.join(", ")
    )
}

/// Folds staged rejects into the rejects table; a reject already there stays as it is.
pub fn insert_rejects(t: &Tables) -> String {
    let cols = names(&REJECT_COLUMNS);
    format!(
        "INSERT INTO {} ({cols}) SELECT {cols} FROM {STAGE_REJECTS} ON CONFLICT DO NOTHING",
        t.qualified(&t.rejects)
    )
}

/// The `revision` column: 0 when windows take no corrections.
fn revision(row: &WindowRow) -> i32 {
    row.revision()
        .map_or(0, |r| i32::try_from(r.number).unwrap_or(i32::MAX))
}

fn time(t: EventTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(t.0)
}

/// A failed `COPY`: the statement and the client's error.
pub type CopyError = (String, postgres::Error);

/// Binary `COPY` of `items` into `into`, whose columns are `columns`; `write` sends one item.
fn copy_in<T>(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    columns: &[(&str, &str)],
    items: impl IntoIterator<Item = T>,
    mut write: impl FnMut(&mut BinaryCopyInWriter<'_>, T) -> Result<(), postgres::Error>,
) -> Result<(), CopyError> {
    let sql = format!(
        "COPY {into} ({}) FROM STDIN (FORMAT binary)",
        names(columns)
    );
    let types: Vec<Type> = columns.iter().map(|(_, ty)| wire_type(ty)).collect();
    let sink = tx.copy_in(&sql).map_err(|e| (sql.clone(), e))?;
    let mut w = BinaryCopyInWriter::new(sink, &types);
    for item in items {
        write(&mut w, item).map_err(|e| (sql.clone(), e))?;
    }
    w.finish().map_err(|e| (sql, e)).map(drop)
}

/// `COPY` of the symbol averages among `rows` into `into`.
pub fn copy_symbols(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    rows: &[&WindowRow],
) -> Result<(), CopyError> {
    copy_in(tx, into, &SYMBOL_COLUMNS, rows, |w, row| match row {
        WindowRow::SymbolAverage {
            symbol,
            start,
            end,
            agg,
            ..
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
            &revision(row),
        ]),
        WindowRow::CategoryMean { .. } | WindowRow::SectorAverage { .. } => Ok(()),
    })
}

/// `COPY` of the category means among `rows` into `into`.
pub fn copy_categories(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    rows: &[&WindowRow],
) -> Result<(), CopyError> {
    copy_in(tx, into, &CATEGORY_COLUMNS, rows, |w, row| match row {
        WindowRow::CategoryMean {
            category,
            start,
            end,
            agg,
            ..
        } => w.write(&[
            category,
            &time(*start),
            &time(*end),
            &agg.mean(),
            &(agg.readings as i64),
            &revision(row),
        ]),
        WindowRow::SymbolAverage { .. } | WindowRow::SectorAverage { .. } => Ok(()),
    })
}

/// `COPY` of the sector averages among `rows` into `into`.
pub fn copy_sectors(
    tx: &mut postgres::Transaction<'_>,
    into: &str,
    rows: &[&WindowRow],
) -> Result<(), CopyError> {
    copy_in(tx, into, &SECTOR_COLUMNS, rows, |w, row| match row {
        WindowRow::SectorAverage {
            sector,
            start,
            end,
            agg,
            symbols,
            ..
        } => w.write(&[
            sector,
            &time(*start),
            &time(*end),
            &agg.avg_price(),
            &agg.min_price,
            &agg.max_price,
            &agg.vwap(),
            &(agg.ticks as i64),
            &(agg.volume as i64),
            &(*symbols as i64),
            &revision(row),
        ]),
        WindowRow::SymbolAverage { .. } | WindowRow::CategoryMean { .. } => Ok(()),
    })
}

/// `COPY` of `rows` into the rejects staging table.
pub fn copy_rejects(
    tx: &mut postgres::Transaction<'_>,
    pipeline: &str,
    rows: &[RejectRow],
) -> Result<(), CopyError> {
    copy_in(tx, STAGE_REJECTS, &REJECT_COLUMNS, rows, |w, r| {
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
    })
}
