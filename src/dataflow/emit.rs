//! The sink operator: hands each worker's rows, and how far they are complete, to the sinks.

use std::sync::Arc;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::RunControl;
use crate::live::Chart;
use crate::row::WindowRow;
use crate::sink::{SinkError, Sinks};

/// Extension trait: `rows.emit(sinks, control, chart)`.
pub trait Emit {
    /// Writes rows to every sink as they come, then tells the sinks each time the frontier
    /// moves that every row ending below it has been written. A reader of stdout going away
    /// stops the run quietly; any other sink failure stops it with the error. With a `chart`
    /// (`--http-addr`), each batch is also charted, before a sink may take it.
    fn emit(self, sinks: Arc<Sinks>, control: RunControl, chart: Option<Arc<Chart>>);
}

impl Emit for Stream<'_, u64, Vec<WindowRow>> {
    fn emit(self, sinks: Arc<Sinks>, control: RunControl, chart: Option<Arc<Chart>>) {
        let worker = self.scope().index();
        let mut noted: Option<Option<u64>> = None;
        let failed = move |e: SinkError| {
            if e.is_broken_pipe() {
                control.stop()
            } else {
                control.fail(e.to_string())
            }
        };
        self.sink(Pipeline, "Emit", move |(input, frontier)| {
            // Each container as it comes: a flush of millions of rows is never concatenated.
            input.for_each_time(|_time, data| {
                for rows in data {
                    if let Some(chart) = &chart {
                        chart.record(rows);
                    }
                    if let Err(e) = sinks.rows(worker, rows) {
                        failed(e);
                    }
                }
            });
            // Rows first (above), then the note that every row below the frontier is sent.
            let below = frontier.frontier().first().copied();
            if noted != Some(below) {
                if let Err(e) = sinks.frontier(worker, below) {
                    failed(e);
                }
                noted = Some(below);
            }
        });
    }
}
