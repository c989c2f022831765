//! Certificates for TLS tests, made with the openssl CLI: a CA, a server certificate for
//! localhost and 127.0.0.1, a client certificate, and an unrelated CA.

use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files in one directory.
pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed none of the above.
    pub wrong_ca: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("running openssl (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `name`.pem with its key `name`.key.
fn ca(dir: &Path, name: &str, subject: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-subj",
            subject,
        ],
    );
}

/// `name`.pem signed by ca.pem for `subject`, with `san` as subjectAltName when given.
fn signed(dir: &Path, name: &str, subject: &str, san: Option<&str>) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ],
    );
    let ext = dir.join(format!("{name}.ext"));
    std::fs::write(
        &ext,
        san.map_or(String::new(), |s| format!("subjectAltName={s}\n")),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ],
    );
}

impl Certs {
    /// Makes every file in `dir`; the client certificate's CN is `client_user`.
    pub fn make(dir: &Path, client_user: &str) -> Certs {
        ca(dir, "ca", "/CN=tickflow test CA");
        ca(dir, "wrong-ca", "/CN=unrelated test CA");
        signed(
            dir,
            "server",
            "/CN=localhost",
            Some("DNS:localhost,IP:127.0.0.1"),
        );
        signed(dir, "client", &format!("/CN={client_user}"), None);
        Certs {
            ca: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            wrong_ca: dir.join("wrong-ca.pem"),
        }
    }
}
