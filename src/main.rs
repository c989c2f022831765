//! The `tickflow` command.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tickflow::cli::{BenchArgs, Cli, ClusterArgs, Command, ProduceArgs, RunArgs};
use tickflow::config::{Pipeline, SpecFile};
use tickflow::dataflow::{run, Cluster, RunOptions};
use tickflow::source::SourceSpec;

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
    let cli = Cli::parse();
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

fn run_command(args: RunArgs) -> anyhow::Result<()> {
    let mut spec = match &args.spec {
        Some(path) => SpecFile::load(path)?,
        None => SpecFile::default(),
    };
    args.pipeline.apply(&mut spec);
    let pipeline = Pipeline::from_spec(spec)?;
    let live_generator =
        pipeline.sources.contains(&SourceSpec::Generator) && pipeline.generator.rate > 0.0;
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
    let spec = tickflow::source::GeneratorSpec {
        rate: args.rate,
        event_rate: args.event_rate,
        events: args.events,
        symbols: args.symbols,
        categories: args.categories,
        seed: args.seed,
        kinds: args.kind,
        start: args.start,
    };
    let kafka = tickflow::source::KafkaOptions {
        settings: args
            .kafka_settings
            .iter()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
                (k.trim().to_string(), v.to_string())
            })
            .collect(),
        ..Default::default()
    };
    let n = tickflow::produce::produce(&args.to, &spec, &kafka)?;
    eprintln!("tickflow: produced {n} events to {}", args.to);
    Ok(())
}
