//! `tickflow check`: one line per source and sink on stdout; exit 0 only if all are usable.

use anyhow::bail;
use tickflow::cli::RunArgs;

/// Checks the pipeline `args` describe, as `run` would read it.
pub fn check_command(args: &RunArgs) -> anyhow::Result<()> {
    let pipeline = super::run::pipeline_of(args)?;
    let findings = tickflow::check::findings(&pipeline);
    for finding in &findings {
        println!("{finding}");
    }
    let failed = findings.iter().filter(|f| f.outcome.is_err()).count();
    if failed > 0 {
        bail!("{failed} of {} components FAILED", findings.len());
    }
    Ok(())
}
