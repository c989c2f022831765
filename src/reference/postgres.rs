//! The mapping from a PostgreSQL table `(symbol text, sector text, valid_from timestamptz
//! null)`, read again every poll interval.
//!
//! How it works:
//! 1. [`PostgresReference::connect`] connects as the PostgreSQL sink does (libpq's URL, TLS and
//!    environment settings; retried for up to 30 s while the server may yet answer), makes the
//!    session read-only, and checks that the table exists with the three columns.
//! 2. The first `read` selects the whole table in one statement, so the snapshot is one
//!    consistent state of it; a failure there is an error. Later calls return `None` until
//!    `poll` has passed, then select again and return `Some` only when the snapshot differs.
//! 3. After the first good read, a failure (server restart, network, the table locked away)
//!    is warned about and counted; the last mapping stays in force, and the next poll
//!    reconnects and tries again. A running pipeline is never stopped by its reference table.
//! 4. Rows that cannot be used (a NULL or empty symbol or sector, a valid_from of `infinity`)
//!    are skipped with a warning naming them, once per appearance, and counted in
//!    `tickflow_reference_errors_total{reason="invalid"}`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use postgres::types::{FromSql, Type};
use postgres::Client;

use super::snapshot::canonical;
use super::{Mapping, ReferenceError, ReferenceReader};
use crate::event::EventTime;
use crate::metrics::{add_reference_errors, ReferenceProblem};
use crate::sink::postgres::{connect, validate_identifier, PgError, Target};

/// How long connecting at start keeps trying, as `--pg-connect-timeout` does by default.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Most unusable rows named one by one per read; the rest are counted.
const WARNINGS_PER_READ: usize = 10;

/// A PostgreSQL reference table, read every `poll`.
pub struct PostgresReference {
    target: Target,
    /// `"schema"."table"` or `"table"`, quoted as written.
    table: String,
    /// The URL without password, and the table, as messages name the source.
    shown: String,
    poll: Duration,
    client: Option<Client>,
    /// When the table is selected again; `None` before the first read.
    next_read: Option<Instant>,
    last: Vec<Mapping>,
    /// Unusable rows of the last read, so each is warned about once, not at every poll.
    last_skipped: BTreeSet<String>,
    /// Why the last read failed, while reads are failing.
    failing: Option<String>,
}

impl PostgresReference {
    /// Connects to `url` and checks `table` (`name` or `schema.name`), retrying an unreachable
    /// server for up to [`CONNECT_TIMEOUT`].
    pub fn connect(url: &str, table: &str, poll: Duration) -> Result<Self, ReferenceError> {
        Self::connect_within(url, table, poll, CONNECT_TIMEOUT)
    }

    /// As [`PostgresReference::connect`], giving up on an unreachable server after `timeout`.
    pub fn connect_within(
        url: &str,
        table: &str,
        poll: Duration,
        timeout: Duration,
    ) -> Result<Self, ReferenceError> {
        let shown = format!("{} table {table}", crate::sink::postgres::redact(url));
        let unusable = |message: String| ReferenceError::Unusable {
            source_name: shown.clone(),
            message,
        };
        let quoted = quote_table(table).map_err(&unusable)?;
        let target = Target::parse(url).map_err(|e| unusable(format!("{e}; fix --reference")))?;
        let mut client = open_session(&target, timeout)
            .map_err(|e| unusable(format!("{e}; or fix the URL in --reference")))?;
        check_columns(&mut client, &quoted, table).map_err(unusable)?;
        Ok(PostgresReference {
            target,
            table: quoted,
            shown,
            poll,
            client: Some(client),
            next_read: None,
            last: Vec::new(),
            last_skipped: BTreeSet::new(),
            failing: None,
        })
    }

    /// Selects the whole table: the usable rows, canonical, and the unusable ones described.
    fn select(&mut self) -> Result<(Vec<Mapping>, Vec<String>), String> {
        if self.client.is_none() {
            // One reconnection per poll, kept shorter than the poll itself.
            let patience = self
                .poll
                .clamp(Duration::from_secs(1), Duration::from_secs(10));
            let client = open_session(&self.target, patience).map_err(|e| e.to_string())?;
            self.client = Some(client);
        }
        let client = self.client.as_mut().expect("connected just above");
        let sql = format!(
            "SELECT symbol::text, sector::text, valid_from FROM {}",
            self.table
        );
        let rows = match client.query(&sql, &[]) {
            Ok(rows) => rows,
            Err(e) => {
                // A broken connection is not reused; the next poll opens another.
                self.client = None;
                return Err(PgError::statement(&sql, e).to_string());
            }
        };
        let mut usable = Vec::with_capacity(rows.len());
        let mut skipped = Vec::new();
        // The table may have been altered since it was checked: a column of another type now
        // fails the read (and the last mapping stays), it does not stop the run.
        let changed = |e: postgres::Error| {
            format!("{e}; the table's columns must stay symbol text, sector text, valid_from timestamptz")
        };
        for row in &rows {
            let symbol: Option<String> = row.try_get(0).map_err(changed)?;
            let sector: Option<String> = row.try_get(1).map_err(changed)?;
            let valid_from: Option<PgTimestamp> = row.try_get(2).map_err(changed)?;
            match usable_row(symbol.as_deref(), sector.as_deref(), valid_from) {
                Ok(mapping) => usable.push(mapping),
                Err(why) => skipped.push(format!(
                    "row (symbol {}, sector {}, valid_from {}): {why}",
                    shown_text(symbol.as_deref()),
                    shown_text(sector.as_deref()),
                    valid_from.map_or("NULL".into(), |t| t.to_string()),
                )),
            }
        }
        let (kept, ambiguous) = canonical(usable);
        skipped.extend(ambiguous.iter().map(|m| {
            format!(
                "row (symbol {:?}, sector {:?}, valid_from {}): another row gives {:?} the same valid_from; kept the smallest sector",
                m.symbol,
                m.sector,
                m.valid_from.map_or("NULL".into(), |t| t.to_string()),
                m.symbol
            )
        }));
        Ok((kept, skipped))
    }

    /// Warns about unusable rows not seen at the previous read, and counts them.
    fn report_skipped(&mut self, skipped: Vec<String>) {
        let now: BTreeSet<String> = skipped.into_iter().collect();
        let new: Vec<&String> = now.difference(&self.last_skipped).collect();
        for row in new.iter().take(WARNINGS_PER_READ) {
            tracing::warn!(reference = %self.shown, "skipped {row}");
        }
        if new.len() > WARNINGS_PER_READ {
            tracing::warn!(reference = %self.shown, "skipped {} more unusable rows", new.len() - WARNINGS_PER_READ);
        }
        if !new.is_empty() {
            add_reference_errors(&self.shown, ReferenceProblem::Invalid, new.len() as u64);
        }
        self.last_skipped = now;
    }
}

impl ReferenceReader for PostgresReference {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError> {
        let first = self.next_read.is_none();
        if self.next_read.is_some_and(|at| Instant::now() < at) {
            return Ok(None);
        }
        self.next_read = Some(Instant::now() + self.poll);
        match self.select() {
            Ok((rows, skipped)) => {
                if let Some(why) = self.failing.take() {
                    tracing::info!(reference = %self.shown, after = %why, "reference table readable again");
                }
                self.report_skipped(skipped);
                if !first && rows == self.last {
                    return Ok(None);
                }
                self.last = rows.clone();
                Ok(Some(rows))
            }
            Err(message) if first => Err(ReferenceError::Unusable {
                source_name: self.shown.clone(),
                message,
            }),
            Err(message) => {
                add_reference_errors(&self.shown, ReferenceProblem::ReadFailed, 1);
                if self.failing.as_ref() != Some(&message) {
                    tracing::warn!(reference = %self.shown, error = %message, "cannot read the reference table; keeping the last mapping and trying again at the next poll");
                } else {
                    tracing::debug!(reference = %self.shown, error = %message, "reference table still unreadable");
                }
                self.failing = Some(message);
                Ok(None)
            }
        }
    }
}

/// Connects and makes the session read-only: the reader can never write, even by mistake.
fn open_session(target: &Target, timeout: Duration) -> Result<Client, PgError> {
    let mut client = connect(target, timeout)?;
    let sql = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY";
    client
        .batch_execute(sql)
        .map_err(|e| PgError::statement(sql, e))?;
    Ok(client)
}

/// `name` or `schema.name`, each a plain identifier, quoted (so matched as written).
fn quote_table(table: &str) -> Result<String, String> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 {
        return Err(format!(
            "--reference-table {table:?}: write NAME or SCHEMA.NAME"
        ));
    }
    let mut quoted = Vec::new();
    for part in parts {
        validate_identifier("--reference-table", part)?;
        quoted.push(format!("\"{part}\""));
    }
    Ok(quoted.join("."))
}

/// Column types `symbol` and `sector` may have (read as text).
const TEXT_TYPES: [&str; 3] = ["text", "varchar", "bpchar"];

/// The table (or view) exists and has `symbol` and `sector` of a text type and `valid_from`
/// of `timestamptz`; otherwise every problem, naming table and column.
fn check_columns(client: &mut Client, quoted: &str, table: &str) -> Result<(), String> {
    let sql = "SELECT a.attname::text, t.typname::text, format_type(a.atttypid, a.atttypmod) \
               FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
               WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped";
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted])
        .map_err(|e| PgError::statement("SELECT to_regclass($1)", e).to_string())?
        .get(0);
    if !exists {
        return Err(format!(
            "table {table} does not exist (or this user may not see it); create it (`CREATE TABLE {quoted} (symbol text, sector text, valid_from timestamptz)`) or fix --reference-table (names are matched as written, case included)"
        ));
    }
    let columns: Vec<(String, String, String)> = client
        .query(sql, &[&quoted])
        .map_err(|e| PgError::statement(sql, e).to_string())?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let mut problems = Vec::new();
    for (column, allowed, wanted) in [
        ("symbol", &TEXT_TYPES[..], "text"),
        ("sector", &TEXT_TYPES[..], "text"),
        ("valid_from", &["timestamptz"][..], "timestamptz"),
    ] {
        match columns.iter().find(|(name, _, _)| name == column) {
            None => problems.push(format!(
                "column {column} is missing (add it: `ALTER TABLE {quoted} ADD COLUMN {column} {wanted}`)"
            )),
            Some((_, ty, shown)) if !allowed.contains(&ty.as_str()) => problems.push(format!(
                "column {column} is {shown}, expected {wanted}"
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "table {table} cannot be read as a reference: {}",
            problems.join("; ")
        ))
    }
}

/// A row as a mapping, or why it cannot be one.
fn usable_row(
    symbol: Option<&str>,
    sector: Option<&str>,
    valid_from: Option<PgTimestamp>,
) -> Result<Mapping, &'static str> {
    let symbol = symbol.ok_or("symbol is NULL")?;
    let sector = sector.ok_or("sector is NULL")?;
    if symbol.is_empty() {
        return Err("symbol is empty");
    }
    if sector.is_empty() {
        return Err("sector is empty");
    }
    let valid_from = match valid_from {
        None => None,
        Some(t) => Some(
            t.event_time()
                .ok_or("valid_from is infinity: it would never apply")?,
        ),
    };
    Ok(Mapping {
        symbol: symbol.to_string(),
        sector: sector.to_string(),
        valid_from,
    })
}

fn shown_text(text: Option<&str>) -> String {
    text.map_or_else(|| "NULL".into(), |t| format!("{t:?}"))
}

/// A `timestamptz` as it comes over the wire: microseconds since 2000-01-01 UTC, with the
/// largest and smallest values standing for `infinity` and `-infinity`.
#[derive(Clone, Copy, Debug)]
struct PgTimestamp(i64);

/// 2000-01-01T00:00:00Z in Unix milliseconds.
const PG_EPOCH_MS: i64 = 946_684_800_000;

impl PgTimestamp {
    /// The event time it names: times before 1970 (and `-infinity`) count as 1970-01-01, which
    /// is before every window; `None` for `infinity`.
    fn event_time(self) -> Option<EventTime> {
        match self.0 {
            i64::MAX => None,
            i64::MIN => Some(EventTime(0)),
            micros => {
                let ms = micros.div_euclid(1000).saturating_add(PG_EPOCH_MS);
                Some(EventTime(ms.max(0) as u64))
            }
        }
    }
}

impl std::fmt::Display for PgTimestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            i64::MAX => f.write_str("infinity"),
            i64::MIN => f.write_str("-infinity"),
            _ => match self.event_time() {
                Some(EventTime(0)) => f.write_str("before 1970"),
                Some(t) => write!(f, "{t}"),
                None => f.write_str("infinity"),
            },
        }
    }
}

impl<'a> FromSql<'a> for PgTimestamp {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let bytes: [u8; 8] = raw
            .try_into()
            .map_err(|_| format!("a timestamptz of {} bytes, not 8", raw.len()))?;
        Ok(PgTimestamp(i64::from_be_bytes(bytes)))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_plain_identifiers_quoted() {
        assert_eq!(quote_table("sectors"), Ok("\"sectors\"".into()));
        assert_eq!(quote_table("ref.Sectors"), Ok("\"ref\".\"Sectors\"".into()));
        for bad in ["a.b.c", "a;drop", "", "x.", "\"x\""] {
            assert!(quote_table(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_from_the_wire() {
        // 2025-11-20T09:30:00Z is 816_946_200 s after 2000-01-01.
        let t = PgTimestamp(816_946_200_000_000 + 123_456);
        assert_eq!(t.event_time(), Some(EventTime(1_763_631_000_123)));
        assert_eq!(PgTimestamp(i64::MAX).event_time(), None);
        assert_eq!(PgTimestamp(i64::MIN).event_time(), Some(EventTime(0)));
        assert_eq!(
            PgTimestamp(-PG_EPOCH_MS * 1000 - 1).event_time(),
            Some(EventTime(0))
        );
    }

    #[test]
    fn unusable_rows_say_why() {
        assert_eq!(usable_row(None, Some("x"), None), Err("symbol is NULL"));
        assert_eq!(usable_row(Some("A"), None, None), Err("sector is NULL"));
        assert_eq!(
            usable_row(Some(""), Some("x"), None),
            Err("symbol is empty")
        );
        assert!(usable_row(Some("A"), Some("x"), Some(PgTimestamp(i64::MAX))).is_err());
        assert_eq!(
            usable_row(Some("A"), Some("x"), None),
            Ok(Mapping {
                symbol: "A".into(),
                sector: "x".into(),
                valid_from: None
            })
        );
    }
}
