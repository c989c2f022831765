//! Process clusters over loopback: results equal one process, and a lost peer stops the rest.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn two_processes_of_two_workers_equal_one_worker() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_lines(
        dir.path(),
        "in.jsonl",
        &lines_of(&random_events(61, 30_000, 3_000, 0)),
    );
    let want = rows(&run_ok(&["--source", &file_uri(&input), "--quiet"]).stdout);
    let out = dir.path().join("out.jsonl");
    run_ok(&[
        "--source",
        &file_uri(&input),
        "--sink",
        &format!("file:{}", out.display()),
        "--local-cluster",
        "2",
        "-w",
        "2",
        "--quiet",
    ]);
    let mut union = std::fs::read(dir.path().join("out-p0.jsonl")).unwrap();
    union.extend(std::fs::read(dir.path().join("out-p1.jsonl")).unwrap());
    assert!(
        !dir.path().join("out.jsonl").exists(),
        "each process writes its own file"
    );
    assert_rows_close(&want, &rows(&union), 0.0);
}

#[test]
fn losing_a_process_stops_the_others_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
    )
    .unwrap();
    let start = |p: &str| {
        tickflow()
            .args([
                "run",
                "--rate",
                "200",
                "--quiet",
                "-n",
                "2",
                "-p",
                p,
                "-h",
                hosts.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (survivor, mut lost) = (start("0"), start("1"));
    std::thread::sleep(Duration::from_secs(2));
    lost.kill().unwrap();
    let _ = lost.wait();
    let began = Instant::now();
    let out = survivor.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "the survivor hung"
    );
    assert!(stderr.contains("lost process 1 of the cluster"), "{stderr}");
}
