//! `--metrics-addr`: Prometheus text at /metrics and a health check at /healthz while running.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::pg::*;
use common::*;

/// The value of the first sample of `name` whose labels contain `labels`.
fn sample(body: &str, name: &str, labels: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']) && l.contains(labels)
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_and_health_are_served_while_running() {
    let Some(mut pg) = pg() else { return };
    let schema = fresh_schema(&mut pg, "metrics");
    let port = free_port();
    let mut child = tickflow()
        .args([
            "run",
            "--rate",
            "2000",
            "--max-out-of-orderness",
            "0s",
            "--window",
            "2s",
            "--slide",
            "1s",
        ])
        .args([
            "--sink",
            &pg_url(),
            "--pg-schema",
            &schema,
            "--pg-commit-interval",
            "50ms",
            "--quiet",
        ])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until windows have been committed, then read everything once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        assert!(Instant::now() < deadline, "no commits reported in time");
        if let Some((status, body)) = http_get(port, "/metrics") {
            assert_eq!(status, "HTTP/1.1 200 OK");
            if sample(&body, "tickflow_sink_commit_rows_sum", "").unwrap_or(0.0) > 0.0 {
                break body;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (status, health) = http_get(port, "/healthz").unwrap();
    assert_eq!(
        (status.as_str(), health.as_str()),
        ("HTTP/1.1 200 OK", "ok\n")
    );
    assert_eq!(http_get(port, "/nope").unwrap().0, "HTTP/1.1 404 Not Found");
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());

    assert!(sample(&body, "tickflow_records_in_total", "").unwrap() > 0.0);
    assert!(sample(&body, "tickflow_windows_out_total", "").unwrap() > 0.0);
    assert!(
        sample(
            &body,
            "tickflow_partition_records_in_total",
            "source=\"generator\""
        )
        .unwrap()
            > 0.0
    );
    assert!(sample(&body, "tickflow_watermark_seconds", "partition=\"0\"").unwrap() > 1.7e9);
    assert_eq!(
        sample(&body, "tickflow_rejects_total", "reason=\"late\""),
        Some(0.0)
    );
    assert!(sample(&body, "tickflow_worker_busy_seconds_total", "worker=\"0\"").unwrap() > 0.0);
    assert!(sample(&body, "tickflow_sink_commit_rows_sum", "").unwrap() > 0.0);
    // Every sample line is `name{labels} value` with a number.
    for line in body.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "not a sample: {line}");
    }
}
