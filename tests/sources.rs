//! Sources through the binary: stdin, several at once, idle partitions, the generator, Ctrl-C.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Long enough never to fire on a healthy run, short enough to end a hung one.
const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn stdin_gives_the_same_rows_as_a_file() {
    let events = random_events(21, 5_000, 2_000, 3);
    let lines = lines_of(&events);
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(dir.path(), "in.jsonl", &lines);
    let from_file = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);

    let mut child = tickflow()
        .args(["run", "--source", "-", "--quiet", "--rejects", "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let text = lines.join("\n");
    let writer = std::thread::spawn(move || stdin.write_all(text.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_rows_close(&from_file, &rows(&out.stdout), 1e-12);
}

#[test]
fn several_sources_are_read_together() {
    let dir = tempfile::tempdir().unwrap();
    let ticks: Vec<String> = (0..3_000)
        .map(|i| tick_line(T0 + i * 10, "A", 1.0 + i as f64, 1))
        .collect();
    let readings: Vec<String> = (0..3_000)
        .map(|i| reading_line(T0 + i * 10, "R", 5.0))
        .collect();
    let a = write_lines(dir.path(), "a.jsonl", &ticks);
    let b = write_lines(dir.path(), "b.jsonl", &readings);
    let both = write_lines(dir.path(), "both.jsonl", &[ticks, readings].concat());
    let together = rows(
        &run_ok(&[
            "--source",
            &file_uri(&a),
            "--source",
            &file_uri(&b),
            "-w",
            "2",
        ])
        .stdout,
    );
    let merged =
        rows(&run_ok(&["--source", &file_uri(&both), "--max-out-of-orderness", "1h"]).stdout);
    assert_rows_close(&merged, &together, 1e-12);
}

/// A quiet stdin must not hold back the windows of a file read beside it once it has been
/// idle for `--idle-timeout`; closing it then flushes the rest.
#[test]
fn an_idle_partition_does_not_stall_output() {
    let dir = tempfile::tempdir().unwrap();
    let lines: Vec<String> = (0..2_000)
        .map(|i| tick_line(T0 + i * 50, "A", 1.0, 1))
        .collect();
    let input = write_lines(dir.path(), "a.jsonl", &lines);
    let mut child = tickflow()
        .args([
            "run",
            "--source",
            &file_uri(&input),
            "--source",
            "-",
            "--idle-timeout",
            "300ms",
        ])
        .args(["--window", "10s", "--slide", "10s", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let rx = stdout_lines(&mut child);
    // With stdin still open and silent, the file's windows up to its watermark come out.
    let first = rx
        .recv_timeout(PATIENCE)
        .expect("no window while stdin was idle");
    assert!(
        first.contains("\"window_end\":\"2025-11-20T09:30:10Z\""),
        "{first}"
    );
    let mut seen = vec![first];
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(500)) {
        seen.push(line);
    }
    // 100 s of data in 10 s windows; the last 5 s (out-of-orderness) stay open until stdin ends.
    assert!(
        seen.len() >= 9,
        "only {} windows before stdin closed",
        seen.len()
    );
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
    seen.extend(rx.iter());
    assert_eq!(seen.len(), 10, "end of input flushes the rest");
}

#[test]
fn generator_is_deterministic_across_worker_counts() {
    let run = |seed: &str, workers: &str| {
        let args = [
            "--source",
            "generator",
            "--rate",
            "0",
            "--events",
            "30000",
            "--quiet",
        ];
        rows(&run_ok(&[&args[..], &["--seed", seed, "-w", workers]].concat()).stdout)
    };
    let one = run("3", "1");
    assert!(one.len() > 100);
    assert!(
        one.keys().any(|k| k.0 == "category_mean") && one.keys().any(|k| k.0 == "symbol_average")
    );
    assert_rows_close(&one, &run("3", "3"), 0.0);
    assert_ne!(one, run("4", "1"));
}

#[test]
fn ctrl_c_flushes_open_windows_and_exits_zero() {
    let mut child = tickflow()
        .args([
            "run",
            "--rate",
            "400",
            "--max-out-of-orderness",
            "0s",
            "--window",
            "5s",
            "--slide",
            "1s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = stdout_lines(&mut child);
    let first = rx
        .recv_timeout(PATIENCE)
        .expect("the demo printed no window");
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit after Ctrl-C: {:?}", out.status);
    let mut all = vec![first];
    all.extend(rx.iter());
    let rows = rows(all.join("\n").as_bytes());
    // The flush emits every window still open: those ending up to 5 s after the last event.
    let last_end = rows.keys().map(|k| k.2.clone()).max().unwrap();
    let first_end = rows.keys().map(|k| k.2.clone()).min().unwrap();
    assert!(last_end > first_end);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("stopping; flushing"), "{stderr}");
    assert!(
        stderr.contains("progress:") || stderr.contains("interrupted"),
        "{stderr}"
    );
}

/// A directory or a missing file is a failed run naming the path, before anything is read.
#[test]
fn a_directory_or_a_missing_file_fails_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    for (path, why) in [
        (dir.path().to_path_buf(), "is a directory"),
        (missing.clone(), "No such file"),
    ] {
        let out = tickflow()
            .args(["run", "--source", &file_uri(&path), "--quiet"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{path:?}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()), "{stderr}");
        assert!(stderr.contains(why), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}
