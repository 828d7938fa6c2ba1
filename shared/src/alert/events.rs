//! AWS Backup's job events (EventBridge, source `aws.backup`), read leniently: sizes arrive as
//! strings or numbers, dates in more than one format, the recovery point ARN sometimes only in
//! `resources[]`, restore jobs report `status` where the others report `state`. An odd or unknown
//! field never loses the event.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    Backup,
    Copy,
    Restore,
}

impl JobType {
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Backup => "backup",
            JobType::Copy => "copy",
            JobType::Restore => "restore",
        }
    }

    /// From the event's `detail-type`, e.g. `Backup Job State Change`.
    pub fn from_detail_type(detail_type: &str) -> Option<JobType> {
        match detail_type {
            "Backup Job State Change" => Some(JobType::Backup),
            "Copy Job State Change" => Some(JobType::Copy),
            "Restore Job State Change" => Some(JobType::Restore),
            _ => None,
        }
    }
}

/// One job state change, with whatever the event carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobEvent {
    /// EventBridge's id of the event: the same on every delivery of it.
    pub event_id: Option<String>,
    pub job_type: JobType,
    /// Upper case: CREATED, PENDING, RUNNING, COMPLETED, ABORTED, EXPIRED, FAILED, ...
    pub state: String,
    pub job_id: Option<String>,
    pub region: Option<String>,
    pub account: Option<String>,
    pub resource_arn: Option<String>,
    pub resource_type: Option<String>,
    /// The vault the recovery point is in (for a copy, the destination).
    pub vault: Option<String>,
    /// For a copy, the vault it copies from.
    pub source_vault: Option<String>,
    pub recovery_point_arn: Option<String>,
    /// The table a restore created.
    pub created_resource_arn: Option<String>,
    pub size_bytes: Option<u64>,
    pub started: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub status_message: Option<String>,
    /// The restore testing plan that made a restore job, where the event names it
    /// (`detail.createdBy.restoreTestingPlanArn`, unconfirmed in a real event: docs/live-checks.md).
    pub restore_testing_plan: Option<String>,
}

/// AWS Backup restore testing restores DynamoDB tables under names that start with this.
pub const RESTORE_TEST_TABLE_PREFIX: &str = "awsbackup-restore-test-";

/// An AWS Backup job event of `detail_type` with `detail`, for tests of what reads them.
#[cfg(test)]
pub(crate) fn test_event(detail_type: &str, detail: Value) -> JobEvent {
    JobEvent::from_event(&serde_json::json!(
        {"detail-type": detail_type, "region": "eu-west-1", "detail": detail}
    ))
    .expect("a job event")
}

impl JobEvent {
    /// "Completed with issues": a backup or copy that completed with a status message.
    pub fn has_issues(&self) -> bool {
        self.job_type != JobType::Restore
            && self.state == "COMPLETED"
            && self.status_message.is_some()
    }

    /// Reads an EventBridge event; `None` when it is not an AWS Backup job state change.
    pub fn from_event(event: &Value) -> Option<JobEvent> {
        let job_type = JobType::from_detail_type(text(event, "detail-type")?.as_str())?;
        let detail = event.get("detail").unwrap_or(&Value::Null);
        let field = |name: &str| text(detail, name);
        // Restore jobs say `status` (but `state` for CREATED); the others say `state`.
        let state = match job_type {
            JobType::Restore => field("status").or_else(|| field("state")),
            _ => field("state").or_else(|| field("status")),
        }
        .map_or_else(|| "UNKNOWN".to_string(), |s| s.to_ascii_uppercase());
        let resources: Vec<String> = event
            .get("resources")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let recovery_point_arn = field("recoveryPointArn")
            .or_else(|| field("destinationRecoveryPointArn"))
            .or_else(|| {
                resources
                    .iter()
                    .find(|r| r.contains(":recovery-point:"))
                    .cloned()
            })
            .or_else(|| {
                // A DynamoDB recovery point is a backup ARN of the table.
                resources
                    .iter()
                    .find(|r| r.contains(":dynamodb:") && r.contains("/backup/"))
                    .cloned()
            });
        let vault = field("backupVaultName")
            .or_else(|| field("backupVaultArn").map(|arn| last_segment(&arn, ':')))
            .or_else(|| field("destinationBackupVaultArn").map(|arn| last_segment(&arn, ':')));
        Some(JobEvent {
            event_id: text(event, "id"),
            job_type,
            state,
            job_id: field("backupJobId")
                .or_else(|| field("copyJobId"))
                .or_else(|| field("restoreJobId"))
                .or_else(|| field("jobId")),
            region: text(event, "region"),
            account: text(event, "account"),
            resource_arn: field("resourceArn"),
            resource_type: field("resourceType"),
            vault,
            source_vault: field("sourceBackupVaultArn").map(|arn| last_segment(&arn, ':')),
            recovery_point_arn,
            created_resource_arn: field("createdResourceArn"),
            size_bytes: detail.get("backupSizeInBytes").and_then(number),
            started: detail.get("creationDate").and_then(date),
            completed: detail.get("completionDate").and_then(date),
            status_message: field("statusMessage").filter(|m| !m.trim().is_empty()),
            restore_testing_plan: detail
                .get("createdBy")
                .and_then(|c| text(c, "restoreTestingPlanArn")),
        })
    }

    /// A restore made by AWS Backup restore testing: the event names a restore testing plan, or
    /// the table it restored carries restore testing's name.
    pub fn is_restore_test(&self) -> bool {
        self.job_type == JobType::Restore
            && (self.restore_testing_plan.is_some()
                || self
                    .table()
                    .is_some_and(|t| t.starts_with(RESTORE_TEST_TABLE_PREFIX)))
    }

    /// The DynamoDB table the job is about: for a restore, the table it created.
    pub fn table(&self) -> Option<String> {
        let arn = match self.job_type {
            JobType::Restore => self
                .created_resource_arn
                .as_ref()
                .or(self.resource_arn.as_ref()),
            _ => self.resource_arn.as_ref(),
        }?;
        table_name_from_arn(arn)
    }
}

/// `arn:aws:dynamodb:<region>:<account>:table/<name>[/...]` -> `<name>`.
pub fn table_name_from_arn(arn: &str) -> Option<String> {
    let (_, rest) = arn.split_once(":table/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn last_segment(arn: &str, separator: char) -> String {
    arn.rsplit(separator).next().unwrap_or(arn).to_string()
}

/// A size as a JSON number or a string of digits.
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        Value::String(s) => s.trim().parse::<u64>().ok().or_else(|| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(|f| f.max(0.0) as u64)
        }),
        _ => None,
    }
}

/// RFC 3339 (with or without zone), `YYYY-MM-DD HH:MM:SS`, or epoch seconds / milliseconds.
fn date(value: &Value) -> Option<DateTime<Utc>> {
    let epoch = |n: f64| {
        let seconds = if n > 1e11 { n / 1000.0 } else { n };
        DateTime::from_timestamp(seconds.trunc() as i64, (seconds.fract() * 1e9) as u32)
    };
    match value {
        Value::Number(n) => n.as_f64().and_then(epoch),
        Value::String(s) => {
            let s = s.trim();
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    [
                        "%Y-%m-%dT%H:%M:%S%.f",
                        "%Y-%m-%d %H:%M:%S%.f",
                        "%Y-%m-%d %H:%M:%S%.f UTC",
                    ]
                    .iter()
                    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
                    .map(|d| d.and_utc())
                })
                .or_else(|| s.parse::<f64>().ok().and_then(epoch))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_backup_job() {
        let e = JobEvent::from_event(&json!({
            "detail-type": "Backup Job State Change", "source": "aws.backup", "region": "eu-west-1",
            "account": "123456789012", "resources": [],
            "detail": {"backupJobId": "job-1", "state": "FAILED", "backupVaultName": "vault",
                "resourceArn": "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
                "resourceType": "DynamoDB", "backupSizeInBytes": "2048",
                "creationDate": "2026-11-25T05:00:00.000Z", "completionDate": "2026-11-25T05:12:30Z",
                "statusMessage": "Access denied", "someNewField": {"x": 1}}
        }))
        .unwrap();
        assert_eq!((e.job_type, e.state.as_str()), (JobType::Backup, "FAILED"));
        assert_eq!(e.table().as_deref(), Some("orders"));
        assert_eq!(e.size_bytes, Some(2048));
        assert_eq!(
            (e.completed.unwrap() - e.started.unwrap()).num_seconds(),
            750
        );
        assert_eq!(e.vault.as_deref(), Some("vault"));
        assert_eq!(e.status_message.as_deref(), Some("Access denied"));
    }

    #[test]
    fn restores_say_status_and_name_the_table_they_created() {
        let e = JobEvent::from_event(&json!({
            "detail-type": "Restore Job State Change", "source": "aws.backup",
            "detail": {"restoreJobId": "r-1", "status": "COMPLETED", "backupSizeInBytes": 10,
                "createdResourceArn": "arn:aws:dynamodb:us-east-1:1:table/orders-restored",
                "creationDate": 1795582800, "completionDate": "1795583100000"}
        }))
        .unwrap();
        assert_eq!(
            (e.job_type, e.state.as_str()),
            (JobType::Restore, "COMPLETED")
        );
        assert_eq!(e.table().as_deref(), Some("orders-restored"));
        assert_eq!(
            (e.completed.unwrap() - e.started.unwrap()).num_seconds(),
            300
        );
        let created = JobEvent::from_event(&json!({
            "detail-type": "Restore Job State Change", "detail": {"state": "CREATED"}
        }))
        .unwrap();
        assert_eq!(created.state, "CREATED");
    }

    #[test]
    fn the_recovery_point_may_be_only_in_resources() {
        let e = JobEvent::from_event(&json!({
            "detail-type": "Backup Job State Change",
            "resources": ["arn:aws:dynamodb:us-east-1:1:table/orders/backup/0179-abc"],
            "detail": {"state": "COMPLETED", "backupVaultArn": "arn:aws:backup:us-east-1:1:backup-vault:vault"}
        }))
        .unwrap();
        assert_eq!(
            e.recovery_point_arn.as_deref(),
            Some("arn:aws:dynamodb:us-east-1:1:table/orders/backup/0179-abc")
        );
        assert_eq!(e.vault.as_deref(), Some("vault"));
    }

    #[test]
    fn odd_fields_never_lose_the_event() {
        let e = JobEvent::from_event(&json!({
            "detail-type": "Copy Job State Change",
            "detail": {"state": "failed", "backupSizeInBytes": "lots", "creationDate": "yesterday",
                       "copyJobId": 42, "resourceArn": ["not", "a", "string"]}
        }))
        .unwrap();
        assert_eq!(
            (e.job_type, e.state.as_str(), e.job_id.as_deref()),
            (JobType::Copy, "FAILED", Some("42"))
        );
        assert_eq!(
            (e.size_bytes, e.started, e.resource_arn),
            (None, None, None)
        );
        assert!(JobEvent::from_event(&json!({"detail-type": "Scheduled Event"})).is_none());
    }

    #[test]
    fn restore_tests_are_known_by_their_plan_or_their_table() {
        let restore = |detail: Value| {
            JobEvent::from_event(
                &json!({"detail-type": "Restore Job State Change", "detail": detail}),
            )
            .unwrap()
        };
        let arn = |t: &str| format!("arn:aws:dynamodb:us-east-1:1:table/{t}");
        let named = restore(json!({"status": "COMPLETED",
            "createdResourceArn": arn("awsbackup-restore-test-5e2b7c19")}));
        assert!(named.is_restore_test());
        let planned = restore(
            json!({"status": "COMPLETED", "createdResourceArn": arn("x"),
            "createdBy": {"restoreTestingPlanArn": "arn:aws:backup:us-east-1:1:restore-testing-plan:p"}}),
        );
        assert!(planned.is_restore_test());
        assert!(
            !restore(json!({"status": "COMPLETED", "createdResourceArn": arn("orders-restored")}))
                .is_restore_test()
        );
    }
}
