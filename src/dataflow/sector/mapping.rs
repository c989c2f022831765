//! The reference mapping as a differential collection, read on one worker of the cluster.
//!
//! How it works:
//! 1. Worker 0 (of the whole cluster) starts a thread that opens the reader and calls `read`
//!    over and over, sending each new snapshot over a channel of one; every other worker
//!    drops its capability at once and contributes nothing.
//! 2. The operator holds its capability at time 0 until the first snapshot is in, so no
//!    sector window can be completed before the mapping is known.
//! 3. Then it follows the frontier of the symbol records (taken as an input only for its
//!    frontier): a snapshot read while windows ending below `f` are out enters at time `f`.
//! 4. [`Changes`] turns each snapshot into the updates that take the collection from the
//!    previous snapshot to this one (see its doc for the meaning of each row).
//! 5. When the symbol records' frontier is empty (the input is done) the capability goes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::Stream;

use super::Name;
use crate::dataflow::RunControl;
use crate::reference::{Mapping, ReferenceSpec};

/// How long the reading thread waits between two calls to `read`, and how often the operator
/// looks for a new snapshot when nothing else wakes it.
const READ_EVERY: Duration = Duration::from_millis(200);

/// The longest wait between two attempts while the reference keeps failing.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(10);

/// A row of the mapping as the dataflow holds it: `(symbol, (valid_from, sector))`. A `None`
/// sector means the symbol is in no sector from `valid_from` on; a `None` valid_from means
/// since always.
pub type MappingRecord = (Name, (Option<u64>, Option<Name>));

/// The difference between snapshots, as updates of the mapping collection.
///
/// * The first snapshot enters as it is: every window is computed with it.
/// * Later, a row with a `valid_from` is added or removed as it is; its windows change,
///   as revisions within the allowed lateness.
/// * Later, a row without `valid_from` that appears, changes sector or disappears applies from
///   the first window not yet emitted, `now`: it becomes the row `(symbol, now - 1, sector)`
///   (a disappeared symbol: sector `None`), which wins over older rows for every window
///   ending at `now` or later and leaves every earlier window as it was.
#[derive(Default)]
pub struct Changes {
    started: bool,
    /// The rows with a `valid_from` in the last snapshot.
    dated: BTreeSet<(String, u64, String)>,
    /// The sector without `valid_from` of each symbol in the last snapshot.
    always: BTreeMap<String, String>,
    /// Rows made from changes without `valid_from`, by (symbol, valid_from).
    made: BTreeMap<(String, u64), Option<Name>>,
}

impl Changes {
    /// The updates that take the collection to `snapshot`, read when windows ending below
    /// `now` are out.
    pub fn apply(&mut self, snapshot: Vec<Mapping>, now: u64) -> Vec<(MappingRecord, isize)> {
        let mut dated = BTreeSet::new();
        let mut always = BTreeMap::new();
        for m in snapshot {
            match m.valid_from {
                Some(t) => {
                    dated.insert((m.symbol, t.0, m.sector));
                }
                None => {
                    always.insert(m.symbol, m.sector);
                }
            }
        }
        let mut updates = Vec::new();
        let name = |s: &str| Name::from(s);
        let record =
            |(s, t, sector): &(String, u64, String)| (name(s), (Some(*t), Some(name(sector))));
        for gone in self.dated.difference(&dated) {
            updates.push((record(gone), -1));
        }
        for new in dated.difference(&self.dated) {
            updates.push((record(new), 1));
        }
        if !self.started {
            for (symbol, sector) in &always {
                updates.push(((name(symbol), (None, Some(name(sector)))), 1));
            }
        } else {
            let symbols: BTreeSet<&String> = always.keys().chain(self.always.keys()).collect();
            let from = now.saturating_sub(1);
            for symbol in symbols {
                let sector = always.get(symbol);
                if sector == self.always.get(symbol) {
                    continue;
                }
                let key = (symbol.clone(), from);
                if let Some(before) = self.made.remove(&key) {
                    updates.push(((name(symbol), (Some(from), before)), -1));
                }
                let sector = sector.map(|s| name(s));
                updates.push(((name(symbol), (Some(from), sector.clone())), 1));
                self.made.insert(key, sector);
            }
        }
        self.started = true;
        self.dated = dated;
        self.always = always;
        updates
    }
}

/// Extension trait: `records.mapping(spec, control)`.
pub trait MappingInput<'s> {
    /// The mapping read from `spec`, as a stream of collection updates on worker 0; `self`
    /// (the symbol records) only lends its frontier. A mapping that cannot be read at the
    /// start fails the run through `control`; a reader error later is logged and retried.
    fn mapping(
        &self,
        spec: ReferenceSpec,
        control: RunControl,
    ) -> Stream<'s, u64, Vec<(MappingRecord, u64, isize)>>;
}

impl<'s, D: Clone + 'static> MappingInput<'s> for Stream<'s, u64, Vec<D>> {
    fn mapping(
        &self,
        spec: ReferenceSpec,
        control: RunControl,
    ) -> Stream<'s, u64, Vec<(MappingRecord, u64, isize)>> {
        let scope = self.scope();
        let reads = scope.index() == 0;
        self.clone()
            .unary_frontier(Pipeline, "Mapping", move |cap, info| {
                let activator = scope.activator_for(info.address.clone());
                let mut cap = Some(cap);
                let reader = if reads {
                    let wake = scope.worker().sync_activator_for(info.address.to_vec());
                    Some(ReaderThread::start(spec, wake))
                } else {
                    cap = None;
                    None
                };
                let mut changes = Changes::default();
                let mut started = false;
                move |(input, frontier), output| {
                    input.for_each(|_, _| {});
                    let (Some(held), Some(reader)) = (cap.as_mut(), reader.as_ref()) else {
                        return;
                    };
                    let at = frontier.frontier().first().copied();
                    if started {
                        match at {
                            Some(t) if t > *held.time() => held.downgrade(&t),
                            Some(_) => {}
                            None => {
                                cap = None;
                                return;
                            }
                        }
                    }
                    while let Ok(read) = reader.snapshots.try_recv() {
                        match read {
                            Ok(snapshot) => {
                                let now = *held.time();
                                let mut updates: Vec<_> = changes
                                    .apply(snapshot, now)
                                    .into_iter()
                                    .map(|(record, diff)| (record, now, diff))
                                    .collect();
                                tracing::info!(changes = updates.len(), "reference mapping read");
                                started = true;
                                if !updates.is_empty() {
                                    output.session(&*held).give_container(&mut updates);
                                }
                            }
                            Err(message) => {
                                control.fail(message);
                                cap = None;
                                return;
                            }
                        }
                    }
                    if !started && control.stopping() {
                        // Nothing to wait for: the run is stopping before any mapping came.
                        cap = None;
                        return;
                    }
                    activator.activate_after(READ_EVERY);
                }
            })
    }
}

/// The thread that reads snapshots; it stops once the operator is gone.
struct ReaderThread {
    snapshots: crossbeam_channel::Receiver<Result<Vec<Mapping>, String>>,
    stop: Arc<AtomicBool>,
}

impl ReaderThread {
    fn start(spec: ReferenceSpec, wake: timely::scheduling::SyncActivator) -> ReaderThread {
        let (send, snapshots) = crossbeam_channel::bounded(1);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("reference".into())
            .spawn(move || {
                let mut reader = match crate::reference::open(&spec) {
                    Ok(reader) => reader,
                    Err(e) => {
                        let _ = send.send(Err(e.to_string()));
                        let _ = wake.activate();
                        return;
                    }
                };
                let mut read_once = false;
                // Consecutive failures after the first mapping: wait longer each time.
                let mut pause = READ_EVERY;
                while !stopped.load(Relaxed) {
                    let message = match reader.read() {
                        Ok(Some(snapshot)) => Some(Ok(snapshot)),
                        Ok(None) => None,
                        Err(e) if read_once => {
                            tracing::warn!(error = %e, retry_in = ?pause, "reading the reference failed; keeping the previous mapping and trying again");
                            std::thread::sleep(pause);
                            pause = (pause * 2).min(MAX_RETRY_PAUSE);
                            continue;
                        }
                        Err(e) => Some(Err(e.to_string())),
                    };
                    pause = READ_EVERY;
                    if let Some(message) = message {
                        let fatal = message.is_err();
                        read_once = true;
                        if send.send(message).is_err() || fatal {
                            let _ = wake.activate();
                            return;
                        }
                        let _ = wake.activate();
                    }
                    std::thread::sleep(READ_EVERY);
                }
            });
        if let Err(e) = spawned {
            let (send, receiver) = crossbeam_channel::bounded(1);
            let _ = send.send(Err(format!("cannot start the reference reader: {e}")));
            return ReaderThread {
                snapshots: receiver,
                stop,
            };
        }
        ReaderThread { snapshots, stop }
    }
}

impl Drop for ReaderThread {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventTime;

    fn m(symbol: &str, sector: &str, valid_from: Option<u64>) -> Mapping {
        Mapping {
            symbol: symbol.into(),
            sector: sector.into(),
            valid_from: valid_from.map(EventTime),
        }
    }

    fn r(symbol: &str, valid_from: Option<u64>, sector: Option<&str>) -> MappingRecord {
        (symbol.into(), (valid_from, sector.map(Name::from)))
    }

    #[test]
    fn the_first_snapshot_enters_as_it_is_and_later_undated_changes_from_now() {
        let mut changes = Changes::default();
        let first = changes.apply(vec![m("A", "tech", None), m("B", "oil", Some(5))], 1000);
        assert_eq!(
            first,
            vec![
                (r("B", Some(5), Some("oil")), 1),
                (r("A", None, Some("tech")), 1)
            ]
        );
        assert_eq!(
            changes.apply(vec![m("A", "tech", None), m("B", "oil", Some(5))], 2000),
            vec![]
        );
        // A moves, B's dated row goes, C is listed.
        let later = changes.apply(vec![m("A", "fin", None), m("C", "oil", None)], 3000);
        assert_eq!(
            later,
            vec![
                (r("B", Some(5), Some("oil")), -1),
                (r("A", Some(2999), Some("fin")), 1),
                (r("C", Some(2999), Some("oil")), 1),
            ]
        );
        // Twice at the same time: the second replaces the first; A delisted.
        let again = changes.apply(vec![m("C", "oil", None)], 3000);
        assert_eq!(
            again,
            vec![
                (r("A", Some(2999), Some("fin")), -1),
                (r("A", Some(2999), None), 1)
            ]
        );
    }
}
