//! The validator for AWS Backup restore testing: when a restore testing job has restored a DynamoDB
//! table, the drill's checks run on it (read only: AWS Backup deletes it, and it is never
//! finished, so its settings differences are reported for information) and the verdict goes back
//! to AWS Backup with `PutRestoreValidationResult`, so it shows in the AWS Backup console.

use aws_sdk_backup::types::{RestoreJobStatus, RestoreValidationStatus};
use chrono::{DateTime, TimeZone, Utc};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::drill::checks::{self, Check};
use crate::restore::drill::report::DrillReport;
use crate::restore::parity::differences;
use crate::restore::service::{RestoreError, RestoreService};
use crate::restore::verify::Counted;

/// AWS Backup keeps at most this much of a validation message.
const MESSAGE_CHARS: usize = 1000;

/// The table a restore testing job restored, from which table and recovery point, and when.
struct TestedRestore {
    copy: String,
    source: String,
    restored_from: Option<String>,
    requested_at: DateTime<Utc>,
    seconds_to_active: Option<i64>,
}

impl RestoreService {
    /// Checks the table a restore testing job restored and reports the verdict to AWS Backup.
    pub async fn validate(
        &self,
        restore_job_id: &str,
        deadline: Instant,
    ) -> Result<DrillReport, RestoreError> {
        let tested = self.tested_restore(restore_job_id).await?;
        let until = crate::deadline::before_deadline(deadline, std::time::Duration::from_secs(30));
        let mut report = self.restore_testing_report(restore_job_id, &tested);
        let mut found = self.check_tables(&mut report, &tested, until).await?;
        if let Some(seconds) = tested.seconds_to_active {
            found.push(checks::restore_time(
                seconds,
                self.settings.drill.target_minutes,
            ));
        }
        report.passed = found.iter().all(|c| c.passed);
        report.checks = found;
        report.seconds_to_checked = Some((Utc::now() - tested.requested_at).num_seconds());
        self.put_verdict(restore_job_id, &report).await?;
        self.keep_and_tell(&mut report)
            .await
            .map_err(RestoreError::Failed)?;
        Ok(report)
    }

    /// The job, refused unless a restore testing plan made it, it restored a DynamoDB table, and
    /// it completed.
    async fn tested_restore(&self, restore_job_id: &str) -> Result<TestedRestore, RestoreError> {
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
        let (Some(copy), Some(source)) = (
            table_of(job.created_resource_arn()),
            table_of(job.source_resource_arn()),
        ) else {
            return refuse("names no restored or source table");
        };
        let at = |d: Option<&aws_smithy_types::DateTime>| {
            d.and_then(|d| Utc.timestamp_opt(d.secs(), 0).single())
        };
        let requested_at = at(job.creation_date()).unwrap_or_else(Utc::now);
        Ok(TestedRestore {
            copy,
            source,
            restored_from: job
                .recovery_point_arn()
                .map(|rp| format!("recovery point {rp}")),
            requested_at,
            seconds_to_active: at(job.completion_date())
                .map(|done| (done - requested_at).num_seconds()),
        })
    }

    /// The report before its checks: a drill report of kind `restore testing`.
    fn restore_testing_report(&self, restore_job_id: &str, tested: &TestedRestore) -> DrillReport {
        DrillReport {
            drill_id: restore_job_id.to_string(),
            kind: "restore testing",
            source_table: tested.source.clone(),
            scratch_table: Some(tested.copy.clone()),
            restored_from: tested.restored_from.clone(),
            requested_at: tested.requested_at,
            seconds_to_active: tested.seconds_to_active,
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
        }
    }

    /// The drill's checks of the copy against its source (read only); the sample and the
    /// settings differences go in the report too.
    async fn check_tables(
        &self,
        report: &mut DrillReport,
        tested: &TestedRestore,
        until: Instant,
    ) -> Result<Vec<Check>, RestoreError> {
        let (source, copy) = (
            self.describe(&tested.source).await?,
            self.describe(&tested.copy).await?,
        );
        let (Some(source), Some(copy)) = (&source, &copy) else {
            return Ok(vec![Check {
                name: "tables",
                passed: false,
                detail: format!(
                    "{} or {} could not be described",
                    tested.source, tested.copy
                ),
            }]);
        };
        let mut found = vec![checks::status(copy), checks::keys_and_indexes(source, copy)];
        let sample = self
            .sample(source, copy, self.settings.drill.sample_size)
            .await?;
        found.push(checks::sample(&sample));
        report.sample = Some(sample);
        found.push(self.count_check(&tested.copy, source, until).await?);
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
        Ok(found)
    }

    /// The verdict, as the AWS Backup console shows it.
    async fn put_verdict(
        &self,
        restore_job_id: &str,
        report: &DrillReport,
    ) -> Result<(), RestoreError> {
        let (status, message) = verdict(report);
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
        Ok(())
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
