//! A pipeline's sources, prepared once per process (files checked, Kafka partitions listed,
//! listeners bound, partition watches started) and then opened by each worker.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::kafka::{PreparedKafka, WorkerKafka};
use super::layout::{FileCut, SavedCut};
use super::line_index::LineIndex;
use super::socket::{self, SocketConfig};
use super::{
    Discover, FileSplit, Generator, GeneratorSpec, Listener, Opened, Partition, SourceConfig,
    SourceError, Stdin,
};

/// One source, ready for workers to open.
enum Ready {
    Generator(GeneratorSpec),
    File(FileSource),
    Stdin,
    Kafka(PreparedKafka),
    Socket(SocketConfig),
    Listen(Arc<Listener>),
    /// Partitions a closure makes in each worker (see [`PreparedSources::from_partitions`]).
    Made(MakePartitions),
}

/// A file, ready for workers to take its splits.
struct FileSource {
    /// Absolute, so the partitions are named the same from any working directory.
    path: PathBuf,
    /// That name (`file:/abs/path`).
    name: String,
    /// Where its splits lie.
    cut: FileCut,
    /// Line numbers of split starts, shared by the splits of this process.
    lines: Arc<LineIndex>,
}

/// Makes the partitions of `(worker, workers)`.
type MakePartitions = Arc<dyn Fn(usize, usize) -> Vec<Box<dyn Partition>> + Send + Sync>;

/// Every source of a pipeline, prepared in this process.
pub struct PreparedSources {
    ready: Vec<Ready>,
    max_line_bytes: usize,
    stop: Arc<AtomicBool>,
}

/// Prepares `configs`: a file that cannot be opened, a Kafka topic that does not exist or a
/// listener that cannot bind fails here, before any worker starts. Lines longer than
/// `max_line_bytes` are cut (and rejected); a listener spreads its connections over the
/// `local_workers` of this process; `stop` ends the threads sources start (reconnecting
/// sockets, partition watches).
pub fn prepare(
    configs: &[SourceConfig],
    max_line_bytes: usize,
    local_workers: usize,
    stop: Arc<AtomicBool>,
) -> Result<PreparedSources, SourceError> {
    let mut ready = Vec::with_capacity(configs.len());
    for config in configs {
        ready.push(match config {
            SourceConfig::Generator(spec) => Ready::Generator(spec.clone()),
            SourceConfig::Stdin => Ready::Stdin,
            SourceConfig::File(path) => {
                let (path, len) = FileSplit::prepare(path)?;
                Ready::File(FileSource {
                    name: SourceConfig::File(path.clone()).to_string(),
                    cut: FileCut::fresh(len),
                    lines: Arc::new(LineIndex::new(path.clone())),
                    path,
                })
            }
            SourceConfig::Kafka(k) => Ready::Kafka(PreparedKafka::prepare(k, stop.clone())?),
            SourceConfig::Socket(s) => Ready::Socket(s.clone()),
            SourceConfig::Listen(l) => {
                let listener = Listener::bind(l, local_workers, max_line_bytes, stop.clone())
                    .map_err(|error| SourceError::Listen {
                        address: l.address.clone(),
                        error,
                    })?;
                tracing::info!(address = %listener.local_addr(), "listening");
                Ready::Listen(listener)
            }
        });
    }
    Ok(PreparedSources {
        ready,
        max_line_bytes,
        stop,
    })
}

impl PreparedSources {
    /// Opens the partitions that belong to `worker` out of `workers` (over all processes).
    ///
    /// `wake` is called from other threads (stdin's reader) when input arrives.
    /// `resume_at(source, index)` gives the offset a replayable partition continues from.
    pub fn open(
        &self,
        worker: usize,
        workers: usize,
        wake: impl Fn() + Send + Sync + Clone + 'static,
        resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<Opened, SourceError> {
        let max_line_bytes = self.max_line_bytes;
        let mut parts: Vec<Box<dyn Partition>> = Vec::new();
        let mut discover: Vec<Box<dyn Discover>> = Vec::new();
        for ready in &self.ready {
            match ready {
                Ready::Kafka(k) => {
                    let (opened, share) = WorkerKafka::open(
                        &k.config,
                        &k.listed,
                        k.watch.clone(),
                        (worker, workers),
                        max_line_bytes,
                        resume_at,
                    )?;
                    parts.extend(
                        opened
                            .into_iter()
                            .map(|p| Box::new(p) as Box<dyn Partition>),
                    );
                    if !share.finished() {
                        discover.push(Box::new(share));
                    }
                }
                Ready::Generator(spec) => {
                    if let Some(g) = Generator::new(spec, worker, workers) {
                        parts.push(Box::new(g));
                    }
                }
                Ready::File(f) => {
                    // Any worker count can take any split: by index, round the workers.
                    for index in (worker..f.cut.splits()).step_by(workers) {
                        parts.push(Box::new(FileSplit::open(
                            (&f.path, &f.lines),
                            f.name.clone(),
                            (index, f.cut.split_bytes),
                            max_line_bytes,
                            resume_at(&f.name, index),
                        )?));
                    }
                }
                Ready::Stdin if worker == 0 => {
                    parts.push(Box::new(Stdin::spawn(max_line_bytes, wake.clone())))
                }
                Ready::Socket(config) if worker == 0 => parts.push(Box::new(socket::connect(
                    config,
                    max_line_bytes,
                    self.stop.clone(),
                    wake.clone(),
                ))),
                Ready::Stdin | Ready::Socket(_) => {}
                Ready::Listen(listener) => discover.push(Box::new(listener.for_worker(worker))),
                Ready::Made(make) => parts.extend(make(worker, workers)),
            }
        }
        Ok((parts, discover))
    }

    /// One source whose partitions `make(worker, workers)` builds in each worker: a hook for
    /// tests that drive the dataflow's operators in process with scripted partitions. Such a
    /// source is not replayable.
    #[doc(hidden)]
    pub fn from_partitions(
        make: impl Fn(usize, usize) -> Vec<Box<dyn Partition>> + Send + Sync + 'static,
    ) -> PreparedSources {
        PreparedSources {
            ready: vec![Ready::Made(Arc::new(make))],
            max_line_bytes: crate::config::DEFAULT_MAX_LINE_BYTES,
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Cuts each file as its saved progress says (`saved(source)`), so a restart reads the
    /// same splits whatever its worker count; refuses a file that changed in a way the saved
    /// progress cannot follow (see `layout.rs`).
    pub fn resume_files(
        &mut self,
        saved: impl Fn(&str) -> Option<SavedCut>,
    ) -> Result<(), SourceError> {
        for ready in &mut self.ready {
            if let Ready::File(f) = ready {
                f.cut = f
                    .cut
                    .resume(&f.path.display().to_string(), saved(&f.name))?;
            }
        }
        Ok(())
    }

    /// Whether every source can be read again from a saved position (files, Kafka), so that
    /// results committed by a durable sink can be exactly-once across restarts.
    pub fn replayable(&self) -> bool {
        self.ready
            .iter()
            .all(|r| matches!(r, Ready::File(..) | Ready::Kafka(_)))
    }
}
