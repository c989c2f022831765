//! A pipeline's sources, prepared once per process (files checked, Kafka partitions listed,
//! listeners bound, partition watches started) and then opened by each worker.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::kafka::{self, KafkaOptions, PartitionWatch, TopicPartition};
use super::{
    socket, Discover, FileSplit, Generator, GeneratorSpec, Listener, Opened, Partition,
    SourceError, SourceSpec, Stdin,
};

/// What the sources need from the pipeline's settings.
#[derive(Clone, Debug)]
pub struct SourceSettings {
    pub generator: GeneratorSpec,
    pub max_line_bytes: usize,
    /// Producers a `listen://` source accepts at once.
    pub max_connections: usize,
    pub kafka: KafkaOptions,
    /// Worker threads of this process (a listener spreads its connections over them).
    pub local_workers: usize,
}

/// One source, ready for workers to open.
enum Ready {
    Generator,
    /// An absolute path, so the partition is named the same from any working directory.
    File(PathBuf, String),
    Stdin,
    Kafka {
        spec: kafka::KafkaSpec,
        listed: Vec<TopicPartition>,
        watch: Option<Arc<PartitionWatch>>,
    },
    Socket(String),
    Listen(Arc<Listener>),
    /// Partitions a closure makes in each worker (see [`PreparedSources::from_partitions`]).
    Made(MakePartitions),
}

/// Makes the partitions of `(worker, workers)`.
type MakePartitions = Arc<dyn Fn(usize, usize) -> Vec<Box<dyn Partition>> + Send + Sync>;

/// Every source of a pipeline, prepared in this process.
pub struct PreparedSources {
    ready: Vec<Ready>,
    settings: SourceSettings,
    stop: Arc<AtomicBool>,
}

/// Prepares `specs`: a file that cannot be opened, a Kafka topic that does not exist or a
/// listener that cannot bind fails here, before any worker starts. `stop` ends the threads
/// sources start (reconnecting sockets, partition watches).
pub fn prepare(
    specs: &[SourceSpec],
    settings: &SourceSettings,
    stop: Arc<AtomicBool>,
) -> Result<PreparedSources, SourceError> {
    let mut ready = Vec::with_capacity(specs.len());
    for spec in specs {
        ready.push(match spec {
            SourceSpec::Generator => Ready::Generator,
            SourceSpec::Stdin => Ready::Stdin,
            SourceSpec::File(path) => {
                let unusable = |error| SourceError::Open {
                    path: path.display().to_string(),
                    error,
                };
                let absolute = std::fs::canonicalize(path).map_err(unusable)?;
                let file = std::fs::File::open(&absolute).map_err(unusable)?;
                // Linux opens a directory for reading; only the first read fails.
                if file.metadata().map_err(unusable)?.is_dir() {
                    return Err(SourceError::Directory {
                        path: absolute.display().to_string(),
                    });
                }
                let name = SourceSpec::File(absolute.clone()).to_string();
                Ready::File(absolute, name)
            }
            SourceSpec::Kafka(k) => {
                let listed = kafka::list_partitions(k, &settings.kafka)?;
                let watch = PartitionWatch::start(k, &settings.kafka, listed.clone(), stop.clone());
                Ready::Kafka {
                    spec: k.clone(),
                    listed,
                    watch,
                }
            }
            SourceSpec::Socket(address) => Ready::Socket(address.clone()),
            SourceSpec::Listen(address) => {
                let listener = Listener::bind(
                    address,
                    settings.local_workers,
                    settings.max_connections,
                    settings.max_line_bytes,
                    settings.kafka.exit_at_end,
                    stop.clone(),
                )
                .map_err(|error| SourceError::Listen {
                    address: address.clone(),
                    error,
                })?;
                tracing::info!(address = %listener.local_addr(), "listening");
                Ready::Listen(listener)
            }
        });
    }
    Ok(PreparedSources {
        ready,
        settings: settings.clone(),
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
        let settings = &self.settings;
        let mut parts: Vec<Box<dyn Partition>> = Vec::new();
        let mut discover: Vec<Box<dyn Discover>> = Vec::new();
        for ready in &self.ready {
            match ready {
                Ready::Kafka {
                    spec,
                    listed,
                    watch,
                } => {
                    let (opened, share) = kafka::WorkerKafka::open(
                        spec,
                        &settings.kafka,
                        listed,
                        watch.clone(),
                        (worker, workers),
                        settings.max_line_bytes,
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
                Ready::Generator => {
                    if let Some(g) = Generator::new(&settings.generator, worker, workers) {
                        parts.push(Box::new(g));
                    }
                }
                Ready::File(path, name) => parts.push(Box::new(FileSplit::open(
                    path,
                    name.clone(),
                    worker,
                    workers,
                    settings.max_line_bytes,
                    resume_at(name, worker),
                )?)),
                Ready::Stdin if worker == 0 => parts.push(Box::new(Stdin::spawn(
                    settings.max_line_bytes,
                    wake.clone(),
                ))),
                Ready::Socket(address) if worker == 0 => parts.push(Box::new(socket::connect(
                    address,
                    settings.max_line_bytes,
                    settings.kafka.exit_at_end,
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
            settings: SourceSettings {
                generator: GeneratorSpec::default(),
                max_line_bytes: 1 << 20,
                max_connections: 1,
                kafka: KafkaOptions::default(),
                local_workers: 1,
            },
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Whether every source can be read again from a saved position (files, Kafka), so that
    /// results committed by a durable sink can be exactly-once across restarts.
    pub fn replayable(&self) -> bool {
        self.ready
            .iter()
            .all(|r| matches!(r, Ready::File(..) | Ready::Kafka { .. }))
    }
}
