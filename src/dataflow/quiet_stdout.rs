//! Keeps timely's cluster set-up chatter off stdout, which carries results.

use std::io::Write;

/// While alive, file descriptor 1 points at stderr.
///
/// timely_communication 0.31 reports connection attempts with `println!` while a cluster
/// connects ("awaiting connections", "error connecting ... retrying"); with a stdout sink those
/// lines would land among the results.
pub struct StdoutToStderr {
    saved: libc::c_int,
}

impl StdoutToStderr {
    pub fn new() -> Option<StdoutToStderr> {
        let _ = std::io::stdout().flush();
        // SAFETY: dup/dup2 on the process's own standard descriptors; failure is checked and
        // leaves stdout as it was.
        unsafe {
            let saved = libc::dup(1);
            if saved < 0 {
                return None;
            }
            if libc::dup2(2, 1) < 0 {
                libc::close(saved);
                return None;
            }
            Some(StdoutToStderr { saved })
        }
    }
}

impl Drop for StdoutToStderr {
    fn drop(&mut self) {
        let _ = std::io::stdout().flush();
        // SAFETY: restores the descriptor saved in `new`, then closes the copy.
        unsafe {
            libc::dup2(self.saved, 1);
            libc::close(self.saved);
        }
    }
}
