//! `tickflow run`: a pipeline from its spec and flags, with progress and a summary on stderr.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tickflow::cli::RunArgs;
use tickflow::config::{Pipeline, SpecFile};
use tickflow::dataflow::{run, RunOptions};
use tickflow::source::SourceConfig;

use super::cluster::{cluster, local_cluster};

/// Runs the pipeline `args` describe (or starts a local cluster of it).
pub fn run_command(args: RunArgs) -> anyhow::Result<()> {
    if let Some(processes) = args.cluster.local_cluster {
        if processes == 0 {
            bail!("--local-cluster needs at least 1 process");
        }
        return local_cluster(processes);
    }
    let spec = spec_of(&args)?;
    let http_addr = args.http_addr.clone().or_else(|| spec.http_addr.clone());
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
        http_addr,
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

/// The pipeline of a spec (or none) with the command line's flags over it.
pub fn pipeline_of(args: &RunArgs) -> anyhow::Result<Pipeline> {
    Ok(Pipeline::from_spec(spec_of(args)?)?)
}

/// The spec file (or the defaults) with the command line's flags applied over it.
fn spec_of(args: &RunArgs) -> anyhow::Result<SpecFile> {
    let mut spec = match &args.spec {
        Some(path) => SpecFile::load(path)?,
        None => SpecFile::default(),
    };
    args.pipeline.apply(&mut spec)?;
    Ok(spec)
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
