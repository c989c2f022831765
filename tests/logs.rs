//! The log on stderr through the binary: plain text when stderr is a file, and one JSON object
//! a line with `--log-format json`.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::process::Stdio;

use common::*;

/// Runs tickflow against a socket server that resets its connection, which tickflow logs as a
/// warning ("socket read failed"); returns what tickflow wrote to stderr, a file.
fn stderr_of_a_reset_connection(extra: &[&str]) -> String {
    let server = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    let port = server.local_addr().expect("the server's address").port();
    let dir = tempfile::tempdir().expect("a scratch directory");
    let log = dir.path().join("stderr.log");
    let child = tickflow()
        .args(extra)
        .args([
            "run",
            "--source",
            &format!("socket://127.0.0.1:{port}"),
            "--exit-at-end",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("creating the stderr file"))
        .spawn()
        .expect("starting tickflow");
    let (mut conn, _) = server.accept().expect("tickflow connecting");
    conn.write_all((tick_line(1_763_631_000_000, "RESET", 2.0, 1) + "\n").as_bytes())
        .expect("sending a tick");
    // A zero linger time makes the close a reset (RST), which the reader sees as an error.
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: sets an option on a socket this test owns, from a value that outlives the call.
    let set = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "setting SO_LINGER");
    drop(conn);
    let out = child.wait_with_output().expect("waiting for tickflow");
    let stderr = std::fs::read_to_string(&log).expect("reading the stderr file");
    assert!(out.status.success(), "{}: {stderr}", out.status);
    stderr
}

#[test]
fn a_warning_written_to_a_file_has_no_colour_codes() {
    let stderr = stderr_of_a_reset_connection(&[]);
    let warning = stderr
        .lines()
        .find(|l| l.contains("WARN") && l.contains("socket read failed"))
        .unwrap_or_else(|| panic!("no WARN line in:\n{stderr}"));
    assert!(!stderr.contains("\x1b["), "ANSI codes in {warning:?}");
}

#[test]
fn log_format_json_writes_one_object_a_line() {
    let stderr = stderr_of_a_reset_connection(&["--log-format", "json"]);
    let logged: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let warning = logged
        .iter()
        .find(|v| v["level"] == "WARN")
        .unwrap_or_else(|| panic!("no WARN object in:\n{stderr}"));
    assert_eq!(
        warning["fields"]["message"],
        "socket read failed; treating it as a close"
    );
    assert!(warning["fields"]["error"].is_string(), "{warning}");
    assert!(warning["timestamp"].is_string(), "{warning}");
    assert!(!stderr.contains("\x1b["), "ANSI codes in:\n{stderr}");
}

#[test]
fn log_format_is_accepted_after_the_subcommand_and_checked() {
    let out = tickflow()
        .args([
            "produce",
            "--log-format",
            "json",
            "--events",
            "1",
            "--rate",
            "0",
        ])
        .output()
        .expect("running tickflow");
    assert!(out.status.success(), "{}", out.status);
    let out = tickflow()
        .args(["run", "--log-format", "xml"])
        .output()
        .expect("running tickflow");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("json"));
}
