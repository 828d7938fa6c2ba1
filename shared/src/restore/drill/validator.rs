//! The validator for AWS Backup restore testing: when this stack's restore testing plan has restored
//! a DynamoDB table, the drill's checks run on it (read only: AWS Backup deletes it, and it is never
//! finished, so its settings differences are reported for information) and the verdict goes back
//! to AWS Backup with `PutRestoreValidationResult`, so it shows in the AWS Backup console.
//!
//! The notifier forwards every completed restore this stack did not start: another team's restore,
//! another stack's restore test. Those are not this stack's to judge: a logged no-op, never an
//! error (which would page and park the request in the failure queue for 14 days).

use aws_sdk_backup::types::{RestoreJobStatus, RestoreValidationStatus};
use chrono::{DateTime, TimeZone, Utc};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::drill::checks::{self, Check};
use crate::restore::drill::report::DrillReport;
use crate::restore::parity::differences;
use crate::restore::service::{RestoreError, RestoreService};

/// AWS Backup keeps at most this much of a validation message.
const MESSAGE_CHARS: usize = 1000;

/// What validating a restore job came to.
#[derive(Debug)]
pub enum Validation {
    /// This stack's restore test, checked, and its verdict sent to AWS Backup.
    Checked(Box<DrillReport>),
    /// Not this stack's restore test (why): nothing done.
    NotOurs(String),
}

/// The job, as far as the validator is concerned.
enum Job {
    Ours(TestedRestore),
    NotOurs(String),
}

/// The table a restore testing job restored, from which table and recovery point, and when.
struct TestedRestore {
    copy: String,
    source: String,
    restored_from: Option<String>,
    requested_at: DateTime<Utc>,
    seconds_to_active: Option<i64>,
}

impl RestoreService {
    /// Checks the table this stack's restore testing plan restored and reports the verdict to AWS
    /// Backup; any other restore job is left alone.
    pub async fn validate(
        &self,
        restore_job_id: &str,
        deadline: Instant,
    ) -> Result<Validation, RestoreError> {
        let tested = match self.tested_restore(restore_job_id).await? {
            Job::Ours(tested) => tested,
            Job::NotOurs(why) => {
                tracing::info!(restore_job_id, %why, "not this stack's restore test: not validated");
                return Ok(Validation::NotOurs(why));
            }
        };
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
        Ok(Validation::Checked(Box::new(report)))
    }

    /// Whether the job is this stack's restore test (made by its plan); then it is refused unless
    /// it restored a DynamoDB table and completed.
    async fn tested_restore(&self, restore_job_id: &str) -> Result<Job, RestoreError> {
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
        let plan = job.created_by().and_then(|c| c.restore_testing_plan_arn());
        if let Some(why) = not_ours(plan, self.settings.drill.restore_testing_plan.as_deref()) {
            return Ok(Job::NotOurs(format!("restore job {restore_job_id} {why}")));
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
        Ok(Job::Ours(TestedRestore {
            copy,
            source,
            restored_from: job
                .recovery_point_arn()
                .map(|rp| format!("recovery point {rp}")),
            requested_at,
            seconds_to_active: at(job.completion_date())
                .map(|done| (done - requested_at).num_seconds()),
        }))
    }

    /// The report before its checks: a drill report of kind `restore testing`.
    fn restore_testing_report(&self, restore_job_id: &str, tested: &TestedRestore) -> DrillReport {
        DrillReport {
            drill_id: restore_job_id.to_string(),
            kind: "restore testing".into(),
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
            return Ok(vec![Check::new(
                "tables",
                false,
                format!(
                    "{} or {} could not be described",
                    tested.source, tested.copy
                ),
            )]);
        };
        let mut found = vec![checks::status(copy), checks::keys_and_indexes(source, copy)];
        let sample = self
            .sample(source, copy, self.settings.drill.sample_size)
            .await?;
        found.push(checks::sample(&sample));
        report.sample = Some(sample);
        found.push(self.count_check(tested, until).await?);
        let (s, c) = (self.snapshot(source).await, self.snapshot(copy).await);
        report.settings_differences = differences(&s.settings, &c.settings);
        found.push(Check::new(
            "settings",
            true,
            format!(
                "for information ({} differ): restore testing never finishes its table",
                report.settings_differences.len()
            ),
        ));
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

    /// The copy counted (within this invocation) against the best baseline there is (the count
    /// recorded with its backup, else the source's now). A count that could not finish is not
    /// compared: it can neither pass nor clear the copy.
    async fn count_check(
        &self,
        tested: &TestedRestore,
        until: Instant,
    ) -> Result<Check, RestoreError> {
        let tolerance = self.settings.drill.count_tolerance_percent;
        Ok(
            match self
                .verify(&tested.copy, &tested.source, None, until)
                .await?
            {
                Ok(verification) => checks::item_count(&verification, tolerance),
                Err(progress) => Check::not_compared(
                    "item count",
                    format!(
                        "not compared: {} items counted before this invocation's time ran out",
                        progress.counted
                    ),
                ),
            },
        )
    }
}

/// Why a job made by `plan` is not this stack's restore test (`ours`: its plan), or `None`.
fn not_ours(plan: Option<&str>, ours: Option<&str>) -> Option<String> {
    match (plan, ours) {
        (None, _) => Some("was not created by a restore testing plan".into()),
        (Some(plan), None) => Some(format!(
            "was created by restore testing plan {plan}, and this stack has none \
             (RESTORE_TESTING_PLAN_ARN)"
        )),
        (Some(plan), Some(ours)) if plan != ours => Some(format!(
            "was created by restore testing plan {plan}, not this stack's {ours}"
        )),
        _ => None,
    }
}

/// AWS Backup's verdict and a message that says why, within its length: `FAILED` when a check
/// found the copy wrong, `TIMED_OUT` when one could not be done in time, else `SUCCESSFUL`.
fn verdict(report: &DrillReport) -> (RestoreValidationStatus, String) {
    let failed: Vec<String> = (report.checks.iter())
        .filter(|c| !c.passed)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let found_wrong = report.checks.iter().any(Check::failed);
    let (status, text) = match failed.is_empty() {
        false if !found_wrong => (
            RestoreValidationStatus::TimedOut,
            format!("ddb-guard: {}", failed.join("; ")),
        ),
        true => (
            RestoreValidationStatus::Successful,
            format!(
                "ddb-guard: all {} checks passed ({})",
                report.checks.len(),
                report
                    .checks
                    .iter()
                    .map(|c| c.name.as_str())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_stacks_plan_is_ours() {
        let ours = "arn:aws:backup:us-east-1:1:restore-testing-plan:ours";
        assert_eq!(not_ours(Some(ours), Some(ours)), None);
        let theirs = not_ours(Some("arn:theirs"), Some(ours)).unwrap();
        assert!(
            theirs.contains("arn:theirs") && theirs.contains(ours),
            "{theirs}"
        );
        assert!(
            not_ours(None, Some(ours))
                .unwrap()
                .contains("not created by")
        );
        let none = not_ours(Some(ours), None).unwrap();
        assert!(none.contains("RESTORE_TESTING_PLAN_ARN"), "{none}");
    }

    fn report(checks: Vec<Check>) -> DrillReport {
        DrillReport {
            drill_id: "job".into(),
            kind: "restore testing".into(),
            source_table: "orders".into(),
            scratch_table: Some("awsbackup-restore-test-1".into()),
            restored_from: None,
            requested_at: Utc::now(),
            seconds_to_active: None,
            seconds_to_checked: None,
            target_minutes: 60,
            passed: checks.iter().all(|c| c.passed),
            checks,
            verification: None,
            sample: None,
            settings_differences: Vec::new(),
            scratch_table_deleted: false,
            report_location: None,
            alert_message_id: None,
        }
    }

    #[test]
    fn a_check_not_done_times_out_and_a_wrong_copy_fails() {
        let ok = Check::new("sample", true, "fine".into());
        let uncounted = Check::not_compared("item count", "not compared: 3 counted".into());
        let wrong = Check::new("keys and indexes", false, "differ".into());
        let status = |checks| verdict(&report(checks)).0;
        assert_eq!(
            status(vec![ok.clone()]),
            RestoreValidationStatus::Successful
        );
        assert_eq!(
            status(vec![ok.clone(), uncounted.clone()]),
            RestoreValidationStatus::TimedOut
        );
        assert_eq!(
            status(vec![ok, uncounted, wrong]),
            RestoreValidationStatus::Failed
        );
    }
}
