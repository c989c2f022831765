//! Reference-data counters: rows or messages of a reference source that could not be used, and
//! reads that failed. Process-wide, as the readers run on threads of their own with no handle
//! on a run's [`super::Metrics`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Why a reference source's count went up (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReferenceProblem {
    /// A row or message skipped as unusable (a NULL symbol, a value that is not the JSON
    /// shape, a bad valid_from); the symbol keeps its previous mapping.
    Invalid,
    /// A read that failed after the first good one (server restart, network); the last
    /// mapping stays in force.
    ReadFailed,
}

impl ReferenceProblem {
    fn label(self) -> &'static str {
        match self {
            ReferenceProblem::Invalid => "invalid",
            ReferenceProblem::ReadFailed => "read_failed",
        }
    }
}

static REFERENCE_ERRORS: Mutex<BTreeMap<(String, ReferenceProblem), u64>> =
    Mutex::new(BTreeMap::new());

/// Counts `n` problems of reference source `source` (as messages name it, without password).
pub fn add_reference_errors(source: &str, problem: ReferenceProblem, n: u64) {
    let mut map = REFERENCE_ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    *map.entry((source.to_string(), problem)).or_default() += n;
}

/// The count for `source` and `problem` so far.
pub fn reference_errors(source: &str, problem: ReferenceProblem) -> u64 {
    let map = REFERENCE_ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    map.get(&(source.to_string(), problem))
        .copied()
        .unwrap_or(0)
}

/// `tickflow_reference_errors_total{source,reason}` in the Prometheus text format.
pub(super) fn render(out: &mut String) {
    let _ = writeln!(out, "# HELP tickflow_reference_errors_total Reference rows or messages skipped as invalid, and reference reads that failed (the last mapping kept).\n# TYPE tickflow_reference_errors_total counter");
    let map = REFERENCE_ERRORS.lock().unwrap_or_else(|p| p.into_inner());
    for ((source, problem), n) in map.iter() {
        let _ = writeln!(
            out,
            "tickflow_reference_errors_total{{source=\"{}\",reason=\"{}\"}} {n}",
            super::label(source),
            problem.label()
        );
    }
}
