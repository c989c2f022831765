//! The tables tickflow writes: names (validated, always quoted), creation, and shape checks.

use postgres::Client;
use serde::{Deserialize, Serialize};

use super::owner::{self, TakenOver, OWNERS};
use super::PgError;

/// Table names and schema, from the spec's `[postgres]` section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tables {
    pub schema: String,
    pub symbol_averages: String,
    pub category_means: String,
    pub sector_averages: String,
    pub rejects: String,
    pub progress: String,
}

impl Default for Tables {
    fn default() -> Self {
        Tables {
            schema: "public".into(),
            symbol_averages: "symbol_averages".into(),
            category_means: "category_means".into(),
            sector_averages: "sector_averages".into(),
            rejects: "tickflow_rejects".into(),
            progress: "tickflow_progress".into(),
        }
    }
}

/// A plain SQL identifier: a letter or underscore, then letters, digits or underscores, at
/// most 63 bytes. Anything else is refused rather than escaped, so a spec cannot smuggle SQL.
pub fn validate_identifier(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} {name:?} is not a valid identifier (letters, digits and _, starting with a letter or _, at most 63)"
        ))
    }
}

impl Tables {
    /// Every name is a plain identifier, and none is the owners table's.
    pub fn validate(&self) -> Result<(), String> {
        validate_identifier("postgres schema", &self.schema)?;
        for (what, name) in self.named() {
            validate_identifier(what, name)?;
            if name == OWNERS {
                return Err(format!(
                    "{what} may not be named {OWNERS:?}: tickflow keeps the tables' owners there"
                ));
            }
        }
        Ok(())
    }

    fn named(&self) -> [(&'static str, &str); 5] {
        [
            ("symbol_averages table", &self.symbol_averages),
            ("category_means table", &self.category_means),
            ("sector_averages table", &self.sector_averages),
            ("rejects table", &self.rejects),
            ("progress table", &self.progress),
        ]
    }

    /// `"schema"."table"`.
    pub fn qualified(&self, table: &str) -> String {
        format!("\"{}\".\"{}\"", self.schema, table)
    }
}

/// A column and its type as `information_schema` spells it.
type Column = (&'static str, &'static str);

/// Which emission of its window a row is (see [`REVISION_DDL`]); the last result column.
pub const REVISION: &str = "revision";

/// The revision column as it is created, or added to a table an earlier version created:
/// rows written without corrections stay at 0.
const REVISION_DDL: &str = "\"revision\" int4 NOT NULL DEFAULT 0";

pub const SYMBOL_COLUMNS: [Column; 10] = [
    ("symbol", "text"),
    ("window_start", "timestamp with time zone"),
    ("window_end", "timestamp with time zone"),
    ("avg_price", "double precision"),
    ("min_price", "double precision"),
    ("max_price", "double precision"),
    ("vwap", "double precision"),
    ("ticks", "bigint"),
    ("volume", "bigint"),
    (REVISION, "integer"),
];

pub const CATEGORY_COLUMNS: [Column; 6] = [
    ("category", "text"),
    ("window_start", "timestamp with time zone"),
    ("window_end", "timestamp with time zone"),
    ("mean_value", "double precision"),
    ("readings", "bigint"),
    (REVISION, "integer"),
];

pub const SECTOR_COLUMNS: [Column; 11] = [
    ("sector", "text"),
    ("window_start", "timestamp with time zone"),
    ("window_end", "timestamp with time zone"),
    ("avg_price", "double precision"),
    ("min_price", "double precision"),
    ("max_price", "double precision"),
    ("vwap", "double precision"),
    ("ticks", "bigint"),
    ("volume", "bigint"),
    ("symbols", "bigint"),
    (REVISION, "integer"),
];

pub const REJECT_COLUMNS: [Column; 9] = [
    ("pipeline", "text"),
    ("source", "text"),
    ("partition", "integer"),
    ("position", "bigint"),
    ("line", "bigint"),
    ("received_at", "timestamp with time zone"),
    ("reason", "text"),
    ("detail", "text"),
    ("raw", "text"),
];

pub const OWNER_COLUMNS: [Column; 4] = [
    ("schema_name", "text"),
    ("table_name", "text"),
    ("pipeline", "text"),
    ("claimed_at", "timestamp with time zone"),
];

pub const PROGRESS_COLUMNS: [Column; 8] = [
    ("pipeline", "text"),
    ("source", "text"),
    ("partition", "integer"),
    ("resume_offset", "bigint"),
    ("max_seen_ms", "bigint"),
    ("committed_below_ms", "bigint"),
    ("splits", "integer"),
    ("updated_at", "timestamp with time zone"),
];

fn sql_type(info_schema: &str) -> &'static str {
    match info_schema {
        "text" => "text",
        "timestamp with time zone" => "timestamptz",
        "double precision" => "float8",
        "bigint" => "int8",
        "integer" => "int4",
        other => unreachable!("no column of type {other}"),
    }
}

/// The wire type of a column type as `information_schema` spells it.
pub fn wire_type(info_schema: &str) -> postgres::types::Type {
    match info_schema {
        "text" => postgres::types::Type::TEXT,
        "timestamp with time zone" => postgres::types::Type::TIMESTAMPTZ,
        "double precision" => postgres::types::Type::FLOAT8,
        "bigint" => postgres::types::Type::INT8,
        "integer" => postgres::types::Type::INT4,
        other => unreachable!("no column of type {other}"),
    }
}

/// A table tickflow writes: name, columns, primary key, nullable columns.
pub(super) struct TableDef<'a> {
    pub name: &'a str,
    pub columns: &'static [Column],
    pub key: &'static [&'static str],
    pub nullable: &'static [&'static str],
}

/// Every table the sink writes, the owners table last.
pub(super) fn definitions(t: &Tables) -> [TableDef<'_>; 6] {
    [
        TableDef {
            name: &t.symbol_averages,
            columns: &SYMBOL_COLUMNS,
            key: &["symbol", "window_end"],
            nullable: &["vwap"],
        },
        TableDef {
            name: &t.category_means,
            columns: &CATEGORY_COLUMNS,
            key: &["category", "window_end"],
            nullable: &[],
        },
        TableDef {
            name: &t.sector_averages,
            columns: &SECTOR_COLUMNS,
            key: &["sector", "window_end"],
            nullable: &["vwap"],
        },
        TableDef {
            name: &t.rejects,
            columns: &REJECT_COLUMNS,
            key: &["pipeline", "source", "partition", "position"],
            nullable: &["line"],
        },
        TableDef {
            name: &t.progress,
            columns: &PROGRESS_COLUMNS,
            key: &["pipeline", "source", "partition"],
            nullable: &["max_seen_ms"],
        },
        TableDef {
            name: OWNERS,
            columns: &OWNER_COLUMNS,
            key: &["schema_name", "table_name"],
            nullable: &[],
        },
    ]
}

/// Creates the schema and tables if missing, checks that existing ones fit, and claims the
/// result tables for `pipeline` (see [`super::owner`]); `take_over`: from another pipeline too.
/// Returns the tables taken over, each with its previous owner.
pub fn ensure(
    client: &mut Client,
    t: &Tables,
    pipeline: &str,
    take_over: bool,
) -> Result<Vec<TakenOver>, PgError> {
    // Processes of a cluster start together, and concurrent `CREATE ... IF NOT EXISTS` can
    // still collide in the catalog: one transaction under an advisory lock at a time.
    let mut tx = client
        .transaction()
        .map_err(|e| PgError::statement("BEGIN", e))?;
    let lock = "SELECT pg_advisory_xact_lock(hashtext('tickflow schema setup'))";
    tx.batch_execute(lock)
        .map_err(|e| PgError::statement(lock, e))?;
    let created = ensure_locked(&mut tx, t)?;
    let taken = owner::claim(&mut tx, t, pipeline, take_over, &created)?;
    tx.commit().map_err(|e| PgError::statement("COMMIT", e))?;
    Ok(taken)
}

/// Creates what is missing; returns the names of the tables it created.
fn ensure_locked(
    client: &mut postgres::Transaction<'_>,
    t: &Tables,
) -> Result<Vec<String>, PgError> {
    let ddl = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", t.schema);
    client
        .batch_execute(&ddl)
        .map_err(|e| PgError::statement(&ddl, e))?;
    let tables = definitions(t);
    let mut created = Vec::new();
    for TableDef {
        name,
        columns,
        key,
        nullable,
    } in tables
    {
        let cols: Vec<String> = columns
            .iter()
            .map(|(c, ty)| {
                if *c == REVISION {
                    return REVISION_DDL.to_string();
                }
                let null = if nullable.contains(c) {
                    ""
                } else {
                    " NOT NULL"
                };
                format!("\"{c}\" {}{null}", sql_type(ty))
            })
            .collect();
        let key: Vec<String> = key.iter().map(|k| format!("\"{k}\"")).collect();
        let sql =
            "SELECT NOT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = $2)";
        let missing: bool = client
            .query_one(sql, &[&t.schema, &name])
            .map_err(|e| PgError::statement(sql, e))?
            .get(0);
        if missing {
            created.push(name.to_string());
        }
        let ddl = format!(
            "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))",
            t.qualified(name),
            cols.join(", "),
            key.join(", ")
        );
        client
            .batch_execute(&ddl)
            .map_err(|e| PgError::statement(&ddl, e))?;
        if columns.iter().any(|(c, _)| *c == REVISION) {
            add_revision(client, t, name)?;
        }
        check_shape(client, t, name, columns, &key).map_err(|e| e.into_error(t, name))?;
    }
    Ok(created)
}

/// What is wrong with an existing table's shape, or why it could not be read.
pub(super) enum ShapeError {
    Wrong(String),
    Failed(PgError),
}

impl ShapeError {
    fn into_error(self, t: &Tables, name: &str) -> PgError {
        match self {
            ShapeError::Wrong(problems) => PgError::Shape {
                table: t.qualified(name),
                problems,
            },
            ShapeError::Failed(e) => e,
        }
    }
}

/// Adds the revision column to a result table an earlier version created without it.
fn add_revision(
    client: &mut postgres::Transaction<'_>,
    t: &Tables,
    name: &str,
) -> Result<(), PgError> {
    let sql = "SELECT NOT EXISTS (SELECT FROM information_schema.columns \
               WHERE table_schema = $1 AND table_name = $2 AND column_name = $3)";
    let missing: bool = client
        .query_one(sql, &[&t.schema, &name, &REVISION])
        .map_err(|e| PgError::statement(sql, e))?
        .get(0);
    if missing {
        let ddl = format!(
            "ALTER TABLE {} ADD COLUMN {REVISION_DDL}",
            t.qualified(name)
        );
        client
            .batch_execute(&ddl)
            .map_err(|e| PgError::statement(&ddl, e))?;
        tracing::info!(table = %t.qualified(name), "added the revision column");
    }
    Ok(())
}

/// An existing table must have every column with the right type and a unique key on `key`.
pub(super) fn check_shape(
    client: &mut impl postgres::GenericClient,
    t: &Tables,
    name: &str,
    columns: &[Column],
    key: &[String],
) -> Result<(), ShapeError> {
    let failed = |sql: &str, e| ShapeError::Failed(PgError::statement(sql, e));
    let sql = "SELECT column_name::text, data_type::text FROM information_schema.columns \
               WHERE table_schema = $1 AND table_name = $2";
    let found: Vec<(String, String)> = client
        .query(sql, &[&t.schema, &name])
        .map_err(|e| failed(sql, e))?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut problems = Vec::new();
    for (col, ty) in columns {
        match found.iter().find(|(c, _)| c == col) {
            None => problems.push(format!("column {col} is missing")),
            Some((_, t)) if t != ty => problems.push(format!("column {col} is {t}, expected {ty}")),
            Some(_) => {}
        }
    }
    let sql = "SELECT array_agg(a.attname::text ORDER BY a.attname) FROM pg_index i \
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
               WHERE i.indrelid = $1::text::regclass AND i.indisunique GROUP BY i.indexrelid";
    let qualified = t.qualified(name);
    let uniques: Vec<Vec<String>> = client
        .query(sql, &[&qualified])
        .map_err(|e| failed(sql, e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut want: Vec<String> = key
        .iter()
        .map(|k| k.trim_matches('"').to_string())
        .collect();
    want.sort();
    if !uniques.contains(&want) {
        problems.push(format!(
            "no primary key or unique index on ({})",
            want.join(", ")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ShapeError::Wrong(problems.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        for ok in ["symbol_averages", "_x", "T1"] {
            assert!(validate_identifier("t", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "a-b",
            "a\"; DROP TABLE x; --",
            "ünï",
            &"x".repeat(64),
            "a b",
        ] {
            assert!(validate_identifier("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn no_table_may_take_the_owners_table_name() {
        let t = Tables {
            progress: OWNERS.into(),
            ..Tables::default()
        };
        let e = t.validate().unwrap_err();
        assert!(e.contains("progress table") && e.contains(OWNERS), "{e}");
        assert!(Tables::default().validate().is_ok());
    }
}
