//! Watermark gossip: every worker tells every other worker, in every process, how far its
//! partitions have got, so a worker with nothing to read can follow the cluster instead of
//! holding everyone back.
//!
//! How it works:
//! 1. Each worker's ingest operator writes a report into the process's `WatermarkBoard`: the
//!    lowest watermark of its active (not idle) partitions, if any, and the furthest watermark
//!    any of its partitions has reached.
//! 2. A small source operator per worker sends its own report, when it changed, to all workers
//!    (a dataflow of its own kind beside the main one: it never touches the main frontier).
//! 3. A sink stores reports from other processes in the board; reports from this process are
//!    read straight from it. A sequence number keeps only the latest report of each worker.
//!
//! A worker without active partitions then moves to the lowest active watermark in the cluster
//! or, when nothing anywhere is active, to the furthest watermark reached anywhere (as Flink
//! does when all its inputs are idle).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::operator::source;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::{Scope, StreamVec};
use timely::scheduling::SyncActivator;

/// No watermark (no active partition; nothing reached yet).
const NONE: u64 = u64::MAX;

/// How often a worker looks whether its report changed.
const GOSSIP_EVERY: Duration = Duration::from_millis(20);

/// A worker's report: `(worker, sequence, active, reached)`, `NONE` for no watermark.
type Report = (usize, u64, u64, u64);

struct Entry {
    active: AtomicU64,
    reached: AtomicU64,
    seq: AtomicU64,
    /// The worker's ingest has ended; its last report stands.
    done: AtomicBool,
    /// Wakes the worker's gossip operator (set for this process's workers): an ended ingest
    /// is sent at once rather than at the next period, which would hold the run's end back.
    wake: Mutex<Option<SyncActivator>>,
}

/// The latest report of every worker of the cluster, as this process knows it.
pub struct WatermarkBoard {
    entries: Vec<Entry>,
    /// Global indices of this process's workers.
    local: std::ops::Range<usize>,
}

impl WatermarkBoard {
    /// Every worker starts active at watermark 0: nobody follows anyone before hearing.
    pub fn new(total_workers: usize, local: std::ops::Range<usize>) -> WatermarkBoard {
        let entries = (0..total_workers)
            .map(|_| Entry {
                active: AtomicU64::new(0),
                reached: AtomicU64::new(NONE),
                seq: AtomicU64::new(0),
                done: AtomicBool::new(false),
                wake: Mutex::new(None),
            })
            .collect();
        WatermarkBoard { entries, local }
    }

    /// Records this process's `worker`'s own report.
    pub fn report(&self, worker: usize, active: Option<u64>, reached: Option<u64>) {
        let e = &self.entries[worker];
        let (active, reached) = (active.unwrap_or(NONE), reached.unwrap_or(NONE));
        let changed = e.active.swap(active, Relaxed) != active;
        let changed = e.reached.swap(reached, Relaxed) != reached || changed;
        if changed {
            e.seq.fetch_add(1, Relaxed);
        }
    }

    /// This process's `worker` has ended: it holds nobody back any more.
    pub fn finish(&self, worker: usize, reached: Option<u64>) {
        self.report(worker, None, reached);
        let e = &self.entries[worker];
        e.done.store(true, Relaxed);
        let wake = e.wake.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(wake) = wake {
            // An error means the dataflow is already gone: nothing left to wake.
            let _ = wake.activate();
        }
    }

    /// Where a worker with no active partition of its own should move: the lowest active
    /// watermark of the others, else the furthest watermark reached anywhere.
    pub fn follow(&self, worker: usize) -> Option<u64> {
        let others = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != worker);
        let slowest_active = others
            .map(|(_, e)| e.active.load(Relaxed))
            .filter(|&w| w != NONE)
            .min();
        slowest_active.or_else(|| {
            self.entries
                .iter()
                .map(|e| e.reached.load(Relaxed))
                .filter(|&w| w != NONE)
                .max()
        })
    }

    fn snapshot(&self, worker: usize) -> (Report, bool) {
        let e = &self.entries[worker];
        let done = e.done.load(Relaxed);
        let report = (
            worker,
            e.seq.load(Relaxed),
            e.active.load(Relaxed),
            e.reached.load(Relaxed),
        );
        (report, done)
    }

    /// Stores another process's worker's report, unless a later one is already here.
    fn receive(&self, (worker, seq, active, reached): Report) {
        if self.local.contains(&worker) {
            return;
        }
        let Some(e) = self.entries.get(worker) else {
            return;
        };
        if seq > e.seq.load(Relaxed) {
            e.active.store(active, Relaxed);
            e.reached.store(reached, Relaxed);
            e.seq.store(seq, Relaxed);
        }
    }
}

/// Builds this worker's gossip: its reports out to all workers, theirs into the board.
pub fn gossip(scope: Scope<'_, u64>, board: Arc<WatermarkBoard>) {
    let worker = scope.index();
    let reports: StreamVec<'_, u64, Report> = source(scope, "WatermarkGossip", {
        let board = board.clone();
        move |cap, info| {
            let activator = scope.activator_for(info.address.clone());
            let wake = scope.worker().sync_activator_for(info.address.to_vec());
            *board.entries[worker]
                .wake
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(wake);
            let mut cap = Some(cap);
            let mut sent_seq = u64::MAX;
            activator.activate();
            move |output| {
                let Some(held) = cap.as_ref() else {
                    return;
                };
                let (report, done) = board.snapshot(worker);
                if report.1 != sent_seq {
                    sent_seq = report.1;
                    output.session(held).give(report);
                }
                if done {
                    cap = None;
                } else {
                    activator.activate_after(GOSSIP_EVERY);
                }
            }
        }
    });
    reports
        .broadcast()
        .sink(Pipeline, "WatermarkBoard", move |(input, _frontier)| {
            input.for_each_time(|_time, data| {
                for batch in data {
                    for report in batch.drain(..) {
                        board.receive(report);
                    }
                }
            });
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_slowest_active_worker_else_the_furthest_reached() {
        let board = WatermarkBoard::new(4, 0..2);
        // Nobody has reported: everyone else counts as active at 0.
        assert_eq!(board.follow(0), Some(0));
        board.report(1, Some(500), Some(500));
        board.receive((2, 1, 300, 300));
        board.receive((3, 1, NONE, 900));
        assert_eq!(board.follow(0), Some(300));
        // A stale report from worker 2 is ignored; a newer one is kept.
        board.receive((2, 3, NONE, 400));
        board.receive((2, 2, 100, 100));
        assert_eq!(board.follow(0), Some(500));
        // Nobody active: the furthest watermark reached anywhere.
        board.finish(1, Some(500));
        assert_eq!(board.follow(0), Some(900));
        // Reports about this process's own workers come from the board itself, not the wire.
        board.receive((1, 99, 7, 7));
        assert_eq!(board.follow(0), Some(900));
    }
}
