//! The fields tickflow reads from a record, their configurable names, and raw values.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use super::layout::same_bytes;
use super::{EventTime, TimestampUnit};

/// A field tickflow understands. Any other key in a record is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Timestamp,
    Symbol,
    Price,
    Volume,
    Value,
    Category,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Timestamp,
        Field::Symbol,
        Field::Price,
        Field::Volume,
        Field::Value,
        Field::Category,
    ];
}

/// The key each [`Field`] has in the input (`symbol` instead of `stock_code`, say), and how a
/// numeric timestamp is read (the spec's `[fields]` section).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FieldNames {
    pub timestamp: String,
    pub symbol: String,
    pub price: String,
    pub volume: String,
    pub value: String,
    pub category: String,
    /// The unit of a numeric timestamp (default `auto`: by magnitude).
    pub timestamp_unit: TimestampUnit,
}

impl Default for FieldNames {
    fn default() -> Self {
        FieldNames {
            timestamp: "timestamp".into(),
            symbol: "stock_code".into(),
            price: "price".into(),
            volume: "volume".into(),
            value: "value".into(),
            category: "category".into(),
            timestamp_unit: TimestampUnit::Auto,
        }
    }
}

impl FieldNames {
    /// The input key of `field`.
    pub fn name(&self, field: Field) -> &str {
        match field {
            Field::Timestamp => &self.timestamp,
            Field::Symbol => &self.symbol,
            Field::Price => &self.price,
            Field::Volume => &self.volume,
            Field::Value => &self.value,
            Field::Category => &self.category,
        }
    }

    /// Which field, if any, an input key names.
    #[inline]
    pub fn lookup(&self, key: &str) -> Option<Field> {
        // Length and first byte first: most keys differ there, without a call to memcmp.
        let (key, first) = (key.as_bytes(), key.as_bytes().first());
        Field::ALL.into_iter().find(|&f| {
            let name = self.name(f).as_bytes();
            name.len() == key.len() && name.first() == first && same_bytes(name, key)
        })
    }

    /// Which field, if any, an input key names, trying the fields from `Field::ALL[next]` on
    /// before those below it: records list their keys in one order line after line, so the
    /// key after a tick's timestamp is most likely the field after it.
    #[inline]
    pub fn lookup_after(&self, key: &str, next: usize) -> Option<Field> {
        let (key, first) = (key.as_bytes(), key.as_bytes().first());
        let is = |f: &Field| {
            let name = self.name(*f).as_bytes();
            name.len() == key.len() && name.first() == first && same_bytes(name, key)
        };
        let (before, after) = Field::ALL.split_at(next.min(Field::ALL.len()));
        let found = after.iter().copied().find(is);
        found.or_else(|| before.iter().copied().find(is))
    }

    /// Two fields may not share one key: the record's shape would be ambiguous.
    pub fn validate(&self) -> Result<(), String> {
        for (i, a) in Field::ALL.iter().enumerate() {
            if self.name(*a).is_empty() {
                return Err(format!("field name for {a:?} is empty"));
            }
            for b in &Field::ALL[i + 1..] {
                if self.name(*a) == self.name(*b) {
                    return Err(format!(
                        "fields {a:?} and {b:?} are both named {:?}",
                        self.name(*a)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A value as the line spelled it, before it is checked against its field's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    /// A Python `datetime.datetime(...)` literal, already resolved.
    Time(EventTime),
    /// A Python `timedelta(...)` literal, in microseconds.
    Delta(i64),
    /// A Python fixed-offset time zone (`timezone.utc`, `timezone(timedelta(hours=8))`): its
    /// offset east of UTC, in microseconds.
    Zone(i64),
    /// A list or an object; never a valid value for a field tickflow reads.
    Nested,
}

impl Scalar<'_> {
    /// How the value is described in a reject message.
    pub fn kind(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "a string",
            Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Null => "null",
            Scalar::Time(_) => "a datetime",
            Scalar::Delta(_) => "a timedelta",
            Scalar::Zone(_) => "a time zone",
            Scalar::Nested => "a list or object",
        }
    }
}

/// The values of the fields tickflow reads, as found in one record.
#[derive(Debug, Default)]
pub struct RawFields<'a> {
    slots: [Option<Scalar<'a>>; 6],
}

impl<'a> RawFields<'a> {
    /// Stores a field's value; `Err` if the record already had it.
    #[inline]
    pub fn set(&mut self, field: Field, value: Scalar<'a>) -> Result<(), Field> {
        let slot = &mut self.slots[field as usize];
        if slot.is_some() {
            return Err(field);
        }
        *slot = Some(value);
        Ok(())
    }

    /// Takes a field's value out, if the record had it.
    #[inline]
    pub fn take(&mut self, field: Field) -> Option<Scalar<'a>> {
        self.slots[field as usize].take()
    }

    /// Whether the record had the field at all.
    #[inline]
    pub fn has(&self, field: Field) -> bool {
        self.slots[field as usize].is_some()
    }
}
