//! A table's native backups, every page of them: what retention prunes, restores pick from and the
//! watchdog dates.

use aws_sdk_dynamodb::types::BackupTypeFilter;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws_error::describe;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupRecord {
    pub arn: String,
    pub name: String,
    pub created: DateTime<Utc>,
    /// `USER`, `SYSTEM` or `AWS_BACKUP`.
    pub backup_type: String,
    /// `CREATING`, `AVAILABLE` or `DELETED`.
    pub status: String,
}

impl BackupRecord {
    pub fn is_available(&self) -> bool {
        self.status == "AVAILABLE"
    }
}

/// Every backup of `table` of the `kind` asked, all pages (`ListBackups` pages with
/// `ExclusiveStartBackupArn`).
pub async fn list_table_backups(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    kind: BackupTypeFilter,
) -> Result<Vec<BackupRecord>, String> {
    let mut backups = Vec::new();
    let mut start = None;
    loop {
        let page = dynamodb
            .list_backups()
            .table_name(table)
            .backup_type(kind.clone())
            .set_exclusive_start_backup_arn(start)
            .send()
            .await
            .map_err(|e| format!("ListBackups {table}: {}", describe(&e)))?;
        for summary in page.backup_summaries() {
            let (Some(arn), Some(name), Some(created)) = (
                summary.backup_arn(),
                summary.backup_name(),
                summary.backup_creation_date_time(),
            ) else {
                continue;
            };
            let text = |value: Option<&str>| value.unwrap_or_default().to_string();
            backups.push(BackupRecord {
                arn: arn.to_string(),
                name: name.to_string(),
                created: to_chrono(created),
                backup_type: text(summary.backup_type().map(|t| t.as_str())),
                status: text(summary.backup_status().map(|s| s.as_str())),
            });
        }
        match page.last_evaluated_backup_arn {
            Some(arn) => start = Some(arn),
            None => return Ok(backups),
        }
    }
}

pub fn to_chrono(time: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos()).unwrap_or_default()
}
