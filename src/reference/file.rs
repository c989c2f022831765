//! The mapping from a CSV file `symbol,sector[,valid_from]`, read again when it changes.

use super::{Mapping, ReferenceError, ReferenceReader};

/// A reference CSV file (not built yet: every read fails).
pub struct FileReference {
    shown: String,
}

impl FileReference {
    pub fn new(path: std::path::PathBuf) -> Self {
        FileReference {
            shown: format!("file:{}", path.display()),
        }
    }
}

impl ReferenceReader for FileReference {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError> {
        Err(ReferenceError::Unusable {
            source_name: self.shown.clone(),
            message: "this kind of reference source is not built yet".into(),
        })
    }
}
