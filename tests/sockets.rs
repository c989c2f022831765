//! Socket sources through the binary: a producer process serving Python literals, many
//! concurrent producers into a listener, and hostile peers.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::Duration;

use common::python::*;
use common::*;

/// Connects once tickflow listens on `port` (a probe connection would itself count as a
/// producer that came and went).
fn connect_when_listening(port: u16) -> TcpStream {
    for _ in 0..500 {
        if let Ok(c) = TcpStream::connect(("127.0.0.1", port)) {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("nothing listens on port {port}");
}

/// A producer in its own process (Python, as the older producers were) that serves readings
/// as Python dict literals to the first client, then closes.
#[test]
fn client_mode_reads_a_python_producer_like_a_file() {
    let Some(py) = python(&[]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(51, 8_000, 2_000, 0);
    let input = write_lines(dir.path(), "in.jsonl", &lines_of(&events));
    let port = free_port();
    let server = r#"
import json, socket, sys
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(1)
conn, _ = srv.accept()
for line in open(sys.argv[2]):
    conn.sendall((repr(json.loads(line)) + "\n").encode())
conn.close(); srv.close()
"#;
    // tickflow may start first: it retries until the producer listens.
    let mut producer = py
        .command()
        .args(["-c", server, &port.to_string(), input.to_str().unwrap()])
        .spawn()
        .unwrap();
    let from_socket = rows(
        &run_ok(&[
            "--source",
            &format!("socket://127.0.0.1:{port}"),
            "--exit-at-end",
            "--quiet",
        ])
        .stdout,
    );
    assert!(producer.wait().unwrap().success());
    let from_file = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    assert!(from_file.len() > 500);
    assert_rows_close(&from_file, &from_socket, 0.0);
}

/// Eight producers at once, each with its own event-time clock (its own slice of the data),
/// one of them slow: the results equal the file run of the union.
#[test]
fn server_mode_with_eight_producers_equals_the_file_of_their_union() {
    let dir = tempfile::tempdir().unwrap();
    let events = random_events(53, 16_000, 0, 0);
    let lines = lines_of(&events);
    let input = write_lines(dir.path(), "all.jsonl", &lines);
    let port = free_port();
    let child = tickflow()
        .args([
            "run",
            "--source",
            &format!("listen://127.0.0.1:{port}"),
            "-w",
            "2",
            "--exit-at-end",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut conns = vec![connect_when_listening(port)];
    conns.extend((1..8).map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap()));
    let writers: Vec<_> = conns
        .drain(..)
        .enumerate()
        .map(|(i, mut conn)| {
            let mine: Vec<String> = lines.iter().skip(i).step_by(8).cloned().collect();
            std::thread::spawn(move || {
                for (n, line) in mine.iter().enumerate() {
                    conn.write_all(line.as_bytes()).unwrap();
                    conn.write_all(b"\n").unwrap();
                    if i == 7 && n % 200 == 0 {
                        std::thread::sleep(Duration::from_millis(20)); // the slow producer
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let from_file = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    assert_rows_close(&from_file, &rows(&out.stdout), 0.0);
}

/// Hostile peers: over-long lines, invalid UTF-8, NUL bytes, a half-written last line, a peer
/// that connects and sends nothing, a thousand connect/disconnects. The process stays up, every
/// bad line is a reject with its peer and line number, and the good lines all count.
#[test]
fn hostile_peers_are_rejected_and_good_lines_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let port = free_port();
    let child = tickflow()
        .args([
            "run",
            "--source",
            &format!("listen://127.0.0.1:{port}"),
            "--exit-at-end",
        ])
        .args([
            "--max-line-bytes",
            "1000",
            "--window",
            "60s",
            "--slide",
            "60s",
            "--quiet",
        ])
        .args(["--rejects", rejects.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // A silent peer stays connected while the others come and go.
    let silent = connect_when_listening(port);
    let connect = || TcpStream::connect(("127.0.0.1", port)).unwrap();
    for _ in 0..1000 {
        drop(connect());
    }
    let good = |i: u64| tick_line(T0 + i, "OK", 1.0, 1) + "\n";
    let mut a = connect();
    a.write_all(good(0).as_bytes()).unwrap();
    a.write_all(&vec![b'x'; 5_000_000]).unwrap(); // 5 MB without a newline
    a.write_all(b"\n").unwrap();
    a.write_all(good(1).as_bytes()).unwrap();
    a.write_all(b"{\"stock_code\": \"\xff\xfe\", \"price\": 1}\n")
        .unwrap();
    a.write_all(b"{\"stock_code\": \"A\0B\", \"timestamp\": 1, \"price\": 1, \"volume\": 1}\n")
        .unwrap();
    a.write_all(good(2).as_bytes()).unwrap();
    a.write_all(b"{\"timestamp\": \"2025-11-20T09:30:00\", \"stock_code\": \"HA")
        .unwrap();
    drop(a);
    drop(silent);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let rows = rows(&out.stdout);
    assert_eq!(
        rows.values().next().unwrap()["ticks"],
        3,
        "the three good lines count"
    );
    let got: Vec<(String, u64)> = std::fs::read_to_string(&rejects)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert!(
                v["source"].as_str().unwrap().contains(" peer 127.0.0.1:"),
                "{v}"
            );
            (
                v["reason"].as_str().unwrap().to_string(),
                v["line"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("line_too_long".to_string(), 2),
            ("invalid_utf8".to_string(), 4),
            ("invalid_field".to_string(), 5),
            ("truncated".to_string(), 7),
        ]
    );
}

#[test]
fn the_client_retries_until_the_producer_is_there() {
    let port = free_port();
    let child = tickflow()
        .args([
            "run",
            "--source",
            &format!("socket://127.0.0.1:{port}"),
            "--exit-at-end",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let server = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let (mut conn, _) = server.accept().unwrap();
    conn.write_all((tick_line(T0, "LATE_SERVER", 2.0, 1) + "\n").as_bytes())
        .unwrap();
    drop(conn);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("retrying"));
    assert!(rows(&out.stdout).keys().any(|k| k.1 == "LATE_SERVER"));
}

#[test]
fn produce_serves_and_sends_over_sockets() {
    let produce = |to: &str| {
        let mut c = tickflow();
        c.args([
            "produce", "--to", to, "--events", "12000", "--rate", "0", "--seed", "9",
        ])
        .args(["--start", "2025-11-20T09:30:00Z", "--symbols", "7"])
        .stderr(Stdio::null());
        c
    };
    let want = rows(&{
        let out = produce("stdout").output().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.jsonl");
        std::fs::write(&file, out.stdout).unwrap();
        run_ok(&["--source", &file_uri(&file), "--quiet"]).stdout
    });
    // tickflow produce serves; tickflow run connects.
    let port = free_port();
    let mut server = produce(&format!("listen://127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    let got = rows(
        &run_ok(&[
            "--source",
            &format!("socket://127.0.0.1:{port}"),
            "--exit-at-end",
            "--quiet",
        ])
        .stdout,
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_rows_close(&want, &got, 0.0);
    // tickflow run listens; tickflow produce connects and sends.
    let port = free_port();
    let collector = tickflow()
        .args([
            "run",
            "--source",
            &format!("listen://127.0.0.1:{port}"),
            "--exit-at-end",
            "--quiet",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(produce(&format!("socket://127.0.0.1:{port}"))
        .status()
        .unwrap()
        .success());
    let out = collector.wait_with_output().unwrap();
    assert_rows_close(&want, &rows(&out.stdout), 0.0);
}

/// A producer floods far faster than the sink writes (stdout is a pipe nobody reads): tickflow
/// stops reading, TCP pushes back on the producer, and resident memory stays bounded.
#[test]
fn a_flood_into_a_stalled_sink_keeps_memory_bounded() {
    let port = free_port();
    let mut child = tickflow()
        .args([
            "run",
            "--source",
            &format!("listen://127.0.0.1:{port}"),
            "--max-out-of-orderness",
            "0s",
        ])
        .args(["--window", "1s", "--slide", "1s", "--quiet"])
        .stdout(Stdio::piped()) // never read: the sink stalls once the pipe is full
        .spawn()
        .unwrap();
    let mut conn = connect_when_listening(port);
    conn.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // 1,000 symbols a millisecond apart: every 1 s window emits 1,000 rows.
    let mut sent = 0u64;
    let mut block = Vec::new();
    'flood: for second in 0..1_500u64 {
        block.clear();
        for i in 0..1_000u64 {
            block.extend_from_slice(
                tick_line(T0 + second * 1000 + i, &format!("S{i}"), 1.0, 1).as_bytes(),
            );
            block.push(b'\n');
        }
        if conn.write_all(&block).is_err() {
            break 'flood; // pushed back: the write timed out
        }
        sent += block.len() as u64;
    }
    let rss_kb = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:").map(|v| {
                v.trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<u64>()
                    .unwrap()
            })
        })
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    eprintln!(
        "flooded {} MB; tickflow peak RSS {} MB",
        sent >> 20,
        rss_kb >> 10
    );
    assert!(
        sent < 150 << 20,
        "the producer was never pushed back ({sent} bytes accepted)"
    );
    assert!(rss_kb < 300 * 1024, "peak RSS {} MB", rss_kb >> 10);
}

/// A client of `tickflow produce --to listen://` that reads nothing stalls only itself: another
/// client still gets the whole stream.
#[test]
fn a_client_that_reads_nothing_does_not_stall_the_others() {
    let port = free_port();
    let mut server = tickflow()
        .args([
            "produce",
            "--to",
            &format!("listen://127.0.0.1:{port}"),
            "--events",
            "200000",
        ])
        .args(["--rate", "0", "--start", "2025-11-20T09:30:00Z"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _stuck = connect_when_listening(port); // never read
    let mut reader = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut reader, &mut text).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(text.lines().count(), 200_000);
}
