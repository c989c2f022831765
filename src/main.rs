//! The `tickflow` command.

use std::io::IsTerminal;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tickflow::cli::{BenchArgs, Cli, ClusterArgs, Command, ProduceArgs, RunArgs};
use tickflow::config::{Pipeline, SpecFile};
use tickflow::dataflow::{run, Cluster, RunOptions};
use tickflow::source::SourceConfig;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // librdkafka logs every failed connection attempt; tickflow reports unreachable
                // brokers itself, so its log is off unless RUST_LOG asks for it.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,librdkafka=off,rdkafka::client=off")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    install_cluster_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if tickflow::cli::is_hostfile_without_value(&e) => {
            eprintln!("tickflow: error: {}", tickflow::cli::HOSTFILE_NOT_HELP);
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Run(args) => run_command(*args),
        Command::Bench(args) => bench_command(args),
        Command::Produce(args) => produce_command(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tickflow: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// timely's networking threads (`timely:recv-N`, `timely:send-N`, N the peer process) panic
/// when a peer of the cluster goes away. Say which one, plainly, and stop this process too: the
/// cluster cannot go on without it, and a restart of the whole cluster resumes from the
/// committed progress.
fn install_cluster_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("");
        let peer = name
            .strip_prefix("timely:recv-")
            .or_else(|| name.strip_prefix("timely:send-"));
        match peer {
            Some(peer) => {
                let what = info
                    .payload()
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| info.payload().downcast_ref::<&str>().copied())
                    .unwrap_or("connection lost");
                eprintln!(
                    "tickflow: error: lost process {peer} of the cluster ({what}); stopping. Restart the whole cluster to continue from the last commit."
                );
                std::process::exit(1);
            }
            None => default(info),
        }
    }));
}

/// First Ctrl-C: stop the sources and flush every window. Second: leave at once.
fn install_ctrl_c() -> anyhow::Result<Arc<AtomicBool>> {
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("tickflow: stopping; flushing open windows (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")?;
    Ok(shutdown)
}

fn cluster(args: &ClusterArgs, workers: usize) -> anyhow::Result<Option<Cluster>> {
    let Some(processes) = args.processes.filter(|&n| n > 1) else {
        return Ok(None);
    };
    let process = args.process.context("-n needs -p (this process's index)")?;
    if process >= processes {
        bail!("-p {process} is out of range for -n {processes}");
    }
    let addresses: Vec<String> = match &args.hostfile {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("reading hostfile {}", path.display()))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect(),
        None => (0..processes)
            .map(|i| format!("127.0.0.1:{}", 2101 + i))
            .collect(),
    };
    if addresses.len() < processes {
        bail!(
            "hostfile lists {} addresses for -n {processes}",
            addresses.len()
        );
    }
    let _ = workers;
    Ok(Some(Cluster {
        processes,
        process,
        addresses,
    }))
}

/// Runs this same command as `processes` processes on free loopback ports and waits for them.
fn local_cluster(processes: usize) -> anyhow::Result<()> {
    let ports: Vec<u16> = (0..processes)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
        })
        .collect::<Result<_, _>>()
        .context("finding free loopback ports")?;
    let hostfile = std::env::temp_dir().join(format!("tickflow-hosts-{}", std::process::id()));
    let hosts: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    std::fs::write(&hostfile, hosts.join("\n")).context("writing the hostfile")?;
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // Drop --local-cluster and its value; every child gets its own -n/-p/-h.
    if let Some(i) = args.iter().position(|a| a == "--local-cluster") {
        args.drain(i..(i + 2).min(args.len()));
    }
    args.retain(|a| !a.starts_with("--local-cluster="));
    let mut children: Vec<std::process::Child> = (0..processes)
        .map(|p| {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(&args)
                .args(["-n", &processes.to_string(), "-p", &p.to_string()])
                .arg("-h")
                .arg(&hostfile);
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(|| {
                    // Its own process group, so a terminal's Ctrl-C reaches the children once,
                    // forwarded below, not twice (twice means "quit at once").
                    libc::setpgid(0, 0);
                    // A launcher that dies (even by SIGKILL) takes its cluster with it.
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                    Ok(())
                });
            }
            cmd.spawn()
        })
        .collect::<Result<_, _>>()
        .context("starting the cluster's processes")?;
    // Ctrl-C (or SIGTERM) to the launcher goes to every process, each time it comes.
    let pids: Vec<libc::pid_t> = children.iter().map(|c| c.id() as libc::pid_t).collect();
    ctrlc::set_handler(move || {
        for &pid in &pids {
            // SAFETY: signals our own children.
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
    })
    .context("installing the Ctrl-C handler")?;
    let mut failed = Vec::new();
    for (p, child) in children.iter_mut().enumerate() {
        let status = child.wait().context("waiting for a cluster process")?;
        if !status.success() {
            failed.push(format!("process {p}: {status}"));
        }
    }
    let _ = std::fs::remove_file(&hostfile);
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("cluster processes failed: {}", failed.join(", "))
    }
}

fn run_command(args: RunArgs) -> anyhow::Result<()> {
    if let Some(processes) = args.cluster.local_cluster {
        if processes == 0 {
            bail!("--local-cluster needs at least 1 process");
        }
        return local_cluster(processes);
    }
    let mut spec = match &args.spec {
        Some(path) => SpecFile::load(path)?,
        None => SpecFile::default(),
    };
    args.pipeline.apply(&mut spec)?;
    let pipeline = Pipeline::from_spec(spec)?;
    let live_generator = pipeline
        .sources
        .iter()
        .any(|s| matches!(s, SourceConfig::Generator(g) if g.rate > 0.0));
    let show_progress =
        !args.quiet && (args.progress || std::io::stderr().is_terminal() || live_generator);
    let options = RunOptions {
        progress: show_progress.then_some(Duration::from_secs(2)),
        cluster: cluster(&args.cluster, pipeline.workers)?,
        restart: args.pipeline.restart,
        metrics_addr: args.metrics_addr.clone(),
    };
    let shutdown = install_ctrl_c()?;
    let started = Instant::now();
    let summary = run(pipeline, options, shutdown)?;
    if show_progress {
        let m = &summary.metrics;
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "tickflow: {} events in {secs:.2}s ({:.0}/s), {} windows out, {} rejects ({} late), {} filtered{}",
            m.records_in,
            m.records_in as f64 / secs.max(1e-9),
            m.windows_out,
            m.rejects,
            m.late,
            m.filtered,
            if summary.interrupted { ", interrupted" } else { "" }
        );
        if let Some(pg) = &summary.postgres {
            let ms = |q| {
                pg.latency_quantile(q)
                    .map_or("-".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1e3))
            };
            eprintln!(
                "tickflow: PostgreSQL: {} rows and {} rejects in {} commits ({} retried); window end to commit p50 {}, p99 {}{}",
                pg.rows,
                pg.rejects,
                pg.commits,
                pg.retries,
                ms(0.5),
                ms(0.99),
                if m.skipped > 0 {
                    format!("; {} records skipped as already committed", m.skipped)
                } else {
                    String::new()
                }
            );
        }
    }
    Ok(())
}

fn bench_command(args: BenchArgs) -> anyhow::Result<()> {
    tickflow::bench::run_bench(&args)
}

fn produce_command(args: ProduceArgs) -> anyhow::Result<()> {
    let n = tickflow::produce::produce(&args.to, &args.generator(), &args.kafka())?;
    eprintln!("tickflow: produced {n} events to {}", args.to);
    Ok(())
}
