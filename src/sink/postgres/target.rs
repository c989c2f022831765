//! Where the PostgreSQL sink connects: a URL or key/value string, completed as libpq would.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;
use postgres::Config;

use super::tls::TlsSettings;

/// A connection string that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid PostgreSQL connection string: {0}")]
pub struct TargetError(pub(super) String);

/// A parsed connection target. Its `Display` never shows the password.
#[derive(Clone)]
pub struct Target {
    /// Everything but TLS, for the `postgres` crate.
    pub config: Config,
    /// `sslmode` and the certificates, which the `postgres` crate does not take.
    pub tls: TlsSettings,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({self})")
    }
}

/// Whether a `--sink` value is a PostgreSQL target.
pub fn is_postgres_uri(uri: &str) -> bool {
    uri.starts_with("postgres://")
        || uri.starts_with("postgresql://")
        || (uri.contains('=') && !uri.contains("://") && !uri.starts_with("file:"))
}

impl Target {
    /// Parses `postgres://user@host:port/db` or `host=... dbname=...`, then fills what is
    /// unset from `PGHOST`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGPASSWORD`, `PGAPPNAME`,
    /// `PGCONNECT_TIMEOUT` and, without a password, from `PGPASSFILE` or `~/.pgpass`; TLS
    /// settings as [`TlsSettings::take`] reads them.
    pub fn parse(uri: &str) -> Result<Target, TargetError> {
        Self::parse_with(uri, &|k| std::env::var(k).ok())
    }

    /// As [`Target::parse`], reading the environment through `env` (tests).
    pub fn parse_with(
        uri: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Target, TargetError> {
        // The URL parser fills in 5432 when a URL names no port, and `Config::port` appends
        // rather than replaces, so PGPORT goes into the text before parsing.
        let (uri, tls) = TlsSettings::take(uri, env)?;
        let uri = uri.as_str();
        let mut text = uri.to_string();
        if !names_port(uri) {
            if let Some(p) = env("PGPORT") {
                let port: u16 = p
                    .parse()
                    .map_err(|_| TargetError(format!("PGPORT={p:?} is not a port number")))?;
                text = with_port(uri, port);
            }
        }
        let mut config =
            Config::from_str(&text).map_err(|e| TargetError(redact(&e.to_string())))?;
        if config.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(h) if h.starts_with('/') => {
                    config.host_path(h);
                }
                Some(h) => {
                    config.host(&h);
                }
                None => {
                    config.host("127.0.0.1");
                }
            }
        }
        if config.get_user().is_none() {
            let user = env("PGUSER")
                .or_else(|| env("USER"))
                .unwrap_or_else(|| "postgres".into());
            config.user(&user);
        }
        if config.get_dbname().is_none() {
            if let Some(db) = env("PGDATABASE") {
                config.dbname(&db);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name(&env("PGAPPNAME").unwrap_or_else(|| "tickflow".into()));
        }
        if config.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|s| s.parse::<u64>().ok())
                .unwrap_or(10);
            config.connect_timeout(Duration::from_secs(secs.max(2)));
        }
        if config.get_password().is_none() {
            if let Some(pw) = env("PGPASSWORD").or_else(|| pgpass_lookup(&config, env)) {
                config.password(pw);
            }
        }
        Ok(Target { config, tls })
    }

    pub(super) fn host(&self) -> String {
        match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        }
    }

    fn port(&self) -> u16 {
        self.config.get_ports().first().copied().unwrap_or(5432)
    }

    /// The database connected to: the one named, else the user's name, as libpq does.
    pub(super) fn dbname(&self) -> String {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
            .to_string()
    }
}

impl std::fmt::Display for Target {
    /// `postgres://user@host:port/db`, without the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "postgres://{}@{}:{}/{}",
            self.config.get_user().unwrap_or(""),
            self.host(),
            self.port(),
            self.dbname()
        )
    }
}

/// The connection string with `port` given to each host that has none.
fn with_port(uri: &str, port: u16) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return format!("{uri} port={port}");
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hosts) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    if hosts.is_empty() {
        let sep = if tail.contains('?') { '&' } else { '?' };
        let tail = if tail.is_empty() { "/" } else { tail };
        return format!("{scheme}://{user}{tail}{sep}port={port}");
    }
    let hosts: Vec<String> = hosts.split(',').map(|h| format!("{h}:{port}")).collect();
    format!("{scheme}://{user}{}{tail}", hosts.join(","))
}

/// Whether a connection string sets the port itself.
fn names_port(uri: &str) -> bool {
    match uri.split_once("://") {
        Some((_, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or("");
            let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            // `[::1]:5432` or `host:5432`; a bare IPv6 address is bracketed.
            hosts
                .rsplit_once(']')
                .map_or(hosts, |(_, tail)| tail)
                .contains(':')
                || rest.contains("port=")
        }
        None => uri.split_whitespace().any(|kv| kv.starts_with("port=")),
    }
}

/// Removes anything that looks like a password from an error message.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for word in message.split_inclusive(' ') {
        if let Some(i) = word.find("password=") {
            out.push_str(&word[..i + 9]);
            out.push_str("*** ");
        } else if let (Some(s), Some(at)) = (word.find("://"), word.find('@')) {
            // scheme://user:secret@host -> scheme://user:***@host
            match word[s + 3..at].find(':') {
                Some(c) => {
                    out.push_str(&word[..s + 3 + c + 1]);
                    out.push_str("***");
                    out.push_str(&word[at..]);
                }
                None => out.push_str(word),
            }
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Finds a password in the pgpass file for this host, port, database and user.
fn pgpass_lookup(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let path = env("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let target = Target {
        config: config.clone(),
        tls: TlsSettings::take("", &|_| None).ok()?.1,
    };
    let want = [
        target.host(),
        target.port().to_string(),
        target.dbname(),
        config.get_user().unwrap_or("").to_string(),
    ];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split_pgpass(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(&want)
                .enumerate()
                .all(|(i, (f, w))| {
                    f == "*" || f == w || (i == 0 && f == "localhost" && w == "127.0.0.1")
                });
            matches.then(|| fields[4].clone())
        })
}

/// Splits a pgpass line on unescaped colons, undoing `\:` and `\\`.
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("never empty").push(n);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().expect("never empty").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn url_and_key_value_forms() {
        let t = Target::parse_with("postgres://root@127.0.0.1:5432/test", &env_of(&[])).unwrap();
        assert_eq!(t.to_string(), "postgres://root@127.0.0.1:5432/test");
        let t =
            Target::parse_with("host=127.0.0.1 port=5433 dbname=x user=u", &env_of(&[])).unwrap();
        assert_eq!(t.to_string(), "postgres://u@127.0.0.1:5433/x");
        assert!(is_postgres_uri("host=h dbname=d"));
        assert!(is_postgres_uri("postgresql://x/y"));
        assert!(!is_postgres_uri("file:a=b"));
        assert!(!is_postgres_uri("stdout"));
    }

    #[test]
    fn environment_fills_the_gaps() {
        let env = env_of(&[
            ("PGHOST", "db"),
            ("PGPORT", "6000"),
            ("PGUSER", "me"),
            ("PGDATABASE", "d"),
        ]);
        let t = Target::parse_with("postgres://", &env).unwrap();
        assert_eq!(t.to_string(), "postgres://me@db:6000/d");
        let t = Target::parse_with("postgres://other@h/db", &env).unwrap();
        assert_eq!(t.to_string(), "postgres://other@h:6000/db");
    }

    #[test]
    fn pgpass_is_read_and_passwords_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pgpass");
        std::fs::write(
            &pass,
            "# comment\nother:*:*:*:nope\n127.0.0.1:5432:test:root:s3cr\\:et\n",
        )
        .unwrap();
        let env = env_of(&[("PGPASSFILE", pass.to_str().unwrap())]);
        let t = Target::parse_with("postgres://root@127.0.0.1:5432/test", &env).unwrap();
        assert_eq!(t.config.get_password(), Some(&b"s3cr:et"[..]));
        assert!(!t.to_string().contains("s3cr"));
        assert!(!format!("{t:?}").contains("s3cr"));
        let t = Target::parse_with("postgres://root:hunter2@h/db", &env_of(&[])).unwrap();
        assert!(!t.to_string().contains("hunter2"));
        assert_eq!(
            redact("cannot parse postgres://root:hunter2@h/db or password=hunter2 here"),
            "cannot parse postgres://root:***@h/db or password=*** here"
        );
    }
}
