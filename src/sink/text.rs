//! Stdout and file sinks: encoded rows appended to one shared writer.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Mutex;

use super::{csv_header, encode_with, Format, Sink, SinkError, SinkSpec};
use crate::delivery::DeliveryStats;
use crate::row::WindowRow;

thread_local! {
    /// Each worker encodes into its own buffer, then writes it whole.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A text sink shared by all workers of a process; each worker writes whole batches.
pub struct TextSink {
    name: String,
    format: Format,
    /// CSV: the sector rollups' columns are in the header (`--reference`).
    sectors: bool,
    out: Option<Mutex<Box<dyn Write + Send>>>,
}

impl TextSink {
    /// Opens the sink (a file is created or truncated) and writes the CSV header if any, with
    /// a `revision` column when windows take corrections (`revisions`) and the sector columns
    /// when the pipeline rolls symbols up into sectors (`sectors`).
    pub fn open(
        spec: &SinkSpec,
        format: Format,
        revisions: bool,
        sectors: bool,
    ) -> Result<TextSink, SinkError> {
        let out: Option<Box<dyn Write + Send>> = match spec {
            SinkSpec::Stdout => Some(Box::new(BufWriter::with_capacity(
                1 << 16,
                std::io::stdout(),
            ))),
            SinkSpec::File(path) => {
                let file = File::create(path).map_err(|error| SinkError::Create {
                    path: path.display().to_string(),
                    error,
                })?;
                Some(Box::new(BufWriter::with_capacity(1 << 20, file)))
            }
            SinkSpec::Discard | SinkSpec::Postgres(_) | SinkSpec::Kafka(_) | SinkSpec::Redis(_) => {
                None
            }
        };
        let sink = TextSink {
            name: spec.to_string(),
            format,
            sectors,
            out: out.map(Mutex::new),
        };
        if format == Format::Csv {
            sink.write_encoded(format!("{}\n", csv_header(revisions, sectors)).as_bytes())?;
        }
        Ok(sink)
    }

    /// Encodes and writes `rows` as one block, so lines of different workers never interleave.
    pub fn write_rows<'a>(
        &self,
        rows: impl IntoIterator<Item = &'a WindowRow>,
        scratch: &mut Vec<u8>,
    ) -> Result<(), SinkError> {
        if self.out.is_none() {
            return Ok(());
        }
        scratch.clear();
        for row in rows {
            encode_with(row, self.format, self.sectors, scratch);
        }
        self.write_encoded(scratch)
    }

    fn write_encoded(&self, bytes: &[u8]) -> Result<(), SinkError> {
        let Some(out) = &self.out else {
            return Ok(());
        };
        let mut out = out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        out.write_all(bytes).map_err(|error| SinkError::Write {
            sink: self.name.clone(),
            error,
        })
    }

    /// Flushes buffered rows; called when the frontier passes so results are never held back.
    pub fn flush(&self) -> Result<(), SinkError> {
        let Some(out) = &self.out else {
            return Ok(());
        };
        let mut out = out.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        out.flush().map_err(|error| SinkError::Write {
            sink: self.name.clone(),
            error,
        })
    }
}

impl Sink for TextSink {
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Each batch is written whole and flushed, so results are never held back.
    fn rows(&self, _worker: usize, rows: &mut Vec<WindowRow>) -> Result<(), SinkError> {
        if self.out.is_none() {
            return Ok(());
        }
        SCRATCH.with_borrow_mut(|scratch| self.write_rows(rows.iter(), scratch))?;
        self.flush()
    }

    fn finish(&self) -> Result<Option<DeliveryStats>, SinkError> {
        self.flush().map(|()| None)
    }
}
