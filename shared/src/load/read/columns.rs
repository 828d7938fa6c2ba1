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
        let mut types = ColumnTypes::default();
        for (name, ty) in entries(spec)? {
            types.declare(name, ty)?;
        }
        Ok(types)
    }
}

/// The `NAME:TYPE` entries of a spec, in order.
fn entries(spec: &str) -> Result<Vec<(&str, ColumnType)>, String> {
    let mut entries = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, ty) = entry
            .rsplit_once(':')
            .ok_or_else(|| format!("column type {entry:?} must be NAME:TYPE"))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("column type {entry:?} has no column name"));
        }
        let ty = ty.parse().map_err(|e| format!("column {name:?}: {e}"))?;
        entries.push((name, ty));
    }
    Ok(entries)
}

/// Each table's column types, in the order of `tables`, from one spec for them all: `column:TYPE`
/// applies to every table, `table/column:TYPE` to that table only and wins over a general entry for
/// the same column. An entry naming a table not in `tables` is refused, naming it.
pub fn per_table(spec: &str, tables: &[String]) -> Result<Vec<ColumnTypes>, String> {
    let mut general = ColumnTypes::default();
    let mut own = vec![ColumnTypes::default(); tables.len()];
    for (name, ty) in entries(spec)? {
        let Some((table, column)) = name.split_once('/') else {
            general.declare(name, ty)?;
            continue;
        };
        let (table, column) = (table.trim(), column.trim());
        let Some(at) = tables.iter().position(|t| t == table) else {
            return Err(format!(
                "{name:?} names table {table:?}, which is not in TABLE_NAMES ({})",
                quoted_list(tables)
            ));
        };
        if column.is_empty() {
            return Err(format!("column type {name:?} has no column name"));
        }
        own[at]
            .declare(column, ty)
            .map_err(|e| format!("{e} for {table:?}"))?;
    }
    Ok(own
        .into_iter()
        .map(|own| {
            let mut types = general.clone();
            types.0.extend(own.0);
            types
        })
        .collect())
}

/// `"a", "b"`, or `none` for an empty list.
pub fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".into();
    }
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    quoted.join(", ")
}

impl ColumnTypes {
    fn declare(&mut self, column: &str, ty: ColumnType) -> Result<(), String> {
        if self.0.insert(column.to_string(), ty).is_some() {
            return Err(format!("column {column:?} is declared twice"));
        }
        Ok(())
    }

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

    fn tables(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_general_entry_applies_to_every_table() {
        let types = per_table("amount:N", &tables(&["orders", "refunds"])).unwrap();
        assert_eq!(types.len(), 2);
        assert!(types.iter().all(|t| t.get("amount") == ColumnType::Number));
    }

    #[test]
    fn a_table_entry_applies_to_that_table_only() {
        let types = per_table("orders/amount:N", &tables(&["orders", "refunds"])).unwrap();
        assert_eq!(types[0].get("amount"), ColumnType::Number);
        assert_eq!(types[1].get("amount"), ColumnType::String);
    }

    #[test]
    fn a_table_entry_wins_over_a_general_one_whatever_the_order() {
        let names = tables(&["orders", "refunds"]);
        for spec in ["amount:N,refunds/amount:S", "refunds/amount:S,amount:N"] {
            let types = per_table(spec, &names).unwrap();
            assert_eq!(types[0].get("amount"), ColumnType::Number, "{spec}");
            assert_eq!(types[1].get("amount"), ColumnType::String, "{spec}");
        }
    }

    #[test]
    fn entries_of_several_tables_and_spaces() {
        let names = tables(&["orders", "refunds.v2"]);
        let types = per_table(
            " orders / amount : N , refunds.v2/ok:BOOL, meta:JSON",
            &names,
        );
        let types = types.unwrap();
        assert_eq!(types[0].get("amount"), ColumnType::Number);
        assert_eq!(types[0].get("ok"), ColumnType::String);
        assert_eq!(types[1].get("ok"), ColumnType::Bool);
        assert_eq!(types[1].get("amount"), ColumnType::String);
        assert!(types.iter().all(|t| t.get("meta") == ColumnType::Json));
    }

    #[test]
    fn a_column_with_a_slash_is_named_with_its_table() {
        let types = per_table("orders/price/unit:N", &tables(&["orders"])).unwrap();
        assert_eq!(types[0].get("price/unit"), ColumnType::Number);
    }

    #[test]
    fn an_entry_naming_an_unlisted_table_is_refused_naming_it() {
        let err = per_table("customers/amount:N", &tables(&["orders", "refunds"])).unwrap_err();
        assert!(err.contains("\"customers\""), "{err}");
        assert!(
            err.contains("TABLE_NAMES (\"orders\", \"refunds\")"),
            "{err}"
        );
        let err = per_table("orders/amount:N", &[]).unwrap_err();
        assert!(err.contains("not in TABLE_NAMES (none)"), "{err}");
    }

    #[test]
    fn no_tables_take_general_entries_and_nothing_else() {
        assert_eq!(per_table("amount:N", &[]).unwrap(), vec![]);
        assert_eq!(
            per_table("", &tables(&["orders"])).unwrap(),
            vec![ColumnTypes::default()]
        );
    }

    #[test]
    fn per_table_refuses_what_a_single_spec_refuses() {
        let names = tables(&["orders"]);
        for (spec, expect) in [
            ("amount:N,amount:S", "declared twice"),
            (
                "orders/amount:N,orders/amount:S",
                "declared twice for \"orders\"",
            ),
            ("orders/:N", "no column name"),
            ("orders/amount:FLOAT", "FLOAT"),
            ("amount", "NAME:TYPE"),
        ] {
            let err = per_table(spec, &names).unwrap_err();
            assert!(err.contains(expect), "{spec}: {err}");
        }
    }
}
