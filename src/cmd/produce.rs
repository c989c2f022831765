//! `tickflow produce`: synthetic ticks or readings to stdout, a socket or a Kafka topic.

use tickflow::cli::ProduceArgs;

/// Writes the events `args` describe to their target.
pub fn produce_command(args: ProduceArgs) -> anyhow::Result<()> {
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
        connect_timeout: args.kafka_timeout,
        ..Default::default()
    };
    let n = tickflow::produce::produce(&args.to, &spec, &kafka)?;
    eprintln!("tickflow: produced {n} events to {}", args.to);
    Ok(())
}
