//! Checking a restored table: its items counted and compared with the best baseline there is.

use serde::Serialize;

use crate::aws_error::describe;
use crate::restore::service::{RestoreError, RestoreService};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub restored_items: u64,
    pub expected_items: u64,
    pub compared_with: String,
    pub matches: bool,
}

impl RestoreService {
    /// Counts the restored items and compares them with the backup's count (or the source's now).
    pub(super) async fn verify(
        &self,
        target: &str,
        source: &str,
    ) -> Result<Verification, RestoreError> {
        let restored_items = self.count(target).await?;
        let backup_arn = self.describe(target).await?.and_then(|t| {
            t.restore_summary()
                .and_then(|s| s.source_backup_arn().map(str::to_string))
        });
        let (expected_items, compared_with) = match backup_arn {
            Some(arn) => {
                let described = self
                    .dynamodb
                    .describe_backup()
                    .backup_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| {
                        RestoreError::Failed(format!("DescribeBackup {arn}: {}", describe(&e)))
                    })?;
                let count = described
                    .backup_description
                    .and_then(|b| b.source_table_details)
                    .and_then(|d| d.item_count)
                    .unwrap_or_default();
                (
                    count.max(0) as u64,
                    format!(
                        "the item count recorded with backup {arn} (DynamoDB refreshes it about \
                         every six hours)"
                    ),
                )
            }
            None => (
                self.count(source).await?,
                format!("the items in {source} now"),
            ),
        };
        Ok(Verification {
            restored_items,
            expected_items,
            compared_with,
            matches: restored_items == expected_items,
        })
    }

    /// Exact item count (a paged `Scan` with `Select=COUNT`).
    async fn count(&self, table: &str) -> Result<u64, RestoreError> {
        let mut total = 0;
        let mut start = None;
        loop {
            let page = self
                .dynamodb
                .scan()
                .table_name(table)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| RestoreError::Failed(format!("Scan {table}: {}", describe(&e))))?;
            total += page.count.max(0) as u64;
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(total),
            }
        }
    }
}
