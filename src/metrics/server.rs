//! The HTTP endpoint: Prometheus `/metrics` and `/healthz`, served from a thread of its own.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use super::Metrics;

/// Serves `/metrics` (Prometheus text) and `/healthz` on `address` until dropped.
pub struct MetricsServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MetricsServer {
    pub fn start(address: &str, metrics: Arc<Metrics>) -> std::io::Result<MetricsServer> {
        let listener = std::net::TcpListener::bind(address)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("tickflow-metrics".into())
            .spawn(move || {
                while !flag.load(Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => answer(stream, &metrics),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .expect("spawning a thread at startup");
        Ok(MetricsServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one HTTP request; anything malformed gets a 400, unknown paths a 404.
fn answer(mut stream: std::net::TcpStream, metrics: &Metrics) {
    use std::io::{BufRead, BufReader};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, body) = match path {
        "/metrics" => ("200 OK", metrics.render_prometheus()),
        "/healthz" => ("200 OK", "ok\n".to_string()),
        "" => ("400 Bad Request", "bad request\n".to_string()),
        _ => ("404 Not Found", "try /metrics or /healthz\n".to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
