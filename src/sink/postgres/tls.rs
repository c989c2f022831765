//! libpq's TLS settings (`sslmode`, `sslrootcert`, `sslcert`, `sslkey` and their `PGSSL*`
//! variables), taken out of a connection string before the rest goes to `postgres::Config`.
//!
//! How it works:
//! 1. [`TlsSettings::take`] removes the four keys from a URL's query or a key/value string
//!    (the `postgres` crate knows only three `sslmode`s and refuses the other keys) and
//!    returns the rest of the string untouched.
//! 2. What the string leaves unset comes from the environment, then from libpq's defaults:
//!    `sslmode=prefer`, `~/.postgresql/root.crt`, `~/.postgresql/postgresql.{crt,key}`.
//! 3. [`super::handshake`] turns the settings into an OpenSSL connector per attempt.

use std::path::{Path, PathBuf};

use super::TargetError;

/// libpq's `sslmode`: whether TLS is used and how much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// Plaintext first; TLS if the server refuses plaintext.
    Allow,
    /// TLS if the server offers it, else plaintext (libpq's default).
    Prefer,
    /// TLS always; the certificate is checked only if a root certificate file exists.
    Require,
    /// TLS, and the server's certificate must chain to the root certificate.
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str, setting: &str) -> Result<SslMode, TargetError> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(TargetError(format!(
                    "{setting}={text:?} is not an sslmode: use disable, allow, prefer, require, verify-ca or verify-full"
                )))
            }
        })
    }

    /// The name libpq uses.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// Where the certificates that may sign the server's come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the operating system's trusted roots (implies `verify-full`).
    System,
}

impl std::fmt::Display for RootCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootCert::File(p) => write!(f, "{}", p.display()),
            RootCert::System => f.write_str("the system's trusted roots"),
        }
    }
}

/// The TLS part of a connection target, defaults resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// What verifies the server's certificate; `None`: nothing does (no file, weak mode).
    pub root_cert: Option<RootCert>,
    /// The client certificate and its key, sent when the server asks for one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// The connection-string keys this module owns.
const KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl TlsSettings {
    /// Splits the TLS keys off `uri`, completes them from `env` (`PGSSLMODE`,
    /// `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY`, `HOME`) and returns the rest of the string.
    pub fn take(
        uri: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, TlsSettings), TargetError> {
        let (rest, found) = if uri.contains("://") {
            split_url(uri)
        } else {
            split_key_values(uri)?
        };
        let get = |key: &str, var: &str| {
            found
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| (v.clone(), key.to_string()))
                .or_else(|| env(var).map(|v| (v, var.to_string())))
        };
        let mode = match get("sslmode", "PGSSLMODE") {
            Some((text, setting)) => SslMode::parse(&text, &setting)?,
            None => SslMode::Prefer,
        };
        let home = |file: &str| env("HOME").map(|h| Path::new(&h).join(".postgresql").join(file));
        let root_cert = match get("sslrootcert", "PGSSLROOTCERT") {
            Some((text, _)) if text == "system" => Some(RootCert::System),
            Some((text, _)) => Some(RootCert::File(PathBuf::from(text))),
            None => home("root.crt")
                .filter(|p| p.exists() || mode >= SslMode::VerifyCa)
                .map(RootCert::File),
        };
        if root_cert == Some(RootCert::System) && mode < SslMode::VerifyFull {
            // As libpq 16: trusting every public CA is only safe with the host name checked.
            return Err(TargetError(format!(
                "sslrootcert=system needs sslmode=verify-full (sslmode is {}): any public CA could sign a certificate for another server",
                mode.name()
            )));
        }
        let cert = get("sslcert", "PGSSLCERT").map(|(p, _)| PathBuf::from(p));
        let key = get("sslkey", "PGSSLKEY").map(|(p, _)| PathBuf::from(p));
        let client_cert = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (Some(cert), None) => Some((cert, home("postgresql.key").unwrap_or_default())),
            (None, key) => home("postgresql.crt").filter(|p| p.exists()).map(|cert| {
                (
                    cert,
                    key.or_else(|| home("postgresql.key")).unwrap_or_default(),
                )
            }),
        };
        let settings = TlsSettings {
            mode,
            // libpq verifies whenever it has a root certificate file, so `require` with one
            // behaves as `verify-ca`; `disable` and `allow` never look at it.
            root_cert: root_cert.filter(|_| mode >= SslMode::Prefer),
            client_cert: client_cert.filter(|_| mode > SslMode::Disable),
        };
        Ok((rest, settings))
    }

    /// Whether the server's certificate is checked against a root.
    pub fn verifies(&self) -> bool {
        self.root_cert.is_some()
    }
}

/// Removes the TLS keys from a URL's query, percent-decoding their values.
fn split_url(uri: &str) -> (String, Vec<(String, String)>) {
    let Some((base, query)) = uri.split_once('?') else {
        return (uri.to_string(), Vec::new());
    };
    let mut found = Vec::new();
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if KEYS.contains(&k) {
            found.push((k.to_string(), percent_decode(v)));
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (rest, found)
}

/// `%2F` and friends back to bytes; a malformed escape stays as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).expect("checked") * 16 + hex(l).expect("checked")) as u8);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the TLS keys from a libpq key/value string (`key=value`, `key = 'quoted \' value'`).
fn split_key_values(text: &str) -> Result<(String, Vec<(String, String)>), TargetError> {
    let mut found = Vec::new();
    let mut rest = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return Err(TargetError(format!(
                "{key:?} in the connection string has no `=value`"
            )));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                    Some((_, '\'')) => break,
                    Some((_, c)) => value.push(c),
                    None => {
                        return Err(TargetError(format!(
                            "the value of {key} in the connection string has no closing quote"
                        )))
                    }
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next().map(|(_, c)| c));
                } else {
                    value.push(c);
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(i, _)| i);
        if KEYS.contains(&key.as_str()) {
            found.push((key, value));
        } else {
            rest.push_str(text[start..end].trim_end());
            rest.push(' ');
        }
    }
    Ok((rest.trim_end().to_string(), found))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn url_keys_are_taken_and_the_rest_kept() {
        let (rest, tls) = TlsSettings::take(
            "postgres://u@h/db?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem",
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(rest, "postgres://u@h/db?application_name=x");
        assert_eq!(tls.mode, SslMode::VerifyFull);
        assert_eq!(tls.root_cert, Some(RootCert::File("/tmp/ca.pem".into())));
        let (rest, tls) =
            TlsSettings::take("postgres://u@h/db?sslmode=disable", &env_of(&[])).unwrap();
        assert_eq!(rest, "postgres://u@h/db");
        assert_eq!(tls.mode, SslMode::Disable);
    }

    #[test]
    fn key_value_keys_are_taken_with_quotes() {
        let (rest, tls) = TlsSettings::take(
            "host=h  sslmode = 'verify-ca' user=u sslrootcert='/a b/c\\'s.pem' dbname=d sslcert=/c sslkey=/k",
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(rest, "host=h user=u dbname=d");
        assert_eq!(tls.mode, SslMode::VerifyCa);
        assert_eq!(tls.root_cert, Some(RootCert::File("/a b/c's.pem".into())));
        assert_eq!(tls.client_cert, Some(("/c".into(), "/k".into())));
        assert!(TlsSettings::take("host=h sslmode='x", &env_of(&[])).is_err());
    }

    #[test]
    fn environment_and_libpq_defaults() {
        let (_, tls) = TlsSettings::take("host=h", &env_of(&[])).unwrap();
        assert_eq!(tls.mode, SslMode::Prefer);
        assert!(!tls.verifies());
        let env = env_of(&[
            ("PGSSLMODE", "require"),
            ("PGSSLROOTCERT", "/r.pem"),
            ("PGSSLCERT", "/c"),
            ("PGSSLKEY", "/k"),
        ]);
        let (_, tls) = TlsSettings::take("postgres://h/d", &env).unwrap();
        // require with a root certificate file verifies the chain, as libpq does.
        assert_eq!(tls.mode, SslMode::Require);
        assert!(tls.verifies());
        assert_eq!(tls.client_cert, Some(("/c".into(), "/k".into())));
        // The string wins over the environment.
        let (_, tls) = TlsSettings::take("postgres://h/d?sslmode=disable", &env).unwrap();
        assert_eq!(tls.mode, SslMode::Disable);
        assert!(!tls.verifies() && tls.client_cert.is_none());
        // verify-full without a root file still names the default one, for the error message.
        let (_, tls) =
            TlsSettings::take("sslmode=verify-full", &env_of(&[("HOME", "/nohome")])).unwrap();
        assert_eq!(
            tls.root_cert,
            Some(RootCert::File("/nohome/.postgresql/root.crt".into()))
        );
    }

    #[test]
    fn bad_values_are_refused_with_the_setting() {
        let e = TlsSettings::take("postgres://h/d?sslmode=on", &env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("sslmode=\"on\""), "{e}");
        let e = TlsSettings::take("host=h", &env_of(&[("PGSSLMODE", "yes")])).unwrap_err();
        assert!(e.to_string().contains("PGSSLMODE"), "{e}");
        let e = TlsSettings::take("host=h sslmode=require sslrootcert=system", &env_of(&[]))
            .unwrap_err();
        assert!(e.to_string().contains("verify-full"), "{e}");
        let (_, tls) = TlsSettings::take(
            "host=h sslmode=verify-full sslrootcert=system",
            &env_of(&[]),
        )
        .unwrap();
        assert_eq!(tls.root_cert, Some(RootCert::System));
    }
}
