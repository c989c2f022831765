//! One configuration of the suite run as a child process: its peak memory, and the counts and
//! latencies read from its summary lines.

use std::process::Command;

/// Runs `cmd` to completion; returns its stderr and peak resident memory in KiB.
pub fn run_measured(mut cmd: Command) -> anyhow::Result<(String, u64)> {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut stderr)?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: waits for our own child and fills a zeroed rusage; the child is not waited twice.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if waited != pid || !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        anyhow::bail!(
            "a benchmark run failed: {}",
            stderr.lines().last().unwrap_or("")
        );
    }
    std::mem::forget(child); // already reaped by wait4
    Ok((stderr, usage.ru_maxrss as u64))
}

/// Events read and rows out, from the run's summary line.
pub fn summary_counts(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains(" events in "))
        .unwrap_or("");
    let number_before = |marker: &str| -> u64 {
        line.split(marker)
            .next()
            .and_then(|head| head.split_whitespace().last())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (number_before(" events in "), number_before(" windows out"))
}

/// p50 and p99 of window-end-to-commit, from the PostgreSQL summary line.
pub fn latencies(stderr: &str) -> (Option<f64>, Option<f64>) {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("window end to commit"))
        .unwrap_or("");
    let after = |marker: &str| {
        line.split(marker)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    (after("p50 "), after("p99 "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_lines() {
        let err = "progress: ...\ntickflow: 200000 events in 0.10s (2000000/s), 6900 windows out, 0 rejects (0 late), 0 filtered\n\
                   tickflow: PostgreSQL: 6900 rows and 0 rejects in 3 commits (0 retried); window end to commit p50 12 ms, p99 40 ms";
        assert_eq!(summary_counts(err), (200_000, 6900));
        assert_eq!(latencies(err), (Some(12.0), Some(40.0)));
        assert_eq!(latencies("nothing"), (None, None));
    }
}
