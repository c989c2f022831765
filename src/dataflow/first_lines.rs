//! One early warning per source whose first lines are all rejected: the input is most likely
//! not one record per line (CSV, a JSON array, pretty-printed JSON), and a reject per line
//! alone does not say so.
//!
//! How it works:
//! 1. Only rejects are looked at, never accepted lines, so the per-record path is untouched:
//!    the ingest operator hands each reject among a partition's first [`FIRST_LINES`] lines
//!    to that partition's [`FirstLines`], and after each poll says how many lines it has read.
//! 2. When the first [`FIRST_LINES`] lines of a partition are all rejects (or the partition
//!    ended with every line it had rejected), the lines are described: a JSON array, pretty-
//!    printed JSON, CSV, or else the first reject's reason. The partition then stops watching;
//!    it also stops as soon as one of its first lines was used.
//! 3. A process-wide list of warned sources keeps it to one warning per source, whatever the
//!    number of workers and partitions (file splits, connections, Kafka partitions).

use std::sync::Mutex;

use crate::event::{FieldNames, RejectKind, Rejection};

/// How many of a partition's first lines must all be rejects for the warning.
pub const FIRST_LINES: u64 = 5;

/// Longest excerpt of a line quoted in the warning, in characters.
const EXCERPT: usize = 60;

/// Sources already warned about in this process.
static WARNED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A reject among a partition's first lines.
struct FirstReject {
    line: u64,
    raw: String,
    reason: &'static str,
    detail: String,
}

/// What one partition has seen of its first lines; see the module docs.
#[derive(Default)]
pub struct FirstLines {
    rejects: Vec<FirstReject>,
    /// Decided: warned, or one of the first lines was not a reject.
    settled: bool,
}

impl FirstLines {
    /// Notes a reject at (absolute) `line`; only the first lines are kept, and late records
    /// are records, so they do not count.
    pub fn rejected(&mut self, line: u64, rejection: &Rejection, raw: &str) {
        if self.settled || line > FIRST_LINES || rejection.kind == RejectKind::Late {
            return;
        }
        self.rejects.push(FirstReject {
            line,
            raw: raw.to_string(),
            reason: rejection.kind.code(),
            detail: rejection.detail.clone(),
        });
    }

    /// After a poll whose rejects were all handed to [`FirstLines::rejected`]: `lines_read`
    /// non-blank lines read from this partition so far, `ended` once it has no more. Returns
    /// the warning to print, once per source.
    pub fn check(
        &mut self,
        source: &str,
        lines_read: u64,
        ended: bool,
        names: &FieldNames,
    ) -> Option<String> {
        if self.settled {
            return None;
        }
        let rejected = self.rejects.len() as u64;
        if rejected < lines_read.min(FIRST_LINES) {
            // A first line was used (or was late, or the partition starts further in).
            self.settled = true;
            self.rejects = Vec::new();
            return None;
        }
        if rejected < FIRST_LINES && !(ended && rejected > 0) {
            return None;
        }
        self.settled = true;
        let rejects = std::mem::take(&mut self.rejects);
        let mut warned = WARNED.lock().unwrap_or_else(|p| p.into_inner());
        if warned.iter().any(|s| s == source) {
            return None;
        }
        warned.push(source.to_string());
        Some(warning(source, rejects, names))
    }
}

/// The warning for `source`, whose first lines were all `rejects`.
fn warning(source: &str, mut rejects: Vec<FirstReject>, names: &FieldNames) -> String {
    rejects.sort_by_key(|r| r.line);
    let lines: Vec<&str> = rejects.iter().map(|r| r.raw.as_str()).collect();
    let n = rejects.len();
    let (count, verb, they, look, which) = if n == 1 {
        ("line".to_string(), "was", "it", "looks", "it")
    } else {
        (
            format!("{n} lines"),
            "were all",
            "they",
            "look",
            "the first",
        )
    };
    let looks = match looks_like(&lines) {
        Some(form) => format!("{they} {look} like {form}"),
        None => {
            let first = &rejects[0];
            format!(
                "{which} was rejected as {}: {}",
                first.reason,
                excerpt(&first.detail, 2 * EXCERPT)
            )
        }
    };
    format!(
        "tickflow: warning: the first {count} of {source} {verb} rejected; {looks}; tickflow reads one JSON object or Python dict literal per line, e.g. {}",
        example(names)
    )
}

/// What the first lines of a source look like, when it is a form tickflow recognises.
fn looks_like(lines: &[&str]) -> Option<String> {
    let first = lines.first()?.trim();
    if first.starts_with('[') {
        return Some(format!(
            "a JSON array (first line {:?})",
            excerpt(first, EXCERPT)
        ));
    }
    let pretty = lines.iter().map(|l| l.trim()).any(|l| {
        matches!(l, "{" | "}" | "},")
            || (l.starts_with('"') && l.contains("\":"))
            || (l.starts_with('\'') && l.contains("':"))
    });
    if pretty {
        return Some("pretty-printed JSON (one object spread over several lines)".into());
    }
    if first.contains(',') && !first.starts_with('{') {
        let what = if first.starts_with(|c: char| c.is_ascii_digit()) {
            "first line"
        } else {
            "header"
        };
        return Some(format!("CSV ({what} {:?})", excerpt(first, EXCERPT)));
    }
    None
}

/// One record per line, as the configured field names expect it.
fn example(names: &FieldNames) -> String {
    format!(
        r#"{{"{}": "2025-11-20T09:30:00", "{}": "AAPL", "{}": 153.21, "{}": 1234}}"#,
        names.timestamp, names.symbol, names.price, names.volume
    )
}

/// `text`, cut to `max` characters.
fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed() -> Rejection {
        Rejection::new(RejectKind::Malformed, "not a JSON object")
    }

    /// Feeds `lines` as rejects of one partition, then checks once.
    fn warn(source: &str, lines: &[&str], ended: bool) -> Option<String> {
        let mut first = FirstLines::default();
        for (i, l) in lines.iter().enumerate() {
            first.rejected(i as u64 + 1, &malformed(), l);
        }
        first.check(source, lines.len() as u64, ended, &FieldNames::default())
    }

    #[test]
    fn csv_is_named_with_its_header() {
        let csv = [
            "timestamp,stock_code,price,volume",
            "2025-11-20T09:30:00,AAPL,1.0,1",
            "2025-11-20T09:30:01,AAPL,1.0,1",
            "2025-11-20T09:30:02,AAPL,1.0,1",
            "2025-11-20T09:30:03,AAPL,1.0,1",
        ];
        let w = warn("file:a.csv", &csv, false).expect("a warning");
        assert!(
            w.starts_with("tickflow: warning: the first 5 lines of file:a.csv were all rejected; they look like CSV (header \"timestamp,stock_code,price,volume\"); tickflow reads one JSON object or Python dict literal per line, e.g. {\"timestamp\": "),
            "{w}"
        );
    }

    #[test]
    fn json_arrays_and_pretty_json_are_named() {
        let w = warn(
            "file:arr.json",
            &[r#"[{"timestamp": 1}, {"timestamp": 2}]"#],
            true,
        );
        assert!(w
            .expect("a warning")
            .contains("the first line of file:arr.json was rejected; it looks like a JSON array"),);
        let pretty = [
            "{",
            r#"  "timestamp": 1763631000,"#,
            r#"  "value": 1.0,"#,
            "  \"category\": \"A\"",
            "}",
        ];
        let w = warn("file:pretty.json", &pretty, false).expect("a warning");
        assert!(w.contains("pretty-printed JSON"), "{w}");
    }

    #[test]
    fn once_per_source_and_not_before_five_lines() {
        assert_eq!(warn("file:once", &["a,b", "1,2", "3,4"], false), None);
        assert!(warn("file:once", &["a,b"; 5], false).is_some());
        assert_eq!(warn("file:once", &["a,b"; 5], false), None);
    }

    #[test]
    fn a_used_first_line_settles_without_a_warning() {
        let mut first = FirstLines::default();
        // Line 1 parsed; lines 2 to 6 rejected.
        for line in 2..=6 {
            first.rejected(line, &malformed(), "x,y");
        }
        let names = FieldNames::default();
        assert_eq!(first.check("file:used", 6, true, &names), None);
        let mut late = FirstLines::default();
        for line in 1..=5 {
            let kind = if line == 3 {
                RejectKind::Late
            } else {
                RejectKind::Malformed
            };
            late.rejected(line, &Rejection::new(kind, "x"), "x");
        }
        assert_eq!(late.check("file:late", 5, false, &names), None);
    }

    #[test]
    fn anything_else_gives_the_first_reason() {
        let w = warn("stdin", &["hello"; 5], false).expect("a warning");
        assert!(
            w.contains("the first was rejected as malformed: not a JSON object"),
            "{w}"
        );
    }
}
