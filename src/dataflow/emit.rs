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
        let mut scratch = Vec::new();
        let worker = self.scope().index();
        let pg = shared.pg_sender();
        let mut noted: Option<Option<u64>> = None;
        self.sink(Pipeline, "Emit", move |(input, frontier)| {
            // Each container as it comes: a flush of millions of rows is never concatenated.
            input.for_each_time(|_time, data| {
                for rows in data {
                    write_rows(&shared, pg.as_ref(), rows, &mut scratch);
                }
            });
            if let Some(pg) = &pg {
                // Rows first (above), then the note that every row below the frontier is sent.
                let below = frontier.frontier().first().copied();
                if noted != Some(below) {
                    if pg.send(ToWriter::Frontier { worker, below }).is_err() {
                        shared.fail("the PostgreSQL writer stopped".into());
                    }
                    noted = Some(below);
                }
            }
        });
    }
}

/// Writes `rows` to every text sink and queues them for PostgreSQL, in bounded messages.
fn write_rows(
    shared: &Shared,
    pg: Option<&crossbeam_channel::Sender<ToWriter>>,
    rows: &mut Vec<WindowRow>,
    scratch: &mut Vec<u8>,
) {
    if rows.is_empty() {
        return;
    }
    for sink in &shared.sinks {
        let written = sink.write_rows(&*rows, scratch).and_then(|()| sink.flush());
        match written {
            Ok(()) => {}
            Err(e) if e.is_broken_pipe() => shared.stop(),
            Err(e) => shared.fail(e.to_string()),
        }
    }
    if let Some(pg) = pg {
        // Bounded messages over a bounded queue bound the rows waiting for the database. They
        // are cut from the end, without copying: the writer keys rows by window, not order.
        while !rows.is_empty() {
            let tail = rows.split_off(rows.len().saturating_sub(ROWS_PER_MESSAGE));
            if pg.send(ToWriter::Rows(tail)).is_err() {
                shared.fail("the PostgreSQL writer stopped".into());
                return;
            }
        }
    }
}
