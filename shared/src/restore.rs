//! Restoring into a new table (native backup, point in time, or AWS Backup recovery point), safely,
//! and finishing what a restore leaves undone: TTL, point-in-time recovery, tags, streams and
//! deletion protection are not restored with the data; they are copied from the source table.

use std::time::Duration;

use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BackupStatus, BackupTypeFilter, BillingMode as DynamoBillingMode,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, SseSpecification, SseType,
    TableDescription, TimeToLiveSpecification, TimeToLiveStatus,
};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::backup::{list_table_backups, to_chrono};
use crate::backup_name::hex;
use crate::function_error::ErrorType;
use crate::restore_request::{
    BillingMode, FinishRequest, RestoreOptions, RestorePlan, RestoreSource, default_target_name,
};

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    /// The table `{}` restores, and the source a `finish` falls back on.
    pub source_table: Option<String>,
    /// The role AWS Backup restores with.
    pub restore_role_arn: Option<String>,
    /// How often to look at a table being created while waiting.
    pub poll_interval: Duration,
}

/// What a restore (or a finish) did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    pub source_table: String,
    pub target_table: String,
    /// `backup <arn>`, `point in time <time>`, `latest restorable time`, `recovery point <arn>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore_job_id: Option<String>,
    /// The new table's status when this invocation ended.
    pub table_status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_reapplied: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_not_reapplied: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// What to do when the restore is still running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub restored_items: u64,
    pub expected_items: u64,
    pub compared_with: String,
    pub matches: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Nothing was started.
    #[error("restore refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(String),
    /// The table was restored, but some settings could not be brought back.
    #[error(
        "{} was restored but these settings were not brought back: {}",
        .0.target_table, .0.settings_not_reapplied.join("; ")
    )]
    SettingsNotRestored(Box<RestoreReport>),
}

impl ErrorType for RestoreError {
    fn error_type(&self) -> &'static str {
        match self {
            RestoreError::Refused(_) => "RestoreRefused",
            RestoreError::Failed(_) => "RestoreFailed",
            RestoreError::SettingsNotRestored(_) => "SettingsNotRestored",
        }
    }
}

const ACTIVE: &str = "ACTIVE";
const NOT_CREATED_YET: &str = "NOT_CREATED_YET";
/// Kept back from the deadline for re-applying settings after waiting.
const FINISH_RESERVE: Duration = Duration::from_secs(30);

pub struct RestoreService {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub backup: aws_sdk_backup::Client,
    pub settings: RestoreSettings,
}

impl RestoreService {
    /// Checks everything, starts the restore, and finishes it here if asked to wait and time allows.
    pub async fn restore(
        &self,
        plan: RestorePlan,
        deadline: Instant,
    ) -> Result<RestoreReport, RestoreError> {
        let source = plan.source_table.clone();
        let target = plan
            .target_table
            .clone()
            .unwrap_or_else(|| default_target_name(&source, Utc::now()));
        if self.describe(&target).await?.is_some() {
            return Err(RestoreError::Refused(format!(
                "table {target} already exists; a restore only ever creates a new table"
            )));
        }
        let mut report = RestoreReport {
            source_table: source.clone(),
            target_table: target.clone(),
            ..RestoreReport::default()
        };
        match &plan.source {
            RestoreSource::Backup(arn) => {
                self.check_backup(arn, &source).await?;
                self.restore_from_backup(arn, &target, &plan.options)
                    .await?;
                report.restored_from = Some(format!("backup {arn}"));
            }
            RestoreSource::LatestBackup => {
                let arn = self.latest_backup(&source).await?;
                self.restore_from_backup(&arn, &target, &plan.options)
                    .await?;
                report.restored_from = Some(format!("backup {arn}"));
            }
            RestoreSource::PointInTime(at) => {
                self.check_point_in_time(&source, Some(*at)).await?;
                self.restore_to_point_in_time(&source, &target, Some(*at), &plan.options)
                    .await?;
                report.restored_from = Some(format!("point in time {}", at.to_rfc3339()));
            }
            RestoreSource::LatestRestorable => {
                self.check_point_in_time(&source, None).await?;
                self.restore_to_point_in_time(&source, &target, None, &plan.options)
                    .await?;
                report.restored_from = Some("latest restorable time".into());
            }
            RestoreSource::RecoveryPoint(arn) => {
                let job = self.start_restore_job(arn, &target, &plan.options).await?;
                report.restore_job_id = Some(job);
                report.restored_from = Some(format!("recovery point {arn}"));
            }
        }
        tracing::info!(%source, %target, from = report.restored_from.as_deref().unwrap_or_default(), "restore started");
        let wait_until = plan
            .options
            .wait
            .then(|| crate::before_deadline(deadline, FINISH_RESERVE));
        report.table_status = self.wait_active(&target, wait_until).await?;
        if report.table_status == ACTIVE && plan.options.wait {
            self.finish_table(&mut report, &plan.options, deadline)
                .await?;
        } else {
            report.next_step = Some(finish_hint(&target, &source));
        }
        Ok(report)
    }

    /// Re-applies the source's settings to a restored table that is `ACTIVE`, and verifies it.
    pub async fn finish(
        &self,
        request: FinishRequest,
        deadline: Instant,
    ) -> Result<RestoreReport, RestoreError> {
        let target = request.target_table.clone();
        let Some(described) = self.describe(&target).await? else {
            return Err(RestoreError::Refused(format!(
                "table {target} does not exist (yet)"
            )));
        };
        let source = request
            .source_table
            .clone()
            .or_else(|| {
                described
                    .restore_summary()
                    .and_then(|s| s.source_table_arn())
                    .and_then(|arn| arn.rsplit_once("table/"))
                    .map(|(_, name)| name.to_string())
            })
            .or_else(|| self.settings.source_table.clone())
            .ok_or_else(|| {
                RestoreError::Refused(format!(
                    "cannot tell which table {target} was restored from: give source_table"
                ))
            })?;
        let mut report = RestoreReport {
            source_table: source.clone(),
            target_table: target.clone(),
            ..RestoreReport::default()
        };
        let wait_until = request
            .options
            .wait
            .then(|| crate::before_deadline(deadline, FINISH_RESERVE));
        report.table_status = self.wait_active(&target, wait_until).await?;
        if report.table_status != ACTIVE {
            return Err(RestoreError::Refused(format!(
                "table {target} is {}, not ACTIVE: send this request again once the restore \
                 completes",
                report.table_status
            )));
        }
        self.finish_table(&mut report, &request.options, deadline)
            .await?;
        Ok(report)
    }

    async fn finish_table(
        &self,
        report: &mut RestoreReport,
        options: &RestoreOptions,
        deadline: Instant,
    ) -> Result<(), RestoreError> {
        self.reapply_settings(report, options.deletion_protection, deadline)
            .await;
        if options.verify {
            report.verification = Some(
                self.verify(&report.target_table, &report.source_table)
                    .await?,
            );
        }
        tracing::info!(
            target = %report.target_table,
            reapplied = ?report.settings_reapplied,
            not_reapplied = ?report.settings_not_reapplied,
            verification = ?report.verification,
            "restore finished"
        );
        if report.settings_not_reapplied.is_empty() {
            Ok(())
        } else {
            Err(RestoreError::SettingsNotRestored(Box::new(report.clone())))
        }
    }

    /// `None` when the table does not exist.
    async fn describe(&self, table: &str) -> Result<Option<TableDescription>, RestoreError> {
        match self
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
        {
            Ok(out) => Ok(out.table),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(RestoreError::Failed(format!(
                "DescribeTable {table}: {}",
                describe(&e)
            ))),
        }
    }

    async fn check_backup(&self, arn: &str, source: &str) -> Result<(), RestoreError> {
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

    /// The newest `AVAILABLE` native backup of `source` (any page); AWS Backup's own are restored
    /// through AWS Backup.
    async fn latest_backup(&self, source: &str) -> Result<String, RestoreError> {
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
    async fn check_point_in_time(
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
        let pitr = described
            .continuous_backups_description
            .and_then(|c| c.point_in_time_recovery_description);
        let enabled = pitr
            .as_ref()
            .and_then(|p| p.point_in_time_recovery_status())
            == Some(&PointInTimeRecoveryStatus::Enabled);
        if !enabled {
            return Err(RestoreError::Refused(format!(
                "point-in-time recovery is not enabled on {source}"
            )));
        }
        if let Some(at) = at {
            let bound = |t: Option<&aws_smithy_types::DateTime>| t.map(to_chrono);
            let earliest = bound(
                pitr.as_ref()
                    .and_then(|p| p.earliest_restorable_date_time()),
            );
            let latest = bound(pitr.as_ref().and_then(|p| p.latest_restorable_date_time()));
            if let (Some(earliest), Some(latest)) = (earliest, latest)
                && (at < earliest || at > latest)
            {
                return Err(RestoreError::Refused(format!(
                    "{} is outside {source}'s restorable window, {} to {}",
                    at.to_rfc3339(),
                    earliest.to_rfc3339(),
                    latest.to_rfc3339()
                )));
            }
        }
        Ok(())
    }

    async fn restore_from_backup(
        &self,
        arn: &str,
        target: &str,
        options: &RestoreOptions,
    ) -> Result<(), RestoreError> {
        self.dynamodb
            .restore_table_from_backup()
            .backup_arn(arn)
            .target_table_name(target)
            .set_billing_mode_override(options.billing_mode.map(billing_mode))
            .set_sse_specification_override(sse(options))
            .send()
            .await
            .map_err(|e| restore_call_error("RestoreTableFromBackup", target, &e))?;
        Ok(())
    }

    async fn restore_to_point_in_time(
        &self,
        source: &str,
        target: &str,
        at: Option<DateTime<Utc>>,
        options: &RestoreOptions,
    ) -> Result<(), RestoreError> {
        let time = at.map(|t| {
            aws_smithy_types::DateTime::from_secs_and_nanos(
                t.timestamp(),
                t.timestamp_subsec_nanos(),
            )
        });
        self.dynamodb
            .restore_table_to_point_in_time()
            .source_table_name(source)
            .target_table_name(target)
            .set_restore_date_time(time)
            .set_use_latest_restorable_time(at.is_none().then_some(true))
            .set_billing_mode_override(options.billing_mode.map(billing_mode))
            .set_sse_specification_override(sse(options))
            .send()
            .await
            .map_err(|e| restore_call_error("RestoreTableToPointInTime", target, &e))?;
        Ok(())
    }

    /// AWS Backup `StartRestoreJob`; returns the job id.
    async fn start_restore_job(
        &self,
        recovery_point: &str,
        target: &str,
        options: &RestoreOptions,
    ) -> Result<String, RestoreError> {
        let role = self.settings.restore_role_arn.as_deref().ok_or_else(|| {
            RestoreError::Refused(
                "restoring a recovery point needs RESTORE_ROLE_ARN in the function's configuration"
                    .into(),
            )
        })?;
        let mut request = self
            .backup
            .start_restore_job()
            .recovery_point_arn(recovery_point)
            .iam_role_arn(role)
            .resource_type("DynamoDB")
            .idempotency_token(hex(&Sha256::digest(
                format!("{recovery_point}\n{target}").as_bytes(),
            )))
            .metadata("targetTableName", target);
        request = match &options.kms_key_arn {
            Some(key) => request
                .metadata("encryptionType", "KMS")
                .metadata("kmsMasterKeyArn", key),
            None => request.metadata("encryptionType", "Default"),
        };
        if let Some(protect) = options.deletion_protection {
            request = request.metadata("deletionProtection", protect.to_string());
        }
        let job = request.send().await.map_err(|e| {
            RestoreError::Failed(format!(
                "StartRestoreJob {recovery_point}: {}",
                describe(&e)
            ))
        })?;
        job.restore_job_id
            .ok_or_else(|| RestoreError::Failed("StartRestoreJob returned no job id".into()))
    }

    /// The table's status once `ACTIVE` or `until` passes (`None`: look once).
    async fn wait_active(
        &self,
        table: &str,
        until: Option<Instant>,
    ) -> Result<String, RestoreError> {
        loop {
            let status = match self.describe(table).await? {
                Some(t) => t
                    .table_status()
                    .map_or("UNKNOWN".to_string(), |s| s.as_str().to_string()),
                None => NOT_CREATED_YET.to_string(),
            };
            let poll = self.settings.poll_interval;
            match until {
                Some(until) if status != ACTIVE && Instant::now() + poll < until => {
                    tokio::time::sleep(poll).await;
                }
                _ => return Ok(status),
            }
        }
    }

    /// Copies TTL, point-in-time recovery, tags, stream settings and deletion protection from the
    /// source table; each one that fails is listed, the others still happen.
    async fn reapply_settings(
        &self,
        report: &mut RestoreReport,
        deletion_protection: Option<bool>,
        deadline: Instant,
    ) {
        let (source, target) = (report.source_table.clone(), report.target_table.clone());
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let source_table = match self.describe(&source).await {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                failed.push(format!(
                    "source table {source} no longer exists: TTL, point-in-time recovery, tags \
                     and stream settings were not copied"
                ));
                None
            }
            Err(e) => {
                failed.push(e.to_string());
                None
            }
        };
        let target_arn = match self.describe(&target).await {
            Ok(Some(t)) => t.table_arn().unwrap_or_default().to_string(),
            Ok(None) => String::new(),
            Err(e) => {
                failed.push(e.to_string());
                String::new()
            }
        };
        if let Some(source_table) = &source_table {
            let steps = [
                self.copy_ttl(&source, &target).await,
                self.copy_point_in_time_recovery(&source, &target).await,
                self.copy_tags(source_table, &target_arn).await,
                self.copy_stream(source_table, &target, deadline).await,
            ];
            for step in steps {
                match step {
                    Ok(Some(what)) => done.push(what),
                    Ok(None) => {}
                    Err(why) => failed.push(why),
                }
            }
        }
        let protect = deletion_protection.unwrap_or_else(|| {
            source_table
                .as_ref()
                .and_then(|t| t.deletion_protection_enabled())
                .unwrap_or(false)
        });
        if protect {
            let _ = self
                .wait_active(
                    &target,
                    Some(crate::before_deadline(deadline, Duration::from_secs(5))),
                )
                .await;
            match self
                .dynamodb
                .update_table()
                .table_name(&target)
                .deletion_protection_enabled(true)
                .send()
                .await
            {
                Ok(_) => done.push("deletion protection".to_string()),
                Err(e) => failed.push(format!("deletion protection: {}", describe(&e))),
            }
        }
        report.settings_reapplied = done;
        report.settings_not_reapplied = failed;
    }

    async fn copy_ttl(&self, source: &str, target: &str) -> Result<Option<String>, String> {
        let ttl = self
            .dynamodb
            .describe_time_to_live()
            .table_name(source)
            .send()
            .await
            .map_err(|e| format!("time to live: {}", describe(&e)))?
            .time_to_live_description;
        let attribute = ttl.as_ref().and_then(|t| {
            (t.time_to_live_status() == Some(&TimeToLiveStatus::Enabled))
                .then(|| t.attribute_name())
                .flatten()
        });
        let Some(attribute) = attribute else {
            return Ok(None);
        };
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(attribute)
            .build()
            .map_err(|e| format!("time to live: {e}"))?;
        self.dynamodb
            .update_time_to_live()
            .table_name(target)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| format!("time to live: {}", describe(&e)))?;
        Ok(Some(format!("time to live on {attribute}")))
    }

    async fn copy_point_in_time_recovery(
        &self,
        source: &str,
        target: &str,
    ) -> Result<Option<String>, String> {
        let pitr = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(source)
            .send()
            .await
            .map_err(|e| format!("point-in-time recovery: {}", describe(&e)))?
            .continuous_backups_description
            .and_then(|c| c.point_in_time_recovery_description);
        let Some(pitr) = pitr.filter(|p| {
            p.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled)
        }) else {
            return Ok(None);
        };
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .set_recovery_period_in_days(pitr.recovery_period_in_days())
            .build()
            .map_err(|e| format!("point-in-time recovery: {e}"))?;
        self.dynamodb
            .update_continuous_backups()
            .table_name(target)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .map_err(|e| format!("point-in-time recovery: {}", describe(&e)))?;
        Ok(Some("point-in-time recovery".to_string()))
    }

    async fn copy_tags(
        &self,
        source: &TableDescription,
        target_arn: &str,
    ) -> Result<Option<String>, String> {
        let source_arn = source.table_arn().unwrap_or_default();
        let mut tags = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(source_arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| format!("tags: {}", describe(&e)))?;
            tags.extend(page.tags().iter().cloned());
            match page.next_token {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        if tags.is_empty() {
            return Ok(None);
        }
        let mut names: Vec<String> = tags.iter().map(|t| t.key().to_string()).collect();
        names.sort();
        self.dynamodb
            .tag_resource()
            .resource_arn(target_arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| format!("tags: {}", describe(&e)))?;
        Ok(Some(format!("tags {}", names.join(", "))))
    }

    async fn copy_stream(
        &self,
        source: &TableDescription,
        target: &str,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let Some(spec) = source
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .cloned()
        else {
            return Ok(None);
        };
        let view = spec
            .stream_view_type()
            .map_or(String::new(), |v| v.as_str().to_string());
        self.wait_active(
            target,
            Some(crate::before_deadline(deadline, Duration::from_secs(5))),
        )
        .await
        .map_err(|e| format!("stream: {e}"))?;
        self.dynamodb
            .update_table()
            .table_name(target)
            .stream_specification(spec)
            .send()
            .await
            .map_err(|e| format!("stream: {}", describe(&e)))?;
        Ok(Some(format!("stream ({view})")))
    }

    /// Counts the restored items and compares them with the backup's count (or the source's now).
    async fn verify(&self, target: &str, source: &str) -> Result<Verification, RestoreError> {
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

fn finish_hint(target: &str, source: &str) -> String {
    format!(
        "once {target} is ACTIVE, send {{\"action\": \"finish\", \"target_table\": \"{target}\", \
         \"source_table\": \"{source}\"}} to bring back its settings"
    )
}

fn restore_call_error<E: ProvideErrorMetadata>(call: &str, target: &str, e: &E) -> RestoreError {
    match e.code() {
        Some("TableAlreadyExistsException") => RestoreError::Refused(format!(
            "table {target} already exists; a restore only ever creates a new table"
        )),
        _ => RestoreError::Failed(format!("{call} into {target}: {}", describe(e))),
    }
}

fn billing_mode(mode: BillingMode) -> DynamoBillingMode {
    match mode {
        BillingMode::PayPerRequest => DynamoBillingMode::PayPerRequest,
        BillingMode::Provisioned => DynamoBillingMode::Provisioned,
    }
}

fn sse(options: &RestoreOptions) -> Option<SseSpecification> {
    options.kms_key_arn.as_ref().map(|key| {
        SseSpecification::builder()
            .enabled(true)
            .sse_type(SseType::Kms)
            .kms_master_key_id(key)
            .build()
    })
}
