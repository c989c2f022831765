//! What the operator tests drive and watch: a scripted partition, a sink that records what it
//! is told, and a captured stream read back with its progress.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::dataflow::operators::capture::Event;

use tickflow::delivery::DeliveryStats;
use tickflow::event::{EventTime, Reading, Record, Tick};
use tickflow::row::{RejectRow, WindowRow};
use tickflow::sink::{Sink, SinkError};
use tickflow::source::{Item, Partition, Poll, Position};

use super::oracle::Ev;

/// One item a scripted partition hands out.
#[derive(Clone, Debug)]
pub enum Input {
    /// A record written as a JSON line (or, with `python`, as a Python dict literal).
    Line { ev: Ev, python: bool },
    /// A record handed over parsed, as the generator does.
    Record(Ev),
    /// A line that is not a record, with the reject reason it must get.
    Bad { line: String, reason: &'static str },
}

impl Input {
    /// The text a reject of this item carries as `raw`.
    pub fn raw(&self) -> String {
        match self {
            Input::Line { ev, python } => line_of(ev, *python),
            Input::Record(ev) => format!("{:?}", record_of(ev)),
            Input::Bad { line, .. } => line.clone(),
        }
    }
}

/// One poll of a scripted partition: the items it hands out, then what it answers.
#[derive(Clone, Debug)]
pub struct Step {
    pub items: Vec<Input>,
    pub then: Poll,
}

/// A partition that plays its steps, one per poll, and then ends.
#[derive(Clone, Debug)]
pub struct Script {
    pub source: String,
    pub index: usize,
    pub steps: Vec<Step>,
}

impl Script {
    /// Every item in the order the partition hands it out, with its 1-based line number and
    /// byte offset.
    pub fn items(&self) -> impl Iterator<Item = (Position, &Input)> {
        let mut offset = 0;
        self.steps
            .iter()
            .flat_map(|s| &s.items)
            .enumerate()
            .map(move |(i, input)| {
                let position = Position {
                    line: i as u64 + 1,
                    offset,
                };
                offset += input.raw().len() as u64 + 1;
                (position, input)
            })
    }
}

/// A [`Partition`] that plays a [`Script`].
pub struct Scripted {
    script: Script,
    items: Vec<(Position, Input)>,
    next_step: usize,
    next_item: usize,
}

impl Scripted {
    pub fn new(script: Script) -> Scripted {
        let items = script.items().map(|(p, i)| (p, i.clone())).collect();
        Scripted {
            script,
            items,
            next_step: 0,
            next_item: 0,
        }
    }
}

impl Partition for Scripted {
    fn source(&self) -> &str {
        &self.script.source
    }

    fn index(&self) -> usize {
        self.script.index
    }

    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll {
        let Some(step) = self.script.steps.get(self.next_step) else {
            return Poll::Done;
        };
        self.next_step += 1;
        for _ in 0..step.items.len() {
            let (position, input) = &self.items[self.next_item];
            self.next_item += 1;
            match input {
                Input::Line { ev, python } => {
                    out(Item::Line(line_of(ev, *python).as_bytes(), *position))
                }
                Input::Record(ev) => out(Item::Record(record_of(ev), *position)),
                Input::Bad { line, .. } => out(Item::Line(line.as_bytes(), *position)),
            }
        }
        step.then
    }

    fn position(&self) -> u64 {
        self.items.get(self.next_item).map_or(0, |(p, _)| p.offset)
    }
}

/// The line a producer would write for `ev`; `{}` prints the shortest text that reads back as
/// the same f64.
fn line_of(ev: &Ev, python: bool) -> String {
    let line = match ev {
        Ev::Tick {
            symbol,
            t,
            price,
            volume,
        } => format!(
            r#"{{"timestamp": {t}, "stock_code": "{symbol}", "price": {price}, "volume": {volume}}}"#
        ),
        Ev::Reading { category, t, value } => {
            format!(r#"{{"timestamp": {t}, "value": {value}, "category": "{category}"}}"#)
        }
    };
    if python {
        line.replace('"', "'")
    } else {
        line
    }
}

fn record_of(ev: &Ev) -> Record<'_> {
    match ev {
        Ev::Tick {
            symbol,
            t,
            price,
            volume,
        } => Record::Tick(Tick {
            time: EventTime(*t),
            symbol: Cow::Borrowed(symbol),
            price: *price,
            volume: *volume,
        }),
        Ev::Reading { category, t, value } => Record::Reading(Reading {
            time: EventTime(*t),
            category: Cow::Borrowed(category),
            value: *value,
        }),
    }
}

/// What the sink operator told a sink, in order, per worker.
#[derive(Clone, Debug)]
pub enum Note {
    Rows(Vec<WindowRow>),
    /// Every row ending below this (`None`: every row) has been written.
    Frontier(Option<u64>),
}

/// Everything a [`Recorder`] was given.
#[derive(Default)]
pub struct Recorded {
    pub notes: Mutex<Vec<(usize, Note)>>,
    pub rejects: Mutex<Vec<RejectRow>>,
}

/// A sink that keeps rows, rejects and frontier notes for the test to read.
pub struct Recorder(pub Arc<Recorded>);

impl Sink for Recorder {
    fn name(&self) -> String {
        "recorder".into()
    }

    fn rows(&self, worker: usize, rows: &mut Vec<WindowRow>) -> Result<(), SinkError> {
        let mut notes = self.0.notes.lock().expect("not poisoned");
        notes.push((worker, Note::Rows(rows.clone())));
        Ok(())
    }

    fn rejects(&self, rejects: &[RejectRow]) -> Result<(), SinkError> {
        let mut kept = self.0.rejects.lock().expect("not poisoned");
        kept.extend_from_slice(rejects);
        Ok(())
    }

    fn wants_rejects(&self) -> bool {
        true
    }

    fn frontier(&self, worker: usize, below: Option<u64>) -> Result<(), SinkError> {
        let mut notes = self.0.notes.lock().expect("not poisoned");
        notes.push((worker, Note::Frontier(below)));
        Ok(())
    }

    fn finish(&self) -> Result<Option<DeliveryStats>, SinkError> {
        Ok(None)
    }
}

/// Reads a worker's captured stream back: every row with the time it was sent at, after
/// checking that no row came behind the stream's frontier and that the frontier ended empty.
pub fn drain(captured: Receiver<Event<u64, Vec<WindowRow>>>) -> Vec<(u64, WindowRow)> {
    // A replay starts holding time 0 once; progress events count from there.
    let mut counts: BTreeMap<u64, i64> = BTreeMap::from([(0, 1)]);
    let mut rows = Vec::new();
    for event in captured.try_iter() {
        match event {
            Event::Progress(changes) => {
                for (t, delta) in changes {
                    *counts.entry(t).or_default() += delta;
                }
                counts.retain(|_, c| *c != 0);
            }
            Event::Messages(t, batch) => {
                let frontier = counts.iter().find(|(_, c)| **c > 0).map(|(t, _)| *t);
                assert!(
                    frontier.is_some_and(|f| f <= t),
                    "rows at {t} arrived after the frontier passed it ({frontier:?})"
                );
                rows.extend(batch.into_iter().map(|r| (t, r)));
            }
        }
    }
    assert!(
        counts.is_empty(),
        "the captured stream did not end: {counts:?}"
    );
    rows
}

/// A short wait, for `Poll::Pending`.
pub const PENDING: Poll = Poll::Pending(Duration::from_millis(1));
