//! Grouping typed rows into `BatchWriteItem` batches, de-duplicated on the full key.

use std::collections::HashMap;

use crate::load::read::keys::{Item, ItemKey};
use crate::load::read::source::RowStart;

/// DynamoDB's limit of requests in one `BatchWriteItem` call.
pub const MAX_BATCH_ITEMS: usize = 25;

/// A row on its way to the table. Its cells are not kept (a copy of every row, for the rare one
/// DynamoDB refuses, would cost every load): a report lists such a row with its typed values.
#[derive(Debug, Clone)]
pub struct PendingItem {
    pub line: u64,
    /// Where its row starts, for handing over from it when it cannot be written in time.
    pub start: RowStart,
    pub key: ItemKey,
    pub item: Item,
}

/// Fills batches of up to 25 distinct keys. DynamoDB refuses a whole call when two requests share a
/// key, so a repeated key replaces the earlier row in place (the last row wins) and is counted.
#[derive(Debug, Default)]
pub struct BatchBuilder {
    items: Vec<PendingItem>,
    positions: HashMap<ItemKey, usize>,
    collapsed: u64,
}

impl BatchBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a row; returns a full batch when one is ready.
    pub fn push(&mut self, pending: PendingItem) -> Option<Vec<PendingItem>> {
        if let Some(&at) = self.positions.get(&pending.key) {
            self.items[at] = pending;
            self.collapsed += 1;
            return None;
        }
        self.positions.insert(pending.key.clone(), self.items.len());
        self.items.push(pending);
        (self.items.len() == MAX_BATCH_ITEMS).then(|| self.take())
    }

    /// The partly filled batch, if any.
    pub fn flush(&mut self) -> Option<Vec<PendingItem>> {
        (!self.items.is_empty()).then(|| self.take())
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Rows replaced by a later row with the same key.
    pub fn duplicates_collapsed(&self) -> u64 {
        self.collapsed
    }

    fn take(&mut self) -> Vec<PendingItem> {
        self.positions.clear();
        std::mem::replace(&mut self.items, Vec::with_capacity(MAX_BATCH_ITEMS))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::read::keys::KeyValue;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashSet;

    fn row(line: u64, pk: &str, sk: &str) -> PendingItem {
        PendingItem {
            line,
            start: RowStart { offset: 0, line },
            key: ItemKey {
                partition: KeyValue::S(pk.into()),
                sort: Some(KeyValue::S(sk.into())),
            },
            item: Item::from([("line".to_string(), AttributeValue::N(line.to_string()))]),
        }
    }

    #[test]
    fn batches_hold_twenty_five() {
        let mut b = BatchBuilder::new();
        let mut full = vec![];
        for i in 0..60 {
            full.extend(b.push(row(i, &i.to_string(), "1")));
        }
        assert_eq!(full.len(), 2);
        assert!(full.iter().all(|batch| batch.len() == 25));
        assert_eq!(b.flush().unwrap().len(), 10);
        assert!(b.flush().is_none());
    }

    #[test]
    fn same_full_key_collapses_and_last_row_wins() {
        let mut b = BatchBuilder::new();
        assert!(b.push(row(2, "a", "1")).is_none());
        assert!(b.push(row(3, "a", "2")).is_none()); // same partition, other sort key: distinct
        assert!(b.push(row(4, "a", "1")).is_none());
        let batch = b.flush().unwrap();
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].line, 4, "the later row replaced the earlier one");
        assert_eq!(batch[1].line, 3);
        assert_eq!(b.duplicates_collapsed(), 1);
    }

    #[test]
    fn no_batch_ever_contains_a_key_twice() {
        // Keys repeat every 7 rows; every batch the builder emits must still be valid for DynamoDB.
        let mut b = BatchBuilder::new();
        let mut batches = vec![];
        for i in 0..500u64 {
            batches.extend(b.push(row(i, &(i % 7).to_string(), &(i % 3).to_string())));
            if i % 40 == 0 {
                batches.extend(b.flush());
            }
        }
        batches.extend(b.flush());
        for batch in &batches {
            let keys: HashSet<_> = batch.iter().map(|p| &p.key).collect();
            assert_eq!(keys.len(), batch.len());
            assert!(batch.len() <= MAX_BATCH_ITEMS);
        }
        let kept: usize = batches.iter().map(Vec::len).sum();
        assert_eq!(kept as u64 + b.duplicates_collapsed(), 500);
    }
}
