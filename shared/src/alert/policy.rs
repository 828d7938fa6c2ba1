//! Which AWS Backup job events deserve an alert: the states configured per job type, and
//! "completed with issues"; and which completed restores are routine (a drill's, a restore test's),
//! whose own report or validation tells what matters.

use std::collections::BTreeSet;

use crate::alert::events::{JobEvent, JobType};

/// Every state AWS Backup documents for its jobs; an event with any other (or none) alerts, since
/// an event nobody understands must not go unheard.
pub const KNOWN_STATES: [&str; 9] = [
    "CREATED",
    "PENDING",
    "RUNNING",
    "ABORTING",
    "COMPLETED",
    "PARTIAL",
    "ABORTED",
    "EXPIRED",
    "FAILED",
];

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
            restore_states: set(&["COMPLETED", "FAILED", "ABORTED"]),
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
        states.contains(&event.state)
            || !KNOWN_STATES.contains(&event.state.as_str())
            || self.completed_with_issues && event.has_issues()
    }
}

/// Why a completed restore is routine and emails nothing (`a_drill`: this stack recorded it as a
/// drill's restore), or `None`. Only `COMPLETED`: a routine restore that fails or aborts alerts.
pub fn routine_restore(event: &JobEvent, a_drill: bool) -> Option<&'static str> {
    if event.job_type != JobType::Restore || event.state != "COMPLETED" {
        return None;
    }
    if a_drill {
        Some("a drill's restore: the drill's report tells how it went")
    } else if event.is_restore_test() {
        Some("a restore test's restore: its validation tells how it went")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use crate::alert::events::test_event as event;

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
        assert!(p.alerts_on(&restore("ABORTED")));
        assert!(!p.alerts_on(&restore("RUNNING")));
    }

    #[test]
    fn only_completed_drills_and_restore_tests_are_routine() {
        let restore = |status: &str, table: &str| {
            let arn = format!("arn:aws:dynamodb:us-east-1:1:table/{table}");
            event(
                "Restore Job State Change",
                json!({"status": status, "createdResourceArn": arn}),
            )
        };
        assert!(routine_restore(&restore("COMPLETED", "t-restored-drill-1"), true).is_some());
        assert!(routine_restore(&restore("FAILED", "t-restored-drill-1"), true).is_none());
        let test = restore("COMPLETED", "awsbackup-restore-test-1");
        assert!(routine_restore(&test, false).is_some());
        assert!(routine_restore(&restore("ABORTED", "awsbackup-restore-test-1"), false).is_none());
        assert!(routine_restore(&restore("COMPLETED", "orders-restored-1"), false).is_none());
    }

    #[test]
    fn an_event_nobody_understands_alerts() {
        let p = AlertPolicy::default();
        let renamed = event("Backup Job State Change", json!({"jobState": "FAILED"}));
        assert_eq!(renamed.state, "UNKNOWN");
        assert!(p.alerts_on(&renamed));
        let new_state = event("Copy Job State Change", json!({"state": "QUARANTINED"}));
        assert!(p.alerts_on(&new_state));
        let known_quiet = event("Backup Job State Change", json!({"state": "PARTIAL"}));
        assert!(!p.alerts_on(&known_quiet));
    }
}
