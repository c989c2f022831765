//! The mapping from a CSV file `symbol,sector[,valid_from]`, read again when it changes.
//!
//! How it works:
//! 1. Every `read` looks at the file's length and modification time; when they differ from
//!    those of the last file read, the whole file is read and parsed.
//! 2. A file that does not parse while it is being rewritten must not be applied half-way: a
//!    file that fails to parse after a good one is logged and skipped (the previous mapping
//!    stays) until it changes again; only the first read fails the run, since there is no
//!    mapping to keep.
//! 3. `valid_from` is Unix seconds (integer or fractional) or RFC 3339; empty means since
//!    always. Blank lines are skipped; a symbol may appear once per `valid_from`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::SystemTime;

use super::{Mapping, ReferenceError, ReferenceReader};
use crate::event::EventTime;

/// A reference CSV file.
pub struct FileReference {
    path: PathBuf,
    shown: String,
    /// Length and modification time of the file last read, good or not.
    seen: Option<(u64, SystemTime)>,
    /// Whether a good mapping was handed over yet.
    read_once: bool,
}

impl FileReference {
    pub fn new(path: PathBuf) -> Self {
        FileReference {
            shown: format!("file:{}", path.display()),
            path,
            seen: None,
            read_once: false,
        }
    }

    fn error(&self, message: String) -> ReferenceError {
        ReferenceError::Unusable {
            source_name: self.shown.clone(),
            message,
        }
    }
}

impl ReferenceReader for FileReference {
    fn read(&mut self) -> Result<Option<Vec<Mapping>>, ReferenceError> {
        let stamp = std::fs::metadata(&self.path)
            .and_then(|m| Ok((m.len(), m.modified()?)))
            .map_err(|e| self.error(format!("cannot read it: {e}")));
        let stamp = match stamp {
            Ok(stamp) => stamp,
            // A file replaced by rename can be missing for an instant: keep the mapping.
            Err(e) if self.read_once => {
                tracing::warn!(error = %e, "reference file unreadable; keeping the previous mapping");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if self.seen == Some(stamp) {
            return Ok(None);
        }
        self.seen = Some(stamp);
        let parsed = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read it: {e}"))
            .and_then(|text| parse_csv(&text));
        match parsed {
            Ok(rows) => {
                self.read_once = true;
                Ok(Some(rows))
            }
            Err(message) if self.read_once => {
                tracing::warn!(reference = %self.shown, %message, "reference file does not parse; keeping the previous mapping until it changes again");
                Ok(None)
            }
            Err(message) => Err(self.error(message)),
        }
    }
}

/// Parses the whole file; an error names the line and what is wrong with it.
pub fn parse_csv(text: &str) -> Result<Vec<Mapping>, String> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, header)) = lines.next() else {
        return Err("empty file: it needs the header symbol,sector[,valid_from]".into());
    };
    let header: Vec<&str> = header.split(',').map(str::trim).collect();
    let with_valid_from = match header.as_slice() {
        ["symbol", "sector"] => false,
        ["symbol", "sector", "valid_from"] => true,
        _ => {
            return Err(format!(
                "line 1: the header is {:?}; it must be symbol,sector or symbol,sector,valid_from",
                header.join(",")
            ))
        }
    };
    let mut rows = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (number, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let (symbol, sector, valid_from) = match (fields.as_slice(), with_valid_from) {
            ([symbol, sector], false) => (*symbol, *sector, ""),
            ([symbol, sector], true) => (*symbol, *sector, ""),
            ([symbol, sector, valid_from], true) => (*symbol, *sector, *valid_from),
            _ => {
                return Err(format!(
                    "line {number}: {} fields where the header has {}",
                    fields.len(),
                    header.len()
                ))
            }
        };
        if symbol.is_empty() || sector.is_empty() {
            return Err(format!(
                "line {number}: the symbol and the sector must not be empty"
            ));
        }
        let valid_from =
            parse_valid_from(valid_from).map_err(|e| format!("line {number}: valid_from {e}"))?;
        if !keys.insert((symbol.to_string(), valid_from)) {
            return Err(format!(
                "line {number}: {symbol} is given a second sector for the same valid_from"
            ));
        }
        rows.insert(Mapping {
            symbol: symbol.to_string(),
            sector: sector.to_string(),
            valid_from,
        });
    }
    Ok(rows.into_iter().collect())
}

/// Empty: since always; otherwise Unix seconds or RFC 3339.
fn parse_valid_from(text: &str) -> Result<Option<EventTime>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return EventTime::from_unix_seconds(seconds)
            .map(Some)
            .map_err(|e| format!("{text:?}: {e}"));
    }
    EventTime::parse_iso8601(text)
        .map(Some)
        .map_err(|e| format!("{text:?} is neither Unix seconds nor RFC 3339: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(symbol: &str, sector: &str, valid_from: Option<u64>) -> Mapping {
        Mapping {
            symbol: symbol.into(),
            sector: sector.into(),
            valid_from: valid_from.map(EventTime),
        }
    }

    #[test]
    fn reads_both_headers_and_both_time_forms() {
        let rows = parse_csv("symbol,sector\nAAPL,tech\n\nXOM,energy\n").unwrap();
        assert_eq!(
            rows,
            vec![
                mapping("AAPL", "tech", None),
                mapping("XOM", "energy", None)
            ]
        );
        let rows = parse_csv(
            "symbol,sector,valid_from\nAAPL,tech,\nAAPL,energy,1763631000\nXOM,energy,2025-11-20T09:30:00Z\n",
        )
        .unwrap();
        assert_eq!(
            rows,
            vec![
                mapping("AAPL", "energy", Some(1_763_631_000_000)),
                mapping("AAPL", "tech", None),
                mapping("XOM", "energy", Some(1_763_631_000_000)),
            ]
        );
    }

    #[test]
    fn names_the_line_and_what_is_wrong() {
        for (text, says) in [
            ("", "empty file"),
            ("symbol,industry\n", "line 1: the header"),
            ("symbol,sector\nAAPL\n", "line 2: 1 fields"),
            ("symbol,sector\nAAPL,tech,5\n", "line 2: 3 fields"),
            ("symbol,sector\n,tech\n", "line 2: the symbol"),
            (
                "symbol,sector,valid_from\nA,x,soon\n",
                "line 2: valid_from \"soon\"",
            ),
            (
                "symbol,sector,valid_from\nA,x,5\nA,y,5\n",
                "line 3: A is given a second",
            ),
        ] {
            let error = parse_csv(text).unwrap_err();
            assert!(error.contains(says), "{text:?}: {error}");
        }
    }

    #[test]
    fn keeps_the_last_good_mapping_while_a_rewrite_does_not_parse() {
        let dir = std::env::temp_dir().join(format!("tickflow-ref-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sectors.csv");
        std::fs::write(&path, "symbol,sector\nAAPL,tech\n").unwrap();
        let mut reader = FileReference::new(path.clone());
        assert_eq!(
            reader.read().unwrap(),
            Some(vec![mapping("AAPL", "tech", None)])
        );
        assert_eq!(reader.read().unwrap(), None, "unchanged");
        std::fs::write(&path, "symbol,sector\nAAPL,tech\nXOM").unwrap();
        assert_eq!(reader.read().unwrap(), None, "half written: kept");
        std::fs::write(&path, "symbol,sector\nAAPL,tech\nXOM,energy\n").unwrap();
        assert_eq!(
            reader.read().unwrap(),
            Some(vec![
                mapping("AAPL", "tech", None),
                mapping("XOM", "energy", None)
            ])
        );
        std::fs::remove_dir_all(&dir).unwrap();
        let mut missing = FileReference::new(dir.join("none.csv"));
        let error = missing.read().unwrap_err().to_string();
        assert!(error.contains("none.csv: cannot read it"), "{error}");
    }
}
