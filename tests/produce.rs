//! `tickflow produce` through the binary: a reader that goes away is the end of the stream, and
//! a bounded server stops once its readers have the events. (Kafka targets are in kafka.rs.)

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

/// Long enough never to fire on a healthy run, short enough to end a hung one.
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits for `child` to exit by itself; panics if it is still running after [`PATIENCE`].
fn exit_status(child: &mut KillOnDrop) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "still running after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits for `child` to exit by itself; returns its status and everything it wrote to stderr.
fn finished(child: &mut KillOnDrop) -> (std::process::ExitStatus, String) {
    let status = exit_status(child);
    let mut stderr = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// `tickflow produce | head -3`: exit 0, no "Broken pipe".
#[test]
fn a_closed_stdout_ends_produce_quietly() {
    let mut child = KillOnDrop(
        tickflow()
            .args(["produce", "--rate", "0", "--start", "2025-11-20T09:30:00Z"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdout = BufReader::new(child.0.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(line.starts_with("{\"timestamp\""), "{line}");
    }
    drop(stdout);
    let (status, stderr) = finished(&mut child);
    assert!(status.success(), "{status}: {stderr}");
    assert!(!stderr.to_lowercase().contains("broken pipe"), "{stderr}");
}

/// `produce --to listen:// --events N` sends every connected reader the N events, closes the
/// connections and exits.
#[test]
fn a_bounded_server_exits_once_its_readers_have_the_events() {
    let port = free_port();
    let mut server = KillOnDrop(
        tickflow()
            .args(["produce", "--to", &format!("listen://127.0.0.1:{port}")])
            .args([
                "--events",
                "100000",
                "--rate",
                "0",
                "--start",
                "2025-11-20T09:30:00Z",
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    let first = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(started.elapsed() < PATIENCE, "produce never listened: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    // Both connect before either is read: 100,000 events do not fit in a socket's buffers, so
    // the first is still being served when the second arrives.
    let second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let readers: Vec<_> = [first, second]
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                let mut text = String::new();
                s.read_to_string(&mut text).unwrap();
                text.lines().count()
            })
        })
        .collect();
    for r in readers {
        assert_eq!(r.join().unwrap(), 100_000);
    }
    let (status, stderr) = finished(&mut server);
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("produced 200000 events"), "{stderr}");
}
