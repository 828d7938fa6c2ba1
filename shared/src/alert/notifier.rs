//! The backup-notifier's work, once a request is read: AWS Backup job events for DynamoDB become
//! alerts on the topic (and completed restores a finish request, or, for restores this stack did
//! not start, a validation request when restore testing is on), a schedule runs the watchdog, and
//! a console test sends a marked test alert.
//!
//! An alert is published once per event: with a state table, a retried delivery of an event whose
//! alert went out (because, say, the finish request after it failed) does not publish it again.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use chrono::{Duration, Utc};
use serde::Serialize;
use serde_json::json;

use crate::alert::config::NotifierSettings;
use crate::alert::events::{JobEvent, JobType};
use crate::alert::message::{job_alert, test_alert};
use crate::alert::news::WatchNews;
use crate::alert::policy::routine_restore;
use crate::alert::request::NotifierRequest;
use crate::alert::subscribers;
use crate::alert::watchdog::TableWatch;
use crate::aws_error::describe;
use crate::function_error::ErrorType;
use crate::metrics;
use crate::problems::ProblemMemory;
use crate::retry::{Backoff, Retry};
use crate::state::{StateKey, StateStore};
use crate::table_selection::select_tables;
use crate::topic::{self, Alert};

/// How long a published alert is remembered: longer than EventBridge and Lambda retry an event.
const ALERT_MEMORY_DAYS: i64 = 7;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NotifierResponse {
    /// SNS message ids of what was published.
    pub published: Vec<String>,
    /// The alert for this event went out on an earlier delivery (its message id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub already_published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_requested: Option<String>,
    /// The restore job the restore-handler was asked to validate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_requested: Option<String>,
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
    #[error(
        "the alert was published, but asking {function} to validate restore job {job_id} failed: {reason}"
    )]
    Validate {
        function: String,
        job_id: String,
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
            NotifierError::Validate { .. } => "ValidationRequestFailed",
            NotifierError::Watchdog(_) => "WatchdogFailed",
        }
    }
}

/// Who started a completed restore, as this stack's records say.
enum Origin {
    /// This stack's restore-handler (`drill`: for a drill).
    Here { drill: bool },
    /// Another team, or AWS Backup restore testing.
    Elsewhere,
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
        // A job without a resource type is taken, so a renamed field never silences an alert.
        if let Some(kind) = event.resource_type.as_deref().filter(|k| *k != "DynamoDB") {
            let reason = format!(
                "a {} job of a {kind} resource, not DynamoDB",
                event.job_type.as_str()
            );
            tracing::info!(%reason, "no alert");
            response.ignored = Some(reason);
            return Ok(response);
        }
        let completed = self.completed_restore(event).await?;
        let drill = matches!(completed, Some((_, Origin::Here { drill: true })));
        if let Some(why) = routine_restore(event, drill) {
            tracing::info!(table = event.table().unwrap_or_default(), why, "no alert");
            response.ignored = Some(why.to_string());
        } else if self.settings.policy.alerts_on(event) {
            self.alert_once(event, &mut response).await?;
        } else {
            let reason = format!(
                "{} job state {} does not alert",
                event.job_type.as_str(),
                event.state
            );
            tracing::info!(%reason, job_id = event.job_id.as_deref().unwrap_or_default(), "no alert");
            response.ignored = Some(reason);
        }
        if let Some((table, origin)) = completed {
            self.follow_up(event, &table, origin, &mut response).await?;
        }
        Ok(response)
    }

    /// Publishes the event's alert unless an earlier delivery of the event did.
    async fn alert_once(
        &self,
        event: &JobEvent,
        response: &mut NotifierResponse,
    ) -> Result<(), NotifierError> {
        match self.published_before(event).await {
            Some(id) => {
                tracing::info!(message_id = %id, "alert already published for this event");
                response.already_published = Some(id);
            }
            None => {
                let alert = job_alert(&self.settings.subject_prefix, event);
                let id = self.publish(&alert).await?;
                self.remember_published(event, &id).await;
                response.published.push(id);
            }
        }
        Ok(())
    }

    /// A completed restore's table, and who started it.
    async fn completed_restore(
        &self,
        event: &JobEvent,
    ) -> Result<Option<(String, Origin)>, NotifierError> {
        let (JobType::Restore, "COMPLETED", Some(table)) =
            (event.job_type, event.state.as_str(), event.table())
        else {
            return Ok(None);
        };
        let origin = self.origin(&table).await?;
        Ok(Some((table, origin)))
    }

    /// Settings come back after every completed restore this stack started, whichever states
    /// alert; one it did not start may be a restore test to validate.
    async fn follow_up(
        &self,
        event: &JobEvent,
        table: &str,
        origin: Origin,
        response: &mut NotifierResponse,
    ) -> Result<(), NotifierError> {
        let Some(function) = &self.settings.finish_function else {
            return Ok(());
        };
        match (origin, event.job_id.as_deref()) {
            (Origin::Here { .. }, _) => {
                self.request_finish(function, table).await?;
                response.finish_requested = Some(table.to_string());
            }
            (Origin::Elsewhere, _) if !self.settings.validate_restore_tests => {
                tracing::info!(%table, "a restore this stack did not start: no finish request");
            }
            // Restore testing's, or another team's: the restore-handler checks that this stack's
            // restore testing plan made the job before it validates anything.
            (Origin::Elsewhere, Some(job_id)) => {
                self.request_validation(function, job_id).await?;
                tracing::info!(%table, %job_id, "a restore this stack did not start: validation requested");
                response.validation_requested = Some(job_id.to_string());
            }
            (Origin::Elsewhere, None) => {
                tracing::warn!(%table, "a completed restore without a job id: nothing to validate");
            }
        }
        Ok(())
    }

    fn alert_key(event: &JobEvent) -> Option<StateKey> {
        Some(StateKey::alert_published(event.event_id.as_deref()?))
    }

    /// Whether the restore-handler of this stack started the restore into `table` (and for a
    /// drill): only those are asked to finish (not other teams' restore jobs, not restore
    /// testing's). Without a state table it cannot tell, and asks: the restore-handler refuses
    /// what it did not restore (so without one, no restore is ever forwarded for validation).
    async fn origin(&self, table: &str) -> Result<Origin, NotifierError> {
        let Some(store) = self.state() else {
            return Ok(Origin::Here { drill: false });
        };
        let record = store
            .get(&StateKey::restore_started(table), Utc::now())
            .await
            .map_err(|e| NotifierError::Finish {
                function: self.settings.finish_function.clone().unwrap_or_default(),
                table: table.to_string(),
                reason: e.to_string(),
            })?;
        Ok(match record {
            // The restore-handler records a drill's restore with its drill in the options.
            Some(r) => Origin::Here {
                drill: !r.body["options"]["drill"].is_null(),
            },
            None => Origin::Elsewhere,
        })
    }

    fn state(&self) -> Option<StateStore> {
        let table = self.settings.state_table.as_deref()?;
        Some(StateStore::new(self.dynamodb.clone(), table))
    }

    /// The message id of this event's alert if an earlier delivery published it. A state table
    /// that cannot be read does not stop the alert: a repeat is better than silence.
    async fn published_before(&self, event: &JobEvent) -> Option<String> {
        let (store, key) = (self.state()?, Self::alert_key(event)?);
        match store.get(&key, Utc::now()).await {
            Ok(record) => record.map(|r| {
                r.body["message_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }),
            Err(e) => {
                tracing::warn!(error = %e, "could not read which alerts went out; publishing");
                None
            }
        }
    }

    async fn remember_published(&self, event: &JobEvent, message_id: &str) {
        let (Some(store), Some(key)) = (self.state(), Self::alert_key(event)) else {
            return;
        };
        let now = Utc::now();
        let body = json!({"message_id": message_id, "job_id": event.job_id});
        let expires = now + Duration::days(ALERT_MEMORY_DAYS);
        if let Err(e) = store.create(&key, &body, expires, now).await {
            tracing::warn!(error = %e, "could not record the published alert: a retry may repeat it");
        }
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

    async fn request_validation(&self, function: &str, job_id: &str) -> Result<(), NotifierError> {
        let payload = json!({"action": "validate", "restore_job_id": job_id});
        self.lambda
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| NotifierError::Validate {
                function: function.to_string(),
                job_id: job_id.to_string(),
                reason: describe(&e),
            })?;
        Ok(())
    }

    /// Checks every watched table, each source of backups and point-in-time recovery on its own; one
    /// alert lists the problems to tell now (new ones, and those a day old), including the tables
    /// that could not be checked.
    async fn watchdog(&self) -> Result<NotifierResponse, NotifierError> {
        let retry = Retry {
            backoff: Backoff::default(),
            max_attempts: 8,
            deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(120),
        };
        let (tables, not_selected) =
            match select_tables(&self.dynamodb, &self.settings.watch, &retry).await {
                Ok(tables) => (tables, None),
                // The named tables are still known: check them, and say the rest was not.
                Err(e) => (self.settings.watch.names.clone(), Some(e)),
            };
        if tables.is_empty() && not_selected.is_none() {
            let why = (self.settings.watch).nothing_selected(
                "watch",
                "WATCH_TABLE_NAMES",
                "WATCH_TABLE_TAG",
            );
            return Err(NotifierError::Watchdog(why));
        }
        let now = Utc::now();
        let mut watched = Vec::new();
        for table in &tables {
            let watch = self.watch_table(table, now).await;
            emit_watch_metrics(&watch, now);
            // Names what is wrong per table, also when alarms page for it instead of this alert.
            let problems = watch.problems();
            tracing::info!(table = %table, problems = problems.len(), ?problems, "watchdog checked");
            watched.push(watch);
        }
        let mut response = NotifierResponse::default();
        // Each problem told once, then once a day while it lasts; a new one at once.
        let memory = ProblemMemory::new(self.state());
        let measured_elsewhere = !self.settings.alert_measured;
        let news = WatchNews::gather(
            &memory,
            &watched,
            not_selected.as_deref(),
            measured_elsewhere,
            now,
        )
        .await;
        let prefix = &self.settings.subject_prefix;
        if let Some(alert) = news.alert(prefix, self.settings.max_backup_age) {
            response.published.push(self.publish(&alert).await?);
        }
        news.remember(&memory, now).await;
        let subscribers = self.alert_subscribers().await;
        // The dead-man's switch in the template counts these lines: one per finished run.
        let stack = self.settings.ownership.as_ref().map(|o| o.owner.as_str());
        let (told, open) = news.counts();
        tracing::info!(
            stack = stack.unwrap_or("default"),
            tables = watched.len(),
            problems = open,
            told,
            alerted = !response.published.is_empty(),
            alert_subscribers = subscribers,
            "watchdog finished"
        );
        response.watched = watched;
        Ok(response)
    }

    /// How many confirmed subscriptions hear the alert topic, warning when none does; `None` (and
    /// a warning) when that could not be found out, which never fails the run.
    async fn alert_subscribers(&self) -> Option<usize> {
        let topic = &self.settings.topic_arn;
        match subscribers::confirmed_subscriptions(&self.sns, topic).await {
            Ok(confirmed) => {
                if let Some(warning) = subscribers::unheard_warning(topic, confirmed) {
                    tracing::warn!(%topic, "{warning}");
                }
                Some(confirmed)
            }
            Err(e) => {
                tracing::warn!(%topic, error = %e, "could not find out who hears the alerts");
                None
            }
        }
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

/// The newest backup's age per source and point-in-time recovery, per table.
fn emit_watch_metrics(watch: &TableWatch, now: chrono::DateTime<Utc>) {
    let function = metrics::function_name();
    let figures = watch.figures(now);
    for (source, age) in &figures.backup_age_hours {
        let dimensions = [function.as_str(), &watch.table, source];
        metrics::emit(&metrics::BACKUP_AGE, &dimensions, &[*age]);
    }
    if let Some((lag, disabled)) = figures.pitr {
        metrics::emit(&metrics::PITR, &[&function, &watch.table], &[lag, disabled]);
    }
}
