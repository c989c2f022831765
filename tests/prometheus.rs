//! deploy/: the alert rules and scrape config pass promtool, every metric they and the Grafana
//! dashboard use is one tickflow serves, and a real Prometheus scrapes tickflow and fires the
//! stalled-source alert when its input stops.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

fn deploy(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path)
}

/// Whether `program --version` runs; else the test is skipped (failed under CI).
fn installed(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        skip(&format!(
            "{program} is not installed (apt-get install -y prometheus)"
        ));
    }
    found
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_rules_config_and_rule_tests() {
    if !installed("promtool") {
        return;
    }
    let rules = deploy("prometheus/alerts.yml");
    promtool(&["check", "rules", rules.to_str().unwrap()]);
    let config = deploy("prometheus/prometheus.yml");
    promtool(&["check", "config", config.to_str().unwrap()]);
    let tests = deploy("prometheus/alerts.test.yml");
    promtool(&["test", "rules", tests.to_str().unwrap()]);
}

/// The PromQL expressions of a rules file: `expr:` values, block scalars included.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let mut expr = rest.trim().to_string();
        if expr == "|" {
            expr.clear();
            while let Some(next) = lines.next_if(|l| l.len() - l.trim_start().len() > indent) {
                expr.push_str(next.trim());
                expr.push(' ');
            }
        }
        exprs.push(expr);
    }
    exprs
}

/// Every `tickflow_...` identifier in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tickflow_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// The metric names a `/metrics` body declares or samples.
fn served_names(body: &str) -> BTreeSet<String> {
    body.lines()
        .filter_map(|l| match l.strip_prefix("# TYPE ") {
            Some(t) => t.split(' ').next(),
            None if !l.starts_with('#') => l.split(['{', ' ']).next(),
            None => None,
        })
        .map(str::to_string)
        .collect()
}

fn start_tickflow(port: u16, source: &str) -> KillOnDrop {
    let child = tickflow()
        .args(["run", "--source", source, "--quiet"])
        .args(["--window", "2s", "--slide", "1s", "--sink", "discard"])
        .args(["--idle-timeout", "1s"])
        .args(["--http-addr", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    KillOnDrop(child)
}

fn wait_for<T>(secs: u64, what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn deploy_uses_only_metrics_tickflow_serves() {
    let port = free_port();
    // The generator alone: every source-independent metric is served.
    let _child = start_tickflow(port, "generator");
    let body = wait_for(60, "/metrics", || {
        http_get(port, "/metrics").filter(|(s, _)| s == "HTTP/1.1 200 OK")
    })
    .1;
    let served = served_names(&body);
    let mut used = BTreeSet::new();
    for expr in rule_exprs(&std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap()) {
        used.extend(metric_names(&expr));
    }
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("grafana/dashboards/tickflow.json")).unwrap(),
    )
    .unwrap();
    let mut dashboard_exprs = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            if let Some(expr) = target["expr"].as_str() {
                used.extend(metric_names(expr));
                dashboard_exprs += 1;
            }
        }
    }
    assert!(dashboard_exprs >= 10 && used.len() >= 10, "{used:?}");
    for name in &used {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(name);
        assert!(
            served.contains(name.as_str()) || served.contains(base),
            "deploy/ uses {name}, which tickflow does not serve"
        );
    }
}

/// `GET path` from Prometheus as HTTP/1.0 (so the answer is neither chunked nor kept alive).
fn prometheus_get(port: u16, path: &str) -> Option<Value> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| serde_json::from_str(body).ok())
        .flatten()
}

/// deploy/prometheus/alerts.yml with minutes made seconds, so alerts fire within a test.
fn quick_rules() -> String {
    let rules = std::fs::read_to_string(deploy("prometheus/alerts.yml")).unwrap();
    let mut quick = rules.replace("[5m]", "[8s]").replace("[10m]", "[8s]");
    for minutes in ["for: 0m", "for: 1m", "for: 5m", "for: 10m"] {
        quick = quick.replace(minutes, "for: 1s");
    }
    assert!(!quick.contains("m]") && !quick.contains("0m\n"), "{quick}");
    quick
}

#[test]
fn prometheus_scrapes_tickflow_and_fires_when_a_source_stalls() {
    if !installed("prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (port, prom_port) = (free_port(), free_port());
    let mut child = start_tickflow(port, "-");
    std::fs::write(dir.path().join("alerts.yml"), quick_rules()).unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\n\
         scrape_configs:\n  - job_name: tickflow\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
    );
    std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
    let _prometheus = KillOnDrop(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Ticks stamped with the wall clock, for a while: the source is live.
    let mut stdin = child.0.stdin.take().unwrap();
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let mut fed = 0;
    let scraped = wait_for(90, "Prometheus to scrape records from tickflow", || {
        for _ in 0..50 {
            writeln!(stdin, "{}", tick_line(now_ms(), "AAA", 10.0, 1)).unwrap();
            fed += 1;
        }
        let v = prometheus_get(prom_port, "/api/v1/query?query=tickflow_records_in_total")?;
        let value = v["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()?;
        (value > 0.0).then_some(value)
    });
    assert!(scraped <= fed as f64);
    let up = prometheus_get(prom_port, "/api/v1/query?query=up").unwrap();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    // Keep feeding until the rate over the rule's window is measured, then stop (stdin stays
    // open: the source is stalled, not finished).
    let rate_query = "/api/v1/query?query=rate(tickflow_partition_records_in_total%5B8s%5D)";
    wait_for(60, "a positive read rate", || {
        writeln!(stdin, "{}", tick_line(now_ms(), "AAA", 10.0, 1)).unwrap();
        let v = prometheus_get(prom_port, rate_query)?;
        let rate = v["data"]["result"][0]["value"][1]
            .as_str()?
            .parse::<f64>()
            .ok()?;
        (rate > 0.0).then_some(())
    });
    let alert = wait_for(120, "TickflowSourceStalled to fire", || {
        let v = prometheus_get(prom_port, "/api/v1/alerts")?;
        v["data"]["alerts"]
            .as_array()?
            .iter()
            .find(|a| a["labels"]["alertname"] == "TickflowSourceStalled" && a["state"] == "firing")
            .cloned()
    });
    assert_eq!(alert["labels"]["source"], "stdin", "{alert}");
    assert_eq!(alert["labels"]["partition"], "0", "{alert}");
    assert!(
        alert["annotations"]["summary"]
            .as_str()
            .unwrap()
            .contains("stdin partition 0"),
        "{alert}"
    );
    // tickflow itself is up the whole time.
    let alerts = prometheus_get(prom_port, "/api/v1/alerts").unwrap();
    assert!(!alerts.to_string().contains("TickflowDown"), "{alerts}");
    drop(stdin);
    assert!(child.0.wait().unwrap().success());
}

#[test]
fn dashboard_sql_reads_the_tables_tickflow_writes() {
    let Some(mut pg) = common::pg::pg() else {
        return;
    };
    let schema = common::pg::fresh_schema(&mut pg, "dashboard");
    let dir = tempfile::tempdir().unwrap();
    let mut lines: Vec<String> = (0..400)
        .map(|i| match i % 2 {
            0 => tick_line(T0 + i * 50, "SYM001", 100.0 + (i % 7) as f64, 3),
            _ => reading_line(T0 + i * 50, "A", 20.0 + (i % 5) as f64),
        })
        .collect();
    lines.push("not a record".into());
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &common::pg::pg_url(),
        "--pg-schema",
        &schema,
        "--window",
        "2s",
        "--slide",
        "1s",
    ]);
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(deploy("grafana/dashboards/tickflow.json")).unwrap(),
    )
    .unwrap();
    let mut queries: Vec<String> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["datasource"]["uid"] == "tickflow-postgres")
        .map(|v| v["query"].as_str().unwrap().to_string())
        .collect();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            if let Some(sql) = target["rawSql"].as_str() {
                queries.push(sql.to_string());
            }
        }
    }
    assert!(queries.len() >= 5, "{queries:?}");
    pg.batch_execute(&format!("SET search_path TO \"{schema}\""))
        .unwrap();
    for sql in &queries {
        // Grafana's macros, as Grafana would expand them for "the last 100 years".
        let sql = sql
            .replace(
                "$__timeFilter(window_end)",
                "window_end BETWEEN now() - interval '100 years' AND now()",
            )
            .replace("($symbol)", "('SYM001')");
        let rows = pg
            .query(sql.as_str(), &[])
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
        assert!(!rows.is_empty(), "no rows from {sql}");
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok();
    if !found {
        return skip("systemd-analyze is not installed (apt-get install -y systemd)");
    }
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(deploy("systemd/tickflow.service"))
        .unwrap()
        .replace("/usr/local/bin/tickflow", env!("CARGO_BIN_EXE_tickflow"));
    let path = dir.path().join("tickflow.service");
    std::fs::write(&path, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

#[test]
fn docker_compose_provisions_prometheus_and_grafana_from_deploy() {
    let Some(py) = common::python::python(&["yaml"]) else {
        return;
    };
    // Every volume the two services mount exists in the repository, and tickflow serves the
    // endpoint Prometheus scrapes.
    let check = r#"
import os, sys, yaml
compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
for name in ("prometheus", "grafana"):
    for volume in services[name]["volumes"]:
        source = volume.split(":")[0]
        assert os.path.exists(source), f"{name} mounts {source}, which does not exist"
assert any(a.startswith("--http-addr=0.0.0.0:9898") for a in services["tickflow"]["command"])
config = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["tickflow:9898"]
print("ok")
"#;
    let out = py
        .command()
        .arg("-c")
        .arg(check)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "ok",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
