//! `tickflow bench --drain`: a topic read by bare Kafka consumers, the ceiling for the Kafka source.

use std::time::Instant;

use tickflow::cli::BenchArgs;

/// Drains a topic with one bare consumer per worker thread, partitions assigned as the
/// Kafka source assigns them, and reports messages per second.
pub fn drain_bench(uri: &str, args: &BenchArgs) -> anyhow::Result<()> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::error::KafkaError;
    use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

    let spec = uri
        .strip_prefix("kafka://")
        .and_then(|rest| tickflow::source::KafkaConfig::parse(rest, &Default::default()))
        .ok_or_else(|| anyhow::anyhow!("--drain takes kafka://BROKER/TOPIC"))?;
    let partitions = tickflow::source::list_partitions(&spec)?;
    for &workers in &args.workers {
        let started = Instant::now();
        let threads: Vec<_> = (0..workers)
            .map(|w| {
                // The same spread over threads as the Kafka source's over workers.
                let mine: Vec<_> = partitions
                    .iter()
                    .filter(|tp| {
                        let t = spec.topics.iter().position(|t| *t == tp.topic).unwrap_or(0);
                        tickflow::source::kafka_owner(t, tp.partition, workers) == w
                    })
                    .cloned()
                    .collect();
                let config = tickflow::source::kafka_client_config(&spec.brokers, &spec.options);
                std::thread::spawn(move || -> anyhow::Result<u64> {
                    if mine.is_empty() {
                        return Ok(0);
                    }
                    let consumer: BaseConsumer = config.create()?;
                    let mut list = TopicPartitionList::new();
                    for tp in &mine {
                        list.add_partition_offset(&tp.topic, tp.partition, Offset::Beginning)?;
                    }
                    consumer.assign(&list)?;
                    let (mut count, mut ended) = (0u64, 0usize);
                    while ended < mine.len() {
                        match consumer.poll(std::time::Duration::from_millis(100)) {
                            Some(Ok(_)) => count += 1,
                            Some(Err(KafkaError::PartitionEOF(_))) => ended += 1,
                            Some(Err(e)) => return Err(e.into()),
                            None => {}
                        }
                    }
                    Ok(count)
                })
            })
            .collect();
        let mut total = 0;
        for t in threads {
            total += t
                .join()
                .map_err(|_| anyhow::anyhow!("a drain thread panicked"))??;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "drain {uri}: {workers} consumer(s), {total} messages in {secs:.3} s = {:.0} messages/s",
            total as f64 / secs
        );
    }
    Ok(())
}
