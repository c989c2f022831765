//! Where this process stands in its cluster: what a committing sink keys its progress by.

/// This process's place among the cluster's processes and workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// This process's index (0 alone).
    pub process: usize,
    /// Processes in the cluster (1 alone).
    pub processes: usize,
    /// Worker threads of this process (each sends its own frontier).
    pub local_workers: usize,
}
