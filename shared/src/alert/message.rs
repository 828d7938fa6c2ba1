//! The messages people read: an AWS Backup job event, or a console test, as subject, body and
//! attributes.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::alert::events::{JobEvent, JobType};
use crate::topic::{Alert, subject};

/// The alert for a job event.
pub fn job_alert(prefix: &str, event: &JobEvent) -> Alert {
    let table = event.table();
    let what = match (event.job_type, &table) {
        (JobType::Restore, Some(t)) => format!("restore into table {t}"),
        (kind, Some(t)) => format!("{} of table {t}", kind.as_str()),
        (kind, None) => format!("{} job", kind.as_str()),
    };
    let state = if event.has_issues() {
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

    use crate::alert::events::test_event as event;

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
    fn sizes_in_human_units() {
        assert_eq!(human_size(0), "0 bytes");
        assert_eq!(human_size(1023), "1023 bytes");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 * 1024 * 1024 * 1024 * 1024), "5.0 TiB");
    }
}
