//! Typing CSV rows into DynamoDB items: the header read against the column types and the table's
//! key schema, then each row's cells typed, blank cells handled, and what DynamoDB would refuse
//! checked before it is sent: key lengths, index keys' types and blanks, the item's size.
//!
//! Longer than 500 lines because half of it is the typing cases its tests check, beside the code.

use std::fmt;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::base64;
use csv_async::ByteRecord;

use crate::load::read::columns::{BlankCells, ColumnType, ColumnTypes};
use crate::load::read::item_size::{MAX_ITEM_BYTES, attribute_size, number_size};
use crate::load::read::json_cell::{cell_text, parse_json_cell};
use crate::load::read::keys::{Item, ItemKey, KeyAttribute, KeyRole, KeySchema, KeyValue};
use crate::load::read::number::parse_number;

/// Why a header cannot be loaded at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the file has no header row")]
    Missing,
    #[error("header column {0} is not valid UTF-8")]
    NotUtf8(usize),
    #[error("header column {0} has no name")]
    EmptyName(usize),
    #[error("header names column {0:?} twice")]
    Duplicate(String),
    #[error(
        "header column {0} holds a carriage return alone: the file's lines end with CR only? save \
         it with LF or CRLF line endings"
    )]
    CarriageReturn(usize),
    #[error("header has no column {0:?}, which is a key of the table")]
    MissingKey(String),
}

/// Why one row cannot become an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("expected {expected} columns, found {found}")]
    WrongColumnCount { expected: usize, found: usize },
    #[error("column {column:?} is not valid UTF-8")]
    NotUtf8 { column: String },
    #[error("key column {column:?} is empty")]
    EmptyKey { column: String },
    #[error("column {column:?}: {value:?} is {reason}")]
    BadValue {
        column: String,
        value: String,
        reason: String,
    },
    #[error("item is {size} bytes, over DynamoDB's {MAX_ITEM_BYTES}-byte limit")]
    ItemTooLarge { size: usize },
    #[error("key column {column:?} is {bytes} bytes, over DynamoDB's {max}-byte limit for {what}")]
    KeyTooLong {
        column: String,
        bytes: usize,
        max: usize,
        what: String,
    },
    #[error("column {column:?}, a key of index {index}: {reason}")]
    BadIndexKey {
        column: String,
        index: String,
        reason: String,
    },
}

impl RowError {
    /// What went wrong, and in which column, without the cell's value: rejects in a row of one kind
    /// stop a load (`repeats`), however their values differ.
    pub fn kind(&self) -> String {
        match self {
            RowError::WrongColumnCount { expected, .. } => format!("not {expected} columns"),
            RowError::NotUtf8 { column } => format!("not UTF-8 in {column}"),
            RowError::EmptyKey { column } => format!("empty key {column}"),
            RowError::BadValue { column, .. } => format!("bad value in {column}"),
            RowError::ItemTooLarge { .. } => "item too large".to_string(),
            RowError::KeyTooLong { column, .. } => format!("key too long in {column}"),
            RowError::BadIndexKey { column, index, .. } => {
                format!("bad key of {index} in {column}")
            }
        }
    }

    fn bad(column: &str, value: &str, reason: impl fmt::Display) -> RowError {
        // Keep reports readable when a cell is huge.
        let mut shown: String = value.chars().take(60).collect();
        if shown.len() < value.len() {
            shown.push('…');
        }
        RowError::BadValue {
            column: column.to_string(),
            value: shown,
            reason: reason.to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: ColumnType,
    is_key: bool,
    /// The first index this column is a key of, when it is one and not a primary key.
    index: Option<String>,
    /// The byte limit of the strictest key part the column is, and which part that is.
    key_limit: Option<(usize, String)>,
}

/// A row that became an item.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedRow {
    pub key: ItemKey,
    pub item: Item,
}

/// The typing rules for one file: its header, the table's keys, declared types and blank handling.
#[derive(Debug, Clone)]
pub struct RowSchema {
    header: Vec<String>,
    columns: Vec<Column>,
    partition: usize,
    blanks: BlankCells,
}

impl RowSchema {
    /// Builds the schema from a header row. Names are trimmed; a BOM must already be gone.
    pub fn from_header(
        header: &ByteRecord,
        keys: &KeySchema,
        types: &ColumnTypes,
        blanks: BlankCells,
    ) -> Result<RowSchema, HeaderError> {
        if header.is_empty() {
            return Err(HeaderError::Missing);
        }
        let mut names = Vec::with_capacity(header.len());
        for (i, raw) in header.iter().enumerate() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| HeaderError::NotUtf8(i + 1))?
                .trim();
            if name.is_empty() {
                return Err(HeaderError::EmptyName(i + 1));
            }
            if name.contains('\r') {
                return Err(HeaderError::CarriageReturn(i + 1));
            }
            if names.iter().any(|n| n == name) {
                return Err(HeaderError::Duplicate(name.to_string()));
            }
            names.push(name.to_string());
        }
        RowSchema::from_names(names, keys, types, blanks)
    }

    /// Builds the schema from known column names (a load's later step carries them).
    pub fn from_names(
        names: Vec<String>,
        keys: &KeySchema,
        types: &ColumnTypes,
        blanks: BlankCells,
    ) -> Result<RowSchema, HeaderError> {
        let position = |key: &KeyAttribute| {
            names
                .iter()
                .position(|n| *n == key.name)
                .ok_or_else(|| HeaderError::MissingKey(key.name.clone()))
        };
        let partition = position(&keys.partition)?;
        let sort = keys.sort.as_ref().map(position).transpose()?;
        let columns = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let key = keys.attributes().find(|k| &k.name == name);
                let index_keys: Vec<_> = (keys.indexes.iter())
                    .filter(|k| &k.attribute.name == name)
                    .collect();
                let index_kind = index_keys.first().map(|k| k.attribute.kind);
                // Every key part the column is, with the name a refusal gives it.
                let mut parts: Vec<(KeyRole, String)> = Vec::new();
                if i == partition {
                    parts.push((KeyRole::Partition, "the table's partition key".into()));
                }
                if Some(i) == sort {
                    parts.push((KeyRole::Sort, "the table's sort key".into()));
                }
                parts.extend(index_keys.iter().map(|k| {
                    let part = match k.role {
                        KeyRole::Partition => "partition",
                        KeyRole::Sort => "sort",
                    };
                    (k.role, format!("the {part} key of index {}", k.index))
                }));
                let key_limit = (parts.into_iter())
                    .min_by_key(|(role, _)| role.max_bytes())
                    .map(|(role, what)| (role.max_bytes(), what));
                Column {
                    name: name.clone(),
                    ty: match key.map(|k| k.kind).or(index_kind) {
                        Some(kind) => ColumnType::from(kind),
                        None => types.get(name),
                    },
                    is_key: i == partition || Some(i) == sort,
                    index: match key {
                        Some(_) => None,
                        None => index_keys.first().map(|k| k.index.clone()),
                    },
                    key_limit,
                }
            })
            .collect();
        Ok(RowSchema {
            header: names,
            columns,
            partition,
            blanks,
        })
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The row's key, typing its key cells only (as the table's key schema says, whatever
    /// `COLUMN_TYPES` says): `None` when they do not make a key, and `to_item` will say why.
    pub fn key_of(&self, record: &ByteRecord) -> Option<ItemKey> {
        if record.len() != self.columns.len() {
            return None;
        }
        let (mut partition, mut sort) = (None, None);
        let cells = self.columns.iter().zip(record.iter()).enumerate();
        for (i, (column, raw)) in cells.filter(|(_, (c, _))| c.is_key) {
            let (value, key) = key_value(column, std::str::from_utf8(raw).ok()?).ok()?;
            if let Some((max, what)) = &column.key_limit {
                check_key_length(column, &value.0, *max, what).ok()?;
            }
            if i == self.partition {
                partition = Some(key);
            } else {
                sort = Some(key);
            }
        }
        Some(ItemKey {
            partition: partition?,
            sort,
        })
    }

    /// An item's values as the file's cells, column by column (blank where it has none): how a
    /// row that was typed but not written is listed in a report.
    pub fn cells_of(&self, item: &Item) -> Vec<String> {
        (self.columns.iter())
            .map(|column| item.get(&column.name).map(cell_text).unwrap_or_default())
            .collect()
    }

    /// Types one row. Every failure names the column and the reason.
    pub fn to_item(&self, record: &ByteRecord) -> Result<TypedRow, RowError> {
        if record.len() != self.columns.len() {
            return Err(RowError::WrongColumnCount {
                expected: self.columns.len(),
                found: record.len(),
            });
        }
        let mut item = Item::with_capacity(self.columns.len());
        let mut size = 0;
        let mut partition = None;
        let mut sort = None;
        for (i, (column, raw)) in self.columns.iter().zip(record.iter()).enumerate() {
            let text = std::str::from_utf8(raw).map_err(|_| RowError::NotUtf8 {
                column: column.name.clone(),
            })?;
            let typed = if column.is_key {
                let (value, key) = key_value(column, text)?;
                if i == self.partition {
                    partition = Some(key);
                } else {
                    sort = Some(key);
                }
                Some(value)
            } else if let Some(index) = &column.index {
                index_key_value(column, index, text)?
            } else {
                self.cell_value(column, text)?
            };
            if let (Some((value, _)), Some((max, what))) = (&typed, &column.key_limit) {
                check_key_length(column, value, *max, what)?;
            }
            if let Some((value, value_size)) = typed {
                size += column.name.len() + value_size;
                item.insert(column.name.clone(), value);
            }
        }
        if size > MAX_ITEM_BYTES {
            return Err(RowError::ItemTooLarge { size });
        }
        let partition = partition.ok_or_else(|| RowError::EmptyKey {
            column: self.columns[self.partition].name.clone(),
        })?;
        Ok(TypedRow {
            key: ItemKey { partition, sort },
            item,
        })
    }

    /// A non-key cell: `None` when it is blank and blanks are omitted.
    fn cell_value(
        &self,
        column: &Column,
        text: &str,
    ) -> Result<Option<(AttributeValue, usize)>, RowError> {
        let blank = match column.ty {
            ColumnType::String => text.is_empty(),
            _ => text.trim().is_empty(),
        };
        if blank {
            return Ok(match (self.blanks, column.ty) {
                (BlankCells::Omit, _) => None,
                (BlankCells::EmptyString, ColumnType::String) => {
                    Some((AttributeValue::S(String::new()), 0))
                }
                _ => Some((AttributeValue::Null(true), 1)),
            });
        }
        let value = match column.ty {
            ColumnType::String => AttributeValue::S(text.to_string()),
            ColumnType::Number => {
                let n = parse_number(text).map_err(|e| RowError::bad(&column.name, text, e))?;
                return Ok(Some((
                    AttributeValue::N(n.text),
                    number_size(n.significant_digits),
                )));
            }
            ColumnType::Bool => AttributeValue::Bool(parse_bool(text).ok_or_else(|| {
                RowError::bad(
                    &column.name,
                    text,
                    "not a boolean (true/false, yes/no, 1/0)",
                )
            })?),
            ColumnType::Json => {
                parse_json_cell(text).map_err(|e| RowError::bad(&column.name, text, e))?
            }
            ColumnType::Binary => AttributeValue::B(Blob::new(
                base64::decode(text.trim())
                    .map_err(|_| RowError::bad(&column.name, text, "not base64"))?,
            )),
        };
        let size = attribute_size(&value);
        Ok(Some((value, size)))
    }
}

/// An index key cell: blank is always left out (DynamoDB refuses an empty index key, and an item
/// without the attribute is simply not in the index); anything else must be of the index's type.
fn index_key_value(
    column: &Column,
    index: &str,
    text: &str,
) -> Result<Option<(AttributeValue, usize)>, RowError> {
    let blank = match column.ty {
        ColumnType::String => text.is_empty(),
        _ => text.trim().is_empty(),
    };
    if blank {
        return Ok(None);
    }
    let refused = |e: RowError| RowError::BadIndexKey {
        column: column.name.clone(),
        index: index.to_string(),
        reason: match e {
            RowError::BadValue { value, reason, .. } => format!("{value:?} is {reason}"),
            other => other.to_string(),
        },
    };
    key_value(column, text)
        .map(|(value, _)| Some(value))
        .map_err(refused)
}

/// DynamoDB refuses a string or binary key longer than its part allows.
fn check_key_length(
    column: &Column,
    value: &AttributeValue,
    max: usize,
    what: &str,
) -> Result<(), RowError> {
    let bytes = match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.as_ref().len(),
        _ => return Ok(()),
    };
    if bytes > max {
        return Err(RowError::KeyTooLong {
            column: column.name.clone(),
            bytes,
            max,
            what: what.to_string(),
        });
    }
    Ok(())
}

fn key_value(column: &Column, text: &str) -> Result<((AttributeValue, usize), KeyValue), RowError> {
    let empty = || RowError::EmptyKey {
        column: column.name.clone(),
    };
    if text.is_empty() {
        return Err(empty());
    }
    Ok(match column.ty {
        ColumnType::Number => {
            let n = parse_number(text).map_err(|e| RowError::bad(&column.name, text, e))?;
            let size = number_size(n.significant_digits);
            ((AttributeValue::N(n.text), size), KeyValue::N(n.canonical))
        }
        ColumnType::Binary => {
            let bytes = base64::decode(text.trim())
                .map_err(|_| RowError::bad(&column.name, text, "not base64"))?;
            if bytes.is_empty() {
                return Err(empty());
            }
            let size = bytes.len();
            (
                (AttributeValue::B(Blob::new(bytes.clone())), size),
                KeyValue::B(bytes),
            )
        }
        _ => (
            (AttributeValue::S(text.to_string()), text.len()),
            KeyValue::S(text.to_string()),
        ),
    })
}

/// The usual spellings of a boolean, in any case.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" | "on" => Some(true),
        "false" | "f" | "no" | "n" | "0" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::read::keys::KeyKind;

    fn seed_keys() -> KeySchema {
        KeySchema {
            partition: KeyAttribute {
                name: "order_id".into(),
                kind: KeyKind::S,
            },
            sort: Some(KeyAttribute {
                name: "item_id".into(),
                kind: KeyKind::S,
            }),
            indexes: Vec::new(),
        }
    }

    const SEED_HEADER: &[&str] = &[
        "order_id",
        "item_id",
        "customer_id",
        "product",
        "amount",
        "currency",
        "time_stamp",
        "transaction_date",
    ];

    fn record(fields: &[&str]) -> ByteRecord {
        ByteRecord::from(fields.to_vec())
    }

    fn seed_schema(types: &str, blanks: BlankCells) -> RowSchema {
        RowSchema::from_header(
            &record(SEED_HEADER),
            &seed_keys(),
            &types.parse().unwrap(),
            blanks,
        )
        .unwrap()
    }

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    #[test]
    fn seed_row_is_typed() {
        let schema = seed_schema("amount:N,customer_id:N", BlankCells::Omit);
        let row = schema
            .to_item(&record(&[
                "3801",
                "23",
                "421",
                "Salmon",
                "2756",
                "USD",
                "2020-09-02T03:54:12Z",
                "9-2-2020",
            ]))
            .unwrap();
        assert_eq!(row.item["order_id"], s("3801"));
        assert_eq!(row.item["item_id"], s("23"));
        assert_eq!(row.item["customer_id"], n("421"));
        assert_eq!(row.item["product"], s("Salmon"));
        assert_eq!(row.item["amount"], n("2756"));
        assert_eq!(row.item["transaction_date"], s("9-2-2020"));
        assert_eq!(row.key.to_string(), "(\"3801\", \"23\")");
    }

    #[test]
    fn a_rows_key_is_typed_alone_whatever_its_other_cells_hold() {
        let schema = seed_schema("amount:N", BlankCells::Omit);
        let bad_amount = record(&["3801", "23", "421", "Salmon", "lots", "USD", "t", "d"]);
        assert!(schema.to_item(&bad_amount).is_err());
        let key = schema.key_of(&bad_amount).unwrap();
        assert_eq!(key.to_string(), "(\"3801\", \"23\")");
        // The same key as the whole row's, when the row types.
        let good = record(&["3801", "23", "421", "Salmon", "5", "USD", "t", "d"]);
        assert_eq!(
            schema.key_of(&good),
            Some(schema.to_item(&good).unwrap().key)
        );
        let no_key = record(&["", "23", "421", "Salmon", "5", "USD", "t", "d"]);
        assert_eq!(schema.key_of(&no_key), None);
        assert_eq!(schema.key_of(&record(&["3801"])), None);
    }

    #[test]
    fn declared_type_must_match_the_key_schema() {
        let t: ColumnTypes = "order_id:N".parse().unwrap();
        assert!(t.check_keys(&seed_keys()).unwrap_err().contains("order_id"));
        let ok: ColumnTypes = "order_id:S,amount:N".parse().unwrap();
        assert!(ok.check_keys(&seed_keys()).is_ok());
    }

    #[test]
    fn header_problems_are_named() {
        let keys = seed_keys();
        let types = ColumnTypes::default();
        let err = |fields: &[&str]| {
            RowSchema::from_header(&record(fields), &keys, &types, BlankCells::Omit).unwrap_err()
        };
        assert_eq!(
            err(&["order_id", "product"]),
            HeaderError::MissingKey("item_id".into())
        );
        assert_eq!(
            err(&["order_id", "item_id", "order_id"]),
            HeaderError::Duplicate("order_id".into())
        );
        assert_eq!(err(&["order_id", "", "item_id"]), HeaderError::EmptyName(2));
        // Names are trimmed.
        assert!(
            RowSchema::from_header(
                &record(&[" order_id ", "item_id"]),
                &keys,
                &types,
                BlankCells::Omit
            )
            .is_ok()
        );
    }

    #[test]
    fn wrong_column_count() {
        let schema = seed_schema("", BlankCells::Omit);
        assert_eq!(
            schema.to_item(&record(&["1", "2", "3"])).unwrap_err(),
            RowError::WrongColumnCount {
                expected: 8,
                found: 3
            }
        );
    }

    #[test]
    fn empty_keys_are_rejected() {
        let schema = seed_schema("", BlankCells::Omit);
        let mut row = vec!["", "1", "", "", "", "", "", ""];
        assert_eq!(
            schema.to_item(&record(&row)).unwrap_err(),
            RowError::EmptyKey {
                column: "order_id".into()
            }
        );
        row[0] = "1";
        row[1] = "";
        assert_eq!(
            schema.to_item(&record(&row)).unwrap_err(),
            RowError::EmptyKey {
                column: "item_id".into()
            }
        );
    }

    #[test]
    fn bad_number_names_column_and_value() {
        let schema = seed_schema("amount:N", BlankCells::Omit);
        let err = schema
            .to_item(&record(&["1", "1", "", "", "12,50", "", "", ""]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column \"amount\": \"12,50\" is not a decimal number"
        );
    }

    #[test]
    fn blank_cells_follow_the_policy() {
        let row = ["1", "1", "", "", "", "", "", ""];
        let omit = seed_schema("amount:N", BlankCells::Omit)
            .to_item(&record(&row))
            .unwrap();
        assert_eq!(omit.item.len(), 2);
        let null = seed_schema("amount:N", BlankCells::Null)
            .to_item(&record(&row))
            .unwrap();
        assert_eq!(null.item["product"], AttributeValue::Null(true));
        assert_eq!(null.item["amount"], AttributeValue::Null(true));
        let empty = seed_schema("amount:N", BlankCells::EmptyString)
            .to_item(&record(&row))
            .unwrap();
        assert_eq!(empty.item["product"], s(""));
        assert_eq!(empty.item["amount"], AttributeValue::Null(true));
    }

    #[test]
    fn bool_json_and_binary_columns() {
        let keys = KeySchema {
            partition: KeyAttribute {
                name: "id".into(),
                kind: KeyKind::N,
            },
            sort: None,
            indexes: Vec::new(),
        };
        let schema = RowSchema::from_header(
            &record(&["id", "active", "meta", "blob"]),
            &keys,
            &"active:BOOL,meta:JSON,blob:B".parse().unwrap(),
            BlankCells::Omit,
        )
        .unwrap();
        let row = schema
            .to_item(&record(&["007.0", " Yes ", r#"{"tags":["a"]}"#, "aGk="]))
            .unwrap();
        assert_eq!(row.item["id"], n("007.0"));
        assert_eq!(row.key.partition, KeyValue::N("7E0".into()));
        assert_eq!(row.item["active"], AttributeValue::Bool(true));
        assert!(matches!(row.item["meta"], AttributeValue::M(_)));
        assert_eq!(
            row.item["blob"],
            AttributeValue::B(Blob::new(b"hi".to_vec()))
        );

        for (bad, reason) in [
            (["1", "maybe", "", ""], "not a boolean"),
            (["1", "", "[1,", ""], "invalid JSON"),
            (["1", "", "42", ""], "object or array"),
            (["1", "", "", "!!"], "not base64"),
            (["x", "", "", ""], "not a decimal number"),
        ] {
            let err = schema.to_item(&record(&bad)).unwrap_err().to_string();
            assert!(err.contains(reason), "{bad:?}: {err}");
        }
    }

    #[test]
    fn non_utf8_cell_is_rejected() {
        let schema = seed_schema("", BlankCells::Omit);
        let rec = ByteRecord::from(vec![
            b"1".to_vec(),
            b"1".to_vec(),
            vec![],
            vec![0xff, 0xfe],
            vec![],
            vec![],
            vec![],
            vec![],
        ]);
        assert_eq!(
            schema.to_item(&rec).unwrap_err(),
            RowError::NotUtf8 {
                column: "product".into()
            }
        );
    }

    #[test]
    fn oversized_item_is_rejected() {
        let schema = seed_schema("", BlankCells::Omit);
        let big = "x".repeat(MAX_ITEM_BYTES);
        let err = schema
            .to_item(&record(&["1", "1", "", &big, "", "", "", ""]))
            .unwrap_err();
        assert!(matches!(err, RowError::ItemTooLarge { size } if size > MAX_ITEM_BYTES));
        // Just under the limit is fine.
        let fits = "x".repeat(MAX_ITEM_BYTES - 100);
        assert!(
            schema
                .to_item(&record(&["1", "1", "", &fits, "", "", "", ""]))
                .is_ok()
        );
    }

    #[test]
    fn key_of_an_item_matches_the_rows_key() {
        let schema = seed_schema("", BlankCells::Omit);
        let row = schema
            .to_item(&record(&["a", "b", "", "", "", "", "", ""]))
            .unwrap();
        assert_eq!(seed_keys().key_of(&row.item), Some(row.key));
    }

    #[test]
    fn bools_in_every_spelling() {
        for t in ["true", "TRUE", "t", "Yes", "y", "1", "on"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["false", "F", "no", "N", "0", "OFF"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        assert_eq!(parse_bool("2"), None);
    }
}
