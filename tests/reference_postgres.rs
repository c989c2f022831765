//! The PostgreSQL reference reader against the real server: the first read, an UPDATE seen at
//! the next poll and not before, a symbol with two valid_from rows, NULL rows skipped and
//! counted, a lost connection survived, wrong shapes and an unreachable server refused, and
//! verify-full TLS against a server of the test's own.
//!
//! The server is `TICKFLOW_TEST_PG` (default `postgres://root@127.0.0.1:5432/test`); each test
//! works in a schema of its own. Under `CI=true` a missing server fails these tests.

mod common;

use std::time::{Duration, Instant};

use common::certs::Certs;
use common::pg::*;
use common::pgserver::{PgServer, CERT_USER};
use tickflow::event::EventTime;
use tickflow::metrics::{reference_errors, ReferenceProblem};
use tickflow::reference::{open, Mapping, PostgresReference, ReferenceReader, ReferenceSpec};

/// How often the tests' readers poll: short, so that waiting for the next poll is quick.
const POLL: Duration = Duration::from_millis(300);

/// 2025-11-20T09:30:00Z in Unix milliseconds.
const T0: u64 = 1_763_631_000_000;

fn row(symbol: &str, sector: &str, valid_from: Option<u64>) -> Mapping {
    Mapping {
        symbol: symbol.into(),
        sector: sector.into(),
        valid_from: valid_from.map(EventTime),
    }
}

/// A fresh schema `tag` holding table `sectors` of the reference shape, filled by `rows_sql`.
fn reference_table(client: &mut postgres::Client, tag: &str, rows_sql: &str) -> String {
    let schema = fresh_schema(client, tag);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.sectors (symbol text, sector text, valid_from timestamptz);
             INSERT INTO {schema}.sectors VALUES {rows_sql};"
        ))
        .unwrap();
    format!("{schema}.sectors")
}

fn spec(url: &str, table: &str) -> ReferenceSpec {
    ReferenceSpec::Postgres {
        url: url.into(),
        table: table.into(),
        poll: POLL,
    }
}

fn reader(url: &str, table: &str) -> Box<dyn ReferenceReader> {
    open(&spec(url, table)).unwrap_or_else(|e| panic!("{e}"))
}

/// Calls `read` until it returns a snapshot (the reader decides when it looks; the deadline
/// only stops a broken test from hanging).
fn next_snapshot(reader: &mut dyn ReferenceReader) -> Vec<Mapping> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(rows) = reader.read().unwrap() {
            return rows;
        }
        assert!(Instant::now() < deadline, "no new snapshot within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_update_is_seen_at_the_next_poll_and_not_before() {
    let Some(mut client) = pg() else { return };
    let table = reference_table(
        &mut client,
        "refpg_update",
        "('AAPL', 'Tech', NULL), ('XOM', 'Energy', NULL),
         ('JPM', 'Tech', '2025-11-20T09:00:00Z'), ('JPM', 'Banks', '2025-11-20T10:30:00+01:00')",
    );
    let mut reader = reader(&pg_url(), &table);
    let first_read = Instant::now();
    let first = reader
        .read()
        .unwrap()
        .expect("the first read returns the table");
    // A symbol with two valid_from rows keeps both: the as-of join picks per window.
    assert_eq!(
        first,
        vec![
            row("AAPL", "Tech", None),
            row("JPM", "Banks", Some(T0)),
            row("JPM", "Tech", Some(T0 - 1_800_000)),
            row("XOM", "Energy", None),
        ]
    );
    client
        .batch_execute(&format!(
            "UPDATE {table} SET sector = 'Oil' WHERE symbol = 'XOM'"
        ))
        .unwrap();
    assert_eq!(
        reader.read().unwrap(),
        None,
        "read before the poll interval"
    );
    let second = next_snapshot(&mut *reader);
    assert!(first_read.elapsed() >= POLL, "read again before the poll");
    assert_eq!(
        second,
        vec![
            row("AAPL", "Tech", None),
            row("JPM", "Banks", Some(T0)),
            row("JPM", "Tech", Some(T0 - 1_800_000)),
            row("XOM", "Oil", None),
        ]
    );
    // A row deleted is gone from the next snapshot.
    client
        .batch_execute(&format!("DELETE FROM {table} WHERE symbol = 'JPM'"))
        .unwrap();
    let third = next_snapshot(&mut *reader);
    assert_eq!(
        third,
        vec![row("AAPL", "Tech", None), row("XOM", "Oil", None)]
    );
}

#[test]
fn rows_without_symbol_or_sector_are_skipped_and_counted() {
    let Some(mut client) = pg() else { return };
    let table = reference_table(
        &mut client,
        "refpg_nulls",
        "('AAPL', 'Tech', NULL), (NULL, 'Tech', NULL), ('MSFT', NULL, NULL), ('IBM', '', NULL),
         ('GE', 'Industry', 'infinity'), ('OLD', 'Rail', '1960-01-01T00:00:00Z'),
         ('DUP', 'B', '2025-11-20T09:30:00Z'), ('DUP', 'A', '2025-11-20T09:30:00Z')",
    );
    let source = spec(&pg_url(), &table).to_string();
    let mut reader = reader(&pg_url(), &table);
    let rows = reader.read().unwrap().unwrap();
    // A date before 1970 is before every window; of two sectors at one valid_from the
    // smallest is kept, whatever order the server sends them in.
    assert_eq!(
        rows,
        vec![
            row("AAPL", "Tech", None),
            row("DUP", "A", Some(T0)),
            row("OLD", "Rail", Some(0)),
        ]
    );
    assert_eq!(reference_errors(&source, ReferenceProblem::Invalid), 5);
    // The same unusable rows at the next poll are not counted again; a new one is.
    client
        .batch_execute(&format!(
            "INSERT INTO {table} VALUES (NULL, NULL, NULL), ('NEW', 'Tech', NULL)"
        ))
        .unwrap();
    let again = next_snapshot(&mut *reader);
    assert_eq!(again.len(), 4, "{again:?}");
    assert_eq!(reference_errors(&source, ReferenceProblem::Invalid), 6);
}

#[test]
fn a_lost_connection_keeps_the_mapping_and_reconnects() {
    let Some(mut client) = pg() else { return };
    let table = reference_table(&mut client, "refpg_lost", "('AAPL', 'Tech', NULL)");
    let app = format!("tf_ref_lost_{}", std::process::id());
    let url = with_query(&pg_url(), &format!("application_name={app}"));
    let source = spec(&url, &table).to_string();
    let mut reader = reader(&url, &table);
    assert_eq!(
        reader.read().unwrap(),
        Some(vec![row("AAPL", "Tech", None)])
    );
    // The server drops the reader's connection (as a restart would).
    let killed: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .get(0);
    assert_eq!(killed, 1);
    // The next poll fails, is counted, and keeps the mapping: no error, no new snapshot.
    let deadline = Instant::now() + Duration::from_secs(60);
    while reference_errors(&source, ReferenceProblem::ReadFailed) == 0 {
        assert_eq!(reader.read().unwrap(), None);
        assert!(
            Instant::now() < deadline,
            "the lost connection went unnoticed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The poll after reconnects and sees what changed meanwhile.
    client
        .batch_execute(&format!("UPDATE {table} SET sector = 'Phones'"))
        .unwrap();
    assert_eq!(
        next_snapshot(&mut *reader),
        vec![row("AAPL", "Phones", None)]
    );
}

#[test]
fn a_table_altered_while_running_fails_reads_not_the_run() {
    let Some(mut client) = pg() else { return };
    let table = reference_table(&mut client, "refpg_alter", "('AAPL', 'Tech', NULL)");
    let source = spec(&pg_url(), &table).to_string();
    let mut reader = reader(&pg_url(), &table);
    assert_eq!(
        reader.read().unwrap(),
        Some(vec![row("AAPL", "Tech", None)])
    );
    client
        .batch_execute(&format!(
            "ALTER TABLE {table} ALTER COLUMN valid_from TYPE date"
        ))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reference_errors(&source, ReferenceProblem::ReadFailed) == 0 {
        assert_eq!(reader.read().unwrap(), None);
        assert!(
            Instant::now() < deadline,
            "the altered table went unnoticed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Put right, the table is read again.
    client
        .batch_execute(&format!(
            "ALTER TABLE {table} ALTER COLUMN valid_from TYPE timestamptz;
             INSERT INTO {table} VALUES ('XOM', 'Energy', NULL)"
        ))
        .unwrap();
    assert_eq!(
        next_snapshot(&mut *reader),
        vec![row("AAPL", "Tech", None), row("XOM", "Energy", None)]
    );
}

fn with_query(url: &str, pair: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{pair}")
}

/// The message of the error opening the reference `table` at `url`.
fn open_error(url: &str, table: &str) -> String {
    match open(&spec(url, table)) {
        Ok(_) => panic!("{table} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_wrong_shape_names_the_table_and_the_column() {
    let Some(mut client) = pg() else { return };
    let schema = fresh_schema(&mut client, "refpg_shape");
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
             CREATE TABLE {schema}.typed (symbol text, sector int4, valid_from timestamp);
             CREATE TABLE {schema}.short (symbol varchar(12), sector text);
             CREATE TABLE {schema}.wide (symbol char(8), sector varchar, valid_from timestamptz, note text);
             INSERT INTO {schema}.wide VALUES ('AAPL', 'Tech', NULL, 'x');"
        ))
        .unwrap();
    let e = open_error(&pg_url(), &format!("{schema}.typed"));
    assert!(
        e.contains(&format!("table {schema}.typed"))
            && e.contains("column sector is integer, expected text")
            && e.contains("column valid_from is timestamp without time zone, expected timestamptz"),
        "{e}"
    );
    let e = open_error(&pg_url(), &format!("{schema}.short"));
    assert!(e.contains("column valid_from is missing"), "{e}");
    let e = open_error(&pg_url(), &format!("{schema}.absent"));
    assert!(
        e.contains(&format!("table {schema}.absent does not exist"))
            && e.contains("--reference-table"),
        "{e}"
    );
    let e = open_error(&pg_url(), "a;b");
    assert!(e.contains("not a valid identifier"), "{e}");
    // char and varchar read as text (char without its padding); other columns are ignored.
    let mut wide = reader(&pg_url(), &format!("{schema}.wide"));
    assert_eq!(wide.read().unwrap(), Some(vec![row("AAPL", "Tech", None)]));
}

#[test]
fn an_unreachable_server_at_start_is_an_error_naming_it() {
    let port = common::free_port();
    let url = format!("postgres://someone:secret@127.0.0.1:{port}/test");
    let started = Instant::now();
    let e = match PostgresReference::connect_within(&url, "sectors", POLL, Duration::from_secs(1)) {
        Ok(_) => panic!("nothing listens on {port}"),
        Err(e) => e.to_string(),
    };
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "gave up before the timeout"
    );
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("is the server running"),
        "{e}"
    );
    assert!(!e.contains("secret"), "the password leaked: {e}");
}

#[test]
fn verify_full_tls_reads_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path(), CERT_USER);
    let Some(server) = PgServer::start(&certs) else {
        return;
    };
    server
        .local("root", "test")
        .batch_execute(
            "CREATE TABLE sectors (symbol text, sector text, valid_from timestamptz);
             INSERT INTO sectors VALUES ('AAPL', 'Tech', NULL);",
        )
        .unwrap();
    let query = format!("sslmode=verify-full&sslrootcert={}", certs.ca.display());
    let mut tls = reader(&server.url("root", "localhost", &query), "sectors");
    assert_eq!(tls.read().unwrap(), Some(vec![row("AAPL", "Tech", None)]));
    // A CA that did not sign the server's certificate is refused, saying so.
    let query = format!(
        "sslmode=verify-full&sslrootcert={}",
        certs.wrong_ca.display()
    );
    let e = match PostgresReference::connect_within(
        &server.url("root", "localhost", &query),
        "sectors",
        POLL,
        Duration::from_secs(2),
    ) {
        Ok(_) => panic!("a wrong CA was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("certificate"), "{e}");
}

/// `tickflow check` with `args`: whether it passed, and its lines.
fn check(args: &[&str]) -> (bool, Vec<String>) {
    let out = common::tickflow().arg("check").args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success(),
        text.lines().map(String::from).collect(),
    )
}

#[test]
fn check_reports_a_postgres_reference_and_writes_nothing() {
    let Some(mut client) = pg() else { return };
    let table = reference_table(
        &mut client,
        "refpg_check",
        "('AAPL', 'Tech', NULL), ('JPM', 'Banks', NULL), ('JPM', 'Tech', '2025-11-20T09:30:00Z'),
         (NULL, 'Tech', NULL)",
    );
    let url = pg_url();
    let shown = spec(&url, &table).to_string();
    let args = |table: &str| -> Vec<String> {
        [
            "--source",
            "generator",
            "--reference",
            &url,
            "--reference-table",
            table,
        ]
        .map(String::from)
        .to_vec()
    };
    let run = |args: Vec<String>| check(&args.iter().map(String::as_str).collect::<Vec<_>>());
    // Only this test touches its schema: what check could write would show there.
    let schema = table.split('.').next().unwrap().to_string();
    let tables_and_rows = |client: &mut postgres::Client| -> (i64, i64) {
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
                &[&schema],
            )
            .unwrap()
            .get(0);
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0);
        (tables, rows)
    };
    let before = tables_and_rows(&mut client);
    let (ok, lines) = run(args(&table));
    assert!(ok, "{lines:?}");
    assert_eq!(
        lines[1],
        format!("reference {shown}: ok (2 symbols in 2 sectors, 3 rows; 1 unusable row or message skipped (warned about on stderr))")
    );
    assert_eq!(
        tables_and_rows(&mut client),
        before,
        "check wrote something"
    );
    client
        .batch_execute(&format!(
            "ALTER TABLE {table} ALTER COLUMN valid_from TYPE date"
        ))
        .unwrap();
    let (ok, lines) = run(args(&table));
    assert!(!ok, "{lines:?}");
    assert!(
        lines[1].starts_with(&format!("reference {shown}: FAILED: "))
            && lines[1].contains("column valid_from is date, expected timestamptz"),
        "{lines:?}"
    );
}
