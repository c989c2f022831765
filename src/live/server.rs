//! The endpoint's listener and its routes: a thread accepting connections, one short-lived
//! thread per connection (at most [`MAX_CONNECTIONS`] at once).

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use super::http::{read_request, write_response, Request, Response};
use super::{api, assets, LiveView};

/// Connections served at once; more are answered 503 at once, so a crowd of clients cannot
/// pile up threads.
const MAX_CONNECTIONS: usize = 32;
/// A client that sends nothing for this long is dropped.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The address to bind: `PORT` or `:PORT` alone means `127.0.0.1:PORT` (loopback unless told
/// otherwise).
pub fn bind_address(address: &str) -> String {
    let port = address.strip_prefix(':').unwrap_or(address);
    if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
        format!("127.0.0.1:{port}")
    } else {
        address.to_string()
    }
}

/// The address process `offset` of a local cluster serves at: the port moved up by `offset`
/// (`127.0.0.1:9898` gives process 1 `127.0.0.1:9899`); `None` for an address without a port.
pub fn offset_port(address: &str, offset: u16) -> Option<String> {
    let address = bind_address(address);
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse::<u16>().ok()?.checked_add(offset)?;
    Some(format!("{host}:{port}"))
}

/// Serves the live page, `/api/...`, `/metrics`, `/healthz` and `/readyz` until dropped.
pub struct HttpServer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HttpServer {
    pub fn start(address: &str, view: Arc<LiveView>) -> std::io::Result<HttpServer> {
        let listener = TcpListener::bind(bind_address(address))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let open = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::Builder::new()
            .name("tickflow-http".into())
            .spawn(move || {
                while !flag.load(Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &view, &open),
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
            .expect("spawning a thread at startup");
        Ok(HttpServer {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one connection on a thread of its own, or 503 when too many are open.
fn serve(stream: TcpStream, view: &Arc<LiveView>, open: &Arc<AtomicUsize>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    if open.fetch_add(1, Relaxed) >= MAX_CONNECTIONS {
        open.fetch_sub(1, Relaxed);
        let busy = Response::text("503 Service Unavailable", "too many connections\n");
        // Briefly: this runs on the accepting thread.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
        if read_request(&stream).is_some() {
            write_response(&stream, &busy, false);
        }
        return;
    }
    let (view, open) = (view.clone(), open.clone());
    let spawned = std::thread::Builder::new()
        .name("tickflow-http-conn".into())
        .spawn(move || {
            if let Some(request) = read_request(&stream) {
                let head_only = request.method == "HEAD";
                write_response(&stream, &route(&request, &view), head_only);
            } else {
                let bad = Response::text("400 Bad Request", "bad request\n");
                write_response(&stream, &bad, false);
            }
            open.fetch_sub(1, Relaxed);
        });
    if spawned.is_err() {
        tracing::warn!("cannot start a thread for an HTTP connection; dropped it");
    }
}

/// What each path answers. Only `GET` and `HEAD`: nothing here changes the pipeline.
fn route(request: &Request, view: &LiveView) -> Response {
    if request.method != "GET" && request.method != "HEAD" {
        let mut refused = Response::text(
            "405 Method Not Allowed",
            "read-only: only GET and HEAD are served\n",
        );
        refused.allow = true;
        return refused;
    }
    match request.path.as_str() {
        "/metrics" => Response::new(
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            view.metrics.render_prometheus(),
        ),
        "/healthz" => Response::text("200 OK", "ok\n"),
        "/readyz" => match view.readiness() {
            Ok(()) => Response::text("200 OK", "ready\n"),
            Err(why) => Response::text("503 Service Unavailable", format!("not ready: {why}\n")),
        },
        "/api/pipeline" => Response::json(&api::pipeline(view)),
        "/api/rejects" => Response::json(&api::rejects(view)),
        "/api/keys" => Response::json(&api::keys(view)),
        "/api/series" => match api::series(view, request.params("key")) {
            Ok(body) => Response::json(&body),
            Err(why) => Response::text("400 Bad Request", format!("{why}\n")),
        },
        path => assets::asset(path).unwrap_or_else(|| {
            Response::text(
                "404 Not Found",
                "not found; try /, /api/pipeline, /metrics, /healthz or /readyz\n",
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_binds_loopback() {
        assert_eq!(bind_address("9898"), "127.0.0.1:9898");
        assert_eq!(bind_address(":9898"), "127.0.0.1:9898");
        assert_eq!(bind_address("0.0.0.0:9898"), "0.0.0.0:9898");
        assert_eq!(bind_address("[::1]:9898"), "[::1]:9898");
    }

    #[test]
    fn local_cluster_processes_serve_on_consecutive_ports() {
        assert_eq!(offset_port("9898", 1).as_deref(), Some("127.0.0.1:9899"));
        assert_eq!(offset_port("[::1]:9898", 2).as_deref(), Some("[::1]:9900"));
        assert_eq!(offset_port("localhost", 1), None);
        assert_eq!(offset_port("127.0.0.1:65535", 1), None);
    }
}
