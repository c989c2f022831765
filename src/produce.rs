//! `tickflow produce`: synthetic ticks or readings as JSON lines, to stdout or a Kafka topic.

mod kafka;

use std::io::Write;
use std::time::Duration;

use crate::cli::ProduceArgs;
use crate::event::Record;
use crate::source::{
    Generator, GeneratorSpec, Item, KafkaConfig, KafkaOptions, KafkaSourceError, Partition, Poll,
};

/// Why producing stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProduceError {
    #[error("unknown target {0:?}: expected `stdout`, `kafka://BROKER/TOPIC`, `socket://HOST:PORT` or `listen://HOST:PORT`")]
    Target(String),
    #[error("invalid generator settings: {0}")]
    Generator(String),
    #[error("Kafka producer: {0}")]
    Kafka(String),
    #[error(transparent)]
    KafkaStart(#[from] KafkaSourceError),
    #[error("{failed} of {sent} events were not delivered to Kafka topic {topic:?} on {brokers}: {first}; check that the brokers are up and the topic accepts writes")]
    Undelivered {
        brokers: String,
        topic: String,
        sent: u64,
        failed: u64,
        first: String,
    },
    #[error("writing to stdout: {0}")]
    Stdout(std::io::Error),
    #[error("socket: {0}")]
    Socket(String),
}

/// `tickflow produce`'s flags as the settings [`produce`] takes.
impl ProduceArgs {
    /// The generator these flags describe.
    pub fn generator(&self) -> GeneratorSpec {
        GeneratorSpec {
            rate: self.rate,
            event_rate: self.event_rate,
            events: self.events,
            symbols: self.symbols,
            categories: self.categories.clone(),
            seed: self.seed,
            kinds: self.kind,
            start: self.start.clone(),
        }
    }

    /// The Kafka producer's settings these flags describe.
    pub fn kafka(&self) -> KafkaOptions {
        KafkaOptions {
            settings: self.kafka_settings.iter().cloned().collect(),
            connect_timeout: self.kafka_timeout,
            ..KafkaOptions::default()
        }
    }
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
pub fn produce(
    to: &str,
    spec: &GeneratorSpec,
    options: &KafkaOptions,
) -> Result<u64, ProduceError> {
    spec.validate().map_err(ProduceError::Generator)?;
    let mut generator = Generator::new(spec, 0, 1)
        .ok_or_else(|| ProduceError::Generator("no streams to generate".into()))?;
    if to == "stdout" || to == "-" {
        let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
        let mut written = 0u64;
        let result = run(&mut generator, |line, _key| {
            stdout.write_all(line).map_err(ProduceError::Stdout)?;
            written += 1;
            Ok(())
        })
        .and_then(|n| stdout.flush().map(|()| n).map_err(ProduceError::Stdout));
        return match result {
            // The reader went away (`tickflow produce | head`): the end of the stream, not a
            // failure, as for `tickflow run`.
            Err(ProduceError::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                Ok(written)
            }
            other => other,
        };
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
    match to
        .strip_prefix("kafka://")
        .and_then(|rest| KafkaConfig::parse(rest, options))
    {
        Some(k) => kafka::produce(&k, &mut generator),
        None => Err(ProduceError::Target(to.to_string())),
    }
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

/// How often a bounded server (`--events`) looks for clients that have finished.
const FINISHED_POLL: Duration = Duration::from_millis(20);

/// Serves the generated stream to every client that connects, each on its own thread (as the
/// older Python servers did).
///
/// Without `--events` it serves until the process is stopped. With `--events`, once a client
/// has connected, it stops as soon as every client that connected has been sent the events (or
/// has gone), closing the connections; it returns the events sent to all clients together.
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
    // A bounded server must notice finished clients while no one connects.
    let bounded = spec.events.is_some();
    listener
        .set_nonblocking(bounded)
        .map_err(|e| ProduceError::Socket(format!("listen://{address}: {e}")))?;
    let (finished_tx, finished) = std::sync::mpsc::channel::<u64>();
    let (mut serving, mut served, mut total) = (0usize, 0usize, 0u64);
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                serving += 1;
                let spec = spec.clone();
                let finished_tx = finished_tx.clone();
                std::thread::spawn(move || {
                    let sent = serve_client(stream, &peer.to_string(), &spec);
                    let _ = finished_tx.send(sent);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Decided right after finding no client waiting to be accepted.
                if served > 0 && serving == 0 {
                    return Ok(total);
                }
                if let Ok(sent) = finished.recv_timeout(FINISHED_POLL) {
                    serving -= 1;
                    served += 1;
                    total += sent;
                }
            }
            // A connection that failed before it was accepted is that client's problem.
            Err(_) => std::thread::sleep(FINISHED_POLL),
        }
    }
}

/// Sends one client the whole stream; returns how many events it took.
fn serve_client(mut stream: std::net::TcpStream, peer: &str, spec: &GeneratorSpec) -> u64 {
    // Accepted sockets must block, whatever the listener does.
    let _ = stream.set_nonblocking(false);
    // A client that stops reading is dropped after a while instead of held forever.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let Some(mut generator) = Generator::new(spec, 0, 1) else {
        return 0;
    };
    let sent = run(&mut generator, |line, _key| {
        stream
            .write_all(line)
            .map_err(|e| ProduceError::Socket(e.to_string()))
    });
    match sent {
        Ok(n) => {
            eprintln!("tickflow: sent {n} events to {peer}");
            n
        }
        Err(e) => {
            eprintln!("tickflow: client {peer} gone: {e}");
            0
        }
    }
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
