//! The suite's Kafka topics: one per key count, created, filled by `tickflow produce` and
//! deleted at the end.

use super::suite::produce;
use tickflow::source::kafka_block_on as block_on;

fn suite_topic(keys: usize) -> String {
    format!("tickflow-suite-{keys}-{}", std::process::id())
}

/// Creates a 4-partition topic for `keys` and fills it with the suite's ticks; its source URI.
pub fn kafka_topic(
    exe: &std::path::Path,
    broker: &str,
    keys: usize,
    events: u64,
) -> anyhow::Result<String> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    let topic = suite_topic(keys);
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        tickflow::source::kafka_client_config(broker, &Default::default()).create()?;
    let new = NewTopic::new(&topic, 4, TopicReplication::Fixed(1));
    for result in block_on(admin.create_topics([&new], &AdminOptions::new()))? {
        result.map_err(|(t, e)| anyhow::anyhow!("creating topic {t}: {e}"))?;
    }
    let uri = format!("kafka://{broker}/{topic}");
    let status = produce(exe, &uri, keys, events)
        .stdout(std::process::Stdio::null())
        .status()?;
    anyhow::ensure!(
        status.success(),
        "producing the suite's ticks to {uri} failed"
    );
    Ok(uri)
}

/// Deletes the suite's topics (best effort).
pub fn delete_topics(broker: &str, keys: &[usize]) {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let admin: Result<AdminClient<rdkafka::client::DefaultClientContext>, _> =
        tickflow::source::kafka_client_config(broker, &Default::default()).create();
    if let Ok(admin) = admin {
        let names: Vec<String> = keys.iter().map(|&k| suite_topic(k)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let _ = block_on(admin.delete_topics(&names, &AdminOptions::new()));
    }
}
