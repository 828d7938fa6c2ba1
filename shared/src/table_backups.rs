//! A table's backups: its native backups, every page of them (what retention prunes, restores pick
//! from and the watchdog dates), and the window point-in-time recovery can restore from.

use aws_sdk_dynamodb::types::{BackupTypeFilter, PointInTimeRecoveryStatus};
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

/// The times point-in-time recovery can restore to; both `None` when DynamoDB does not say (just
/// enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestorableWindow {
    pub earliest: Option<DateTime<Utc>>,
    pub latest: Option<DateTime<Utc>>,
}

/// The restorable window from `DescribeContinuousBackups`, or `None` when point-in-time recovery
/// is not enabled.
pub fn restorable_window(
    out: &aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput,
) -> Option<RestorableWindow> {
    let pitr = out
        .continuous_backups_description()?
        .point_in_time_recovery_description()?;
    (pitr.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled)).then(|| {
        RestorableWindow {
            earliest: pitr.earliest_restorable_date_time().map(to_chrono),
            latest: pitr.latest_restorable_date_time().map(to_chrono),
        }
    })
}

pub fn to_chrono(time: &aws_smithy_types::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(time.secs(), time.subsec_nanos()).unwrap_or_default()
}
