//! Standard input, read on its own thread so a quiet terminal never blocks a worker.

use std::io::Read;
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};

use super::{Item, LineSplitter, Partition, Piece, Poll};

/// Chunks buffered between the reader thread and the worker (64 KiB each): a full channel
/// stops the thread reading, so a slow dataflow pushes back on whoever writes to stdin.
const QUEUE_CHUNKS: usize = 64;
/// Chunks taken per poll, so one busy input cannot starve the others.
const CHUNKS_PER_POLL: usize = 16;

/// The stdin partition.
pub struct Stdin {
    chunks: Receiver<Vec<u8>>,
    splitter: LineSplitter,
}

impl Stdin {
    /// Starts the reader thread; `wake` is called whenever a chunk is queued.
    pub fn spawn(max_line: usize, wake: impl Fn() + Send + 'static) -> Stdin {
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CHUNKS);
        std::thread::Builder::new()
            .name("tickflow-stdin".into())
            .spawn(move || {
                let mut stdin = std::io::stdin().lock();
                loop {
                    let mut buf = vec![0u8; 64 * 1024];
                    match stdin.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(buf).is_err() {
                                break;
                            }
                            wake();
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            tracing::error!(error = %e, "reading stdin failed; treating as end of input");
                            break;
                        }
                    }
                }
                drop(tx);
                wake();
            })
            .expect("spawning a thread at startup");
        Stdin {
            chunks: rx,
            splitter: LineSplitter::new(max_line, 0),
        }
    }
}

impl Partition for Stdin {
    fn source(&self) -> &str {
        "stdin"
    }

    fn index(&self) -> usize {
        0
    }

    fn poll(&mut self, out: &mut dyn FnMut(Item<'_>)) -> Poll {
        let mut emit = |piece: Piece<'_>| {
            match piece {
                Piece::Line(l, p) => out(Item::Line(l, p)),
                Piece::Oversized(l, p) => out(Item::Oversized(l, p)),
            }
            true
        };
        for _ in 0..CHUNKS_PER_POLL {
            match self.chunks.try_recv() {
                Ok(chunk) => self.splitter.feed(&chunk, &mut emit),
                Err(TryRecvError::Empty) => return Poll::Pending(Duration::from_millis(100)),
                Err(TryRecvError::Disconnected) => {
                    self.splitter.finish(&mut emit);
                    return Poll::Done;
                }
            }
        }
        Poll::Ready
    }
}
