//! TLS to PostgreSQL against a server of the test's own that accepts only TLS over TCP:
//! verify-full writes the rows, a wrong CA, a host name the certificate does not list and
//! sslmode=disable each fail saying why, and a client certificate logs in.

mod common;

use common::certs::Certs;
use common::pgserver::{PgServer, CERT_USER};
use common::*;

/// A small input and the rows a stdout run makes of it (the oracle for the table).
fn input(dir: &std::path::Path) -> (std::path::PathBuf, usize) {
    let events = random_events(7, 2_000, 1_000, 0);
    let path = write_lines(dir, "in.jsonl", &lines_of(&events));
    let out = run_ok(&["--source", &file_uri(&path), "--sink", "stdout"]);
    (path, rows(&out.stdout).len())
}

/// `tickflow run` from `input` into `sink`, schema `tls`, giving up on PostgreSQL after 2 s.
fn run_into(input: &std::path::Path, sink: &str) -> std::process::Output {
    tickflow()
        .args(["run", "--source", &file_uri(input), "--sink", sink])
        .args(["--pg-schema", "tls", "--pg-connect-timeout", "2s", "-q"])
        .env_remove("PGSSLMODE")
        .env_remove("PGSSLROOTCERT")
        .env("HOME", input.parent().unwrap())
        .output()
        .unwrap()
}

fn failure(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn table_rows(server: &PgServer) -> usize {
    let mut c = server.local("root", "test");
    let mut count = |t: &str| {
        c.query_one(&format!("SELECT count(*) FROM tls.{t}"), &[])
            .unwrap()
            .get::<_, i64>(0) as usize
    };
    count("symbol_averages") + count("category_means")
}

fn setup() -> Option<(tempfile::TempDir, Certs, PgServer)> {
    let dir = tempfile::tempdir().unwrap();
    let certs = Certs::make(dir.path(), CERT_USER);
    let server = PgServer::start(&certs)?;
    Some((dir, certs, server))
}

#[test]
fn verify_full_with_the_right_ca_writes_every_row() {
    let Some((dir, certs, server)) = setup() else {
        return;
    };
    let (input, expected) = input(dir.path());
    let ca = certs.ca.display().to_string();
    let url = server.url(
        "root",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let out = run_into(&input, &url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(table_rows(&server), expected);
    // The key/value form and the environment say the same.
    let kv = format!("host=127.0.0.1 port={} user=root dbname=test", server.port);
    // prefer (the default) encrypts without a root file to verify against.
    let out = run_into(&input, &kv);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = tickflow()
        .args(["run", "--source", &file_uri(&input), "--sink", &kv])
        .args(["--pg-schema", "tls", "--pg-connect-timeout", "2s", "-q"])
        .env("PGSSLMODE", "verify-full")
        .env("PGSSLROOTCERT", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(table_rows(&server), expected);
}

#[test]
fn a_wrong_ca_names_the_file_the_host_and_the_reason() {
    let Some((dir, certs, server)) = setup() else {
        return;
    };
    let (input, _) = input(dir.path());
    let wrong = certs.wrong_ca.display().to_string();
    let url = server.url(
        "root",
        "localhost",
        &format!("sslmode=verify-full&sslrootcert={wrong}"),
    );
    let e = failure(&run_into(&input, &url));
    assert!(e.contains(&wrong), "{e}");
    assert!(e.contains("certificate of localhost did not verify"), "{e}");
    // The server sends its CA along (OpenSSL completes the chain) or not.
    assert!(
        e.contains("self-signed certificate in certificate chain")
            || e.contains("unable to get local issuer certificate"),
        "{e}"
    );
    assert!(e.contains("set sslrootcert"), "{e}");
    // A root file that is not there is named too, before any connection.
    let url = server.url(
        "root",
        "localhost",
        "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
    );
    let e = failure(&run_into(&input, &url));
    assert!(
        e.contains("root certificate file /nonexistent/ca.pem does not exist"),
        "{e}"
    );
}

#[test]
fn a_host_the_certificate_does_not_list_fails_verify_full_only() {
    let Some((dir, certs, server)) = setup() else {
        return;
    };
    let (input, expected) = input(dir.path());
    let ca = certs.ca.display().to_string();
    let url = server.url(
        "root",
        "127.0.0.2",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let e = failure(&run_into(&input, &url));
    assert!(e.contains("certificate of 127.0.0.2 did not verify"), "{e}");
    assert!(e.contains("mismatch"), "{e}");
    assert!(e.contains("sslmode=verify-ca"), "{e}");
    // verify-ca checks only the signature; require with a root file behaves the same (libpq).
    for mode in ["verify-ca", "require"] {
        let url = server.url(
            "root",
            "127.0.0.2",
            &format!("sslmode={mode}&sslrootcert={ca}"),
        );
        let out = run_into(&input, &url);
        assert!(
            out.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(table_rows(&server), expected);
    // require with the wrong root file verifies, and so fails.
    let wrong = certs.wrong_ca.display().to_string();
    let url = server.url(
        "root",
        "127.0.0.2",
        &format!("sslmode=require&sslrootcert={wrong}"),
    );
    assert!(failure(&run_into(&input, &url)).contains(&wrong));
}

#[test]
fn sslmode_disable_against_a_tls_only_server_says_to_use_tls() {
    let Some((dir, _certs, server)) = setup() else {
        return;
    };
    let (input, _) = input(dir.path());
    let url = format!(
        "postgres://root:hunter2@localhost:{}/test?sslmode=disable",
        server.port
    );
    let e = failure(&run_into(&input, &url));
    assert!(e.contains("no encryption"), "{e}");
    assert!(e.contains("use sslmode=require"), "{e}");
    assert!(!e.contains("hunter2"), "the password leaked: {e}");
    // allow tries plaintext, then TLS.
    let url = server.url("root", "localhost", "sslmode=allow");
    let out = run_into(&input, &url);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_client_certificate_logs_in() {
    let Some((dir, certs, server)) = setup() else {
        return;
    };
    let (input, expected) = input(dir.path());
    let query = format!(
        "sslmode=verify-full&sslrootcert={}&sslcert={}&sslkey={}",
        certs.ca.display(),
        certs.client_cert.display(),
        certs.client_key.display()
    );
    let out = run_into(&input, &server.url(CERT_USER, "localhost", &query));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(table_rows(&server), expected);
    let owner: String = server
        .local("root", "test")
        .query_one("SELECT tableowner::text FROM pg_tables WHERE schemaname = 'tls' AND tablename = 'symbol_averages'", &[])
        .unwrap()
        .get(0);
    assert_eq!(owner, CERT_USER);
    // Without the certificate the server refuses the user.
    let query = format!("sslmode=verify-full&sslrootcert={}", certs.ca.display());
    let e = failure(&run_into(
        &input,
        &server.url(CERT_USER, "localhost", &query),
    ));
    assert!(e.contains("certificate"), "{e}");
}
