//! A Kafka-protocol broker of the test's own (tansu) reachable only over TLS, through a
//! `socat` proxy that terminates TLS with the test's server certificate.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::certs::Certs;

/// The broker and its proxy; both killed on drop.
pub struct TlsBroker {
    /// `localhost:PORT` of the TLS proxy, which the broker advertises.
    pub address: String,
    /// The broker's own plaintext port (for creating topics only).
    plain_port: u16,
    children: Vec<Child>,
}

fn has(program: &str) -> bool {
    Command::new(program)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

impl TlsBroker {
    /// Starts tansu on a free port behind socat on another; `None` (said out loud, or a
    /// failure under CI) without tansu or socat.
    pub fn start(certs: &Certs) -> Option<TlsBroker> {
        if !has("socat") || !has("tansu") {
            super::skip(
                "socat and tansu are needed (apt-get install socat; .ci/run installs tansu)",
            );
            return None;
        }
        let (plain_port, tls_port) = (super::free_port(), super::free_port());
        let tansu = Command::new("tansu")
            .arg("broker")
            .arg(format!("--listener-url=tcp://127.0.0.1:{plain_port}"))
            // Clients come back through the proxy, so every connection is TLS.
            .arg(format!(
                "--advertised-listener-url=tcp://localhost:{tls_port}"
            ))
            .arg("--storage-engine=memory://tansu/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting tansu");
        let socat = Command::new("socat")
            .arg(format!(
                "OPENSSL-LISTEN:{tls_port},bind=127.0.0.1,cert={},key={},verify=0,fork,reuseaddr",
                certs.server_cert.display(),
                certs.server_key.display()
            ))
            .arg(format!("TCP:127.0.0.1:{plain_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting socat");
        let broker = TlsBroker {
            address: format!("localhost:{tls_port}"),
            plain_port,
            children: vec![tansu, socat],
        };
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            [plain_port, tls_port]
                .iter()
                .all(|p| TcpStream::connect(("127.0.0.1", *p)).is_ok())
        });
        assert!(up, "tansu or socat did not start");
        Some(broker)
    }

    /// Creates `topic` with `partitions`, straight at the broker.
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new("tansu")
            .args([
                "topic",
                "create",
                topic,
                "--partitions",
                &partitions.to_string(),
            ])
            .arg(format!("--broker=tcp://127.0.0.1:{}", self.plain_port))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tansu topic create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
