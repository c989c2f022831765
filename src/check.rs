//! `tickflow check`: every source and sink a pipeline names, reached and looked at without
//! writing anything (no table created, no offset committed, nothing produced).
//!
//! How it works:
//! 1. [`findings`] lists one check per component: a file source, each topic of a Kafka
//!    source, the reference data, each sink, the Kafka sink's result and progress topics, the
//!    rejects file.
//! 2. The checks run at once, each on its own thread, so a pipeline whose brokers and
//!    database are both down is reported in one run and within the longest timeout, not
//!    their sum.
//! 3. Each comes back `ok` with what it found, or `FAILED` with the reason and what to change.

use std::path::Path;
use std::time::Duration;

use crate::config::Pipeline;
use crate::reference::{ReferenceError, ReferenceSpec};
use crate::sink::kafka::KafkaSinkConfig;
use crate::sink::redis::RedisTarget;
use crate::sink::SinkSpec;
use crate::source::{KafkaConfig, SourceConfig};

/// What was found about one component.
#[derive(Debug)]
pub struct Finding {
    /// `source file:/data/ticks.jsonl`, `sink postgres://root@db:5432/test`, ...
    pub component: String,
    /// `Ok`: usable, with what was found; `Err`: why not, and what to change.
    pub outcome: Result<String, String>,
}

impl std::fmt::Display for Finding {
    /// `COMPONENT: ok (DETAIL)` or `COMPONENT: FAILED: REASON`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Ok(detail) if detail.is_empty() => write!(f, "{}: ok", self.component),
            Ok(detail) => write!(f, "{}: ok ({detail})", self.component),
            Err(reason) => write!(f, "{}: FAILED: {reason}", self.component),
        }
    }
}

type Check<'a> = (
    String,
    Box<dyn FnOnce() -> Result<String, String> + Send + 'a>,
);

/// Checks every component of `pipeline`, all at once; findings in the pipeline's order.
pub fn findings(pipeline: &Pipeline) -> Vec<Finding> {
    let mut checks: Vec<Check<'_>> = Vec::new();
    for source in &pipeline.sources {
        match source {
            SourceConfig::File(path) => checks.push((
                format!("source file:{}", path.display()),
                Box::new(move || readable_file(path)),
            )),
            SourceConfig::Kafka(k) => {
                for topic in &k.topics {
                    checks.push((
                        format!("source {}", k.source_name(topic)),
                        Box::new(move || kafka_topic(k, topic, "the topic in --source")),
                    ));
                }
            }
            SourceConfig::Socket(s) => checks.push((
                format!("source {source}"),
                Box::new(move || reachable(&s.address)),
            )),
            SourceConfig::Listen(l) => checks.push((
                format!("source {source}"),
                Box::new(move || bindable(&l.address)),
            )),
            SourceConfig::Generator(_) | SourceConfig::Stdin => {
                checks.push((format!("source {source}"), Box::new(|| Ok(String::new()))))
            }
        }
    }
    if let Some(reference) = &pipeline.reference {
        checks.push((
            format!("reference {reference}"),
            Box::new(move || readable_reference(reference)),
        ));
    }
    for sink in &pipeline.sinks {
        let name = format!("sink {sink}");
        match sink {
            SinkSpec::Stdout | SinkSpec::Discard => {
                checks.push((name, Box::new(|| Ok(String::new()))))
            }
            SinkSpec::File(path) => checks.push((name, Box::new(move || writable_file(path)))),
            SinkSpec::Postgres(uri) => checks.push((
                name,
                Box::new(move || {
                    let target =
                        crate::sink::postgres::Target::parse(uri).map_err(|e| e.to_string())?;
                    let settings = &pipeline.postgres;
                    crate::sink::postgres::inspect(
                        &target,
                        &settings.tables,
                        settings.connect_timeout,
                    )
                }),
            )),
            SinkSpec::Kafka(k) => {
                let results = k.topic_config(&k.topic);
                checks.push((
                    format!("sink {k} (results)"),
                    Box::new(move || kafka_topic(&results, &k.topic, "the topic in --sink")),
                ));
                let progress = k.topic_config(&k.progress_topic);
                checks.push((
                    format!("sink {k} (progress topic {})", k.progress_topic),
                    Box::new(move || {
                        kafka_topic(&progress, &k.progress_topic, progress_setting(k))
                    }),
                ));
            }
            SinkSpec::Redis(target) => {
                let timeout = pipeline.redis.connect_timeout;
                checks.push((name, Box::new(move || redis_ping(target, timeout))))
            }
        }
    }
    if let Some(path) = &pipeline.rejects {
        checks.push((
            format!("rejects file:{}", path.display()),
            Box::new(move || writable_file(path)),
        ));
    }
    std::thread::scope(|scope| {
        let running: Vec<_> = checks
            .into_iter()
            .map(|(component, check)| (component, scope.spawn(check)))
            .collect();
        running
            .into_iter()
            .map(|(component, handle)| Finding {
                component,
                outcome: handle
                    .join()
                    .unwrap_or_else(|_| Err("the check itself failed (a bug in tickflow)".into())),
            })
            .collect()
    })
}

fn progress_setting(k: &KafkaSinkConfig) -> &'static str {
    if k.progress_topic == KafkaSinkConfig::DEFAULT_PROGRESS_TOPIC {
        "?progress_topic=NAME in the sink's URI"
    } else {
        "progress_topic in the sink's URI"
    }
}

/// A Kafka topic is present: its partition count, or why not.
fn kafka_topic(config: &KafkaConfig, topic: &str, setting: &str) -> Result<String, String> {
    let one = KafkaConfig {
        topics: vec![topic.to_string()],
        ..config.clone()
    };
    match crate::source::list_partitions(&one) {
        Ok(partitions) => Ok(format!("{} partitions", partitions.len())),
        Err(e @ crate::source::KafkaSourceError::NoTopic { .. }) => {
            Err(format!("{e}, or fix {setting}"))
        }
        Err(e) => Err(format!(
            "{e} (check the brokers in the URI, the -X settings security.protocol, ssl.* and sasl.*, and --kafka-timeout)"
        )),
    }
}

/// The reference data, opened and read once as `run` would (its readers write nothing): how
/// many symbols and sectors it maps, or why it cannot be read.
fn readable_reference(spec: &ReferenceSpec) -> Result<String, String> {
    let reason = |e: ReferenceError| match e {
        ReferenceError::Unusable { message, .. } => message,
    };
    let mut reader = crate::reference::open(spec).map_err(reason)?;
    let mut found = match reader.read().map_err(reason)? {
        Some(rows) if rows.is_empty() => {
            "0 symbols in 0 sectors: every tick would be unmapped; fill the reference or fix --reference".to_string()
        }
        Some(rows) => crate::reference::summary(&rows),
        None => return Err("the reader gave no mapping at its first read (a bug in tickflow)".into()),
    };
    let invalid = crate::metrics::ReferenceProblem::Invalid;
    let skipped = crate::metrics::reference_errors(&spec.to_string(), invalid);
    if skipped > 0 {
        let what = if skipped == 1 {
            "row or message"
        } else {
            "rows or messages"
        };
        found.push_str(&format!(
            "; {skipped} unusable {what} skipped (warned about on stderr)"
        ));
    }
    Ok(found)
}

/// A file that can be read: its size, or why not.
fn readable_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "cannot read {}: {e}; fix the path in --source",
            path.display()
        )
    })?;
    if meta.is_dir() {
        return Err(format!(
            "{} is a directory; name a file in --source",
            path.display()
        ));
    }
    std::fs::File::open(path).map_err(|e| {
        format!(
            "cannot open {}: {e}; fix its permissions or the path in --source",
            path.display()
        )
    })?;
    Ok(format!("{} bytes", meta.len()))
}

/// A file that can be created or truncated, without doing either.
fn writable_file(path: &Path) -> Result<String, String> {
    if path.is_dir() {
        return Err(format!("{} is a directory; name a file", path.display()));
    }
    let (probe, note) = if path.exists() {
        (path.to_path_buf(), "exists, will be truncated")
    } else {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        if !parent.is_dir() {
            return Err(format!(
                "directory {} does not exist; create it or change the path",
                parent.display()
            ));
        }
        (parent, "to be created")
    };
    let c = std::ffi::CString::new(probe.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{} holds a NUL byte", path.display()))?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Err(format!(
            "{} is not writable: {}; fix its permissions or change the path",
            probe.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(note.into())
}

/// A producer answers at `address` (the connection is closed at once).
fn reachable(address: &str) -> Result<String, String> {
    use std::net::ToSocketAddrs;
    let addrs = address
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {address}: {e}; fix the address in --source"))?;
    let mut last = None;
    for addr in addrs {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(_) => return Ok(format!("{addr} accepts connections")),
            Err(e) => last = Some(e),
        }
    }
    Err(format!(
        "cannot connect to {address}: {}; is the producer running?",
        last.map_or_else(|| "no address".into(), |e| e.to_string())
    ))
}

/// The listening address is free to bind (it is released at once).
fn bindable(address: &str) -> Result<String, String> {
    std::net::TcpListener::bind(address)
        .map(|_| String::new())
        .map_err(|e| format!("cannot listen on {address}: {e}; choose another port in --source"))
}

/// A Redis server answers PING.
fn redis_ping(target: &RedisTarget, timeout: Duration) -> Result<String, String> {
    let failed = |e: redis::RedisError| {
        format!("{e}; is the server running, and are the user and password in the URI right?")
    };
    let client = redis::Client::open(target.connection_info()).map_err(failed)?;
    let mut connection = client
        .get_connection_with_timeout(timeout)
        .map_err(failed)?;
    let pong: String = redis::cmd("PING").query(&mut connection).map_err(failed)?;
    Ok(format!("PING answered {pong}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_checked_without_being_created() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.jsonl");
        std::fs::write(&input, "{}\n").unwrap();
        assert_eq!(readable_file(&input), Ok("3 bytes".into()));
        let e = readable_file(dir.path()).unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
        let e = readable_file(&dir.path().join("nope")).unwrap_err();
        assert!(e.contains("cannot read") && e.contains("--source"), "{e}");
        let out = dir.path().join("out.jsonl");
        assert_eq!(writable_file(&out), Ok("to be created".into()));
        assert!(!out.exists(), "the check created the file");
        assert_eq!(
            writable_file(&input),
            Ok("exists, will be truncated".into())
        );
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "{}\n");
        let e = writable_file(&dir.path().join("no/such/dir/out")).unwrap_err();
        assert!(e.contains("does not exist"), "{e}");
        assert!(writable_file(dir.path())
            .unwrap_err()
            .contains("is a directory"));
    }

    #[test]
    fn findings_read_as_one_line_each() {
        let ok = Finding {
            component: "sink stdout".into(),
            outcome: Ok(String::new()),
        };
        let detail = Finding {
            component: "source file:a".into(),
            outcome: Ok("3 bytes".into()),
        };
        let failed = Finding {
            component: "source file:b".into(),
            outcome: Err("b is a directory; name a file in --source".into()),
        };
        assert_eq!(ok.to_string(), "sink stdout: ok");
        assert_eq!(detail.to_string(), "source file:a: ok (3 bytes)");
        assert_eq!(
            failed.to_string(),
            "source file:b: FAILED: b is a directory; name a file in --source"
        );
    }
}
