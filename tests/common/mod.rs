//! Helpers shared by the behaviour tests: run the binary, read its rows, compare, oracles.
#![allow(dead_code)]

pub mod certs;
pub mod kafka_tls;
pub mod kafka_topics;
pub mod partition_gate;
pub mod pg;
pub mod pgserver;
pub mod python;
pub mod sectors;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A result row's identity: kind, key, window end.
pub type RowKey = (String, String, String);

/// True when the tests run under CI (`CI=true`), where a missing service or module fails a test
/// instead of skipping it.
pub fn under_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Skips the calling test for `why` (what is missing, and how to get it): prints
/// `SKIPPED <test>: <why>` where `cargo test` shows it, or panics with `why` under `CI=true`.
pub fn skip(why: &str) {
    if under_ci() {
        panic!("{why} (required under CI=true)");
    }
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(|n| format!(" {n}"))
        .unwrap_or_default();
    // Straight to the process's stderr: the test harness swallows what a passing test prints
    // with `eprintln!`, and a skip must not go unseen.
    let _ = writeln!(std::io::stderr(), "SKIPPED{test}: {why}");
}

/// A loopback port nobody listens on (just now).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding a loopback port")
        .port()
}

/// `GET path` from an HTTP server on loopback `port`: the status line and the body.
pub fn http_get(port: u16, path: &str) -> Option<(String, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

/// The `tickflow` binary under test.
pub fn tickflow() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tickflow"));
    c.env("RUST_LOG", "warn");
    c
}

/// Runs `tickflow run ARGS`, asserting it exits 0; returns the output.
pub fn run_ok(args: &[&str]) -> Output {
    let out = tickflow()
        .arg("run")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running tickflow");
    assert!(
        out.status.success(),
        "tickflow run {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Writes `lines` (each gets a newline) to `dir/name`.
pub fn write_lines(dir: &Path, name: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).expect("creating input");
    for l in lines {
        writeln!(f, "{l}").expect("writing input");
    }
    path
}

pub fn file_uri(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// Parses JSON-lines rows, asserting each window appears once.
pub fn rows(text: &[u8]) -> BTreeMap<RowKey, Value> {
    let mut out = BTreeMap::new();
    for line in String::from_utf8_lossy(text)
        .lines()
        .filter(|l| !l.is_empty())
    {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let kind = v["kind"].as_str().expect("kind").to_string();
        let key = v
            .get("symbol")
            .or_else(|| v.get("category"))
            .or_else(|| v.get("sector"))
            .and_then(Value::as_str)
            .expect("key")
            .to_string();
        let end = v["window_end"].as_str().expect("window_end").to_string();
        assert!(
            out.insert((kind, key, end), v).is_none(),
            "window emitted twice: {line}"
        );
    }
    out
}

/// Asserts equal keys and windows, equal integers and strings, floats within `rel`.
pub fn assert_rows_close(a: &BTreeMap<RowKey, Value>, b: &BTreeMap<RowKey, Value>, rel: f64) {
    let only_a: Vec<_> = a.keys().filter(|k| !b.contains_key(*k)).take(3).collect();
    let only_b: Vec<_> = b.keys().filter(|k| !a.contains_key(*k)).take(3).collect();
    assert!(
        only_a.is_empty() && only_b.is_empty(),
        "row sets differ ({} vs {} rows): only left {only_a:?}, only right {only_b:?}",
        a.len(),
        b.len()
    );
    for (k, va) in a {
        let vb = &b[k];
        let (oa, ob) = (va.as_object().unwrap(), vb.as_object().unwrap());
        assert_eq!(
            oa.keys().collect::<Vec<_>>(),
            ob.keys().collect::<Vec<_>>(),
            "fields of {k:?}"
        );
        for (f, x) in oa {
            let y = &ob[f];
            if x.is_f64() || y.is_f64() {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                let d = (x - y).abs() / x.abs().max(1e-300);
                assert!(d <= rel, "{k:?} {f}: {x} vs {y}");
            } else {
                assert_eq!(x, y, "{k:?} field {f}");
            }
        }
    }
}

/// Deterministic xorshift for test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// RFC 3339 text of epoch milliseconds, without a zone (tickflow reads that as UTC).
pub fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    // civil-from-days (Hinnant), independent of tickflow's own.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let tod = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000",
        tod / 3600,
        tod / 60 % 60,
        tod % 60,
        ms % 1000
    )
}

/// 2025-11-20T09:30:00Z in epoch milliseconds.
pub const T0: u64 = 1_763_631_000_000;

pub fn tick_line(ms: u64, symbol: &str, price: f64, volume: u64) -> String {
    format!(
        r#"{{"timestamp": "{}", "stock_code": "{symbol}", "price": {price}, "volume": {volume}}}"#,
        iso(ms)
    )
}

pub fn reading_line(ms: u64, category: &str, value: f64) -> String {
    format!(
        r#"{{"timestamp": {}.{:03}, "value": {value}, "category": "{category}"}}"#,
        ms / 1000,
        ms % 1000
    )
}

/// A record of the random streams below, as the oracle sees it.
#[derive(Clone, Debug)]
pub enum Ev {
    Tick {
        t: u64,
        key: String,
        price: f64,
        volume: u64,
    },
    Reading {
        t: u64,
        key: String,
        value: f64,
    },
}

/// Random ticks and readings with disorder: most records trail the stream by up to
/// `disorder_ms`; a few (`late_per_mille`) jump far back so they are late.
pub fn random_events(seed: u64, n: usize, disorder_ms: u64, late_per_mille: u64) -> Vec<Ev> {
    let mut r = Rng(seed | 1);
    let mut clock = T0;
    (0..n)
        .map(|_| {
            clock += r.below(4);
            let mut t = clock - r.below(disorder_ms + 1).min(clock - T0);
            if r.below(1000) < late_per_mille {
                t = t.saturating_sub(30_000).max(T0);
            }
            if r.below(4) == 0 {
                let key = ["A", "B", "C"][r.below(3) as usize].to_string();
                Ev::Reading {
                    t,
                    key,
                    value: r.below(10_000) as f64 / 100.0,
                }
            } else {
                let key = format!("S{}", r.below(7));
                Ev::Tick {
                    t,
                    key,
                    price: 100.0 + r.below(10_000) as f64 / 100.0,
                    volume: r.below(50),
                }
            }
        })
        .collect()
}

pub fn lines_of(events: &[Ev]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            Ev::Tick {
                t,
                key,
                price,
                volume,
            } => tick_line(*t, key, *price, *volume),
            Ev::Reading { t, key, value } => reading_line(*t, key, *value),
        })
        .collect()
}

/// The naive oracle: one partition read in order, late records dropped, every remaining record
/// added to every window (length `len_ms`, slide `slide_ms`) that holds it, readings filtered by
/// `value < keep_below`. Returns rows keyed as [`rows`] does, plus the number of late records.
pub fn oracle(
    events: &[Ev],
    len_ms: u64,
    slide_ms: u64,
    ooo_ms: u64,
    keep_below: f64,
) -> (BTreeMap<RowKey, Value>, usize) {
    let one = vec![0; events.len()];
    oracle_in_partitions(events, &one, len_ms, slide_ms, ooo_ms, keep_below)
}

/// The split of a file each of `lines` falls in (by the byte its line starts at), for a file of
/// these lines cut as tickflow cuts it (`tickflow::source::split_bytes_for`).
pub fn file_splits(lines: &[String]) -> Vec<usize> {
    let len: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
    let split_bytes = tickflow::source::split_bytes_for(len);
    let mut offset = 0u64;
    lines
        .iter()
        .map(|l| {
            let split = (offset / split_bytes) as usize;
            offset += l.len() as u64 + 1;
            split
        })
        .collect()
}

/// [`oracle`] with lateness decided per partition: event `i` is in partition `partition[i]`.
pub fn oracle_in_partitions(
    events: &[Ev],
    partition: &[usize],
    len_ms: u64,
    slide_ms: u64,
    ooo_ms: u64,
    keep_below: f64,
) -> (BTreeMap<RowKey, Value>, usize) {
    #[derive(Default)]
    struct Acc {
        n: u64,
        sum: f64,
        min: f64,
        max: f64,
        pv: f64,
        vol: u64,
    }
    let mut max_seen: BTreeMap<usize, u64> = BTreeMap::new();
    let mut late = 0;
    let mut acc: BTreeMap<(String, String, u64), Acc> = BTreeMap::new();
    for (e, p) in events.iter().zip(partition) {
        let t = match e {
            Ev::Tick { t, .. } | Ev::Reading { t, .. } => *t,
        };
        if max_seen.get(p).is_some_and(|&m| t + ooo_ms < m) {
            late += 1;
            continue;
        }
        let m = max_seen.entry(*p).or_insert(t);
        *m = (*m).max(t);
        let mut end = (t / slide_ms + 1) * slide_ms;
        while end <= t + len_ms {
            let (kind, key) = match e {
                Ev::Tick { key, .. } => ("symbol_average", key),
                Ev::Reading { key, value, .. } if *value < keep_below => ("category_mean", key),
                Ev::Reading { .. } => break,
            };
            let a = acc
                .entry((kind.into(), key.clone(), end))
                .or_insert_with(|| Acc {
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    ..Acc::default()
                });
            a.n += 1;
            match e {
                Ev::Tick { price, volume, .. } => {
                    a.sum += price;
                    a.min = a.min.min(*price);
                    a.max = a.max.max(*price);
                    a.pv += price * *volume as f64;
                    a.vol += volume;
                }
                Ev::Reading { value, .. } => a.sum += value,
            }
            end += slide_ms;
        }
    }
    let rfc = |ms: u64| {
        let s = iso(ms);
        let base = &s[..19];
        if ms % 1000 == 0 {
            format!("{base}Z")
        } else {
            format!("{base}.{:03}Z", ms % 1000)
        }
    };
    let rows = acc
        .into_iter()
        .map(|((kind, key, end), a)| {
            let start = rfc(end.saturating_sub(len_ms));
            let v = if kind == "symbol_average" {
                serde_json::json!({"kind": kind, "symbol": key, "window_start": start,
                    "window_end": rfc(end), "avg_price": a.sum / a.n as f64, "min_price": a.min,
                    "max_price": a.max, "vwap": if a.vol > 0 { Some(a.pv / a.vol as f64) } else { None },
                    "ticks": a.n, "volume": a.vol})
            } else {
                serde_json::json!({"kind": kind, "category": key, "window_start": start,
                    "window_end": rfc(end), "mean_value": a.sum / a.n as f64, "readings": a.n})
            };
            ((kind, key, rfc(end)), v)
        })
        .collect();
    (rows, late)
}

/// Ticks over `symbols` symbols plus readings, with disorder, some late and some bad lines.
pub fn busy_input(dir: &std::path::Path, events: usize, symbols: u64) -> std::path::PathBuf {
    let mut r = Rng(77);
    let mut lines = Vec::with_capacity(events);
    for i in 0..events as u64 {
        let t = T0 + i * 2 - r.below(2_000).min(i * 2);
        let line = match r.below(100) {
            0 => format!("garbage line {i}"),
            1 => tick_line(t.saturating_sub(20_000).max(T0), "LATE", 1.0, 1),
            2..=20 => reading_line(
                t,
                ["A", "B", "C"][r.below(3) as usize],
                r.below(10_000) as f64 / 100.0,
            ),
            _ => tick_line(
                t,
                &format!("S{:04}", r.below(symbols)),
                100.0 + r.below(5_000) as f64 / 100.0,
                r.below(5_000),
            ),
        };
        lines.push(line);
    }
    write_lines(dir, "busy.jsonl", &lines)
}

/// A child process killed when the test ends, passed or not (a failed assertion must not
/// leave it running, holding the test's output open).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines `child` prints to its (piped) stdout, as they come; the child's stdout is read to
/// its end even after the receiver is dropped, so it never blocks on a full pipe.
pub fn stdout_lines(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("a piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    rx
}

/// What a 2-process cluster's file sink `out.jsonl` in `dir` wrote: `out-p0.jsonl` then
/// `out-p1.jsonl`.
pub fn two_process_output(dir: &Path) -> Vec<u8> {
    let mut union = std::fs::read(dir.join("out-p0.jsonl")).unwrap();
    union.extend(std::fs::read(dir.join("out-p1.jsonl")).unwrap());
    union
}
