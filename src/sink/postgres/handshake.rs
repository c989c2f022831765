//! One connection attempt with the TLS that a target's [`TlsSettings`] ask for, and what to
//! say when the server's certificate does not verify.

use std::sync::{Arc, Mutex};

use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use postgres::config::SslMode as WireMode;
use postgres::{Client, Config, NoTls};
use postgres_openssl::MakeTlsConnector;

use super::tls::{RootCert, SslMode, TlsSettings};
use super::{connect_hint, describe, is_transient, redact, Target};

/// Why one attempt failed.
#[derive(Debug)]
pub enum AttemptError {
    /// The client's TLS files could not be used; retrying will not help.
    Setup(String),
    /// The server or the network said no; `certificate` holds what did not verify, if that
    /// was the reason.
    Connect {
        error: postgres::Error,
        certificate: Option<String>,
    },
}

/// Connects once to `config` (the target's settings, timeouts applied) with `tls`.
pub fn attempt(config: &Config, tls: &TlsSettings) -> Result<Client, AttemptError> {
    let mut config = config.clone();
    match tls.mode {
        SslMode::Disable => plain(&config),
        SslMode::Allow => match plain(&config) {
            // libpq's `allow`: plaintext first, TLS only if the server refuses it.
            Err(AttemptError::Connect { error, .. }) if error.code().is_some() => {
                config.ssl_mode(WireMode::Require);
                encrypted(&config, tls)
            }
            other => other,
        },
        SslMode::Prefer => {
            config.ssl_mode(WireMode::Prefer);
            encrypted(&config, tls)
        }
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            config.ssl_mode(WireMode::Require);
            encrypted(&config, tls)
        }
    }
}

fn plain(config: &Config) -> Result<Client, AttemptError> {
    let mut config = config.clone();
    config.ssl_mode(WireMode::Disable);
    config
        .connect(NoTls)
        .map_err(|error| AttemptError::Connect {
            error,
            certificate: None,
        })
}

fn encrypted(config: &Config, tls: &TlsSettings) -> Result<Client, AttemptError> {
    let failure = Arc::new(Mutex::new(None));
    let connector = connector(tls, failure.clone())?;
    config
        .connect(connector)
        .map_err(|error| AttemptError::Connect {
            error,
            certificate: failure.lock().map(|mut f| f.take()).unwrap_or(None),
        })
}

/// An OpenSSL connector that checks what `tls` asks for and notes in `failure` which
/// certificate did not verify and why.
fn connector(
    tls: &TlsSettings,
    failure: Arc<Mutex<Option<String>>>,
) -> Result<MakeTlsConnector, AttemptError> {
    let setup = |what: String| {
        move |e: openssl::error::ErrorStack| AttemptError::Setup(format!("{what}: {e}"))
    };
    let mut builder = SslConnector::builder(SslMethod::tls_client())
        .map_err(setup("cannot start OpenSSL".into()))?;
    match &tls.root_cert {
        Some(RootCert::File(path)) => {
            if !path.is_file() {
                return Err(AttemptError::Setup(format!(
                    "root certificate file {} does not exist; set sslrootcert (or PGSSLROOTCERT) to the CA certificate that signed the server's, use sslrootcert=system with sslmode=verify-full, or use sslmode=require to skip verification",
                    path.display()
                )));
            }
            builder.set_ca_file(path).map_err(setup(format!(
                "cannot read root certificate file {} (sslrootcert)",
                path.display()
            )))?;
        }
        Some(RootCert::System) => builder.set_default_verify_paths().map_err(setup(
            "cannot load the system's trusted roots (sslrootcert=system)".into(),
        ))?,
        None => {}
    }
    if let Some((cert, key)) = &tls.client_cert {
        builder
            .set_certificate_chain_file(cert)
            .map_err(setup(format!(
                "cannot read client certificate {} (sslcert)",
                cert.display()
            )))?;
        builder
            .set_private_key_file(key, SslFiletype::PEM)
            .map_err(setup(format!(
                "cannot read client key {} (sslkey)",
                key.display()
            )))?;
        builder.check_private_key().map_err(setup(format!(
            "client key {} does not match certificate {} (sslkey, sslcert)",
            key.display(),
            cert.display()
        )))?;
    }
    let verify = tls.verifies();
    let full = tls.mode == SslMode::VerifyFull;
    builder.set_verify(if verify {
        SslVerifyMode::PEER
    } else {
        SslVerifyMode::NONE
    });
    let mut connector = MakeTlsConnector::new(builder.build());
    connector.set_callback(move |config, _host| {
        // The host name is checked only by verify-full; verify-ca (and require or prefer
        // with a root file) checks the chain alone.
        config.set_verify_hostname(full);
        if verify {
            let failure = failure.clone();
            config.set_verify_callback(SslVerifyMode::PEER, move |ok, ctx| {
                if !ok {
                    let subject = ctx.current_cert().map_or_else(String::new, |c| {
                        let names: Vec<String> = c
                            .subject_name()
                            .entries()
                            .filter_map(|e| {
                                Some(format!(
                                    "{}={}",
                                    e.object().nid().short_name().ok()?,
                                    e.data().to_string().ok()?
                                ))
                            })
                            .collect();
                        names.join(", ")
                    });
                    if let Ok(mut slot) = failure.lock() {
                        slot.get_or_insert(format!(
                            "{} (certificate {subject:?} at depth {})",
                            ctx.error().error_string(),
                            ctx.error_depth()
                        ));
                    }
                }
                ok
            });
        }
        Ok(())
    });
    Ok(connector)
}

/// A failed attempt put into words.
pub struct Failure {
    pub message: String,
    /// What to change.
    pub hint: String,
    /// Whether another attempt may succeed.
    pub transient: bool,
    /// The server's SQLSTATE, when it answered.
    pub code: Option<String>,
}

/// What went wrong connecting to `target`, without any password, and what to do about it.
pub fn explain(error: AttemptError, target: &Target) -> Failure {
    let (error, certificate) = match error {
        AttemptError::Setup(message) => {
            return Failure {
                message: redact(&message),
                hint: "see sslmode, sslrootcert, sslcert and sslkey in the README".into(),
                transient: false,
                code: None,
            }
        }
        AttemptError::Connect { error, certificate } => (error, certificate),
    };
    let message = redact(&describe(&error));
    let code = error.code().map(|c| c.code().to_string());
    if let Some(certificate) = certificate {
        let root = target
            .tls
            .root_cert
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        let hint = if certificate.contains("hostname mismatch")
            || certificate.contains("IP address mismatch")
        {
            format!("connect to {} by a name its certificate lists, or use sslmode=verify-ca to check only who signed it", target.host())
        } else {
            "set sslrootcert (or PGSSLROOTCERT) to the CA certificate that signed the server's"
                .into()
        };
        return Failure {
            message: format!(
                "the server certificate of {} did not verify against {root} (sslrootcert, sslmode={}): {certificate}",
                target.host(),
                target.tls.mode.name()
            ),
            hint,
            transient: false,
            code,
        };
    }
    if message.contains("server does not support TLS") {
        return Failure {
            message,
            hint: format!("use sslmode=prefer or sslmode=disable (sslmode is {}), or turn on ssl in the server's postgresql.conf", target.tls.mode.name()),
            transient: false,
            code,
        };
    }
    if code.as_deref() == Some("28000") && message.contains("no encryption") {
        return Failure {
            message,
            hint: format!("the server accepts only TLS connections here: use sslmode=require, or verify-full with sslrootcert (sslmode is {})", target.tls.mode.name()),
            transient: false,
            code,
        };
    }
    Failure {
        hint: connect_hint(&error, target),
        transient: is_transient(&error),
        message,
        code,
    }
}
