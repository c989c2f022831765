//! The mapping from a PostgreSQL table, read again every poll interval.

use super::{Mapping, ReferenceError, ReferenceReader};

/// A PostgreSQL reference table (not built yet: every read fails).
pub struct PostgresReference {
    shown: String,
}

impl PostgresReference {
    pub fn connect(
        url: &str,
        table: &str,
        poll: std::time::Duration,
    ) -> Result<Self, ReferenceError> {
        Ok(PostgresReference {
            shown: {
                let _ = poll;
                format!("{} table {table}", crate::sink::postgres::redact(url))
            },
        })
    }
}

impl ReferenceReader for PostgresReference {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError> {
        Err(ReferenceError::Unusable {
            source_name: self.shown.clone(),
            message: "this kind of reference source is not built yet".into(),
        })
    }
}
