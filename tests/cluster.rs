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
    let union = two_process_output(dir.path());
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

/// A whole cluster killed (kill -9) right after commits and restarted, several times, into
/// PostgreSQL: the tables equal one uninterrupted process, every column and every reject.
#[test]
fn a_cluster_killed_and_restarted_into_postgres_equals_one_process() {
    use common::pg::*;
    let Some(mut pg) = pg() else { return };
    let (clean, killed) = (
        fresh_schema(&mut pg, "cclean"),
        fresh_schema(&mut pg, "ckilled"),
    );
    let dir = tempfile::tempdir().unwrap();
    let input = busy_input(dir.path(), 200_000, 2_000);
    let source = file_uri(&input);
    // One process with two workers splits the file like two processes with one worker each.
    run_ok(&[
        "--source",
        &source,
        "--sink",
        &pg_url(),
        "--pg-schema",
        &clean,
        "--pipeline",
        "c",
        "-w",
        "2",
        "--quiet",
    ]);
    let committed = |pg: &mut postgres::Client| -> Vec<i64> {
        pg.query(
            &format!("SELECT committed_below_ms FROM {killed}.tickflow_progress WHERE partition < 0 ORDER BY partition"),
            &[],
        )
        .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        .unwrap_or_default()
    };
    let start_cluster = |extra: &[&str]| -> Vec<std::process::Child> {
        let hosts = dir.path().join("hosts");
        std::fs::write(
            &hosts,
            format!("127.0.0.1:{}\n127.0.0.1:{}\n", free_port(), free_port()),
        )
        .unwrap();
        (0..2)
            .map(|p| {
                tickflow()
                    .args([
                        "run",
                        "--source",
                        &source,
                        "--sink",
                        &pg_url(),
                        "--pg-schema",
                        &killed,
                    ])
                    .args([
                        "--pipeline",
                        "c",
                        "-w",
                        "1",
                        "--quiet",
                        "-n",
                        "2",
                        "-p",
                        &p.to_string(),
                    ])
                    .args(["-h", hosts.to_str().unwrap()])
                    .args(extra)
                    // Different commit paces, so the processes' committed frontiers differ.
                    .args([
                        "--pg-commit-interval",
                        if p == 0 { "20ms" } else { "700ms" },
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect()
    };
    for extra_ms in [0u64, 120, 40] {
        let before = committed(&mut pg);
        let mut procs = start_cluster(&[]);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Kill once both processes have committed and one has moved on.
        while (committed(&mut pg) == before || committed(&mut pg).len() < 2)
            && procs.iter_mut().all(|p| p.try_wait().unwrap().is_none())
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        for p in &mut procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
    for mut p in start_cluster(&[]) {
        assert!(p.wait().unwrap().success(), "the restarted cluster failed");
    }
    assert_same_results(&mut pg, &clean, &killed);
    assert!(assert_same_rejects(&mut pg, &clean, &killed) > 1000);
}

/// `--local-cluster`: Ctrl-C sent to the launcher alone reaches every process, which flush and
/// exit 0; a launcher killed outright takes its processes with it.
#[test]
fn the_local_cluster_launcher_forwards_ctrl_c_and_takes_its_processes_along() {
    let start = || {
        tickflow()
            .args(["run", "--local-cluster", "2", "--rate", "2000", "--quiet"])
            .args(["--window", "1s", "--slide", "1s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let children_of = |launcher: u32| {
        let out = std::process::Command::new("pgrep")
            .args(["-f", &format!("tickflow-hosts-{launcher}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    let launcher = start();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(children_of(launcher.id()), 2);
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &launcher.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = launcher.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", out.status);
    assert!(
        !rows(&out.stdout).is_empty(),
        "the flushed windows were written"
    );

    let mut launcher = start();
    std::thread::sleep(Duration::from_millis(1500));
    let id = launcher.id();
    assert_eq!(children_of(id), 2);
    launcher.kill().unwrap();
    let _ = launcher.wait();
    let deadline = Instant::now() + Duration::from_secs(20);
    while children_of(id) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(children_of(id), 0, "processes outlived their launcher");
}
