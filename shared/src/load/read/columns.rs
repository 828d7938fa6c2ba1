//! How each column's text becomes an attribute: the declared column types (`COLUMN_TYPES`) and what
//! a blank cell becomes (`BLANK_CELLS`).

use std::collections::HashMap;
use std::str::FromStr;

use crate::load::read::keys::{KeyKind, KeySchema};

/// How a column's text becomes an attribute. Undeclared columns are strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Number,
    Bool,
    /// A JSON object or array, stored as a map or list.
    Json,
    /// Base64 text, stored as binary.
    Binary,
}

impl FromStr for ColumnType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_uppercase().as_str() {
            "S" | "STRING" => Ok(ColumnType::String),
            "N" | "NUMBER" => Ok(ColumnType::Number),
            "BOOL" | "BOOLEAN" => Ok(ColumnType::Bool),
            "JSON" => Ok(ColumnType::Json),
            "B" | "BINARY" => Ok(ColumnType::Binary),
            other => Err(format!(
                "unknown column type {other:?} (use S, N, BOOL, JSON or B)"
            )),
        }
    }
}

/// Declared column types, parsed from `name:TYPE,name:TYPE` (for example `amount:N,active:BOOL`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnTypes(HashMap<String, ColumnType>);

impl FromStr for ColumnTypes {
    type Err = String;
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut types = HashMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, ty) = entry
                .rsplit_once(':')
                .ok_or_else(|| format!("column type {entry:?} must be NAME:TYPE"))?;
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("column type {entry:?} has no column name"));
            }
            let ty = ty.parse().map_err(|e| format!("column {name:?}: {e}"))?;
            if types.insert(name.to_string(), ty).is_some() {
                return Err(format!("column {name:?} is declared twice"));
            }
        }
        Ok(ColumnTypes(types))
    }
}

impl ColumnTypes {
    pub fn get(&self, column: &str) -> ColumnType {
        self.0.get(column).copied().unwrap_or(ColumnType::String)
    }

    pub fn declared(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// A declared type must agree with the table's key schema, its indexes' keys included.
    pub fn check_keys(&self, keys: &KeySchema) -> Result<(), String> {
        for key in keys.attributes() {
            if let Some(&declared) = self.0.get(&key.name)
                && declared != ColumnType::from(key.kind)
            {
                return Err(format!(
                    "column {:?} is a key of type {} in the table, but is declared {declared:?}",
                    key.name,
                    key.kind.as_str()
                ));
            }
        }
        for key in &keys.indexes {
            let attribute = &key.attribute;
            if let Some(&declared) = self.0.get(&attribute.name)
                && declared != ColumnType::from(attribute.kind)
            {
                return Err(format!(
                    "column {:?} is a key of type {} of index {}, but is declared {declared:?}",
                    attribute.name,
                    attribute.kind.as_str(),
                    key.index
                ));
            }
        }
        Ok(())
    }
}

/// What an empty non-key cell becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BlankCells {
    /// The attribute is left out of the item.
    #[default]
    Omit,
    /// The attribute is stored as NULL.
    Null,
    /// The attribute is stored as an empty string (number, bool and JSON columns: NULL).
    EmptyString,
}

impl FromStr for BlankCells {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "omit" => Ok(BlankCells::Omit),
            "null" => Ok(BlankCells::Null),
            "empty" | "empty-string" => Ok(BlankCells::EmptyString),
            other => Err(format!("{other:?} is not omit, null or empty")),
        }
    }
}

impl From<KeyKind> for ColumnType {
    fn from(kind: KeyKind) -> ColumnType {
        match kind {
            KeyKind::S => ColumnType::String,
            KeyKind::N => ColumnType::Number,
            KeyKind::B => ColumnType::Binary,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_parse_and_reject_nonsense() {
        let t: ColumnTypes = " amount:N , active:bool,meta:JSON,blob:B ".parse().unwrap();
        assert_eq!(t.get("amount"), ColumnType::Number);
        assert_eq!(t.get("active"), ColumnType::Bool);
        assert_eq!(t.get("meta"), ColumnType::Json);
        assert_eq!(t.get("blob"), ColumnType::Binary);
        assert_eq!(t.get("other"), ColumnType::String);
        assert!(
            "".parse::<ColumnTypes>()
                .unwrap()
                .declared()
                .next()
                .is_none()
        );
        assert!(
            "amount"
                .parse::<ColumnTypes>()
                .unwrap_err()
                .contains("NAME:TYPE")
        );
        assert!(
            "amount:FLOAT"
                .parse::<ColumnTypes>()
                .unwrap_err()
                .contains("FLOAT")
        );
        assert!(
            "a:N,a:S"
                .parse::<ColumnTypes>()
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            ":N".parse::<ColumnTypes>()
                .unwrap_err()
                .contains("no column name")
        );
    }
}
