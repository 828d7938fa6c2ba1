//! What a restore starts from, checked before anything is created: a backup of the right table that
//! is available, the newest such backup, or a time inside the restorable window.

use aws_sdk_dynamodb::types::{BackupStatus, BackupTypeFilter};
use chrono::{DateTime, Utc};

use crate::aws_error::describe;
use crate::restore::service::{RestoreError, RestoreService};
use crate::table_backups::{list_table_backups, restorable_window};

impl RestoreService {
    /// The backup exists, is `AVAILABLE`, and is a backup of `source`.
    pub(super) async fn check_backup(&self, arn: &str, source: &str) -> Result<(), RestoreError> {
        let described = self
            .dynamodb
            .describe_backup()
            .backup_arn(arn)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_backup_not_found_exception() => {
                    RestoreError::Refused(format!("backup {arn} does not exist"))
                }
                _ => RestoreError::Failed(format!("DescribeBackup {arn}: {}", describe(&e))),
            })?;
        let backup = described.backup_description;
        let status = backup
            .as_ref()
            .and_then(|b| b.backup_details())
            .map(|d| d.backup_status().clone());
        if status != Some(BackupStatus::Available) {
            let status = status.map_or("unknown".to_string(), |s| s.as_str().to_string());
            return Err(RestoreError::Refused(format!(
                "backup {arn} is {status}, not AVAILABLE"
            )));
        }
        let of_table = backup
            .as_ref()
            .and_then(|b| b.source_table_details())
            .map(|d| d.table_name().to_string())
            .unwrap_or_default();
        if of_table != source {
            return Err(RestoreError::Refused(format!(
                "backup {arn} is a backup of {of_table}, not of {source}"
            )));
        }
        Ok(())
    }

    /// AWS Backup can restore (a role to pass), and the recovery point is in the stack's vault,
    /// `COMPLETED`, and of `source`.
    pub(super) async fn check_recovery_point(
        &self,
        arn: &str,
        source: &str,
    ) -> Result<(), RestoreError> {
        if self.settings.restore_role_arn.is_none() {
            return Err(RestoreError::Refused(
                "restoring a recovery point needs RESTORE_ROLE_ARN in the function's \
                 configuration"
                    .into(),
            ));
        }
        let vault = self.settings.backup_vault_name.as_deref().ok_or_else(|| {
            RestoreError::Refused(
                "restoring a recovery point needs BACKUP_VAULT_NAME: the handler restores only \
                 the recovery points of its stack's vault"
                    .into(),
            )
        })?;
        let point = self
            .backup
            .describe_recovery_point()
            .backup_vault_name(vault)
            .recovery_point_arn(arn)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_resource_not_found_exception() => {
                    RestoreError::Refused(format!("recovery point {arn} is not in vault {vault}"))
                }
                _ => RestoreError::Failed(format!("DescribeRecoveryPoint {arn}: {}", describe(&e))),
            })?;
        let status = point
            .status()
            .map_or("unknown".to_string(), |s| s.as_str().to_string());
        if status != "COMPLETED" {
            return Err(RestoreError::Refused(format!(
                "recovery point {arn} is {status}, not COMPLETED"
            )));
        }
        let of = point.resource_arn().unwrap_or_default();
        if !of.ends_with(&format!(":table/{source}")) {
            return Err(RestoreError::Refused(format!(
                "recovery point {arn} is of {of}, not of table {source}"
            )));
        }
        Ok(())
    }

    /// The newest `AVAILABLE` native backup of `source` (any page); AWS Backup's own are restored
    /// through AWS Backup.
    pub(super) async fn latest_backup(&self, source: &str) -> Result<String, RestoreError> {
        let backups = list_table_backups(&self.dynamodb, source, BackupTypeFilter::All)
            .await
            .map_err(RestoreError::Failed)?;
        backups
            .into_iter()
            .filter(|b| b.is_available() && b.backup_type != "AWS_BACKUP")
            .max_by_key(|b| b.created)
            .map(|b| b.arn)
            .ok_or_else(|| RestoreError::Refused(format!("table {source} has no available backup")))
    }

    /// Point-in-time recovery must be on, and `at` inside the restorable window.
    pub(super) async fn check_point_in_time(
        &self,
        source: &str,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), RestoreError> {
        let described = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(source)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(s) if s.is_table_not_found_exception() => {
                    RestoreError::Refused(format!("source table {source} does not exist"))
                }
                _ => RestoreError::Failed(format!(
                    "DescribeContinuousBackups {source}: {}",
                    describe(&e)
                )),
            })?;
        let Some(window) = restorable_window(&described) else {
            return Err(RestoreError::Refused(format!(
                "point-in-time recovery is not enabled on {source}"
            )));
        };
        if let (Some(at), Some(earliest), Some(latest)) = (at, window.earliest, window.latest)
            && (at < earliest || at > latest)
        {
            return Err(RestoreError::Refused(format!(
                "{} is outside {source}'s restorable window, {} to {}",
                at.to_rfc3339(),
                earliest.to_rfc3339(),
                latest.to_rfc3339()
            )));
        }
        Ok(())
    }
}
