//! `tickflow produce`: synthetic ticks or readings to stdout, a socket or a Kafka topic.

use tickflow::cli::ProduceArgs;

/// Writes the events `args` describe to their target.
pub fn produce_command(args: ProduceArgs) -> anyhow::Result<()> {
    let n = tickflow::produce::produce(&args.to, &args.generator(), &args.kafka())?;
    eprintln!("tickflow: produced {n} events to {}", args.to);
    Ok(())
}
