//! A PostgreSQL server of the test's own (initdb and pg_ctl run as the `postgres` user):
//! TLS only over TCP, a `cert` login for one user, trust over its Unix socket for the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::certs::Certs;

/// The user whose login is its client certificate.
pub const CERT_USER: &str = "certuser";

/// A running server; stopped (immediately) on drop.
pub struct PgServer {
    pub port: u16,
    /// The directory of its Unix socket, for the test's own plaintext connection.
    pub socket_dir: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

/// Where Debian puts the server binaries.
fn bin(name: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin").join(name)))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

fn as_postgres(dir: &Path, program: &Path, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .current_dir(dir)
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("running runuser")
}

impl PgServer {
    /// Starts a server with `ssl = on` and `certs`, listening on 127.0.0.1 and 127.0.0.2, with
    /// a database `test` owned by superuser `root` and a user [`CERT_USER`]; `None` (said out
    /// loud, or a failure under CI) without the server binaries or root.
    pub fn start(certs: &Certs) -> Option<PgServer> {
        let (Some(initdb), Some(pg_ctl)) = (bin("initdb"), bin("pg_ctl")) else {
            super::skip("no initdb/pg_ctl under /usr/lib/postgresql (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let tls = root.join("tls");
        std::fs::create_dir(&tls).unwrap();
        for (from, to) in [
            (&certs.server_cert, "server.pem"),
            (&certs.server_key, "server.key"),
            (&certs.ca, "ca.pem"),
        ] {
            std::fs::copy(from, tls.join(to)).unwrap();
        }
        let chown = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&root)
            .status();
        if !chown.is_ok_and(|s| s.success()) {
            super::skip("cannot chown a data directory to the postgres user (run as root)");
            return None;
        }
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        std::fs::set_permissions(
            tls.join("server.key"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        let out = as_postgres(
            &root,
            &initdb,
            &[
                "-D",
                data.to_str().unwrap(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = super::free_port();
        let conf = format!(
            "listen_addresses = '127.0.0.1,127.0.0.2'\nport = {port}\nunix_socket_directories = '{root}'\n\
             ssl = on\nssl_cert_file = '{tls}/server.pem'\nssl_key_file = '{tls}/server.key'\n\
             ssl_ca_file = '{tls}/ca.pem'\nfsync = off\nshared_buffers = 16MB\nmax_connections = 40\n",
            root = root.display(),
            tls = tls.display()
        );
        let mut pgconf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pgconf.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pgconf).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            format!(
                "local all all trust\nhostssl all {CERT_USER} 127.0.0.0/8 cert\nhostssl all all 127.0.0.0/8 trust\n"
            ),
        )
        .unwrap();
        let log = root.join("server.log");
        let out = as_postgres(
            &root,
            &pg_ctl,
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let server = PgServer {
            port,
            socket_dir: root.clone(),
            data,
            _dir: dir,
        };
        let mut admin = server.local("postgres", "postgres");
        for sql in [
            "CREATE USER root SUPERUSER".to_string(),
            format!("CREATE USER {CERT_USER}"),
            "CREATE DATABASE test OWNER root".into(),
        ] {
            admin.batch_execute(&sql).unwrap();
        }
        server
            .local("postgres", "test")
            .batch_execute(&format!(
                "GRANT ALL ON SCHEMA public TO {CERT_USER}; GRANT CREATE ON DATABASE test TO {CERT_USER}"
            ))
            .unwrap();
        Some(server)
    }

    /// A plaintext connection over the Unix socket as `user` to `db`.
    pub fn local(&self, user: &str, db: &str) -> postgres::Client {
        let mut config = postgres::Config::new();
        config
            .host_path(&self.socket_dir)
            .port(self.port)
            .user(user)
            .dbname(db);
        config
            .connect(postgres::NoTls)
            .expect("connecting over the Unix socket")
    }

    /// `postgres://USER@HOST:PORT/test?` followed by `query`.
    pub fn url(&self, user: &str, host: &str, query: &str) -> String {
        format!("postgres://{user}@{host}:{}/test?{query}", self.port)
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Some(pg_ctl) = bin("pg_ctl") {
            let _ = as_postgres(
                &self.socket_dir,
                &pg_ctl,
                &[
                    "-D",
                    self.data.to_str().unwrap_or(""),
                    "-m",
                    "immediate",
                    "stop",
                ],
            );
        }
    }
}
