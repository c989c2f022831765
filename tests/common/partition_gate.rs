//! A Kafka-protocol broker of the test's own (tansu) behind `tests/support/partition_gate.py`,
//! for tests of partitions that appear while a topic is read.

use std::net::TcpStream;
use std::time::Duration;

/// A tansu of the test's own behind `tests/support/partition_gate.py`, which hides a topic's
/// higher partitions from Metadata answers until told (tansu cannot add partitions); both
/// killed on drop.
pub struct GatedBroker {
    /// `127.0.0.1:PORT` of the gate, which the broker advertises.
    pub address: String,
    control: std::path::PathBuf,
    children: Vec<std::process::Child>,
}

impl GatedBroker {
    /// Starts both; `None` (said out loud, or a failure under CI) without Python.
    pub fn start(dir: &std::path::Path) -> Option<GatedBroker> {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let py = super::python::python(&[])?;
        let (broker_port, gate_port) = (super::free_port(), super::free_port());
        let control = dir.join("gate");
        std::fs::write(&control, "").unwrap();
        let tansu = Command::new("tansu")
            .arg("broker")
            .arg(format!("--listener-url=tcp://127.0.0.1:{broker_port}"))
            .arg(format!(
                "--advertised-listener-url=tcp://127.0.0.1:{gate_port}"
            ))
            .arg("--storage-engine=memory://tansu/")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu on the PATH (.ci/run installs it)");
        let mut gate = py
            .script("tests/support/partition_gate.py")
            .arg(gate_port.to_string())
            .arg(format!("127.0.0.1:{broker_port}"))
            .arg(&control)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ready = String::new();
        std::io::BufReader::new(gate.stdout.take().unwrap())
            .read_line(&mut ready)
            .unwrap();
        let gated = GatedBroker {
            address: format!("127.0.0.1:{gate_port}"),
            control,
            children: vec![tansu, gate],
        };
        assert_eq!(ready.trim(), "ready");
        let up = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            TcpStream::connect(("127.0.0.1", broker_port)).is_ok()
        });
        assert!(up, "tansu did not start on port {broker_port}");
        Some(gated)
    }

    /// Shows only partitions below `n` of `topic` (`None`: every one).
    pub fn show(&self, topic: &str, n: Option<usize>) {
        let text = n.map(|n| format!("{topic} {n}")).unwrap_or_default();
        std::fs::write(&self.control, text).unwrap();
    }
}

impl Drop for GatedBroker {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
