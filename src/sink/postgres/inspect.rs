//! A read-only look at a PostgreSQL target for `tickflow check`: reached with its TLS, its
//! tables absent (to be created) or of the right shape, and the rights to create and write.

use std::time::Duration;

use postgres::GenericClient;

use super::schema::{check_shape, definitions, ShapeError, Tables, REVISION};
use super::{connect, PgError, Target};

/// What `tickflow check` says of a PostgreSQL target: `Ok` with what it found, or `Err` with
/// every problem and what to change.
pub fn inspect(target: &Target, tables: &Tables, timeout: Duration) -> Result<String, String> {
    let mut client = connect(target, timeout).map_err(|e| e.to_string())?;
    // Read only, and rolled back: the check cannot write even by mistake.
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .map_err(|e| PgError::statement("BEGIN READ ONLY", e).to_string())?;
    let found = look(&mut tx, target, tables).map_err(|e| e.to_string())?;
    drop(tx);
    if found.problems.is_empty() {
        Ok(found.notes.join("; "))
    } else {
        Err(found.problems.join("; "))
    }
}

#[derive(Default)]
struct Found {
    notes: Vec<String>,
    problems: Vec<String>,
}

fn look(client: &mut impl GenericClient, target: &Target, t: &Tables) -> Result<Found, PgError> {
    let mut found = Found::default();
    let mut one = |sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
        client
            .query_one(sql, params)
            .map_err(|e| PgError::statement(sql, e))
    };
    let tls: Option<String> = one(
        "SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )?
    .get(0);
    found.notes.push(match tls {
        Some(version) => format!("{version}, sslmode={}", target.tls.mode.name()),
        None => format!("no TLS, sslmode={}", target.tls.mode.name()),
    });
    let user: String = one("SELECT current_user::text", &[])?.get(0);
    let grant = |what: &str| {
        format!("have it granted (`GRANT {what} TO \"{user}\"`) or use another user or --pg-schema")
    };
    let schema_exists: bool = one(
        "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)",
        &[&t.schema],
    )?
    .get(0);
    let mut absent = Vec::new();
    let mut present = Vec::new();
    for def in definitions(t) {
        let exists: bool = schema_exists
            && one(
                "SELECT EXISTS (SELECT FROM pg_tables WHERE schemaname = $1 AND tablename = $2)",
                &[&t.schema, &def.name],
            )?
            .get(0);
        if exists {
            present.push(def);
        } else {
            absent.push(def.name.to_string());
        }
    }
    if !schema_exists {
        let may: bool = one(
            "SELECT has_database_privilege(current_database(), 'CREATE')",
            &[],
        )?
        .get(0);
        if !may {
            found.problems.push(format!(
                "schema {} does not exist and user {user} may not create it: {}",
                t.schema,
                grant("CREATE ON DATABASE <db>")
            ));
        }
    } else {
        let privilege = |p: &str| format!("SELECT has_schema_privilege($1, '{p}')");
        let usage: bool = one(&privilege("USAGE"), &[&t.schema])?.get(0);
        let create: bool = one(&privilege("CREATE"), &[&t.schema])?.get(0);
        if !usage {
            found.problems.push(format!(
                "user {user} may not use schema {}: {}",
                t.schema,
                grant(&format!("USAGE ON SCHEMA \"{}\"", t.schema))
            ));
        }
        if !create && !absent.is_empty() {
            found.problems.push(format!(
                "tables {} are to be created but user {user} may not create tables in schema {}: {}",
                absent.join(", "),
                t.schema,
                grant(&format!("CREATE ON SCHEMA \"{}\"", t.schema))
            ));
        }
    }
    let temp: bool = one(
        "SELECT has_database_privilege(current_database(), 'TEMP')",
        &[],
    )?
    .get(0);
    if !temp {
        found.problems.push(format!(
            "user {user} may not create the temporary staging tables: {}",
            grant("TEMP ON DATABASE <db>")
        ));
    }
    for def in &present {
        let key: Vec<String> = def.key.iter().map(|k| format!("\"{k}\"")).collect();
        // `run` adds a missing revision column itself (tables of older versions), so its
        // absence is no fault.
        let columns: Vec<_> = def
            .columns
            .iter()
            .filter(|(c, _)| *c != REVISION)
            .copied()
            .collect();
        match check_shape(client, t, def.name, &columns, &key) {
            Ok(()) => {}
            Err(ShapeError::Wrong(problems)) => found.problems.push(format!(
                "table {} has the wrong shape: {problems}; drop or rename it, or configure other table names in the spec's [postgres] section",
                t.qualified(def.name)
            )),
            Err(ShapeError::Failed(e)) => return Err(e),
        }
        let qualified = t.qualified(def.name);
        let mut missing = Vec::new();
        for p in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
            let sql = format!("SELECT has_table_privilege($1, '{p}')");
            let may: bool = client
                .query_one(&sql, &[&qualified])
                .map_err(|e| PgError::statement(&sql, e))?
                .get(0);
            if !may {
                missing.push(p);
            }
        }
        if !missing.is_empty() {
            found.problems.push(format!(
                "user {user} may not {} table {qualified}: {}",
                missing.join(", "),
                grant(&format!("{} ON {qualified}", missing.join(", ")))
            ));
        }
    }
    found.notes.push(if absent.is_empty() {
        "every table present and of the right shape".into()
    } else if present.is_empty() {
        format!("tables to be created in schema {}", t.schema)
    } else {
        format!(
            "to be created: {}; the others of the right shape",
            absent.join(", ")
        )
    });
    Ok(found)
}
