//! Why a line was not used: the reasons a reject carries, with stable codes for tools.

use std::fmt;

/// The class of a reject; [`RejectKind::code`] is what outputs and metrics carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// The line is longer than the configured limit.
    LineTooLong,
    /// Neither a JSON object nor a Python dict literal.
    Malformed,
    /// A field the record's shape needs is absent.
    MissingField,
    /// A field is present but its value is unusable (wrong type, negative price, bad time).
    InvalidField,
    /// The record has neither a symbol nor a category field.
    UnknownShape,
    /// Older than its partition's watermark when it was read.
    Late,
    /// A line its connection closed in the middle of.
    Truncated,
}

impl RejectKind {
    pub const ALL: [RejectKind; 8] = [
        RejectKind::InvalidUtf8,
        RejectKind::LineTooLong,
        RejectKind::Malformed,
        RejectKind::MissingField,
        RejectKind::InvalidField,
        RejectKind::UnknownShape,
        RejectKind::Late,
        RejectKind::Truncated,
    ];

    /// The stable snake_case code written to reject outputs.
    pub fn code(self) -> &'static str {
        match self {
            RejectKind::InvalidUtf8 => "invalid_utf8",
            RejectKind::LineTooLong => "line_too_long",
            RejectKind::Malformed => "malformed",
            RejectKind::MissingField => "missing_field",
            RejectKind::InvalidField => "invalid_field",
            RejectKind::UnknownShape => "unknown_shape",
            RejectKind::Late => "late",
            RejectKind::Truncated => "truncated",
        }
    }
}

/// A reject's class and a human explanation of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub kind: RejectKind,
    pub detail: String,
}

impl Rejection {
    pub fn new(kind: RejectKind, detail: impl Into<String>) -> Self {
        Rejection {
            kind,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}
