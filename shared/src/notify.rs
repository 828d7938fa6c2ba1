//! Alerts: which job events deserve one, and the message people read (subject, body, attributes).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::backup_events::{JobEvent, JobType};

/// SNS subjects must be ASCII, one line, under 100 characters.
pub const MAX_SUBJECT: usize = 99;

/// Which states alert, per job type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertPolicy {
    pub backup_states: BTreeSet<String>,
    pub copy_states: BTreeSet<String>,
    pub restore_states: BTreeSet<String>,
    /// Alert on a `COMPLETED` backup or copy that carries a status message ("completed with issues").
    pub completed_with_issues: bool,
}

impl Default for AlertPolicy {
    fn default() -> Self {
        let set = |states: &[&str]| states.iter().map(|s| s.to_string()).collect();
        AlertPolicy {
            backup_states: set(&["FAILED", "ABORTED", "EXPIRED"]),
            copy_states: set(&["FAILED", "ABORTED", "EXPIRED"]),
            restore_states: set(&["COMPLETED", "FAILED"]),
            completed_with_issues: true,
        }
    }
}

impl AlertPolicy {
    pub fn alerts_on(&self, event: &JobEvent) -> bool {
        let states = match event.job_type {
            JobType::Backup => &self.backup_states,
            JobType::Copy => &self.copy_states,
            JobType::Restore => &self.restore_states,
        };
        states.contains(&event.state) || self.completed_with_issues && has_issues(event)
    }
}

fn has_issues(event: &JobEvent) -> bool {
    event.job_type != JobType::Restore
        && event.state == "COMPLETED"
        && event.status_message.is_some()
}

/// A message for the SNS topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub subject: String,
    pub body: String,
    /// SNS message attributes (strings), so subscribers can filter.
    pub attributes: BTreeMap<String, String>,
}

/// The alert for a job event.
pub fn job_alert(prefix: &str, event: &JobEvent) -> Alert {
    let table = event.table();
    let what = match (event.job_type, &table) {
        (JobType::Restore, Some(t)) => format!("restore into table {t}"),
        (kind, Some(t)) => format!("{} of table {t}", kind.as_str()),
        (kind, None) => format!("{} job", kind.as_str()),
    };
    let state = if has_issues(event) {
        "COMPLETED with issues".to_string()
    } else {
        event.state.clone()
    };
    let subject = subject(&format!("{prefix} {state}: {what}"));

    let mut lines = vec![format!(
        "AWS Backup {} job {}: {what}.",
        event.job_type.as_str(),
        state
    )];
    lines.push(String::new());
    let mut add = |label: &str, value: Option<String>| {
        if let Some(value) = value {
            lines.push(format!("{label:<16}{value}"));
        }
    };
    add("Table:", table);
    add(
        "Source:",
        (event.job_type == JobType::Restore)
            .then(|| event.resource_arn.clone())
            .flatten(),
    );
    add("State:", Some(state.clone()));
    add("Status message:", event.status_message.clone());
    add("Vault:", event.vault.clone());
    add("From vault:", event.source_vault.clone());
    add("Job id:", event.job_id.clone());
    add("Size:", event.size_bytes.map(human_size));
    add("Started:", event.started.map(|t| t.to_rfc3339()));
    add("Finished:", event.completed.map(|t| t.to_rfc3339()));
    add("Duration:", duration(event.started, event.completed));
    add("Recovery point:", event.recovery_point_arn.clone());
    add(
        "Resource:",
        event
            .resource_arn
            .clone()
            .filter(|_| event.job_type != JobType::Restore),
    );
    add("Account:", event.account.clone());
    add("Console:", console_link(event));
    let body = lines.join("\n") + "\n";

    let mut attributes = BTreeMap::new();
    attributes.insert("state".to_string(), event.state.clone());
    attributes.insert("job_type".to_string(), event.job_type.as_str().to_string());
    if let Some(kind) = &event.resource_type {
        attributes.insert("resource_type".to_string(), kind.clone());
    }
    Alert {
        subject,
        body,
        attributes,
    }
}

/// The clearly marked alert a console test sends, to check the wiring.
pub fn test_alert(prefix: &str, now: DateTime<Utc>) -> Alert {
    Alert {
        subject: subject(&format!("{prefix} TEST alert: checking the wiring")),
        body: format!(
            "This is a test alert sent at {} by a console test of the backup-notifier.\n\
             Nothing is wrong; if you read this, backup alerts reach you.\n",
            now.to_rfc3339()
        ),
        attributes: BTreeMap::from([
            ("state".to_string(), "TEST".to_string()),
            ("job_type".to_string(), "test".to_string()),
        ]),
    }
}

/// One line, ASCII only, cut to SNS's limit.
pub fn subject(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() > MAX_SUBJECT {
        clean.truncate(MAX_SUBJECT - 3);
        clean.push_str("...");
    }
    clean
}

pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn duration(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Option<String> {
    let seconds = (end? - start?).num_seconds();
    if seconds < 0 {
        return None;
    }
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    Some(match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    })
}

fn console_link(event: &JobEvent) -> Option<String> {
    let region = event.region.as_deref()?;
    let base = format!("https://{region}.console.aws.amazon.com/backup/home?region={region}#/jobs");
    Some(match &event.job_id {
        Some(id) => format!("{base}/{}/details/{id}", event.job_type.as_str()),
        None => base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail_type: &str, detail: serde_json::Value) -> JobEvent {
        JobEvent::from_event(
            &json!({"detail-type": detail_type, "region": "eu-west-1", "detail": detail}),
        )
        .unwrap()
    }

    #[test]
    fn default_policy() {
        let p = AlertPolicy::default();
        let backup = |state: &str, message: Option<&str>| {
            event(
                "Backup Job State Change",
                json!({"state": state, "statusMessage": message}),
            )
        };
        assert!(p.alerts_on(&backup("FAILED", None)));
        assert!(p.alerts_on(&backup("EXPIRED", None)));
        assert!(!p.alerts_on(&backup("COMPLETED", None)));
        assert!(p.alerts_on(&backup("COMPLETED", Some("Windows VSS failed"))));
        assert!(!p.alerts_on(&backup("RUNNING", None)));
        let restore = |status: &str| event("Restore Job State Change", json!({"status": status}));
        assert!(p.alerts_on(&restore("COMPLETED")) && p.alerts_on(&restore("FAILED")));
        assert!(!p.alerts_on(&restore("RUNNING")));
    }

    #[test]
    fn a_failed_backup_reads_well() {
        let e = event(
            "Backup Job State Change",
            json!({"state": "FAILED", "backupJobId": "D1A4E6A0", "backupVaultName": "ddb-guard",
                   "resourceArn": "arn:aws:dynamodb:eu-west-1:1:table/order_transaction-prod",
                   "resourceType": "DynamoDB", "backupSizeInBytes": "1610612736",
                   "creationDate": "2026-11-25T05:00:00Z", "completionDate": "2026-11-25T05:14:09Z",
                   "statusMessage": "IAM role is not authorized"}),
        );
        let alert = job_alert("[ddb-guard]", &e);
        assert_eq!(
            alert.subject,
            "[ddb-guard] FAILED: backup of table order_transaction-prod"
        );
        for line in [
            "AWS Backup backup job FAILED: backup of table order_transaction-prod.",
            "Table:          order_transaction-prod",
            "Status message: IAM role is not authorized",
            "Vault:          ddb-guard",
            "Size:           1.5 GiB",
            "Duration:       14 min 9 s",
            "Console:        https://eu-west-1.console.aws.amazon.com/backup/home?region=eu-west-1#/jobs/backup/details/D1A4E6A0",
        ] {
            assert!(alert.body.contains(line), "{line}\n{}", alert.body);
        }
        assert_eq!(alert.attributes["state"], "FAILED");
        assert_eq!(alert.attributes["job_type"], "backup");
        assert_eq!(alert.attributes["resource_type"], "DynamoDB");
    }

    #[test]
    fn subjects_stay_within_sns_limits() {
        let long = subject(&format!(
            "[ddb-guard] FAILED: backup of table {}",
            "t".repeat(255)
        ));
        assert_eq!(long.len(), MAX_SUBJECT);
        assert!(long.ends_with("..."));
        assert_eq!(subject("café\nau lait"), "caf??au lait");
    }

    #[test]
    fn sizes_in_human_units() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024 * 1024), "5.0 TiB");
    }
}
