//! The validator for AWS Backup restore testing: when a restore testing job has restored a DynamoDB
//! table, the drill's checks run on it (read only: AWS Backup deletes it, and it is never
//! finished, so its settings differences are reported for information) and the verdict goes back
//! to AWS Backup with `PutRestoreValidationResult`, so it shows in the AWS Backup console.

use aws_sdk_backup::types::{RestoreJobStatus, RestoreValidationStatus};
use chrono::{TimeZone, Utc};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::drill::checks::{self, Check};
use crate::restore::drill::report::DrillReport;
use crate::restore::parity::differences;
use crate::restore::service::{RestoreError, RestoreService};
use crate::restore::verify::Counted;

/// AWS Backup keeps at most this much of a validation message.
const MESSAGE_CHARS: usize = 1000;

impl RestoreService {
    /// Checks the table a restore testing job restored and reports the verdict to AWS Backup.
    pub async fn validate(
        &self,
        restore_job_id: &str,
        deadline: Instant,
    ) -> Result<DrillReport, RestoreError> {
        let job = (self
            .backup
            .describe_restore_job()
            .restore_job_id(restore_job_id)
            .send())
        .await
        .map_err(|e| {
            RestoreError::Failed(format!(
                "DescribeRestoreJob {restore_job_id}: {}",
                describe(&e)
            ))
        })?;
        let refuse = |why: &str| {
            Err(RestoreError::Refused(format!(
                "restore job {restore_job_id} {why}: only restore testing's DynamoDB jobs are validated"
            )))
        };
        if job
            .created_by()
            .and_then(|c| c.restore_testing_plan_arn())
            .is_none()
        {
            return refuse("was not created by a restore testing plan");
        }
        if job.resource_type() != Some("DynamoDB") {
            return refuse("did not restore a DynamoDB table");
        }
        if job.status() != Some(&RestoreJobStatus::Completed) {
            return refuse("has not completed");
        }
        let table_of = |arn: Option<&str>| {
            arn.and_then(|a| a.split_once(":table/"))
                .map(|(_, name)| name.split('/').next().unwrap_or(name).to_string())
        };
        let (Some(copy_name), Some(source_name)) = (
            table_of(job.created_resource_arn()),
            table_of(job.source_resource_arn()),
        ) else {
            return refuse("names no restored or source table");
        };
        let at = |d: Option<&aws_smithy_types::DateTime>| {
            d.and_then(|d| Utc.timestamp_opt(d.secs(), 0).single())
        };
        let requested_at = at(job.creation_date()).unwrap_or_else(Utc::now);
        let seconds_to_active =
            at(job.completion_date()).map(|done| (done - requested_at).num_seconds());

        let until = crate::deadline::before_deadline(deadline, std::time::Duration::from_secs(30));
        let (source, copy) = (
            self.describe(&source_name).await?,
            self.describe(&copy_name).await?,
        );
        let mut found: Vec<Check> = Vec::new();
        let mut report = DrillReport {
            drill_id: restore_job_id.to_string(),
            kind: "restore testing",
            source_table: source_name.clone(),
            scratch_table: Some(copy_name.clone()),
            restored_from: job
                .recovery_point_arn()
                .map(|rp| format!("recovery point {rp}")),
            requested_at,
            seconds_to_active,
            seconds_to_checked: None,
            target_minutes: self.settings.drill.target_minutes,
            passed: false,
            checks: Vec::new(),
            verification: None,
            sample: None,
            settings_differences: Vec::new(),
            // AWS Backup deletes the table when its validation window ends.
            scratch_table_deleted: false,
            report_location: None,
            alert_message_id: None,
        };
        match (&source, &copy) {
            (Some(source), Some(copy)) => {
                found.push(checks::status(copy));
                found.push(checks::keys_and_indexes(source, copy));
                let sample = self
                    .sample(source, copy, self.settings.drill.sample_size)
                    .await?;
                found.push(checks::sample(&sample));
                report.sample = Some(sample);
                found.push(self.count_check(&copy_name, source, until).await?);
                let (s, c) = (self.snapshot(source).await, self.snapshot(copy).await);
                report.settings_differences = differences(&s.settings, &c.settings);
                found.push(Check {
                    name: "settings",
                    passed: true,
                    detail: format!(
                        "for information ({} differ): restore testing never finishes its table",
                        report.settings_differences.len()
                    ),
                });
            }
            _ => found.push(Check {
                name: "tables",
                passed: false,
                detail: format!("{source_name} or {copy_name} could not be described"),
            }),
        }
        if let Some(seconds) = seconds_to_active {
            found.push(checks::restore_time(
                seconds,
                self.settings.drill.target_minutes,
            ));
        }
        report.passed = found.iter().all(|c| c.passed);
        report.checks = found;
        report.seconds_to_checked = Some((Utc::now() - requested_at).num_seconds());
        let (status, message) = verdict(&report);
        (self.backup.put_restore_validation_result())
            .restore_job_id(restore_job_id)
            .validation_status(status)
            .validation_status_message(message)
            .send()
            .await
            .map_err(|e| {
                RestoreError::Failed(format!(
                    "PutRestoreValidationResult {restore_job_id}: {}",
                    describe(&e)
                ))
            })?;
        self.keep_and_tell(&mut report)
            .await
            .map_err(RestoreError::Failed)?;
        Ok(report)
    }

    /// The copy counted (within this invocation) against the source's approximate count.
    async fn count_check(
        &self,
        copy: &str,
        source: &aws_sdk_dynamodb::types::TableDescription,
        until: Instant,
    ) -> Result<Check, RestoreError> {
        let expected = source.item_count().unwrap_or_default().max(0) as u64;
        Ok(match self.count(copy, None, until).await? {
            Counted::Done(restored) => checks::item_count(
                &crate::restore::verification::Verification {
                    restored_items: restored,
                    expected_items: expected,
                    compared_with: format!(
                        "the item count DynamoDB gives for {} now",
                        source.table_name().unwrap_or_default()
                    ),
                    baseline: crate::restore::verification::Baseline::Approximate,
                    matches: restored == expected,
                },
                self.settings.drill.count_tolerance_percent,
            ),
            Counted::Partly(progress) => Check {
                name: "item count",
                passed: true,
                detail: format!(
                    "not compared: {} items counted before this invocation's time ran out",
                    progress.counted
                ),
            },
        })
    }
}

/// AWS Backup's verdict and a message that says why, within its length.
fn verdict(report: &DrillReport) -> (RestoreValidationStatus, String) {
    let failed: Vec<String> = (report.checks.iter())
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let (status, text) = match failed.is_empty() {
        true => (
            RestoreValidationStatus::Successful,
            format!(
                "ddb-guard: all {} checks passed ({})",
                report.checks.len(),
                report
                    .checks
                    .iter()
                    .map(|c| c.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        false => (
            RestoreValidationStatus::Failed,
            format!("ddb-guard: {}", failed.join("; ")),
        ),
    };
    (status, text.chars().take(MESSAGE_CHARS).collect())
}
