//! The mapping from a compacted Kafka topic: key = symbol, a tombstone removes it.

use super::{Mapping, ReferenceError, ReferenceReader};

/// A compacted Kafka reference topic (not built yet: every read fails).
pub struct KafkaReference {
    shown: String,
}

impl KafkaReference {
    pub fn connect(
        brokers: &str,
        topic: &str,
        settings: &std::collections::BTreeMap<String, String>,
    ) -> Result<Self, ReferenceError> {
        Ok(KafkaReference {
            shown: {
                let _ = settings;
                format!("kafka://{brokers}/{topic}")
            },
        })
    }
}

impl ReferenceReader for KafkaReference {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError> {
        Err(ReferenceError::Unusable {
            source_name: self.shown.clone(),
            message: "this kind of reference source is not built yet".into(),
        })
    }
}
