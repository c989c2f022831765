//! Process clusters: timely's `-n/-p/-h` flags, `--local-cluster`, and what a lost peer says.

use std::os::unix::process::CommandExt;

use anyhow::{bail, Context};
use tickflow::cli::ClusterArgs;
use tickflow::dataflow::Cluster;

/// timely's networking threads (`timely:recv-N`, `timely:send-N`, N the peer process) panic
/// when a peer of the cluster goes away. Say which one, plainly, and stop this process too: the
/// cluster cannot go on without it, and a restart of the whole cluster resumes from the
/// committed progress.
pub fn install_cluster_panic_hook() {
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

/// The cluster this process belongs to, from `-n`, `-p` and `-h`; `None` for one process.
pub fn cluster(args: &ClusterArgs, workers: usize) -> anyhow::Result<Option<Cluster>> {
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
pub fn local_cluster(processes: usize) -> anyhow::Result<()> {
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
            cmd.args(http_addr_of_process(&args, p)?)
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

/// The arguments process `p` of a local cluster gets: `--http-addr` (or `--metrics-addr`)
/// moved up by `p` ports, since its processes share the host.
fn http_addr_of_process(args: &[String], p: usize) -> std::io::Result<Vec<String>> {
    let offset = u16::try_from(p).unwrap_or(u16::MAX);
    let moved = |address: &str| {
        tickflow::live::offset_port(address, offset).ok_or_else(|| {
            std::io::Error::other(format!(
                "--http-addr {address}: a local cluster needs a port it can count up from"
            ))
        })
    };
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.split_once('=') {
            Some((flag @ ("--http-addr" | "--metrics-addr"), value)) => {
                out.push(format!("{flag}={}", moved(value)?));
            }
            _ if arg == "--http-addr" || arg == "--metrics-addr" => {
                out.push(arg.clone());
                if let Some(value) = iter.next() {
                    out.push(moved(value)?);
                }
            }
            _ => out.push(arg.clone()),
        }
    }
    Ok(out)
}
