//! The sink operator: writes each worker's rows to every configured sink.

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::Shared;
use crate::row::WindowRow;
use crate::sink::postgres::ToWriter;

/// Rows per message to the PostgreSQL writer.
const ROWS_PER_MESSAGE: usize = 4096;

/// Extension trait: `rows.emit(shared)`.
pub trait Emit {
    /// Writes rows as they come; each batch is written whole and flushed.
    fn emit(self, shared: Arc<Shared>);
}

impl Emit for Stream<'_, u64, Vec<WindowRow>> {
    fn emit(self, shared: Arc<Shared>) {
        let mut batch: Vec<WindowRow> = Vec::new();
        let mut scratch = Vec::new();
        let worker = self.scope().index();
        let pg = shared.pg_sender();
        let mut noted: Option<Option<u64>> = None;
        self.sink(Pipeline, "Emit", move |(input, frontier)| {
            input.for_each_time(|_time, data| {
                for rows in data {
                    batch.append(rows);
                }
            });
            if let Some(pg) = &pg {
                // Rows first, then the note that every row below the frontier has been sent.
                let below = frontier.frontier().first().copied();
                let mut messages = Vec::new();
                // Bounded messages over a bounded queue bound the rows waiting for the database.
                for chunk in batch.chunks(ROWS_PER_MESSAGE) {
                    messages.push(ToWriter::Rows(chunk.to_vec()));
                }
                if noted != Some(below) {
                    messages.push(ToWriter::Frontier { worker, below });
                    noted = Some(below);
                }
                for m in messages {
                    if pg.send(m).is_err() {
                        shared.fail("the PostgreSQL writer stopped".into());
                        break;
                    }
                }
            }
            if batch.is_empty() {
                return;
            }
            for sink in &shared.sinks {
                let written = sink
                    .write_rows(&batch, &mut scratch)
                    .and_then(|()| sink.flush());
                match written {
                    Ok(()) => {}
                    Err(e) if e.is_broken_pipe() => shared.stop(),
                    Err(e) => shared.fail(e.to_string()),
                }
            }
            batch.clear();
        });
    }
}
