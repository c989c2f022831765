//! Kafka topics for the tests: the broker (`TICKFLOW_TEST_KAFKA`, default `127.0.0.1:9092`),
//! unique topic names, topics created through the admin API, and messages produced with keys
//! and tombstones, each acknowledged.

use std::collections::BTreeMap;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

use super::skip;

pub fn broker() -> Option<String> {
    let b = std::env::var("TICKFLOW_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let reachable = b
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if !reachable {
        skip(&format!(
            "no Kafka broker at {b}; start one (see the README's Testing section)"
        ));
        return None;
    }
    Some(b)
}

pub fn unique_topic(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("tf-{tag}-{}-{nanos}", std::process::id())
}

pub fn client_config(broker: &str, settings: &BTreeMap<String, String>) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", broker);
    for (k, v) in settings {
        c.set(k, v);
    }
    c
}

/// Creates `topic` with `partitions` through the Kafka admin API.
pub fn create_topic(broker: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        client_config(broker, &BTreeMap::new()).create().unwrap();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for result in
        tickflow::source::kafka_block_on(admin.create_topics([&new], &AdminOptions::new())).unwrap()
    {
        result.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// One message: partition, key, value (`None`: a tombstone).
pub type Message<'a> = (i32, &'a [u8], Option<&'a str>);

/// Produces `messages` in order, each acknowledged before this returns.
pub fn produce(
    broker: &str,
    settings: &BTreeMap<String, String>,
    topic: &str,
    messages: &[Message],
) {
    let producer: BaseProducer = client_config(broker, settings)
        .set("linger.ms", "0")
        .create()
        .unwrap();
    for (partition, key, value) in messages {
        let mut record = BaseRecord::<[u8], str>::to(topic)
            .partition(*partition)
            .key(*key);
        if let Some(v) = value {
            record = record.payload(*v);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}
