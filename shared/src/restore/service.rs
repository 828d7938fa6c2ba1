//! Restoring into a new table (native backup, point in time, or AWS Backup recovery point), safely,
//! and finishing it: its settings brought back (`settings`) and its items counted (`verify`).

use std::time::Duration;

use aws_sdk_dynamodb::types::TableDescription;
use chrono::Utc;
use serde::Serialize;
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::function_error::ErrorType;
use crate::restore::config::RestoreSettings;
use crate::restore::drill::report::DrillReport;
use crate::restore::options::RestoreOptions;
use crate::restore::parity::{Difference, LeftOff};
use crate::restore::request::{FinishRequest, RestorePlan, RestoreSource, default_target_name};
use crate::restore::verification::{CountProgress, Verification};
use crate::workflow::HandOver;

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
    /// Source settings the copy does not get, each with why (the request's choice or a default).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_left_off: Vec<LeftOff>,
    /// What no finish brings back, for a person to do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_not_handled: Vec<String>,
    /// Every setting still different between source and copy after the finish: each is left off,
    /// not handled, or not reapplied above.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_differences: Vec<Difference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// A drill's result, once its restore is finished and checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillReport>,
    /// What to do, or what happens next, when the restore is still running.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
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

pub(super) const ACTIVE: &str = "ACTIVE";
pub(super) const NOT_CREATED_YET: &str = "NOT_CREATED_YET";
/// Kept back from the deadline for re-applying settings after waiting.
pub(super) const FINISH_RESERVE: Duration = Duration::from_secs(30);

pub struct RestoreService {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub backup: aws_sdk_backup::Client,
    /// The source's auto scaling is copied to the restored table.
    pub autoscaling: aws_sdk_applicationautoscaling::Client,
    /// Drill reports go to the data bucket.
    pub s3: aws_sdk_s3::Client,
    /// Drill alerts go to the alert topic.
    pub sns: aws_sdk_sns::Client,
    pub settings: RestoreSettings,
}

impl RestoreService {
    /// Checks everything, starts the restore, and finishes it here if asked to wait and time allows.
    /// `request_id`: the Lambda request id, the idempotency key when the request carries none.
    pub async fn restore(
        &self,
        plan: RestorePlan,
        request_id: &str,
        deadline: Instant,
        hand_over: &HandOver,
    ) -> Result<RestoreReport, RestoreError> {
        let source = plan.source_table.clone();
        let chosen = plan
            .target_table
            .clone()
            .unwrap_or_else(|| default_target_name(&source, Utc::now()));
        self.check_target_name(&chosen, &source)?;
        self.check_drill_name(&chosen, plan.options.drill.is_some())?;
        self.check_allowed(&plan.options)?;
        let key = plan.idempotency_key.as_deref().unwrap_or(request_id);
        let claim = self.claim_target(key, &chosen, &plan).await?;
        let target = claim.target;
        let mut report = RestoreReport {
            source_table: source.clone(),
            target_table: target.clone(),
            ..RestoreReport::default()
        };
        if self.describe(&target).await?.is_some() {
            if claim.earlier {
                // The same request again (Lambda's retry, a re-send): its restore is under way, if
                // the table of that name is the one it restored, which a finish would check too.
                self.restored_here(&target, Some(&source)).await?;
                tracing::info!(%target, "this request's restore was started before");
                report.restored_from = Some("an earlier attempt of this request".into());
                return (self.wait_and_finish(report, &plan.options, hand_over, deadline, None))
                    .await;
            }
            return Err(RestoreError::Refused(format!(
                "table {target} already exists; a restore only ever creates a new table"
            )));
        }
        // Where from, checked before anything is created.
        let from = match &plan.source {
            RestoreSource::Backup(arn) => {
                self.check_backup(arn, &source).await?;
                format!("backup {arn}")
            }
            RestoreSource::LatestBackup => format!("backup {}", self.latest_backup(&source).await?),
            RestoreSource::PointInTime(at) => {
                self.check_point_in_time(&source, Some(*at)).await?;
                format!("point in time {}", at.to_rfc3339())
            }
            RestoreSource::LatestRestorable => {
                self.check_point_in_time(&source, None).await?;
                "latest restorable time".to_string()
            }
            RestoreSource::RecoveryPoint(arn) => {
                self.check_recovery_point(arn, &source).await?;
                format!("recovery point {arn}")
            }
        };
        self.record_started(&target, &source, &from, &plan.options)
            .await?;
        let created = match &plan.source {
            RestoreSource::Backup(_) | RestoreSource::LatestBackup => {
                let arn = from.trim_start_matches("backup ");
                (self.restore_from_backup(arn, &target, &plan.options, deadline)).await?
            }
            RestoreSource::PointInTime(at) => {
                let at = Some(*at);
                (self.restore_to_point_in_time(&source, &target, at, &plan.options, deadline))
                    .await?
            }
            RestoreSource::LatestRestorable => {
                (self.restore_to_point_in_time(&source, &target, None, &plan.options, deadline))
                    .await?
            }
            RestoreSource::RecoveryPoint(arn) => {
                let job = self.start_restore_job(arn, &target, &plan.options).await?;
                report.restore_job_id = Some(job);
                None // AWS Backup creates the table later: bound on the first look at it
            }
        };
        // The record now names the table DynamoDB created, whatever is made under its name later.
        self.bind_created(&target, created.as_ref()).await?;
        report.restored_from = Some(from);
        tracing::info!(%source, %target, from = report.restored_from.as_deref().unwrap_or_default(), "restore started");
        (self.wait_and_finish(report, &plan.options, hand_over, deadline, None)).await
    }

    /// A restore target's name carries the marker IAM scopes writes by, and is never the source.
    pub(super) fn check_target_name(&self, target: &str, source: &str) -> Result<(), RestoreError> {
        let marker = &self.settings.target_marker;
        if !target.contains(marker.as_str()) {
            return Err(RestoreError::Refused(format!(
                "target table {target:?} must contain {marker:?} (like the default \
                 <source>{marker}<time>): the handler writes only to tables named so"
            )));
        }
        let configured = self.settings.source_table.as_deref();
        if target == source || Some(target) == configured {
            return Err(RestoreError::Refused(format!(
                "{target} is a source table, never a restore target"
            )));
        }
        Ok(())
    }

    /// What the options need the stack to allow: a Kinesis destination needs the streams the
    /// template lets copies write to.
    fn check_allowed(&self, options: &RestoreOptions) -> Result<(), RestoreError> {
        if options.copy_kinesis_destinations && self.settings.kinesis_streams.is_empty() {
            return Err(RestoreError::Refused(
                "\"kinesis_destinations\": true, but this stack lets no copy write to a Kinesis \
                 stream: name the source's streams in the template's KinesisStreamArns setting"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Re-applies the source's settings to a restored table that is `ACTIVE`, and verifies it.
    pub async fn finish(
        &self,
        request: FinishRequest,
        deadline: Instant,
        hand_over: &HandOver,
    ) -> Result<RestoreReport, RestoreError> {
        let target = request.target_table.clone();
        // Only a table this handler restored, and the very table it restored. Never a source,
        // never a guess.
        let asked = request.source_table.as_deref();
        self.check_target_name(&target, asked.unwrap_or_default())?;
        // A drill checked already answers its recorded verdict, read-only (its scratch table may
        // be gone, so this comes before the table is looked at).
        if let Some(started) = self.started_here(&target).await?
            && let Some(report) = self.finished_drill(&target, &started).await?
        {
            return Ok(report);
        }
        let (started, _) = self.restored_here(&target, asked).await?;
        let (source, from) = (started.source, started.from);
        let mut report = RestoreReport {
            source_table: source.clone(),
            target_table: target.clone(),
            restored_from: Some(from),
            ..RestoreReport::default()
        };
        // How the copy was made is a fact of the restore, whatever this request says.
        let options = request.options.over(&started.options);
        self.check_allowed(&options)?;
        let progress = request.count_progress;
        if options.wait {
            return (self.wait_and_finish(report, &options, hand_over, deadline, progress)).await;
        }
        report.table_status = self.wait_active(&target, None).await?;
        if report.table_status != ACTIVE {
            return Err(RestoreError::Refused(format!(
                "table {target} is {}, not ACTIVE: send this request again once the restore \
                 completes, or with \"wait\": true to have it waited for",
                report.table_status
            )));
        }
        (self.finish_table(&mut report, &options, deadline, hand_over, progress)).await?;
        Ok(report)
    }

    pub(super) async fn finish_table(
        &self,
        report: &mut RestoreReport,
        options: &RestoreOptions,
        deadline: Instant,
        hand_over: &HandOver,
        count_progress: Option<CountProgress>,
    ) -> Result<(), RestoreError> {
        let until = crate::deadline::before_deadline(deadline, FINISH_RESERVE);
        // Whichever way it got here (inline, retried, handed on), it changes only its own table.
        self.confirm_same_table(&report.target_table).await?;
        // The restore's time (RestoreSeconds, a drill's restore time) ends the first time a
        // finish finds the table ACTIVE.
        self.note_active(report).await?;
        let lease = self.take_finish_lease(&report.target_table, until).await?;
        self.reapply_settings(report, options, deadline).await;
        if let Some(lease) = lease {
            lease.release().await?;
        }
        if options.verify {
            let (target, source) = (&report.target_table, &report.source_table);
            match (self.verify(target, source, count_progress, until)).await? {
                Ok(verification) => report.verification = Some(verification),
                Err(progress) => {
                    let doing = format!("counting its items ({} so far)", progress.counted);
                    let to = (self.hand_over(report, options, hand_over, Some(&progress), &doing))
                        .await?;
                    report.next_step = Some(format!(
                        "{doing}: {to} goes on counting and reports the result"
                    ));
                }
            }
        }
        tracing::info!(
            target = %report.target_table,
            reapplied = ?report.settings_reapplied,
            not_reapplied = ?report.settings_not_reapplied,
            verification = ?report.verification,
            "restore finished"
        );
        // A drill settles its own outcome: checked, reported, told and deleted, failures included.
        if let Some(spec) = &options.drill
            && report.verification.is_some()
        {
            report.drill = Some(self.complete_drill(report, spec).await?);
            return Ok(());
        }
        if report.settings_not_reapplied.is_empty() {
            Ok(())
        } else {
            Err(RestoreError::SettingsNotRestored(Box::new(report.clone())))
        }
    }

    /// `None` when the table does not exist.
    pub(super) async fn describe(
        &self,
        table: &str,
    ) -> Result<Option<TableDescription>, RestoreError> {
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
}
