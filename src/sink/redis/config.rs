//! The Redis sink's typed config: the server from `redis://[USER:PASSWORD@]HOST:PORT[/DB]`, and
//! the `[redis]` spec section (or `--redis-*` flags) with its defaults beside it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Whether `uri` names a Redis server (`redis://` or `rediss://`).
pub fn is_redis_uri(uri: &str) -> bool {
    uri.starts_with("redis://") || uri.starts_with("rediss://")
}

/// The Redis server a sink writes to. The password never appears in `Display` or `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    pub host: String,
    pub port: u16,
    pub db: i64,
    pub user: Option<String>,
    password: Option<String>,
}

/// A `redis://` URI that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid Redis sink {uri}: {message}; expected redis://[USER:PASSWORD@]HOST:PORT[/DB]")]
pub struct RedisUriError {
    /// The URI with its password replaced by `***`.
    pub uri: String,
    pub message: String,
}

/// Default port when the URI gives none.
const DEFAULT_PORT: u16 = 6379;

impl RedisTarget {
    /// Reads `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`; user and password may be
    /// percent-encoded. `rediss://` (TLS) is refused: this build has no TLS.
    pub fn parse(uri: &str) -> Result<RedisTarget, RedisUriError> {
        let fail = |message: &str| RedisUriError {
            uri: redact_uri(uri),
            message: message.to_string(),
        };
        if uri.starts_with("rediss://") {
            return Err(fail("TLS (rediss://) is not supported by this build"));
        }
        let rest = uri
            .strip_prefix("redis://")
            .ok_or_else(|| fail("not a redis:// URI"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, address) = match authority.rsplit_once('@') {
            Some((c, a)) => (Some(c), a),
            None => (None, authority),
        };
        let (user, password) = match credentials {
            None => (None, None),
            Some(c) => {
                let (u, p) = match c.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (c, None),
                };
                let u = decode(u).ok_or_else(|| fail("bad percent-encoding in the user"))?;
                let p = p
                    .map(|p| decode(p).ok_or_else(|| fail("bad percent-encoding in the password")))
                    .transpose()?;
                ((!u.is_empty()).then_some(u), p.filter(|p| !p.is_empty()))
            }
        };
        let (host, port) = match address.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| fail(&format!("{p:?} is not a port")))?,
            ),
            None => (address, DEFAULT_PORT),
        };
        if host.is_empty() {
            return Err(fail("no host"));
        }
        let db = match path {
            "" => 0,
            d => d
                .parse::<i64>()
                .ok()
                .filter(|d| (0..=1_000_000).contains(d))
                .ok_or_else(|| fail(&format!("{d:?} is not a database number")))?,
        };
        Ok(RedisTarget {
            host: host.to_string(),
            port,
            db,
            user,
            password,
        })
    }

    /// What the `redis` crate connects with.
    pub fn connection_info(&self) -> redis::ConnectionInfo {
        redis::ConnectionInfo {
            addr: redis::ConnectionAddr::Tcp(self.host.clone(), self.port),
            redis: redis::RedisConnectionInfo {
                db: self.db,
                username: self.user.clone(),
                password: self.password.clone(),
                ..Default::default()
            },
        }
    }
}

impl fmt::Display for RedisTarget {
    /// `redis://user:***@host:port/db`: never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("redis://")?;
        match (&self.user, &self.password) {
            (Some(u), Some(_)) => write!(f, "{u}:***@")?,
            (Some(u), None) => write!(f, "{u}@")?,
            (None, Some(_)) => f.write_str(":***@")?,
            (None, None) => {}
        }
        write!(f, "{}:{}/{}", self.host, self.port, self.db)
    }
}

impl fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisTarget({self})")
    }
}

/// `uri` with whatever sits between `:` and `@` in its authority replaced by `***`.
fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_string();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((c, a)) => match c.split_once(':') {
            Some((u, _)) => format!("{u}:***@{a}"),
            None => format!("{c}@{a}"),
        },
        None => authority.to_string(),
    };
    match path {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// Percent-decodes `s` (`%40` is `@`); `None` when an escape is malformed or not UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The `[redis]` section of a spec, as written; every field optional.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisSection {
    /// Prefix of every key (default `tickflow:`).
    pub prefix: Option<String>,
    /// Entries kept per key's history stream (default 3600; 0: no history).
    pub history: Option<u64>,
    /// `PUBLISH {prefix}updates` after each commit (default false).
    pub publish: Option<bool>,
    /// How long to keep trying to reach the server (default 30s).
    pub connect_timeout: Option<String>,
    /// Commit at least this often while windows complete (default 200ms).
    pub commit_interval: Option<String>,
}

/// Default key prefix.
pub const DEFAULT_PREFIX: &str = "tickflow:";
/// Default history stream length per key: an hour of 1 s slides.
pub const DEFAULT_HISTORY: u64 = 3600;

/// Validated Redis sink settings.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisSettings {
    pub prefix: String,
    pub history: u64,
    pub publish: bool,
    pub connect_timeout: Duration,
    pub commit_interval: Duration,
}

impl Default for RedisSettings {
    fn default() -> RedisSettings {
        RedisSettings {
            prefix: DEFAULT_PREFIX.into(),
            history: DEFAULT_HISTORY,
            publish: false,
            connect_timeout: Duration::from_secs(30),
            commit_interval: Duration::from_millis(200),
        }
    }
}

impl RedisSection {
    /// The settings, with defaults for what the section leaves out; errors name the setting.
    pub fn validate(&self) -> Result<RedisSettings, crate::config::ConfigError> {
        let d = RedisSettings::default();
        let duration = |setting, text: &Option<String>, default: Duration| match text {
            Some(t) => crate::config::duration(setting, t),
            None => Ok(default),
        };
        let prefix = self.prefix.clone().unwrap_or(d.prefix);
        if prefix.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(crate::config::ConfigError::Invalid {
                setting: "redis.prefix",
                message: format!("{prefix:?} holds spaces or control characters"),
            });
        }
        Ok(RedisSettings {
            prefix,
            history: self.history.unwrap_or(d.history),
            publish: self.publish.unwrap_or(d.publish),
            connect_timeout: duration(
                "redis.connect_timeout",
                &self.connect_timeout,
                d.connect_timeout,
            )?,
            commit_interval: duration(
                "redis.commit_interval",
                &self.commit_interval,
                d.commit_interval,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_uris_and_never_shows_the_password() {
        let t = RedisTarget::parse("redis://bob:s%40cret@10.0.0.1:6380/2").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("10.0.0.1", 6380, 2));
        assert_eq!(t.password.as_deref(), Some("s@cret"));
        assert_eq!(t.to_string(), "redis://bob:***@10.0.0.1:6380/2");
        assert!(!format!("{t:?}").contains("cret"));
        let t = RedisTarget::parse("redis://127.0.0.1").unwrap();
        assert_eq!(t.to_string(), "redis://127.0.0.1:6379/0");
        let t = RedisTarget::parse("redis://:pw@h:1").unwrap();
        assert_eq!((t.user.clone(), t.password.as_deref()), (None, Some("pw")));
    }

    #[test]
    fn refuses_bad_uris_without_the_password() {
        for uri in [
            "redis://u:hunter2@h:port",
            "redis://u:hunter2@h:1/x",
            "redis://u:hunter2@:1",
            "rediss://u:hunter2@h:1",
        ] {
            let e = RedisTarget::parse(uri).unwrap_err().to_string();
            assert!(!e.contains("hunter2"), "{e}");
            assert!(e.contains("u:***@"), "{e}");
        }
    }

    #[test]
    fn section_defaults_and_errors() {
        let s = RedisSection::default().validate().unwrap();
        assert_eq!(s, RedisSettings::default());
        let bad = RedisSection {
            commit_interval: Some("often".into()),
            ..RedisSection::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("redis.commit_interval"));
    }
}
