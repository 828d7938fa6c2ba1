//! Items sampled at random from the copy and from the source, and looked up by key in the other
//! table: a copy cannot show what it lacks, so keys come from both sides.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, TableDescription};

use crate::aws_error::describe;
use crate::restore::drill::tally::{SampleReport, Tally};
use crate::restore::service::{RestoreError, RestoreService};

type Item = HashMap<String, AttributeValue>;

const EXAMPLES: usize = 10;

impl RestoreService {
    /// Samples up to `size` items from each table and compares them by key with the other.
    pub(crate) async fn sample(
        &self,
        source: &TableDescription,
        copy: &TableDescription,
        size: u32,
    ) -> Result<SampleReport, RestoreError> {
        let keys: Vec<String> = source
            .key_schema()
            .iter()
            .map(|k| k.attribute_name().to_string())
            .collect();
        let (source_name, copy_name) = (
            source.table_name().unwrap_or_default(),
            copy.table_name().unwrap_or_default(),
        );
        let mut examples = Vec::new();
        let from_copy = (self.compare(copy, source_name, &keys, size, "missing in the source"))
            .await
            .map(|(tally, found)| {
                examples.extend(found);
                tally
            })?;
        let from_source = (self.compare(source, copy_name, &keys, size, "missing in the copy"))
            .await
            .map(|(tally, found)| {
                examples.extend(found);
                tally
            })?;
        examples.truncate(EXAMPLES);
        Ok(SampleReport {
            from_copy,
            from_source,
            examples,
        })
    }

    /// Items sampled from `from`, looked up by key in `to`; with the keys that differ.
    async fn compare(
        &self,
        from: &TableDescription,
        to: &str,
        keys: &[String],
        size: u32,
        missing_where: &str,
    ) -> Result<(Tally, Vec<String>), RestoreError> {
        let mut tally = Tally::default();
        let mut examples = Vec::new();
        for item in self.random_items(from, size).await? {
            let key: Item = keys
                .iter()
                .filter_map(|k| item.get(k).map(|v| (k.clone(), v.clone())))
                .collect();
            tally.sampled += 1;
            let note = match self.get_item(to, &key).await? {
                Some(other) if other == item => {
                    tally.matching += 1;
                    continue;
                }
                Some(_) => {
                    tally.changed += 1;
                    "changed"
                }
                None => {
                    tally.missing += 1;
                    missing_where
                }
            };
            if examples.len() < EXAMPLES {
                examples.push(format!("{}: {note}", key_text(&key)));
            }
        }
        Ok((tally, examples))
    }

    /// Up to `size` distinct items at random: one item each from random segments of a parallel
    /// scan cut into about as many segments as the table has items (all of a small table).
    async fn random_items(
        &self,
        table: &TableDescription,
        size: u32,
    ) -> Result<Vec<Item>, RestoreError> {
        let name = table.table_name().unwrap_or_default();
        let count = table.item_count().unwrap_or_default().max(0) as u64;
        let size = u64::from(size);
        if count <= size * 2 {
            return self.first_items(name, size).await;
        }
        let segments = count.min(1_000_000) as i32;
        let mut seen = BTreeSet::new();
        let mut items = Vec::new();
        for _ in 0..size * 4 {
            if items.len() as u64 >= size {
                break;
            }
            let segment = (rand::random::<u32>() % segments as u32) as i32;
            let page = self
                .dynamodb
                .scan()
                .table_name(name)
                .segment(segment)
                .total_segments(segments)
                .limit(1)
                .send()
                .await
                .map_err(|e| RestoreError::Failed(format!("Scan {name}: {}", describe(&e))))?;
            for item in page.items.unwrap_or_default() {
                if seen.insert(format!("{item:?}")) {
                    items.push(item);
                }
            }
        }
        Ok(items)
    }

    async fn first_items(&self, table: &str, size: u64) -> Result<Vec<Item>, RestoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RestoreError::Failed(format!("Scan {table}: {}", describe(&e))))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() && (items.len() as u64) < size => start = Some(key),
                _ => {
                    items.truncate(size as usize);
                    return Ok(items);
                }
            }
        }
    }

    async fn get_item(&self, table: &str, key: &Item) -> Result<Option<Item>, RestoreError> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| RestoreError::Failed(format!("GetItem {table}: {}", describe(&e))))?;
        Ok(out.item)
    }
}

/// `order_id=o7, item_id=1`.
fn key_text(key: &Item) -> String {
    let mut parts: Vec<String> = key
        .iter()
        .map(|(name, value)| {
            let shown = match value {
                AttributeValue::S(s) => s.clone(),
                AttributeValue::N(n) => n.clone(),
                AttributeValue::B(_) => "(binary)".to_string(),
                other => format!("{other:?}"),
            };
            format!("{name}={shown}")
        })
        .collect();
    parts.sort();
    parts.join(", ")
}
