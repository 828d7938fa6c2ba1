//! Checking a restored table: its items counted with a parallel scan that stops before the deadline
//! and goes on in the next invocation, and compared with the best baseline there is.
//!
//! The baseline is DynamoDB's own count (recorded with the backup, or the source's now), which
//! DynamoDB refreshes about every six hours: approximate, and labelled so. Counting the source
//! exactly would read the whole production table.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::service::{RestoreError, RestoreService};
use crate::restore::verification::{Baseline, CountProgress, KeyPart, Verification};

/// A count done, or one to go on with.
pub enum Counted {
    Done(u64),
    Partly(CountProgress),
}

/// At least this many segments; more for big tables (about one per 2 GiB, as DynamoDB suggests).
const MIN_SEGMENTS: u64 = 4;
const MAX_SEGMENTS: u64 = 64;
const BYTES_PER_SEGMENT: u64 = 2 << 30;

impl RestoreService {
    /// Counts the copy (going on from `progress`) and compares it with the baseline; `Err` with
    /// the progress when time ran out first.
    pub(super) async fn verify(
        &self,
        target: &str,
        source: &str,
        progress: Option<CountProgress>,
        until: Instant,
    ) -> Result<Result<Verification, CountProgress>, RestoreError> {
        let restored_items = match self.count(target, progress, until).await? {
            Counted::Done(n) => n,
            Counted::Partly(progress) => return Ok(Err(progress)),
        };
        let described = self.describe(target).await?;
        let backup_arn = described.and_then(|t| {
            t.restore_summary()
                .and_then(|s| s.source_backup_arn().map(str::to_string))
        });
        let (expected_items, compared_with) = match backup_arn {
            Some(arn) => (
                self.backup_item_count(&arn).await?,
                format!("the item count DynamoDB recorded with backup {arn}"),
            ),
            None => {
                let count = self.describe(source).await?.and_then(|t| t.item_count);
                (
                    count.unwrap_or_default().max(0) as u64,
                    format!("the item count DynamoDB gives for {source} now"),
                )
            }
        };
        Ok(Ok(Verification {
            restored_items,
            expected_items,
            compared_with,
            baseline: Baseline::Approximate,
            matches: restored_items == expected_items,
        }))
    }

    async fn backup_item_count(&self, arn: &str) -> Result<u64, RestoreError> {
        let described = (self.dynamodb.describe_backup().backup_arn(arn).send())
            .await
            .map_err(|e| RestoreError::Failed(format!("DescribeBackup {arn}: {}", describe(&e))))?;
        let count = described
            .backup_description
            .and_then(|b| b.source_table_details)
            .and_then(|d| d.item_count);
        Ok(count.unwrap_or_default().max(0) as u64)
    }

    /// Counts `table` with a parallel scan from `progress`, each segment stopping once `until`
    /// passes (after at least one page, so every invocation makes progress).
    pub(super) async fn count(
        &self,
        table: &str,
        progress: Option<CountProgress>,
        until: Instant,
    ) -> Result<Counted, RestoreError> {
        let mut progress = match progress {
            Some(p) => p,
            None => {
                let size = self.describe(table).await?.and_then(|t| t.table_size_bytes);
                let segments = (size.unwrap_or_default().max(0) as u64 / BYTES_PER_SEGMENT)
                    .clamp(MIN_SEGMENTS, MAX_SEGMENTS);
                CountProgress {
                    counted: 0,
                    segments: vec![Some(BTreeMap::new()); segments as usize],
                }
            }
        };
        let total = progress.segments.len() as i32;
        let mut scans = JoinSet::new();
        for (segment, cursor) in progress.segments.iter().enumerate() {
            let Some(cursor) = cursor.clone() else {
                continue;
            };
            let (dynamodb, table) = (self.dynamodb.clone(), table.to_string());
            scans.spawn(async move {
                let counted =
                    count_segment(&dynamodb, &table, segment as i32, total, cursor, until).await;
                (segment, counted)
            });
        }
        while let Some(joined) = scans.join_next().await {
            let (segment, counted) =
                joined.map_err(|e| RestoreError::Failed(format!("counting {table}: {e}")))?;
            let (items, cursor) = counted?;
            progress.counted += items;
            progress.segments[segment] = cursor;
        }
        Ok(match progress.segments.iter().all(Option::is_none) {
            true => Counted::Done(progress.counted),
            false => Counted::Partly(progress),
        })
    }
}

/// One segment's items from `cursor` until it ends (`None`) or `until` passes (where to go on).
async fn count_segment(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    segment: i32,
    total: i32,
    cursor: BTreeMap<String, KeyPart>,
    until: Instant,
) -> Result<(u64, Option<BTreeMap<String, KeyPart>>), RestoreError> {
    let mut start = match cursor.is_empty() {
        true => None,
        false => Some(to_key(&cursor)?),
    };
    let mut items = 0;
    loop {
        let page = dynamodb
            .scan()
            .table_name(table)
            .select(Select::Count)
            .segment(segment)
            .total_segments(total)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| RestoreError::Failed(format!("Scan {table}: {}", describe(&e))))?;
        items += page.count.max(0) as u64;
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => {
                if Instant::now() >= until {
                    return Ok((items, Some(from_key(&key)?)));
                }
                start = Some(key);
            }
            _ => return Ok((items, None)),
        }
    }
}

fn from_key(
    key: &std::collections::HashMap<String, AttributeValue>,
) -> Result<BTreeMap<String, KeyPart>, RestoreError> {
    key.iter()
        .map(|(name, value)| {
            let part = match value {
                AttributeValue::S(s) => KeyPart::S(s.clone()),
                AttributeValue::N(n) => KeyPart::N(n.clone()),
                AttributeValue::B(b) => KeyPart::B(aws_smithy_types::base64::encode(b.as_ref())),
                other => {
                    return Err(RestoreError::Failed(format!(
                        "a scan key attribute {name} of an unexpected type: {other:?}"
                    )));
                }
            };
            Ok((name.clone(), part))
        })
        .collect()
}

fn to_key(
    cursor: &BTreeMap<String, KeyPart>,
) -> Result<std::collections::HashMap<String, AttributeValue>, RestoreError> {
    cursor
        .iter()
        .map(|(name, part)| {
            let value = match part {
                KeyPart::S(s) => AttributeValue::S(s.clone()),
                KeyPart::N(n) => AttributeValue::N(n.clone()),
                KeyPart::B(b) => {
                    AttributeValue::B(Blob::new(aws_smithy_types::base64::decode(b).map_err(
                        |e| RestoreError::Refused(format!("count_progress key {name}: {e}")),
                    )?))
                }
            };
            Ok((name.clone(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_key_survives_a_hand_over() {
        let key = std::collections::HashMap::from([
            ("order_id".to_string(), AttributeValue::S("o-1".into())),
            ("line".to_string(), AttributeValue::N("7".into())),
            (
                "hash".to_string(),
                AttributeValue::B(Blob::new(vec![0, 255, 3])),
            ),
        ]);
        let cursor = from_key(&key).unwrap();
        let progress = CountProgress {
            counted: 12,
            segments: vec![None, Some(cursor)],
        };
        let sent = serde_json::to_value(&progress).unwrap();
        let received: CountProgress = serde_json::from_value(sent).unwrap();
        assert_eq!(received, progress);
        assert_eq!(to_key(received.segments[1].as_ref().unwrap()).unwrap(), key);
        let odd = std::collections::HashMap::from([("x".to_string(), AttributeValue::Bool(true))]);
        assert!(from_key(&odd).is_err());
    }
}
