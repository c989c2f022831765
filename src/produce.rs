//! `tickflow produce`: synthetic ticks or readings as JSON lines, to stdout or a Kafka topic.

use std::io::Write;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

use crate::event::Record;
use crate::source::{Generator, GeneratorSpec, Item, KafkaOptions, KafkaSpec, Partition, Poll};

/// Why producing stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("unknown target {0:?}: expected `stdout`, `kafka://BROKER/TOPIC`, `socket://HOST:PORT` or `listen://HOST:PORT`")]
    Target(String),
    #[error("invalid generator settings: {0}")]
    Generator(String),
    #[error("Kafka producer: {0}")]
    Kafka(String),
    #[error("writing to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("socket: {0}")]
    Socket(String),
}

/// Appends one record as a JSON line.
pub fn encode_record(record: &Record<'_>, out: &mut Vec<u8>) {
    let mut floats = ryu::Buffer::new();
    match record {
        Record::Tick(t) => {
            out.extend_from_slice(b"{\"timestamp\": \"");
            t.time.write_rfc3339(out);
            out.extend_from_slice(b"\", \"stock_code\": ");
            serde_json::to_writer(&mut *out, t.symbol.as_ref()).expect("writing to a Vec");
            out.extend_from_slice(b", \"price\": ");
            out.extend_from_slice(floats.format_finite(t.price).as_bytes());
            out.extend_from_slice(b", \"volume\": ");
            out.extend_from_slice(itoa::Buffer::new().format(t.volume).as_bytes());
        }
        Record::Reading(r) => {
            out.extend_from_slice(b"{\"timestamp\": ");
            let ms = r.time.millis();
            out.extend_from_slice(format!("{}.{:03}", ms / 1000, ms % 1000).as_bytes());
            out.extend_from_slice(b", \"value\": ");
            out.extend_from_slice(floats.format_finite(r.value).as_bytes());
            out.extend_from_slice(b", \"category\": ");
            serde_json::to_writer(&mut *out, r.category.as_ref()).expect("writing to a Vec");
        }
    }
    out.extend_from_slice(b"}\n");
}

/// Produces the generator's records to `to` until `spec.events` (or forever); returns the count.
pub fn produce(to: &str, spec: &GeneratorSpec, kafka: &KafkaOptions) -> Result<u64, ProduceError> {
    spec.validate().map_err(ProduceError::Generator)?;
    let mut generator = Generator::new(spec, 0, 1)
        .ok_or_else(|| ProduceError::Generator("no streams to generate".into()))?;
    if to == "stdout" || to == "-" {
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let n = run(&mut generator, |line, _key| {
            stdout.write_all(line).map_err(ProduceError::Stdout)
        })?;
        stdout.flush().map_err(ProduceError::Stdout)?;
        return Ok(n);
    }
    if let Some(address) = to.strip_prefix("socket://") {
        let mut stream = connect_with_retry(address)?;
        let n = run(&mut generator, |line, _key| {
            stream
                .write_all(line)
                .map_err(|e| ProduceError::Socket(format!("{to}: {e}")))
        })?;
        return Ok(n);
    }
    if let Some(address) = to.strip_prefix("listen://") {
        return serve(address, spec);
    }
    let Some(k) = to.strip_prefix("kafka://").and_then(KafkaSpec::parse) else {
        return Err(ProduceError::Target(to.to_string()));
    };
    let [topic] = k.topics.as_slice() else {
        return Err(ProduceError::Target(format!(
            "{to} (name exactly one topic)"
        )));
    };
    let mut config = rdkafka::ClientConfig::new();
    config
        .set("bootstrap.servers", &k.brokers)
        // Throughput over latency: batch for up to 5 ms.
        .set("linger.ms", "5");
    for (key, value) in &kafka.settings {
        config.set(key, value);
    }
    let producer: ThreadedProducer<DefaultProducerContext> = config
        .create()
        .map_err(|e| ProduceError::Kafka(e.to_string()))?;
    let result = run(&mut generator, |line, key| {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let mut record = BaseRecord::to(topic).key(key).payload(line);
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                // The local queue is full: wait for the broker to take some.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(ProduceError::Kafka(e.to_string())),
            }
        }
    });
    producer
        .flush(Duration::from_secs(60))
        .map_err(|e| ProduceError::Kafka(format!("flushing: {e}")))?;
    result
}

/// Connects to a collector, retrying with capped backoff for up to 30 s.
fn connect_with_retry(address: &str) -> Result<std::net::TcpStream, ProduceError> {
    let patience = Duration::from_secs(30);
    crate::retry::retry(
        crate::retry::RetryPolicy::for_up_to(patience),
        || std::net::TcpStream::connect(address),
        |_| true,
        |e, _| eprintln!("tickflow: cannot connect to socket://{address} ({e}); retrying"),
    )
    .map_err(|e| ProduceError::Socket(format!("socket://{address}: {}", e.into_inner())))
}

/// Serves the generated stream to every client that connects, each on its own thread (as the
/// older Python servers did); runs until the process is stopped.
fn serve(address: &str, spec: &GeneratorSpec) -> Result<u64, ProduceError> {
    let address = if address.starts_with(':') {
        format!("127.0.0.1{address}")
    } else {
        address.to_string()
    };
    let listener = std::net::TcpListener::bind(&address)
        .map_err(|e| ProduceError::Socket(format!("cannot listen on {address}: {e}")))?;
    eprintln!(
        "tickflow: serving on {}",
        listener
            .local_addr()
            .map_err(|e| ProduceError::Socket(e.to_string()))?
    );
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let spec = spec.clone();
        std::thread::spawn(move || {
            // A client that stops reading is dropped after a while instead of held forever.
            let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
            let peer = stream
                .peer_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            let Some(mut generator) = Generator::new(&spec, 0, 1) else {
                return;
            };
            let sent = run(&mut generator, |line, _key| {
                stream
                    .write_all(line)
                    .map_err(|e| ProduceError::Socket(e.to_string()))
            });
            match sent {
                Ok(n) => eprintln!("tickflow: sent {n} events to {peer}"),
                Err(e) => eprintln!("tickflow: client {peer} gone: {e}"),
            }
        });
    }
    Ok(0)
}

fn run(
    generator: &mut Generator,
    mut send: impl FnMut(&[u8], &str) -> Result<(), ProduceError>,
) -> Result<u64, ProduceError> {
    let mut line = Vec::with_capacity(128);
    let mut count = 0u64;
    let mut failed = None;
    loop {
        let poll = generator.poll(&mut |item| {
            if failed.is_some() {
                return;
            }
            if let Item::Record(record, _) = item {
                line.clear();
                encode_record(&record, &mut line);
                let key = match &record {
                    Record::Tick(t) => t.symbol.as_ref(),
                    Record::Reading(r) => r.category.as_ref(),
                };
                match send(&line, key) {
                    Ok(()) => count += 1,
                    Err(e) => failed = Some(e),
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        match poll {
            Poll::Ready => {}
            Poll::Pending(wait) => std::thread::sleep(wait),
            Poll::Done => return Ok(count),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse_line, EventTime, FieldNames, Reading, Tick};

    #[test]
    fn encoded_records_parse_back() {
        let names = FieldNames::default();
        for record in [
            Record::Tick(Tick {
                time: EventTime(1_763_631_000_123),
                symbol: "SYM001".into(),
                price: 153.21,
                volume: 1234,
            }),
            Record::Reading(Reading {
                time: EventTime(1_763_631_000_005),
                category: "B".into(),
                value: 42.1,
            }),
        ] {
            let mut line = Vec::new();
            encode_record(&record, &mut line);
            let parsed = parse_line(line.strip_suffix(b"\n").unwrap(), &names).unwrap();
            assert_eq!(parsed, record);
        }
    }
}
