//! TCP sources: `socket://HOST:PORT` connects to a producer, `listen://HOST:PORT` accepts them.
//!
//! Every connection is read on a thread of its own into a bounded queue of chunks, so a slow
//! dataflow stops the reads and TCP flow control pushes back on the producer; the worker splits
//! the chunks into lines without ever blocking. Each connection is a partition with its own
//! watermark; a connection that closes stops holding the frontier back.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use super::{Discover, Item, LineSplitter, Partition, Piece, Poll};
use crate::retry::RetryPolicy;

/// Chunks queued per connection (64 KiB each): a full queue stops that connection's reads.
const QUEUE_CHUNKS: usize = 16;
/// Chunks taken per poll, so one busy connection cannot starve the others.
const CHUNKS_PER_POLL: usize = 8;

/// What a connection's reader thread hands over.
enum Chunk {
    Data(Vec<u8>),
    /// The peer closed the connection (or it failed): a partial line is cut off here.
    Closed,
}

/// Reads `stream` into `tx` until the peer closes it; `wake` after every chunk.
fn read_into(mut stream: TcpStream, tx: &Sender<Chunk>, wake: &(dyn Fn() + Send + Sync)) -> bool {
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        match stream.read(&mut buf) {
            Ok(0) => return tx.send(Chunk::Closed).is_ok(),
            Ok(n) => {
                buf.truncate(n);
                if tx.send(Chunk::Data(buf)).is_err() {
                    return false;
                }
                wake();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::warn!(error = %e, "socket read failed; treating it as a close");
                return tx.send(Chunk::Closed).is_ok();
            }
        }
    }
}

/// One connection's lines (or a client connection and its reconnections).
pub struct Connection {
    source: String,
    index: usize,
    chunks: Receiver<Chunk>,
    splitter: LineSplitter,
    max_line: usize,
    /// The feeding thread has finished for good.
    ended: bool,
}

impl Connection {
    fn new(source: String, index: usize, chunks: Receiver<Chunk>, max_line: usize) -> Self {
        Connection {
            source,
            index,
            chunks,
            splitter: LineSplitter::new(max_line, 0),
            max_line,
            ended: false,
        }
    }
}

impl Partition for Connection {
    fn source(&self) -> &str {
        &self.source
    }

    fn index(&self) -> usize {
        self.index
    }

    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll {
        if self.ended {
            return Poll::Done;
        }
        for _ in 0..CHUNKS_PER_POLL {
            match self.chunks.try_recv() {
                Ok(Chunk::Data(chunk)) => self.splitter.feed(&chunk, |piece| forward(piece, out)),
                Ok(Chunk::Closed) => {
                    // A line the peer did not finish is not a record: reject it as cut off.
                    if self.splitter.has_partial() {
                        let offset = self.splitter.line_start();
                        let mut cut = Vec::new();
                        self.splitter.finish(|piece| {
                            let (Piece::Line(b, p) | Piece::Oversized(b, p)) = piece;
                            cut.push((b.to_vec(), p));
                            true
                        });
                        for (bytes, position) in cut {
                            debug_assert_eq!(position.offset, offset);
                            out(Item::Truncated(&bytes, position));
                        }
                    }
                    // Lines continue from a reconnection with fresh numbering per connection.
                    self.splitter = LineSplitter::new(self.max_line, 0);
                }
                Err(TryRecvError::Empty) => return Poll::Pending(Duration::from_millis(100)),
                Err(TryRecvError::Disconnected) => {
                    self.ended = true;
                    return Poll::Done;
                }
            }
        }
        Poll::Ready
    }
}

/// Hands a complete (or over-long) line on.
fn forward(piece: Piece<'_>, out: &mut dyn FnMut(Item<'_>)) -> bool {
    match piece {
        Piece::Line(l, p) => out(Item::Line(l, p)),
        Piece::Oversized(l, p) => out(Item::Oversized(l, p)),
    }
    true
}

/// A `socket://HOST:PORT` source: the producer to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketConfig {
    /// `HOST:PORT`, as written after `socket://`.
    pub address: String,
    /// The first close by the server ends the source (set by `--exit-at-end`, or
    /// `exit_at_end = true` at the top of a spec); otherwise it reconnects.
    pub exit_at_end: bool,
    /// How to reconnect after the connection drops or is refused (default: for ever, pauses
    /// doubling up to a cap).
    pub reconnect: RetryPolicy,
}

impl SocketConfig {
    /// The config for `address` (`HOST:PORT`), reconnecting for ever.
    pub fn new(address: &str, exit_at_end: bool) -> SocketConfig {
        SocketConfig {
            address: address.to_string(),
            exit_at_end,
            reconnect: RetryPolicy::forever(),
        }
    }
}

/// A `listen://HOST:PORT` source: where to accept producers, and how many at once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenConfig {
    /// `HOST:PORT` to bind (`listen://:PORT` is written here as `127.0.0.1:PORT`).
    pub address: String,
    /// Producers accepted at once (`--max-connections`, `max_connections` in a spec); others are
    /// closed at once with a log line.
    pub max_connections: usize,
    /// End the source once some producer has come and every one has gone (set by
    /// `--exit-at-end`, or `exit_at_end = true` at the top of a spec).
    pub exit_at_end: bool,
}

impl ListenConfig {
    /// Producers a listener accepts at once unless told otherwise.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
}

/// `socket://HOST:PORT`: connects, reconnecting with capped backoff when the connection drops
/// or is refused; with `exit_at_end`, the first close by the server ends the source.
pub fn connect(
    config: &SocketConfig,
    max_line: usize,
    stop: Arc<AtomicBool>,
    wake: impl Fn() + Send + Sync + 'static,
) -> Connection {
    let (tx, rx) = crossbeam_channel::bounded(QUEUE_CHUNKS);
    let target = config.address.clone();
    let (exit_at_end, reconnect) = (config.exit_at_end, config.reconnect);
    std::thread::Builder::new()
        .name("tickflow-socket".into())
        .spawn(move || {
            let mut backoff = reconnect.start();
            let mut warned = false;
            while !stop.load(Ordering::Relaxed) {
                match TcpStream::connect(&target) {
                    Ok(stream) => {
                        backoff.reset();
                        warned = false;
                        if !read_into(stream, &tx, &wake) || exit_at_end {
                            break;
                        }
                    }
                    Err(e) => {
                        if !warned {
                            eprintln!(
                                "tickflow: cannot connect to socket://{target} ({e}); retrying"
                            );
                            warned = true;
                        }
                        backoff.wait();
                    }
                }
            }
            drop(tx);
            wake();
        })
        .expect("spawning a thread at startup");
    Connection::new(format!("socket://{}", config.address), 0, rx, max_line)
}

/// A bound `listen://` socket, shared by the workers of a process.
#[derive(Debug)]
pub struct Listener {
    bound: SocketAddr,
    /// Per local worker: connections handed to it.
    queues: Vec<Mutex<Option<Receiver<Connection>>>>,
    /// Connections open now, and ever accepted.
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    exit_at_end: bool,
}

impl Listener {
    /// Binds `config.address` and starts accepting, at most `config.max_connections` at once
    /// (others are closed at once with a log line).
    pub fn bind(
        config: &ListenConfig,
        local_workers: usize,
        max_line: usize,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<Arc<Listener>> {
        let (max_connections, exit_at_end) = (config.max_connections, config.exit_at_end);
        let listener = TcpListener::bind(&config.address)?;
        let bound = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..local_workers)
            .map(|_| crossbeam_channel::unbounded())
            .unzip();
        let open = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Listener {
            bound,
            queues: receivers.into_iter().map(|r| Mutex::new(Some(r))).collect(),
            open: open.clone(),
            accepted: accepted.clone(),
            exit_at_end,
        });
        let source = format!("listen://{bound}");
        std::thread::Builder::new()
            .name("tickflow-listen".into())
            .spawn(move || {
                let mut seq = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let (stream, peer) = match listener.accept() {
                        Ok(pair) => pair,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    };
                    if open.load(Ordering::SeqCst) >= max_connections {
                        tracing::warn!(%peer, max_connections, "connection refused: too many open");
                        drop(stream);
                        continue;
                    }
                    let _ = stream.set_nonblocking(false);
                    open.fetch_add(1, Ordering::SeqCst);
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let (tx, rx) = crossbeam_channel::bounded(QUEUE_CHUNKS);
                    let conn = Connection::new(format!("{source} peer {peer}"), seq, rx, max_line);
                    if senders[seq % senders.len()].send(conn).is_err() {
                        break;
                    }
                    seq += 1;
                    let open = open.clone();
                    std::thread::spawn(move || {
                        read_into(stream, &tx, &|| {});
                        open.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            })
            .expect("spawning a thread at startup");
        Ok(shared)
    }

    /// The address actually bound (a `:0` port resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// The connections handed to local worker `worker`.
    pub fn for_worker(self: &Arc<Self>, worker: usize) -> ListenerShare {
        let rx = self.queues[worker % self.queues.len()]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        ListenerShare {
            listener: self.clone(),
            rx,
        }
    }
}

/// One worker's share of a listener's connections.
pub struct ListenerShare {
    listener: Arc<Listener>,
    rx: Option<Receiver<Connection>>,
}

impl Discover for ListenerShare {
    fn discover(
        &mut self,
        _resume_at: &dyn Fn(&str, usize) -> Option<u64>,
    ) -> Result<Vec<Box<dyn Partition>>, String> {
        let Some(rx) = &self.rx else {
            return Ok(Vec::new());
        };
        Ok(rx
            .try_iter()
            .map(|c| Box::new(c) as Box<dyn Partition>)
            .collect())
    }

    fn finished(&self) -> bool {
        // With --exit-at-end: once some producer has come and every one has gone.
        self.listener.exit_at_end
            && self.listener.accepted.load(Ordering::SeqCst) > 0
            && self.listener.open.load(Ordering::SeqCst) == 0
            && self.rx.as_ref().is_none_or(|rx| rx.is_empty())
    }
}
