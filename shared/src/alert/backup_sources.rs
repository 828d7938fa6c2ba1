//! What the watchdog reads for one table: the newest backup of each expected source and the state
//! of point-in-time recovery. A failure reading one source is that source's verdict ("could not
//! check"), never the run's: every other source and table is still checked.

use aws_sdk_backup::types::RecoveryPointStatus;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::BackupTypeFilter;
use chrono::{DateTime, Utc};

use crate::alert::notifier::Notifier;
use crate::alert::watchdog::{BackupSource, Checked, SourceWatch, TableWatch, freshness, pitr};
use crate::aws_error::describe;
use crate::table_backups::{list_table_backups, restorable_window, to_chrono};

impl Notifier {
    /// Every check of one table; a table that cannot be described is reported, not skipped.
    pub(super) async fn watch_table(&self, table: &str, now: DateTime<Utc>) -> TableWatch {
        let expected = &self.settings.expected;
        let check_pitr = self.settings.max_pitr_lag.is_some();
        let described = self
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await;
        let arn = match described {
            Ok(out) => out.table.and_then(|t| t.table_arn).unwrap_or_default(),
            Err(e) if e.code() == Some("ResourceNotFoundException") => {
                return TableWatch::unchecked(
                    table,
                    expected,
                    check_pitr,
                    "the table does not exist",
                );
            }
            Err(e) => {
                let why = format!("DescribeTable: {}", describe(&e));
                return TableWatch::unchecked(table, expected, check_pitr, &why);
            }
        };
        let mut sources = Vec::new();
        for &source in expected {
            let newest = match source {
                BackupSource::Any => self.newest_of_any(table, &arn).await,
                BackupSource::Native => self.newest_native(table).await,
                BackupSource::OnDemand => self.newest_in_vault(table, &arn, None).await,
                BackupSource::Plan => {
                    let plan = self.settings.plan_id.as_deref();
                    self.newest_in_vault(table, &arn, plan).await
                }
            };
            let result = match newest {
                Ok(newest) => Checked::Done(freshness(newest, self.settings.max_backup_age, now)),
                Err(unchecked) => Checked::Unchecked { unchecked },
            };
            sources.push(SourceWatch { source, result });
        }
        let pitr = match self.settings.max_pitr_lag {
            None => None,
            Some(max_lag) => Some(match self.latest_restorable(table).await {
                Ok(latest) => Checked::Done(pitr(latest, max_lag, now)),
                Err(unchecked) => Checked::Unchecked { unchecked },
            }),
        };
        TableWatch {
            table: table.to_string(),
            sources,
            pitr,
        }
    }

    /// The newest available native backup or completed AWS Backup recovery point, whoever made it.
    async fn newest_of_any(&self, table: &str, arn: &str) -> Result<Option<DateTime<Utc>>, String> {
        let mut newest = list_table_backups(&self.dynamodb, table, BackupTypeFilter::All)
            .await?
            .into_iter()
            .filter(|b| b.is_available())
            .map(|b| b.created)
            .max();
        if self.settings.watch_aws_backup {
            let mut points = self
                .backup
                .list_recovery_points_by_resource()
                .resource_arn(arn)
                .into_paginator()
                .items()
                .send();
            while let Some(point) = points.next().await {
                let point =
                    point.map_err(|e| format!("ListRecoveryPointsByResource: {}", describe(&e)))?;
                if point.status() == Some(&RecoveryPointStatus::Completed)
                    && let Some(created) = point.creation_date()
                {
                    newest = newest.max(Some(to_chrono(created)));
                }
            }
        }
        Ok(newest)
    }

    /// The newest available native backup this stack's trigger took (by its name marker).
    async fn newest_native(&self, table: &str) -> Result<Option<DateTime<Utc>>, String> {
        let Some(ownership) = &self.settings.ownership else {
            return Err("BACKUP_OWNER is not set".into());
        };
        Ok(
            list_table_backups(&self.dynamodb, table, BackupTypeFilter::User)
                .await?
                .into_iter()
                .filter(|b| b.is_available() && ownership.taken_at(&b.name, table).is_some())
                .map(|b| b.created)
                .max(),
        )
    }

    /// The newest completed recovery point of the table in the vault: made by `plan`, or, without
    /// one, on demand (no plan made it).
    async fn newest_in_vault(
        &self,
        table: &str,
        arn: &str,
        plan: Option<&str>,
    ) -> Result<Option<DateTime<Utc>>, String> {
        let Some(vault) = &self.settings.vault else {
            return Err("BACKUP_VAULT_NAME is not set".into());
        };
        let mut points = self
            .backup
            .list_recovery_points_by_backup_vault()
            .backup_vault_name(vault)
            .by_resource_arn(arn)
            .set_by_backup_plan_id(plan.map(str::to_string))
            .into_paginator()
            .items()
            .send();
        let mut newest = None;
        while let Some(point) = points.next().await {
            let point = point.map_err(|e| {
                format!(
                    "ListRecoveryPointsByBackupVault {vault} for {table}: {}",
                    describe(&e)
                )
            })?;
            let made_by = point
                .created_by()
                .and_then(|c| c.backup_plan_id())
                .filter(|id| !id.is_empty());
            let wanted = match plan {
                Some(plan) => made_by == Some(plan),
                None => made_by.is_none(),
            };
            if wanted
                && point.status() == Some(&RecoveryPointStatus::Completed)
                && let Some(created) = point.creation_date()
            {
                newest = newest.max(Some(to_chrono(created)));
            }
        }
        Ok(newest)
    }

    /// The latest restorable time, or `None` when point-in-time recovery is off.
    async fn latest_restorable(&self, table: &str) -> Result<Option<DateTime<Utc>>, String> {
        let out = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("DescribeContinuousBackups: {}", describe(&e)))?;
        // Just enabled, DynamoDB may not report a latest time yet: that is no lag.
        Ok(restorable_window(&out).map(|w| w.latest.unwrap_or_else(Utc::now)))
    }
}
