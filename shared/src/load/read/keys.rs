//! The table's keys: the primary key's attributes and types, the secondary indexes' key attributes,
//! and item keys normalised so that keys DynamoDB considers equal compare equal (what batches
//! de-duplicate on).

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::{AttributeValue, ScalarAttributeType};

use crate::load::read::number::parse_number;

pub type Item = HashMap<String, AttributeValue>;

/// A key attribute's DynamoDB type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    S,
    N,
    B,
}

impl KeyKind {
    pub fn from_scalar(t: &ScalarAttributeType) -> Option<KeyKind> {
        match t {
            ScalarAttributeType::S => Some(KeyKind::S),
            ScalarAttributeType::N => Some(KeyKind::N),
            ScalarAttributeType::B => Some(KeyKind::B),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::S => "S",
            KeyKind::N => "N",
            KeyKind::B => "B",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: String,
    pub kind: KeyKind,
}

/// Which part of a key an attribute is: DynamoDB limits each in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRole {
    Partition,
    Sort,
}

impl KeyRole {
    /// The most bytes a string or binary value may have in this part of a key.
    pub fn max_bytes(self) -> usize {
        match self {
            KeyRole::Partition => 2048,
            KeyRole::Sort => 1024,
        }
    }
}

/// A key attribute of a global or local secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub index: String,
    pub attribute: KeyAttribute,
    pub role: KeyRole,
}

/// The table's primary key and its indexes' keys, as `DescribeTable` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySchema {
    pub partition: KeyAttribute,
    pub sort: Option<KeyAttribute>,
    /// Key attributes of the secondary indexes (an attribute may key several).
    pub indexes: Vec<IndexKey>,
}

impl KeySchema {
    pub fn attributes(&self) -> impl Iterator<Item = &KeyAttribute> {
        std::iter::once(&self.partition).chain(self.sort.as_ref())
    }

    /// The key of an item (as returned in `UnprocessedItems`), if it has its key attributes.
    pub fn key_of(&self, item: &Item) -> Option<ItemKey> {
        let part = |attr: &KeyAttribute| KeyValue::from_attribute(item.get(&attr.name)?);
        Some(ItemKey {
            partition: part(&self.partition)?,
            sort: match &self.sort {
                Some(sort) => Some(part(sort)?),
                None => None,
            },
        })
    }
}

/// One key attribute's value, normalised so that keys DynamoDB considers equal compare equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyValue {
    S(String),
    /// Canonical form of the number (`1.0` and `1` are the same key).
    N(String),
    B(Vec<u8>),
}

impl KeyValue {
    pub fn from_attribute(value: &AttributeValue) -> Option<KeyValue> {
        match value {
            AttributeValue::S(s) => Some(KeyValue::S(s.clone())),
            AttributeValue::N(n) => Some(KeyValue::N(parse_number(n).ok()?.canonical)),
            AttributeValue::B(b) => Some(KeyValue::B(b.as_ref().to_vec())),
            _ => None,
        }
    }
}

impl fmt::Display for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyValue::S(s) => write!(f, "{s:?}"),
            KeyValue::N(n) => write!(f, "{n}"),
            KeyValue::B(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

/// An item's full primary key (partition + sort): what DynamoDB de-duplicates on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ItemKey {
    pub partition: KeyValue,
    pub sort: Option<KeyValue>,
}

impl fmt::Display for ItemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sort {
            Some(sort) => write!(f, "({}, {sort})", self.partition),
            None => write!(f, "({})", self.partition),
        }
    }
}
