//! The name of a symbol or a sector inside the rollup.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A symbol's or a sector's name as the rollup's collections hold it.
///
/// * Shared, so the many copies the collections make of a record (batches, merges, join
///   output) copy a pointer, not the text.
/// * Ordered by a hash of the text computed once, then by the text: sorting a batch then
///   compares integers, and reads the text only for equal hashes. The order is total and the
///   same in every worker and process (the hash depends on the text alone), which is all the
///   collections need; where the text's own order matters (two sectors at one `valid_from`)
///   the code compares [`Name::as_str`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Name {
    hash: u64,
    text: Arc<str>,
}

impl Name {
    pub fn new(text: &str) -> Name {
        let mut hasher = rustc_hash::FxHasher::default();
        text.hash(&mut hasher);
        Name {
            hash: hasher.finish(),
            text: text.into(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::new(text)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.text == other.text
    }
}

impl Eq for Name {}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    fn cmp(&self, other: &Self) -> Ordering {
        self.hash
            .cmp(&other.hash)
            .then_with(|| self.text.cmp(&other.text))
    }
}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_is_an_equal_name_and_order_is_total() {
        let (a, b) = (Name::new("AAPL"), Name::new("MSFT"));
        assert_eq!(a, Name::from("AAPL"));
        assert_ne!(a, b);
        assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        assert_eq!(a.as_str(), "AAPL");
        assert_eq!(b.to_string(), "MSFT");
    }
}
