//! The backup-notifier's work, once a request is read: AWS Backup job events become alerts on the
//! topic (and completed restores a finish request), a schedule runs the missing-backup watchdog, and a
//! console test sends a marked test alert.

use aws_sdk_backup::types::RecoveryPointStatus;
use aws_sdk_dynamodb::types::BackupTypeFilter;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::alert::config::NotifierSettings;
use crate::alert::events::{JobEvent, JobType};
use crate::alert::message::{job_alert, test_alert};
use crate::alert::request::NotifierRequest;
use crate::alert::watchdog::{Freshness, freshness};
use crate::aws_error::describe;
use crate::function_error::ErrorType;
use crate::table_backups::{list_table_backups, to_chrono};
use crate::table_selection::select_tables;
use crate::topic::{self, Alert, subject};

/// One table's state, as the watchdog saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableWatch {
    pub table: String,
    #[serde(flatten)]
    pub freshness: Freshness,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifierResponse {
    /// SNS message ids of what was published.
    pub published: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_requested: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub watched: Vec<TableWatch>,
}

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("could not publish the alert {subject:?} to {topic}: {reason}")]
    Publish {
        subject: String,
        topic: String,
        reason: String,
    },
    #[error(
        "the alert was published, but asking {function} to finish the restore of {table} failed: {reason}"
    )]
    Finish {
        function: String,
        table: String,
        reason: String,
    },
    #[error("the watchdog could not check the tables: {0}")]
    Watchdog(String),
}

impl ErrorType for NotifierError {
    fn error_type(&self) -> &'static str {
        match self {
            NotifierError::Publish { .. } => "PublishFailed",
            NotifierError::Finish { .. } => "FinishRequestFailed",
            NotifierError::Watchdog(_) => "WatchdogFailed",
        }
    }
}

pub struct Notifier {
    pub sns: aws_sdk_sns::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub backup: aws_sdk_backup::Client,
    pub settings: NotifierSettings,
}

impl Notifier {
    pub async fn handle(
        &self,
        request: NotifierRequest,
    ) -> Result<NotifierResponse, NotifierError> {
        let prefix = &self.settings.subject_prefix;
        match request {
            NotifierRequest::Test => Ok(NotifierResponse {
                published: vec![self.publish(&test_alert(prefix, Utc::now())).await?],
                ..NotifierResponse::default()
            }),
            NotifierRequest::Other(kind) => {
                tracing::info!(detail_type = %kind, "not a job state change: no alert");
                Ok(NotifierResponse {
                    ignored: Some(format!("{kind:?} is not a job state change")),
                    ..NotifierResponse::default()
                })
            }
            NotifierRequest::Job(event) => self.job(&event).await,
            NotifierRequest::Watchdog => self.watchdog().await,
        }
    }

    async fn job(&self, event: &JobEvent) -> Result<NotifierResponse, NotifierError> {
        let mut response = NotifierResponse::default();
        if !self.settings.policy.alerts_on(event) {
            let reason = format!(
                "{} job state {} does not alert",
                event.job_type.as_str(),
                event.state
            );
            tracing::info!(%reason, job_id = event.job_id.as_deref().unwrap_or_default(), "no alert");
            response.ignored = Some(reason);
            return Ok(response);
        }
        response.published.push(
            self.publish(&job_alert(&self.settings.subject_prefix, event))
                .await?,
        );
        if let (JobType::Restore, "COMPLETED", Some(function), Some(table)) = (
            event.job_type,
            event.state.as_str(),
            &self.settings.finish_function,
            event.table(),
        ) {
            self.request_finish(function, &table).await?;
            response.finish_requested = Some(table);
        }
        Ok(response)
    }

    async fn request_finish(&self, function: &str, table: &str) -> Result<(), NotifierError> {
        let payload = json!({"action": "finish", "target_table": table});
        self.lambda
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| NotifierError::Finish {
                function: function.to_string(),
                table: table.to_string(),
                reason: describe(&e),
            })?;
        Ok(())
    }

    /// Checks every watched table's newest backup; one alert lists every table too old or without one.
    async fn watchdog(&self) -> Result<NotifierResponse, NotifierError> {
        let tables = select_tables(&self.dynamodb, &self.settings.watch)
            .await
            .map_err(NotifierError::Watchdog)?;
        if tables.is_empty() {
            return Err(NotifierError::Watchdog(
                "no tables to watch: set WATCH_TABLE_NAMES or WATCH_TABLE_TAG".into(),
            ));
        }
        let now = Utc::now();
        let mut watched = Vec::new();
        for table in tables {
            let newest = self
                .newest_backup(&table)
                .await
                .map_err(NotifierError::Watchdog)?;
            let freshness = freshness(newest, self.settings.max_backup_age, now);
            tracing::info!(%table, ?freshness, "watchdog");
            watched.push(TableWatch { table, freshness });
        }
        let mut response = NotifierResponse::default();
        if let Some(alert) = self.watchdog_alert(&watched) {
            response.published.push(self.publish(&alert).await?);
        }
        response.watched = watched;
        Ok(response)
    }

    fn watchdog_alert(&self, watched: &[TableWatch]) -> Option<Alert> {
        let problems: Vec<String> = watched
            .iter()
            .filter_map(|w| match &w.freshness {
                Freshness::Fresh { .. } => None,
                Freshness::Stale { newest, age_hours } => Some(format!(
                    "{}: newest backup is {age_hours} hours old ({})",
                    w.table,
                    newest.to_rfc3339()
                )),
                Freshness::Missing => Some(format!("{}: no backup at all", w.table)),
            })
            .collect();
        if problems.is_empty() {
            return None;
        }
        let hours = self.settings.max_backup_age.num_hours();
        let what = match problems.len() {
            1 => format!(
                "table {} has no recent backup",
                watched
                    .iter()
                    .find(|w| !matches!(w.freshness, Freshness::Fresh { .. }))?
                    .table
            ),
            n => format!("{n} tables have no recent backup"),
        };
        let body = format!(
            "The backup watchdog found tables without a backup in the last {hours} hours:\n\n{}\n\n\
             Scheduled backups may have stopped: check the backup plan, the backup-trigger's \
             schedule and recent job failures.\n",
            problems
                .iter()
                .map(|p| format!("  - {p}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
        Some(Alert {
            subject: subject(&format!(
                "{} MISSING BACKUP: {what}",
                self.settings.subject_prefix
            )),
            body,
            attributes: [
                ("state", "MISSING_BACKUP"),
                ("job_type", "watchdog"),
                ("resource_type", "DynamoDB"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        })
    }

    /// The newest available native backup or completed AWS Backup recovery point of `table`.
    async fn newest_backup(&self, table: &str) -> Result<Option<DateTime<Utc>>, String> {
        let mut newest = list_table_backups(&self.dynamodb, table, BackupTypeFilter::All)
            .await?
            .into_iter()
            .filter(|b| b.is_available())
            .map(|b| b.created)
            .max();
        if self.settings.watch_aws_backup {
            let arn = self
                .dynamodb
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|e| format!("DescribeTable {table}: {}", describe(&e)))?
                .table
                .and_then(|t| t.table_arn)
                .unwrap_or_default();
            let mut points = self
                .backup
                .list_recovery_points_by_resource()
                .resource_arn(&arn)
                .into_paginator()
                .items()
                .send();
            while let Some(point) = points.next().await {
                let point = point.map_err(|e| {
                    format!("ListRecoveryPointsByResource {table}: {}", describe(&e))
                })?;
                if point.status() == Some(&RecoveryPointStatus::Completed)
                    && let Some(created) = point.creation_date()
                {
                    newest = newest.max(Some(to_chrono(created)));
                }
            }
        }
        Ok(newest)
    }

    /// Publishes to the topic; returns the message id.
    async fn publish(&self, alert: &Alert) -> Result<String, NotifierError> {
        let id = topic::publish(&self.sns, &self.settings.topic_arn, alert)
            .await
            .map_err(|reason| self.publish_error(alert, reason))?;
        tracing::info!(subject = %alert.subject, message_id = %id, "alert published");
        Ok(id)
    }

    fn publish_error(&self, alert: &Alert, reason: String) -> NotifierError {
        NotifierError::Publish {
            subject: alert.subject.clone(),
            topic: self.settings.topic_arn.clone(),
            reason,
        }
    }
}
