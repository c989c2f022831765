//! `--http-addr`: the live page in a real browser (headless Chromium), its JSON checked against
//! the rows the file sink wrote, and the endpoint's read-only and readiness behaviour.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Starts `tickflow run` reading stdin, with the endpoint on `port`.
fn tickflow_on_stdin(port: u16, out: &Path) -> KillOnDrop {
    let child = tickflow()
        .args(["run", "--source", "-", "--window", "2s", "--slide", "1s"])
        .args(["--max-out-of-orderness", "0s", "--quiet"])
        .args(["--sink", &format!("file:{}", out.display())])
        .args([
            "--rejects",
            &out.with_extension("rejects").display().to_string(),
        ])
        .args(["--http-addr", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting tickflow");
    KillOnDrop(child)
}

/// Writes ticks of AAA and BBB and readings of category A, 10 ms of event time apart, and a
/// malformed line every 50th, until `stop`; then closes stdin (tickflow flushes and exits).
fn feed(mut stdin: std::process::ChildStdin, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let mut batch = String::new();
            for _ in 0..20 {
                let ms = T0 + i * 10;
                let line = match i % 50 {
                    49 => format!("{{\"timestamp\": oops {i}"),
                    n if n % 3 == 0 => reading_line(ms, "A", 40.0 + (i % 7) as f64),
                    n if n % 3 == 1 => tick_line(ms, "AAA", 100.0 + (i % 11) as f64, 10),
                    _ => tick_line(ms, "BBB", 50.0 + (i % 13) as f64, 5),
                };
                batch.push_str(&line);
                batch.push('\n');
                i += 1;
            }
            if stdin.write_all(batch.as_bytes()).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

fn get_json(port: u16, path: &str) -> Value {
    let (status, body) = http_get(port, path).expect("an answer");
    assert_eq!(status, "HTTP/1.1 200 OK", "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Polls `ready` every 100 ms until it holds, failing after `secs` with `what`.
fn wait_for(secs: u64, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ready() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of attribute `name` on the element whose attributes contain `marker`.
fn attribute<'a>(dom: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let tag_start = dom[..at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let value = tag.split(&format!("{name}=\"")).nth(1)?;
    value.split('"').next()
}

fn chromium(args: &[&str]) -> Option<std::process::Output> {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()
}

#[test]
fn live_page_shows_watermarks_rejects_and_a_chart_in_a_browser() {
    if chromium(&["--version"]).is_none() {
        return skip("chromium is not installed (apt-get install -y chromium)");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let mut child = tickflow_on_stdin(port, &out);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = feed(child.0.stdin.take().unwrap(), stop.clone());

    wait_for(60, "/readyz", || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == "HTTP/1.1 200 OK")
    });
    wait_for(60, "ten charted windows of AAA", || {
        let series = get_json(port, "/api/series?key=symbol:AAA");
        series["series"][0]["points"].as_array().unwrap().len() >= 10
    });

    let url = format!("http://127.0.0.1:{port}/");
    let dom = chromium(&["--virtual-time-budget=8000", "--dump-dom", &url]).unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(
        dom.contains("data-ready=\"true\""),
        "not shown as ready: {dom}"
    );
    // A partition's watermark, as the page shows it.
    let watermark = dom
        .split("class=\"watermark\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_else(|| panic!("no watermark cell: {dom}"));
    assert!(watermark.starts_with("2025-11-20T09:3"), "{watermark}");
    assert!(
        dom.contains("value=\"symbol:AAA\""),
        "AAA not in the picker"
    );
    let points: usize = attribute(&dom, "id=\"chart\"", "data-points")
        .unwrap()
        .parse()
        .unwrap();
    assert!(points >= 10, "the chart has {points} points");
    assert!(
        attribute(&dom, "id=\"chart\"", "data-keys")
            .unwrap()
            .contains("symbol:AAA"),
        "AAA is not charted by default"
    );
    assert!(dom.contains("<canvas"), "uPlot drew no canvas");
    let malformed: u64 = attribute(&dom, "data-reason=\"malformed\"", "data-count")
        .unwrap()
        .parse()
        .unwrap();
    assert!(malformed > 0);
    assert!(
        dom.contains("{\"timestamp\": oops "),
        "no raw rejected line"
    );

    // A screenshot for people to look at.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("live-page.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    chromium(&[
        "--virtual-time-budget=6000",
        "--window-size=1280,1100",
        &screenshot,
        &url,
    ]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
    eprintln!("live page screenshot: {}", shot.display());

    // What the chart serves is what the sink wrote: the same windows, the same averages.
    let charted = get_json(port, "/api/series?key=symbol:AAA&key=category:A");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(child.0.wait().unwrap().success());
    let written = rows(&std::fs::read(&out).unwrap());
    let mut compared = 0;
    for series in charted["series"].as_array().unwrap() {
        let (kind, field) = match series["kind"].as_str().unwrap() {
            "symbol" => ("symbol_average", "avg_price"),
            _ => ("category_mean", "mean_value"),
        };
        let name = series["name"].as_str().unwrap().to_string();
        let by_end: BTreeMap<String, f64> = written
            .iter()
            .filter(|((k, key, _), _)| k == kind && *key == name)
            .map(|((_, _, end), row)| (end.clone(), row[field].as_f64().unwrap()))
            .collect();
        for point in series["points"].as_array().unwrap() {
            let end_ms = point[0].as_u64().unwrap();
            assert_eq!(end_ms % 1000, 0, "window ends are whole seconds");
            let end = format!("{}Z", &iso(end_ms)[..19]);
            assert_eq!(
                by_end.get(&end),
                Some(&point[1].as_f64().unwrap()),
                "{name} at {end}"
            );
            compared += 1;
        }
    }
    assert!(compared >= 10);
}

/// Sends `method path` and returns the status line.
fn status_of(port: u16, method: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines().next().unwrap_or_default().to_string()
}

#[test]
fn endpoint_is_read_only_and_readyz_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let mut child = tickflow_on_stdin(port, &out);
    wait_for(30, "/healthz", || http_get(port, "/healthz").is_some());
    // Nothing read yet: alive, not ready, and the reason says so.
    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(body.contains("no watermark yet"), "{body}");
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(
            status_of(port, method, "/api/pipeline"),
            "HTTP/1.1 405 Method Not Allowed"
        );
    }
    assert_eq!(status_of(port, "HEAD", "/"), "HTTP/1.1 200 OK");
    let (status, body) = http_get(port, "/api/series?key=sector:X").unwrap();
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert!(body.contains("symbol:NAME"), "{body}");

    let mut stdin = child.0.stdin.take().unwrap();
    writeln!(stdin, "{}", tick_line(T0, "AAA", 1.0, 1)).unwrap();
    wait_for(30, "/readyz after a first record", || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == "HTTP/1.1 200 OK")
    });
    let pipeline = get_json(port, "/api/pipeline");
    assert_eq!(pipeline["sources"][0]["records_in"], 1);
    assert_eq!(pipeline["sources"][0]["watermark_ms"], T0);
    drop(stdin);
    assert!(child.0.wait().unwrap().success());
}

/// A TCP forwarder to `upstream` whose connections can be cut, and refused, while `cut` is set.
fn cuttable_forwarder(upstream: &'static str, cut: Arc<AtomicBool>) -> u16 {
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            if cut.load(Ordering::Relaxed) {
                continue;
            }
            let Ok(server) = TcpStream::connect(upstream) else {
                continue;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                let cut = cut.clone();
                std::thread::spawn(move || {
                    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
                    let mut buf = [0u8; 16 * 1024];
                    while !cut.load(Ordering::Relaxed) {
                        match from.read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) if to.write_all(&buf[..n]).is_err() => break,
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                            Err(_) => break,
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            }
        }
    });
    port
}

#[test]
fn readyz_follows_a_sink_whose_commits_fail() {
    let Some(mut pg) = common::pg::pg() else {
        return;
    };
    let schema = common::pg::fresh_schema(&mut pg, "readyz");
    let upstream = common::pg::pg_url();
    if !upstream.starts_with("postgres://root@127.0.0.1:5432/") {
        return skip("this test forwards to postgres://root@127.0.0.1:5432 only");
    }
    let cut = Arc::new(AtomicBool::new(false));
    let forwarder = cuttable_forwarder("127.0.0.1:5432", cut.clone());
    let port = free_port();
    let sink = upstream.replace("127.0.0.1:5432", &format!("127.0.0.1:{forwarder}"));
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--rate", "2000", "--window", "2s", "--slide", "1s"])
            .args(["--max-out-of-orderness", "0s", "--quiet", "--sink", &sink])
            .args(["--pg-schema", &schema, "--pg-commit-interval", "50ms"])
            .args(["--pg-connect-timeout", "120s"])
            .args(["--http-addr", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let commits = || get_json(port, "/api/pipeline")["sinks"][0]["commit"]["commits"].as_u64();
    wait_for(60, "ready and committing", || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == "HTTP/1.1 200 OK")
            && commits().unwrap_or(0) > 0
    });
    cut.store(true, Ordering::Relaxed);
    let mut reason = String::new();
    wait_for(60, "/readyz to report failing commits", || {
        let (status, body) = http_get(port, "/readyz").unwrap();
        reason = body;
        status == "HTTP/1.1 503 Service Unavailable"
    });
    assert!(reason.contains("commits are failing"), "{reason}");
    assert!(!reason.contains("password"), "{reason}");
    let before = commits().unwrap();
    cut.store(false, Ordering::Relaxed);
    wait_for(120, "ready again after the connection returns", || {
        http_get(port, "/readyz").is_some_and(|(s, _)| s == "HTTP/1.1 200 OK")
            && commits().unwrap() > before
    });
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn a_local_cluster_serves_one_endpoint_per_process_on_consecutive_ports() {
    // Two free ports in a row (retried: another program may take the second).
    let port = (0..50)
        .map(|_| free_port())
        .find(|&p| p < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", p + 1)).is_ok())
        .expect("two free consecutive ports");
    let mut child = KillOnDrop(
        tickflow()
            .args(["run", "--local-cluster", "2", "--rate", "2000", "--quiet"])
            .args(["--sink", "discard", "--max-out-of-orderness", "0s"])
            .args([&format!("--http-addr=127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for p in [port, port + 1] {
        wait_for(60, "each process ready", || {
            http_get(p, "/readyz").is_some_and(|(s, _)| s == "HTTP/1.1 200 OK")
        });
        let pipeline = get_json(p, "/api/pipeline");
        assert!(pipeline["totals"]["records_in"].as_u64().unwrap() > 0);
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status();
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn a_spec_turns_the_endpoint_on_and_the_flag_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (in_spec, on_flag) = (free_port(), free_port());
    let spec = dir.path().join("live.toml");
    std::fs::write(
        &spec,
        format!("sources = [\"generator\"]\nsinks = [\"discard\"]\nhttp_addr = \"127.0.0.1:{in_spec}\"\n"),
    )
    .unwrap();
    for (flag, port) in [(None, in_spec), (Some(on_flag), on_flag)] {
        let mut command = tickflow();
        command.arg("run").arg(&spec).arg("--quiet");
        if let Some(p) = flag {
            command.args(["--metrics-addr", &p.to_string()]);
        }
        let mut child = KillOnDrop(command.stdout(Stdio::null()).spawn().unwrap());
        wait_for(30, "the endpoint", || http_get(port, "/healthz").is_some());
        assert_eq!(get_json(port, "/api/pipeline")["pipeline"], "live");
        let _ = Command::new("kill")
            .args(["-INT", &child.0.id().to_string()])
            .status();
        assert!(child.0.wait().unwrap().success());
    }
}

#[test]
fn the_endpoint_answers_while_a_broker_is_still_unreachable() {
    let (port, nobody) = (free_port(), free_port());
    let _child = KillOnDrop(
        tickflow()
            .args([
                "run",
                "--source",
                &format!("kafka://127.0.0.1:{nobody}/ticks"),
            ])
            .args(["--kafka-timeout", "120s", "--sink", "discard", "--quiet"])
            .args(["--http-addr", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(30, "/healthz", || http_get(port, "/healthz").is_some());
    let (status, body) = http_get(port, "/readyz").unwrap();
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(body.contains("not connected yet"), "{body}");
}

#[test]
fn run_help_describes_the_endpoint_and_its_alias() {
    let out = tickflow().args(["run", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--http-addr <ADDR>",
        "--metrics-addr",
        "/readyz",
        "/api/",
        "127.0.0.1",
    ] {
        assert!(text.contains(needle), "run --help lacks {needle}:\n{text}");
    }
}
