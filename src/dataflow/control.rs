//! How a run stops: a shutdown flag every source watches, and the first fatal error.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

/// Shared by everything that can stop a run; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RunControl {
    shutdown: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl RunControl {
    /// A control whose shutdown flag is `shutdown` (set by Ctrl-C).
    pub fn new(shutdown: Arc<AtomicBool>) -> RunControl {
        RunControl {
            shutdown,
            errors: Arc::default(),
        }
    }

    /// Records a fatal error and asks every source to stop.
    pub fn fail(&self, message: String) {
        tracing::error!(%message, "stopping the run");
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(message);
        self.shutdown.store(true, Relaxed);
    }

    /// Asks every source to stop without an error (Ctrl-C, a closed stdout).
    pub fn stop(&self) {
        self.shutdown.store(true, Relaxed);
    }

    pub fn stopping(&self) -> bool {
        self.shutdown.load(Relaxed)
    }

    /// The flag itself, for threads that only watch it.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.shutdown.clone()
    }

    /// The first fatal error, if any.
    pub fn first_error(&self) -> Option<String> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .first()
            .cloned()
    }
}
