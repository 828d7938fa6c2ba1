//! On-demand backups of tables through DynamoDB (`CreateBackup`) or AWS Backup (`StartBackupJob`),
//! and pruning of this toolkit's expired native backups.
//!
//! One table's failure never stops the others: each table gets an outcome, and the caller fails the
//! invocation afterwards if any outcome is an error. Tables the invocation has no time left for are
//! handed to the backup state machine rather than run into the deadline.

use std::time::Duration;

use aws_sdk_dynamodb::types::BackupTypeFilter;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::backup::config::BackupSettings;
use crate::backup::request::{BackupRequest, Engine, HandOverRequest, Trigger};
use crate::backup_name::hex;
use crate::deadline::before_deadline;
use crate::function_error::ErrorType;
use crate::request::RequestError;
use crate::retry::{Retry, with_retries};
use crate::table_backups::{BackupRecord, list_table_backups, to_chrono};
use crate::table_selection::select_tables;
use crate::workflow::HandOver;

/// What happened to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableOutcome {
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_name: Option<String>,
    /// True when a retried invocation found the backup already taken.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_existed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_job_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_point_arn: Option<String>,
    /// Expired backups deleted (ARNs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted: Vec<String>,
    /// Expired backups a dry run left alone (ARNs).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_delete: Vec<String>,
    /// Expired backups whose deletion was refused (for example by a deny-delete policy), with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_deleted: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl TableOutcome {
    fn failed(table: &str, error: String) -> TableOutcome {
        TableOutcome {
            table: table.to_string(),
            error: Some(error),
            ..TableOutcome::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    pub trigger: Trigger,
    pub engine: Engine,
    pub dry_run: bool,
    pub tables: Vec<TableOutcome>,
    /// Tables handed on for lack of time (to the backup state machine).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handed_over: Vec<String>,
}

impl BackupReport {
    pub fn failures(&self) -> impl Iterator<Item = &TableOutcome> {
        self.tables.iter().filter(|t| t.error.is_some())
    }
}

/// Some tables were not backed up (the others were): the report says which and why.
#[derive(Debug, thiserror::Error)]
#[error("{}", describe_failures(.0))]
pub struct BackupFailures(pub Box<BackupReport>);

fn describe_failures(report: &BackupReport) -> String {
    let failed: Vec<String> = report
        .failures()
        .map(|t| format!("{}: {}", t.table, t.error.as_deref().unwrap_or_default()))
        .collect();
    format!(
        "{} of {} tables not backed up: {}",
        failed.len(),
        report.tables.len(),
        failed.join("; ")
    )
}

impl ErrorType for BackupFailures {
    fn error_type(&self) -> &'static str {
        "BackupsFailed"
    }
}

/// The AWS Backup idempotency token for one table and one scheduled run: the same inputs give the
/// same token, so a retried invocation does not start a second job.
pub fn idempotency_token(table_arn: &str, run: &str) -> String {
    hex(&Sha256::digest(format!("{table_arn}\n{run}").as_bytes()))
}

/// Kept back from the deadline before starting another table: one table's calls, retries included.
const TABLE_RESERVE: Duration = Duration::from_secs(60);

pub struct BackupService {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub backup: aws_sdk_backup::Client,
    pub settings: BackupSettings,
}

impl BackupService {
    /// Backs up every table the request (or the configuration) names; hands the tables it has no
    /// time for to `hand_over`.
    pub async fn run(
        &self,
        request: BackupRequest,
        request_id: &str,
        deadline: Instant,
        hand_over: &HandOver,
    ) -> Result<BackupReport, RequestError> {
        let engine = request.engine.unwrap_or(self.settings.engine);
        if engine == Engine::AwsBackup && self.settings.aws_backup.is_none() {
            let why = (self.settings.aws_backup_problem.clone()).unwrap_or_else(|| {
                "it needs BACKUP_VAULT_NAME and BACKUP_ROLE_ARN in the function's configuration"
                    .into()
            });
            return Err(RequestError(format!(
                "engine \"aws-backup\" cannot run: {why}"
            )));
        }
        // A request may ask for a dry run; it can never switch a configured one off.
        let dry_run = self.settings.dry_run || request.dry_run == Some(true);
        let tables = match request.tables {
            Some(tables) => tables,
            None => self.select_tables(deadline).await.map_err(RequestError)?,
        };
        if tables.is_empty() {
            let why =
                (self.settings.tables).nothing_selected("back up", "TABLE_NAMES", "BACKUP_TAG");
            return Err(RequestError(format!(
                "{why}, or name \"tables\" in the event"
            )));
        }
        let at = request
            .scheduled_at
            .unwrap_or_else(Utc::now)
            .trunc_subsecs(0);
        // A schedule's retries carry the same time; a console test's, the same request id.
        let run = match request.scheduled_at {
            Some(time) => time.to_rfc3339(),
            None => request_id.to_string(),
        };
        let mut outcomes: Vec<TableOutcome> = (request.failed_before.iter())
            .map(|(table, why)| TableOutcome::failed(table, format!("in an earlier step: {why}")))
            .collect();
        let mut handed_over = Vec::new();
        let pause_at = before_deadline(deadline, TABLE_RESERVE);
        for (i, table) in tables.iter().enumerate() {
            if i > 0 && Instant::now() >= pause_at {
                let rest = &tables[i..];
                // A step's failures ride on to the run's last step; a first invocation reports its own.
                let failed_before = (outcomes.iter())
                    .filter(|_| hand_over.in_step())
                    .filter_map(|o| Some((o.table.clone(), o.error.clone()?)))
                    .collect();
                let next = HandOverRequest {
                    tables: rest,
                    engine,
                    dry_run,
                    at,
                    request_id,
                    failed_before,
                };
                if let Err(e) = hand_over.send("backup", &rest[0], next.to_json()).await {
                    // Nothing else will back these up: each is a failed table.
                    outcomes.extend(
                        rest.iter().map(|t| {
                            TableOutcome::failed(t, format!("not reached in time, and {e}"))
                        }),
                    );
                    break;
                }
                tracing::warn!(tables = ?rest, "no time left: handed on to the backup state machine");
                handed_over = rest.to_vec();
                break;
            }
            let outcome = match engine {
                Engine::DynamoDb => self.native_backup(table, at, dry_run, deadline).await,
                Engine::AwsBackup => self.aws_backup_job(table, &run, deadline).await,
            };
            log_outcome(&outcome);
            outcomes.push(outcome);
        }
        Ok(BackupReport {
            trigger: request.trigger,
            engine,
            dry_run,
            tables: outcomes,
            handed_over,
        })
    }

    async fn select_tables(&self, deadline: Instant) -> Result<Vec<String>, String> {
        let retry = Retry {
            backoff: self.settings.backoff,
            max_attempts: self.settings.max_attempts,
            deadline,
        };
        select_tables(&self.dynamodb, &self.settings.tables, &retry).await
    }

    async fn table_arn(&self, table: &str) -> Result<String, String> {
        let described = self
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(service) if service.is_resource_not_found_exception() => {
                    format!("table {table} does not exist")
                }
                _ => format!("DescribeTable {table}: {}", describe(&e)),
            })?;
        described
            .table()
            .and_then(|t| t.table_arn())
            .map(str::to_string)
            .ok_or_else(|| format!("DescribeTable {table} returned no table ARN"))
    }

    /// `CreateBackup` (unless a retried run already took it), then retention.
    async fn native_backup(
        &self,
        table: &str,
        at: DateTime<Utc>,
        dry_run: bool,
        deadline: Instant,
    ) -> TableOutcome {
        if let Err(e) = self.table_arn(table).await {
            return TableOutcome::failed(table, e);
        }
        let mut backups = match self.list_backups(table).await {
            Ok(b) => b,
            Err(e) => return TableOutcome::failed(table, e),
        };
        let name = self.settings.ownership.backup_name(table, at);
        let mut outcome = TableOutcome {
            table: table.to_string(),
            backup_name: Some(name.clone()),
            ..TableOutcome::default()
        };
        if let Some(existing) = backups.iter().find(|b| b.name == name) {
            outcome.backup_arn = Some(existing.arn.clone());
            outcome.already_existed = true;
        } else {
            let created = with_retries(
                self.settings.backoff,
                self.settings.max_attempts,
                deadline,
                || {
                    self.dynamodb
                        .create_backup()
                        .table_name(table)
                        .backup_name(&name)
                        .send()
                },
            )
            .await;
            let details = match created {
                Ok(output) => output.backup_details,
                Err(e) => {
                    outcome.error = Some(format!("CreateBackup {table}: {}", describe(&e)));
                    return outcome;
                }
            };
            let Some(details) = details else {
                outcome.error = Some(format!("CreateBackup {table} returned no backup"));
                return outcome;
            };
            outcome.backup_arn = Some(details.backup_arn.clone());
            backups.push(BackupRecord {
                arn: details.backup_arn,
                name: details.backup_name,
                created: to_chrono(&details.backup_creation_date_time),
                backup_type: "USER".into(),
                status: details.backup_status.as_str().to_string(),
            });
        }
        let expired = self.settings.retention.expired(
            &backups,
            table,
            &self.settings.ownership,
            outcome.backup_arn.as_deref(),
            Utc::now(),
        );
        for expired in expired {
            if dry_run {
                outcome.would_delete.push(expired.arn.clone());
                continue;
            }
            let deleted = with_retries(
                self.settings.backoff,
                self.settings.max_attempts,
                deadline,
                || {
                    self.dynamodb
                        .delete_backup()
                        .backup_arn(&expired.arn)
                        .send()
                },
            )
            .await;
            match deleted {
                Ok(_) => outcome.deleted.push(expired.arn.clone()),
                Err(e) => outcome
                    .not_deleted
                    .push(format!("{}: {}", expired.arn, describe(&e))),
            }
        }
        outcome
    }

    /// Every `USER` backup of `table`, all pages.
    pub async fn list_backups(&self, table: &str) -> Result<Vec<BackupRecord>, String> {
        list_table_backups(&self.dynamodb, table, BackupTypeFilter::User).await
    }

    /// `StartBackupJob` into the configured vault.
    async fn aws_backup_job(&self, table: &str, run: &str, deadline: Instant) -> TableOutcome {
        let Some(settings) = &self.settings.aws_backup else {
            return TableOutcome::failed(table, "AWS Backup is not configured".into());
        };
        let arn = match self.table_arn(table).await {
            Ok(arn) => arn,
            Err(e) => return TableOutcome::failed(table, e),
        };
        let lifecycle = settings.lifecycle;
        let has_lifecycle =
            lifecycle.cold_after_days.is_some() || lifecycle.delete_after_days.is_some();
        let started = with_retries(
            self.settings.backoff,
            self.settings.max_attempts,
            deadline,
            || {
                self.backup
                    .start_backup_job()
                    .backup_vault_name(&settings.vault)
                    .resource_arn(&arn)
                    .iam_role_arn(&settings.role_arn)
                    .idempotency_token(idempotency_token(&arn, run))
                    .start_window_minutes(settings.start_window_minutes)
                    .complete_window_minutes(settings.complete_window_minutes)
                    .set_lifecycle(has_lifecycle.then(|| {
                        aws_sdk_backup::types::Lifecycle::builder()
                            .set_move_to_cold_storage_after_days(lifecycle.cold_after_days)
                            .set_delete_after_days(lifecycle.delete_after_days)
                            .build()
                    }))
                    .set_recovery_point_tags(
                        (!settings.recovery_point_tags.is_empty())
                            .then(|| settings.recovery_point_tags.clone().into_iter().collect()),
                    )
                    .send()
            },
        )
        .await;
        match started {
            Ok(job) => TableOutcome {
                table: table.to_string(),
                backup_job_id: job.backup_job_id,
                recovery_point_arn: job.recovery_point_arn,
                ..TableOutcome::default()
            },
            Err(e) => {
                TableOutcome::failed(table, format!("StartBackupJob {table}: {}", describe(&e)))
            }
        }
    }
}

fn log_outcome(outcome: &TableOutcome) {
    match &outcome.error {
        Some(error) => tracing::error!(table = %outcome.table, %error, "backup failed"),
        None => tracing::info!(
            table = %outcome.table,
            backup_arn = outcome.backup_arn.as_deref().unwrap_or_default(),
            backup_job_id = outcome.backup_job_id.as_deref().unwrap_or_default(),
            already_existed = outcome.already_existed,
            deleted = outcome.deleted.len(),
            would_delete = outcome.would_delete.len(),
            not_deleted = outcome.not_deleted.len(),
            "backup taken"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stable_per_table_and_run() {
        let a = idempotency_token(
            "arn:aws:dynamodb:us-east-1:1:table/a",
            "2026-11-25T05:00:00+00:00",
        );
        assert_eq!(
            a,
            idempotency_token(
                "arn:aws:dynamodb:us-east-1:1:table/a",
                "2026-11-25T05:00:00+00:00"
            )
        );
        assert_ne!(
            a,
            idempotency_token(
                "arn:aws:dynamodb:us-east-1:1:table/b",
                "2026-11-25T05:00:00+00:00"
            )
        );
        assert_ne!(
            a,
            idempotency_token(
                "arn:aws:dynamodb:us-east-1:1:table/a",
                "2026-11-26T05:00:00+00:00"
            )
        );
        assert_eq!(a.len(), 64);
    }
}
