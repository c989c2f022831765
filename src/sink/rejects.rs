//! The rejects output: every unusable or late record, with where it came from and why.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

use super::{Sink, SinkError};
use crate::delivery::DeliveryStats;
use crate::event::EventTime;
use crate::row::{RejectRow, WindowRow};

/// One rejected record, as written (one JSON object a line).
#[derive(Debug, Clone, Serialize)]
pub struct RejectRecord<'a> {
    pub source: &'a str,
    pub partition: usize,
    /// 1-based line number in the source (record number for the generator).
    pub line: u64,
    /// Byte offset of the line in the source.
    pub offset: u64,
    /// Wall-clock time it was read, RFC 3339.
    pub received_at: String,
    /// Stable reason code: `malformed`, `missing_field`, `late`, ...
    pub reason: &'static str,
    pub detail: &'a str,
    /// The line as read (lossy UTF-8; only its first bytes if over the size limit).
    pub raw: &'a str,
}

/// A shared rejects writer; stderr by default.
pub struct RejectSink {
    name: String,
    out: Mutex<Box<dyn Write + Send>>,
    /// Flush after every batch (stderr: a human may be watching).
    eager: bool,
}

impl RejectSink {
    pub fn stderr() -> RejectSink {
        RejectSink {
            name: "stderr".into(),
            out: Mutex::new(Box::new(std::io::stderr())),
            eager: true,
        }
    }

    pub fn file(path: &Path) -> Result<RejectSink, SinkError> {
        let file = File::create(path).map_err(|error| SinkError::Create {
            path: path.display().to_string(),
            error,
        })?;
        Ok(RejectSink {
            name: path.display().to_string(),
            out: Mutex::new(Box::new(BufWriter::new(file))),
            eager: false,
        })
    }

    /// Writes a batch of already-encoded reject lines.
    pub fn write_encoded(&self, bytes: &[u8]) -> Result<(), SinkError> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let result = out
            .write_all(bytes)
            .and_then(|()| if self.eager { out.flush() } else { Ok(()) });
        result.map_err(|error| SinkError::Write {
            sink: self.name.clone(),
            error,
        })
    }

    pub fn flush(&self) -> Result<(), SinkError> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.flush().map_err(|error| SinkError::Write {
            sink: self.name.clone(),
            error,
        })
    }
}

/// Appends one reject as a JSON line to `out`.
pub fn encode_reject(record: &RejectRecord<'_>, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, record).expect("serializing to a Vec cannot fail");
    out.push(b'\n');
}

impl Sink for RejectSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rows(&self, _worker: usize, _rows: &mut Vec<WindowRow>) -> Result<(), SinkError> {
        Ok(())
    }

    fn wants_rejects(&self) -> bool {
        true
    }

    fn rejects(&self, rejects: &[RejectRow]) -> Result<(), SinkError> {
        let mut out = Vec::new();
        for r in rejects {
            let received_at = r
                .received_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            encode_reject(
                &RejectRecord {
                    source: &r.source,
                    partition: r.partition,
                    line: r.line,
                    offset: r.position,
                    received_at: EventTime(received_at).to_string(),
                    reason: r.reason,
                    detail: &r.detail,
                    raw: &r.raw,
                },
                &mut out,
            );
        }
        self.write_encoded(&out)
    }

    fn finish(&self) -> Result<Option<DeliveryStats>, SinkError> {
        self.flush().map(|()| None)
    }
}
