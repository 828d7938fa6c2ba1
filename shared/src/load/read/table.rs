//! The table being loaded, read once at cold start: its primary key and every secondary index's
//! key attributes, with their types.

use aws_sdk_dynamodb::types::{BillingMode, KeySchemaElement, KeyType, TableDescription};

use crate::aws_error::describe;
use crate::load::read::keys::{IndexKey, KeyAttribute, KeyKind, KeyRole, KeySchema};

/// The table being loaded, as `DescribeTable` reports it.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub keys: KeySchema,
    /// The write capacity it had at cold start: `None` for on-demand.
    pub write_units: Option<i64>,
}

impl TableInfo {
    pub async fn describe(
        dynamodb: &aws_sdk_dynamodb::Client,
        name: &str,
    ) -> Result<TableInfo, String> {
        let output = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| format!("DescribeTable {name}: {}", describe(&e)))?;
        let table = output
            .table()
            .ok_or_else(|| format!("DescribeTable {name} returned no table"))?;
        let on_demand = (table.billing_mode_summary())
            .and_then(|b| b.billing_mode())
            .is_some_and(|m| *m == BillingMode::PayPerRequest);
        // An on-demand table reports 0 provisioned units.
        let units = (table.provisioned_throughput()).and_then(|p| p.write_capacity_units());
        Ok(TableInfo {
            name: name.to_string(),
            keys: key_schema(name, table)?,
            write_units: units.filter(|&u| u > 0 && !on_demand),
        })
    }
}

/// The primary key and the indexes' keys of a described table.
pub fn key_schema(name: &str, table: &TableDescription) -> Result<KeySchema, String> {
    let attribute = |element: &KeySchemaElement| {
        let attr = element.attribute_name();
        let kind = (table.attribute_definitions().iter())
            .find(|d| d.attribute_name() == attr)
            .and_then(|d| KeyKind::from_scalar(d.attribute_type()))
            .ok_or_else(|| format!("table {name} has no type for key attribute {attr}"))?;
        let role = match element.key_type() {
            KeyType::Hash => KeyRole::Partition,
            _ => KeyRole::Sort,
        };
        Ok::<_, String>((
            KeyAttribute {
                name: attr.to_string(),
                kind,
            },
            role,
        ))
    };
    let mut partition = None;
    let mut sort = None;
    for element in table.key_schema() {
        match attribute(element)? {
            (attr, KeyRole::Partition) => partition = Some(attr),
            (attr, KeyRole::Sort) => sort = Some(attr),
        }
    }
    let global = (table.global_secondary_indexes().iter())
        .map(|i| (i.index_name().unwrap_or_default(), i.key_schema()));
    let local = (table.local_secondary_indexes().iter())
        .map(|i| (i.index_name().unwrap_or_default(), i.key_schema()));
    let mut indexes = Vec::new();
    for (index, elements) in global.chain(local) {
        for element in elements {
            let (attribute, role) = attribute(element)?;
            indexes.push(IndexKey {
                index: index.to_string(),
                attribute,
                role,
            });
        }
    }
    Ok(KeySchema {
        partition: partition.ok_or_else(|| format!("table {name} has no partition key"))?,
        sort,
        indexes,
    })
}
