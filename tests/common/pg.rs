//! PostgreSQL helpers shared by the tests that need the real server.

use postgres::{Client, NoTls};

pub fn pg_url() -> String {
    std::env::var("TICKFLOW_TEST_PG")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into())
}

/// A connection, or `None` (said out loud) when no server is reachable outside CI.
pub fn pg() -> Option<Client> {
    match Client::connect(&pg_url(), NoTls) {
        Ok(c) => Some(c),
        Err(e) => {
            super::skip(&format!("no PostgreSQL at {}: {e}", pg_url()));
            None
        }
    }
}

/// A schema of this test's own; schemas that earlier runs of the same test left behind are
/// dropped, but not those of a run still going (test suites of two checkouts may share a server).
pub fn fresh_schema(client: &mut Client, tag: &str) -> String {
    let old: Vec<String> = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1",
            &[&format!("tf\\_{tag}\\_%")],
        )
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|schema| {
            let pid = schema.rsplit('_').next().unwrap_or("");
            !std::path::Path::new("/proc").join(pid).exists()
        })
        .collect();
    for schema in old {
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .unwrap();
    }
    format!("tf_{tag}_{}", std::process::id())
}

pub fn iso_of(ms: i64) -> String {
    tickflow::event::EventTime(ms as u64).to_string()
}

/// Both result tables, in the stdout row layout.
pub fn table_rows(
    client: &mut Client,
    schema: &str,
) -> std::collections::BTreeMap<super::RowKey, serde_json::Value> {
    let mut out = std::collections::BTreeMap::new();
    let ms = |c: &str| format!("(extract(epoch from {c}) * 1000)::int8");
    let sql = format!(
        "SELECT symbol, {}, {}, avg_price, min_price, max_price, vwap, ticks, volume FROM {schema}.symbol_averages",
        ms("window_start"),
        ms("window_end")
    );
    for r in client.query(&sql, &[]).unwrap() {
        let (symbol, end): (String, i64) = (r.get(0), r.get(2));
        let v = serde_json::json!({"kind": "symbol_average", "symbol": symbol, "window_start": iso_of(r.get(1)),
            "window_end": iso_of(end), "avg_price": r.get::<_, f64>(3), "min_price": r.get::<_, f64>(4),
            "max_price": r.get::<_, f64>(5), "vwap": r.get::<_, Option<f64>>(6),
            "ticks": r.get::<_, i64>(7), "volume": r.get::<_, i64>(8)});
        out.insert(("symbol_average".into(), symbol, iso_of(end)), v);
    }
    let sql = format!(
        "SELECT category, {}, {}, mean_value, readings FROM {schema}.category_means",
        ms("window_start"),
        ms("window_end")
    );
    for r in client.query(&sql, &[]).unwrap() {
        let (category, end): (String, i64) = (r.get(0), r.get(2));
        let v = serde_json::json!({"kind": "category_mean", "category": category, "window_start": iso_of(r.get(1)),
            "window_end": iso_of(end), "mean_value": r.get::<_, f64>(3), "readings": r.get::<_, i64>(4)});
        out.insert(("category_mean".into(), category, iso_of(end)), v);
    }
    out
}

/// Rows of `table` in schema `a` that differ in any column from schema `b`, either way.
pub fn differing(client: &mut Client, a: &str, b: &str, table: &str, key: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM {a}.{table} x FULL OUTER JOIN {b}.{table} y USING ({key}) \
         WHERE row_to_json(x)::text IS DISTINCT FROM row_to_json(y)::text"
    );
    client.query_one(&sql, &[]).unwrap().get(0)
}

/// Both result tables hold the same rows in schemas `a` and `b`, every column.
pub fn assert_same_results(client: &mut Client, a: &str, b: &str) {
    for (table, key) in [
        ("symbol_averages", "symbol, window_end"),
        ("category_means", "category, window_end"),
        ("sector_averages", "sector, window_end"),
    ] {
        assert_eq!(count(client, a, table), count(client, b, table), "{table}");
        assert_eq!(differing(client, a, b, table, key), 0, "{table} differs");
    }
}

pub fn count(client: &mut Client, schema: &str, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
        .unwrap()
        .get(0)
}

/// The rejects tables of schemas `a` and `b` hold the same rows (source, partition, position,
/// line, reason, raw), none repeated; returns how many.
pub fn assert_same_rejects(client: &mut Client, a: &str, b: &str) -> usize {
    let rejects = |c: &mut Client, s: &str| -> Vec<(String, i32, i64, i64, String, String)> {
        c.query(
            &format!("SELECT source, partition, position, line, reason, raw FROM {s}.tickflow_rejects ORDER BY 1, 2, 3"),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
        .collect()
    };
    let want = rejects(client, a);
    assert_eq!(want, rejects(client, b), "rejects differ or repeat");
    want.len()
}
