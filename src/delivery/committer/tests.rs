//! The committer against an in-memory store: no database, every failure mode on demand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::delivery::progress::PartitionProgress;
use crate::delivery::{PartitionKey, Resume, Saved};
use crate::event::EventTime;
use crate::window::TickAgg;

/// What the fake store holds, as a database would: committed rows by key, progress by
/// partition, and every batch it was asked to commit.
#[derive(Default)]
struct Tables {
    rows: BTreeMap<(String, u64), WindowRow>,
    rejects: Vec<RejectRow>,
    progress: BTreeMap<PartitionKey, Resume>,
    committed_below: u64,
    attempts: Vec<u64>,
}

/// How the next commits fail.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fault {
    /// Fails before writing anything.
    Refuse,
    /// Writes everything, then loses the answer (the commit happened; the client cannot know).
    LoseAnswer,
    /// A permanent failure.
    Broken,
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?}")]
struct FakeError(Fault);

struct FakeStore {
    tables: Arc<Mutex<Tables>>,
    faults: Arc<Mutex<Vec<Fault>>>,
    others: Option<u64>,
}

impl Store for FakeStore {
    type Error = FakeError;

    fn describe(&self) -> String {
        "the fake store".into()
    }

    fn saved(&mut self) -> Result<Vec<Saved>, FakeError> {
        let t = self.tables.lock().expect("test lock");
        Ok(t.progress
            .iter()
            .map(|(key, resume)| Saved::Partition {
                key: key.clone(),
                resume: *resume,
                split_bytes: 0,
            })
            .chain([Saved::Process {
                process: 0,
                processes: 1,
                committed_below: t.committed_below,
            }])
            .collect())
    }

    fn reshape(&mut self, _: usize, _: u64) -> Result<(), FakeError> {
        Ok(())
    }

    fn forget(&mut self) -> Result<(), FakeError> {
        let mut t = self.tables.lock().expect("test lock");
        t.progress.clear();
        t.committed_below = 0;
        Ok(())
    }

    fn commit(&mut self, batch: &Batch<'_>) -> Result<(), FakeError> {
        let fault = {
            let mut faults = self.faults.lock().expect("test lock");
            (!faults.is_empty()).then(|| faults.remove(0))
        };
        let mut t = self.tables.lock().expect("test lock");
        t.attempts.push(batch.below);
        if let Some(f @ (Fault::Refuse | Fault::Broken)) = fault {
            return Err(FakeError(f));
        }
        for row in batch.rows {
            let WindowRow::SymbolAverage { symbol, end, .. } = row else {
                unreachable!("the tests send ticks only")
            };
            // An upsert: the same window twice leaves one row.
            t.rows.insert((symbol.clone(), end.0), row.clone());
        }
        for r in batch.rejects {
            if !t
                .rejects
                .iter()
                .any(|x| (x.partition, x.position) == (r.partition, r.position))
            {
                t.rejects.push(r.clone());
            }
        }
        for point in batch.points {
            t.progress.insert(point.key.clone(), point.resume);
        }
        t.committed_below = batch.below;
        match fault {
            Some(Fault::LoseAnswer) => Err(FakeError(Fault::LoseAnswer)),
            _ => Ok(()),
        }
    }

    fn others_committed(&mut self) -> Result<Option<u64>, FakeError> {
        Ok(self.others)
    }

    fn is_transient(error: &FakeError) -> bool {
        error.0 != Fault::Broken
    }
}

fn spec() -> WindowSpec {
    WindowSpec::new(Duration::from_secs(2), Duration::from_secs(1)).expect("2s/1s")
}

fn tick(symbol: &str, end_secs: u64) -> WindowRow {
    WindowRow::SymbolAverage {
        symbol: symbol.into(),
        start: EventTime(end_secs.saturating_sub(2) * 1000),
        end: EventTime(end_secs * 1000),
        agg: TickAgg::of(10.0, 1),
        revision: None,
    }
}

fn reject(position: u64) -> RejectRow {
    RejectRow {
        source: "file:/in".into(),
        partition: 0,
        position,
        line: position,
        received_at: std::time::UNIX_EPOCH,
        reason: "malformed",
        detail: String::new(),
        raw: "{".into(),
    }
}

/// The resume points each after-commit hook call was given.
type Hooked = Arc<Mutex<Vec<Vec<Point>>>>;

struct Run {
    tables: Arc<Mutex<Tables>>,
    faults: Arc<Mutex<Vec<Fault>>>,
    book: Arc<ProgressBook>,
    delivery: Delivery,
    hooked: Hooked,
}

/// Every worker has written all its rows: what the end of input looks like to the committer.
fn end_of_input(delivery: &Delivery) {
    for worker in 0..2 {
        delivery
            .send(ToCommitter::Frontier {
                worker,
                below: None,
            })
            .expect("committer running");
    }
}

/// Ends the input and waits for the last commit.
fn finish(run: &Run) -> Result<DeliveryStats, DeliveryError> {
    end_of_input(&run.delivery);
    run.delivery.finish()
}

fn start(max_batch_rows: usize, others: Option<u64>, faults: &[Fault]) -> Run {
    let tables = Arc::new(Mutex::new(Tables::default()));
    let faults = Arc::new(Mutex::new(faults.to_vec()));
    let book = Arc::new(ProgressBook::default());
    let hooked = Arc::new(Mutex::new(Vec::new()));
    let seen = hooked.clone();
    let hook: AfterCommit =
        Box::new(move |points| seen.lock().expect("test lock").push(points.to_vec()));
    let store = FakeStore {
        tables: tables.clone(),
        faults: faults.clone(),
        others,
    };
    let config = CommitterConfig {
        commit_interval: Duration::from_millis(1),
        max_batch_rows,
        local_workers: 2,
        window: spec(),
        patience: Duration::from_secs(30),
    };
    let delivery = Delivery::start(store, config, book.clone(), 0, vec![hook], None);
    Run {
        tables,
        faults,
        book,
        delivery,
        hooked,
    }
}

#[test]
fn commits_only_what_every_worker_has_passed() {
    let run = start(1000, None, &[]);
    let tx = &run.delivery;
    tx.send(ToCommitter::Rows(vec![
        tick("A", 1),
        tick("A", 2),
        tick("A", 3),
    ]))
    .expect("committer running");
    // Worker 0 is past 3 s, worker 1 only past 2 s: windows ending at 1 s are committable.
    tx.send(ToCommitter::Frontier {
        worker: 0,
        below: Some(3_500),
    })
    .expect("committer running");
    tx.send(ToCommitter::Frontier {
        worker: 1,
        below: Some(1_500),
    })
    .expect("committer running");
    let committed = run.delivery.committed_below();
    while committed.load(Relaxed) < 1_500 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let rows: Vec<_> = run
        .tables
        .lock()
        .expect("test lock")
        .rows
        .keys()
        .cloned()
        .collect();
    assert_eq!(rows, vec![("A".to_string(), 1_000)]);
    let stats = finish(&run).expect("clean finish");
    // The end of input commits the rest.
    let t = run.tables.lock().expect("test lock");
    assert_eq!(t.rows.len(), 3);
    assert_eq!(t.committed_below, END);
    assert_eq!(stats.rows, 3);
}

#[test]
fn a_backlog_goes_in_slices_at_rising_frontiers() {
    let run = start(2, None, &[]);
    let tx = &run.delivery;
    let rows: Vec<WindowRow> = (1..=5).flat_map(|e| [tick("A", e), tick("B", e)]).collect();
    tx.send(ToCommitter::Rows(rows)).expect("committer running");
    let stats = finish(&run).expect("clean finish");
    let t = run.tables.lock().expect("test lock");
    assert_eq!(t.rows.len(), 10);
    assert!(stats.commits >= 5, "{} commits", stats.commits);
    assert!(
        t.attempts.windows(2).all(|w| w[0] < w[1]),
        "frontiers rise: {:?}",
        t.attempts
    );
}

#[test]
fn failed_commits_are_retried_and_a_lost_answer_doubles_nothing() {
    let run = start(
        1000,
        None,
        &[Fault::Refuse, Fault::LoseAnswer, Fault::Refuse],
    );
    let tx = &run.delivery;
    tx.send(ToCommitter::Rows(vec![tick("A", 1), tick("B", 1)]))
        .expect("committer running");
    tx.send(ToCommitter::Rejects(vec![reject(7)]))
        .expect("committer running");
    let stats = finish(&run).expect("retries succeed");
    assert_eq!(stats.retries, 3);
    assert_eq!(stats.commits, 1);
    let t = run.tables.lock().expect("test lock");
    assert_eq!(t.rows.len(), 2);
    assert_eq!(t.rejects.len(), 1);
    assert_eq!(t.attempts, vec![END; 4], "the same batch each time");
    assert!(run.faults.lock().expect("test lock").is_empty());
}

#[test]
fn a_permanent_failure_stops_delivery_with_the_stores_error() {
    let run = start(1000, None, &[Fault::Broken]);
    let tx = &run.delivery;
    tx.send(ToCommitter::Rows(vec![tick("A", 1)]))
        .expect("committer running");
    let err = finish(&run).expect_err("broken store");
    assert!(matches!(err, DeliveryError::Store(_)), "{err}");
    assert!(run.tables.lock().expect("test lock").rows.is_empty());
}

#[test]
fn resume_points_follow_the_cluster_floor_and_reach_the_hooks() {
    // Another process has committed only below 1 s.
    let run = start(1000, Some(1_000), &[]);
    let key: PartitionKey = ("file:/in".into(), 0);
    let mut progress = PartitionProgress::new(
        Resume {
            offset: 0,
            max_seen: None,
        },
        0,
    );
    // Records in panes 0 (offset 0), 1 (offset 40) and 2 (offset 80); read up to 120.
    progress.note(0, 0, None);
    progress.note(1, 40, Some(EventTime(500)));
    progress.note(2, 80, Some(EventTime(1_500)));
    progress.advance(Resume {
        offset: 120,
        max_seen: Some(EventTime(2_500)),
    });
    run.book.publish(&key, &progress);
    let tx = &run.delivery;
    tx.send(ToCommitter::Rows(vec![tick("A", 1), tick("A", 2)]))
        .expect("committer running");
    finish(&run).expect("clean finish");
    let t = run.tables.lock().expect("test lock");
    // Below the floor of 1 s, pane 0 still feeds an uncommitted window: resume at its record.
    assert_eq!(t.progress.get(&key).map(|r| r.offset), Some(0));
    let hooked = run.hooked.lock().expect("test lock");
    assert_eq!(hooked.len(), 1, "one commit, one hook call");
    assert_eq!(
        hooked[0],
        vec![Point {
            key,
            resume: t.progress[&("file:/in".to_string(), 0)],
            split_bytes: 0,
        }]
    );
}

#[test]
fn recover_reads_what_was_committed_or_forgets_it() {
    let tables = Arc::new(Mutex::new(Tables::default()));
    {
        let mut t = tables.lock().expect("test lock");
        t.committed_below = 4_000;
        t.progress.insert(
            ("file:/in".into(), 0),
            Resume {
                offset: 99,
                max_seen: Some(EventTime(3_000)),
            },
        );
    }
    let mut store = FakeStore {
        tables: tables.clone(),
        faults: Arc::default(),
        others: None,
    };
    let restart = recover(&mut store, "p", false, 1, Duration::from_secs(1))
        .expect("readable")
        .expect("saved");
    assert_eq!(restart.committed_below, 4_000);
    assert_eq!(restart.resume("file:/in", 0).map(|r| r.offset), Some(99));
    let forgotten = recover(&mut store, "p", true, 1, Duration::from_secs(1)).expect("forgets");
    assert_eq!(forgotten, None);
    assert!(tables.lock().expect("test lock").progress.is_empty());
}

#[test]
fn slices_never_split_a_window_end() {
    let rows: Vec<WindowRow> = ["A", "B", "C"].iter().map(|s| tick(s, 1)).collect();
    // Three rows end at 1 s and only two fit: the slice still takes the whole end.
    assert_eq!(slice_below(&rows, 10_000, 2), 1_001);
    assert_eq!(slice_below(&rows, 10_000, 3), 10_000);
}
