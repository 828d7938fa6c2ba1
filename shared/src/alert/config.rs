//! The backup-notifier's environment, read and checked at cold start.

use std::collections::BTreeSet;

use chrono::Duration;

use serde::Deserialize;

use crate::alert::policy::{AlertPolicy, KNOWN_STATES};
use crate::alert::watchdog::BackupSource;
use crate::backup_name::Ownership;
use crate::env::{ConfigError, key_value, list};
use crate::table_selection::{TableSelection, check_table_name};

#[derive(Debug, Clone)]
pub struct NotifierSettings {
    pub topic_arn: String,
    pub subject_prefix: String,
    pub policy: AlertPolicy,
    /// The restore-handler to send `{"action": "finish"}` when a restore job completes.
    pub finish_function: Option<String>,
    /// Send that restore-handler `{"action": "validate"}` when a restore job this stack did not
    /// start completes (AWS Backup restore testing's; the restore-handler checks that it is).
    pub validate_restore_tests: bool,
    pub watch: TableSelection,
    pub max_backup_age: Duration,
    /// Each source of backups the watchdog expects, each judged on its own.
    pub expected: Vec<BackupSource>,
    /// For `any`: also look at AWS Backup recovery points (`ListRecoveryPointsByResource`).
    pub watch_aws_backup: bool,
    /// The stack whose native backups `native` looks for.
    pub ownership: Option<Ownership>,
    /// The vault `on-demand` and `plan` look in.
    pub vault: Option<String>,
    /// The plan whose recovery points `plan` looks for.
    pub plan_id: Option<String>,
    /// Check point-in-time recovery too: on, and not lagging more than this.
    pub max_pitr_lag: Option<Duration>,
    /// Where alerts already published are remembered, so a retried event does not repeat one.
    pub state_table: Option<String>,
    /// The watchdog alerts on what its metrics measure too (off where alarms page for it).
    pub alert_measured: bool,
}

fn default_subject_prefix() -> String {
    "[ddb-guard]".into()
}
fn default_failure_states() -> String {
    "FAILED,ABORTED,EXPIRED".into()
}
fn default_restore_states() -> String {
    "COMPLETED,FAILED,ABORTED".into()
}
fn default_true() -> bool {
    true
}
fn default_max_backup_age_hours() -> f64 {
    26.0
}

/// The backup-notifier's environment.
#[derive(Debug, Clone, Deserialize)]
pub struct NotifierEnv {
    pub topic_arn: String,
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// Comma-separated states that alert, per job type.
    #[serde(default = "default_failure_states")]
    pub alert_backup_states: String,
    #[serde(default = "default_failure_states")]
    pub alert_copy_states: String,
    #[serde(default = "default_restore_states")]
    pub alert_restore_states: String,
    #[serde(default = "default_true")]
    pub alert_completed_with_issues: bool,
    /// The restore-handler to ask to finish a completed restore (name or ARN).
    #[serde(default)]
    pub finish_restore_function: String,
    /// Forward completed restore jobs this stack did not start to that function to validate.
    #[serde(default)]
    pub validate_restore_tests: bool,
    #[serde(default)]
    pub watch_table_names: String,
    /// `key=value`
    #[serde(default)]
    pub watch_table_tag: String,
    #[serde(default = "default_max_backup_age_hours")]
    pub max_backup_age_hours: f64,
    #[serde(default = "default_true")]
    pub watch_aws_backup: bool,
    /// Comma-separated: any, native, on-demand, plan.
    #[serde(default = "default_expected_backups")]
    pub expected_backups: String,
    #[serde(default)]
    pub backup_owner: String,
    #[serde(default)]
    pub adopt_legacy_backups: bool,
    #[serde(default)]
    pub backup_vault_name: String,
    #[serde(default)]
    pub backup_plan_id: String,
    #[serde(default)]
    pub watch_pitr: bool,
    /// Alert on what the watchdog's metrics measure (stale backups, point-in-time recovery lagging
    /// or disabled). The template turns it off: its alarms on those metrics page instead.
    #[serde(default = "default_true")]
    pub alert_measured: bool,
    #[serde(default = "default_max_pitr_lag_minutes")]
    pub max_pitr_lag_minutes: f64,
    #[serde(default)]
    pub state_table: String,
}

fn default_expected_backups() -> String {
    "any".into()
}
fn default_max_pitr_lag_minutes() -> f64 {
    60.0
}

impl NotifierEnv {
    /// Checks each variable, in the order they are listed here, and builds the settings.
    pub fn validate(self) -> Result<NotifierSettings, ConfigError> {
        check_topic_arn(&self.topic_arn)?;
        let watch = watched_tables(&self.watch_table_names, &self.watch_table_tag)?;
        positive("MAX_BACKUP_AGE_HOURS", self.max_backup_age_hours)?;
        let expected = expected_backups(&self.expected_backups)?;
        let ownership = ownership(&self.backup_owner, self.adopt_legacy_backups)?;
        let (vault, plan_id) = (
            optional_text(&self.backup_vault_name),
            optional_text(&self.backup_plan_id),
        );
        check_sources_can_be_watched(
            &expected,
            ownership.as_ref(),
            vault.as_deref(),
            plan_id.as_deref(),
        )?;
        if self.validate_restore_tests && self.finish_restore_function.trim().is_empty() {
            return Err(bad(
                "VALIDATE_RESTORE_TESTS",
                "forwarding restore tests needs FINISH_RESTORE_FUNCTION (the restore-handler)"
                    .into(),
            ));
        }
        positive("MAX_PITR_LAG_MINUTES", self.max_pitr_lag_minutes)?;
        let policy = self.alert_policy()?;
        Ok(NotifierSettings {
            topic_arn: self.topic_arn,
            subject_prefix: self.subject_prefix,
            policy,
            finish_function: optional_text(&self.finish_restore_function),
            validate_restore_tests: self.validate_restore_tests,
            watch,
            max_backup_age: chrono::Duration::seconds((self.max_backup_age_hours * 3600.0) as i64),
            expected,
            watch_aws_backup: self.watch_aws_backup,
            ownership,
            vault,
            plan_id,
            alert_measured: self.alert_measured,
            max_pitr_lag: self
                .watch_pitr
                .then(|| Duration::seconds((self.max_pitr_lag_minutes * 60.0) as i64)),
            state_table: optional_text(&self.state_table),
        })
    }

    /// Which job states alert, per job type.
    fn alert_policy(&self) -> Result<AlertPolicy, ConfigError> {
        Ok(AlertPolicy {
            backup_states: alert_states("ALERT_BACKUP_STATES", &self.alert_backup_states)?,
            copy_states: alert_states("ALERT_COPY_STATES", &self.alert_copy_states)?,
            restore_states: alert_states("ALERT_RESTORE_STATES", &self.alert_restore_states)?,
            completed_with_issues: self.alert_completed_with_issues,
        })
    }
}

/// `VAR: why`.
fn bad(var: &str, why: String) -> ConfigError {
    ConfigError(format!("{var}: {why}"))
}

/// Trimmed, `None` when empty.
fn optional_text(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|s| !s.is_empty())
}

fn check_topic_arn(topic_arn: &str) -> Result<(), ConfigError> {
    match topic_arn.starts_with("arn:") {
        true => Ok(()),
        false => Err(bad(
            "TOPIC_ARN",
            format!("{topic_arn:?} is not an SNS topic ARN"),
        )),
    }
}

/// A number of hours or minutes, which must be more than 0.
fn positive(var: &str, value: f64) -> Result<(), ConfigError> {
    match value.is_finite() && value > 0.0 {
        true => Ok(()),
        false => Err(bad(var, "must be more than 0".into())),
    }
}

/// A comma-separated list of job states, each one AWS Backup knows.
fn alert_states(var: &str, text: &str) -> Result<BTreeSet<String>, ConfigError> {
    list(text)
        .into_iter()
        .map(|s| s.to_ascii_uppercase())
        .map(|s| {
            if KNOWN_STATES.contains(&s.as_str()) {
                Ok(s)
            } else {
                Err(bad(
                    var,
                    format!("{s:?} is not one of {}", KNOWN_STATES.join(", ")),
                ))
            }
        })
        .collect()
}

/// The tables the watchdog watches: named in `WATCH_TABLE_NAMES`, and tagged `WATCH_TABLE_TAG`.
fn watched_tables(names: &str, tag: &str) -> Result<TableSelection, ConfigError> {
    let names = list(names);
    for name in &names {
        check_table_name(name).map_err(|e| bad("WATCH_TABLE_NAMES", e))?;
    }
    let tag = match tag.trim() {
        "" => None,
        tag => Some(key_value(tag).map_err(|e| bad("WATCH_TABLE_TAG", e))?),
    };
    Ok(TableSelection { names, tag })
}

/// At least one source of backups the watchdog expects.
fn expected_backups(text: &str) -> Result<Vec<BackupSource>, ConfigError> {
    let expected: Vec<BackupSource> = list(text)
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()
        .map_err(|e| bad("EXPECTED_BACKUPS", e))?;
    if expected.is_empty() {
        return Err(bad(
            "EXPECTED_BACKUPS",
            "name at least one source (any, native, on-demand, plan)".into(),
        ));
    }
    Ok(expected)
}

/// The stack whose native backups are looked for, when `BACKUP_OWNER` names one.
fn ownership(owner: &str, adopt_legacy: bool) -> Result<Option<Ownership>, ConfigError> {
    let Some(owner) = optional_text(owner) else {
        return Ok(None);
    };
    Ownership::check_owner(&owner).map_err(|e| bad("BACKUP_OWNER", e))?;
    Ok(Some(Ownership {
        owner,
        adopt_legacy,
    }))
}

/// Each expected source has what looking for it needs: an owner, a vault, a plan.
fn check_sources_can_be_watched(
    expected: &[BackupSource],
    ownership: Option<&Ownership>,
    vault: Option<&str>,
    plan_id: Option<&str>,
) -> Result<(), ConfigError> {
    for source in expected {
        let missing = match source {
            BackupSource::Native if ownership.is_none() => Some("BACKUP_OWNER"),
            BackupSource::OnDemand | BackupSource::Plan if vault.is_none() => {
                Some("BACKUP_VAULT_NAME")
            }
            BackupSource::Plan if plan_id.is_none() => Some("BACKUP_PLAN_ID"),
            _ => None,
        };
        if let Some(var) = missing {
            return Err(bad(
                "EXPECTED_BACKUPS",
                format!("watching {source} needs {var}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{from_vars, vars};

    #[test]
    fn notifier_settings() {
        let n = from_vars::<NotifierEnv>(vars(&[
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:alerts"),
            ("ALERT_BACKUP_STATES", "failed, expired"),
            ("WATCH_TABLE_TAG", "backup=daily"),
        ]))
        .unwrap()
        .validate()
        .unwrap();
        assert_eq!(
            n.policy.backup_states,
            BTreeSet::from(["FAILED".into(), "EXPIRED".into()])
        );
        assert_eq!(
            n.policy.restore_states,
            BTreeSet::from(["COMPLETED".into(), "FAILED".into(), "ABORTED".into()])
        );
        assert_eq!(n.max_backup_age, chrono::Duration::hours(26));
        assert_eq!(n.expected, [BackupSource::Any]);
        assert_eq!((n.max_pitr_lag, n.state_table), (None, None));
        assert!(!n.validate_restore_tests, "off unless asked");
        let sourced = from_vars::<NotifierEnv>(vars(&[
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:1:alerts"),
            ("EXPECTED_BACKUPS", "native,plan"),
            ("BACKUP_OWNER", "prod"),
            ("BACKUP_VAULT_NAME", "prod-vault"),
            ("BACKUP_PLAN_ID", "plan-1"),
            ("WATCH_PITR", "true"),
            ("VALIDATE_RESTORE_TESTS", "true"),
            ("FINISH_RESTORE_FUNCTION", "prod-restore-handler"),
        ]))
        .unwrap()
        .validate()
        .unwrap();
        assert!(sourced.validate_restore_tests);
        assert_eq!(sourced.expected, [BackupSource::Native, BackupSource::Plan]);
        assert_eq!(sourced.max_pitr_lag, Some(chrono::Duration::hours(1)));
        for (pairs, expect) in [
            (vec![], "TOPIC_ARN"),
            (vec![("TOPIC_ARN", "alerts")], "TOPIC_ARN"),
            (
                vec![("TOPIC_ARN", "arn:x"), ("ALERT_COPY_STATES", "BROKEN")],
                "ALERT_COPY_STATES",
            ),
            (
                vec![("TOPIC_ARN", "arn:x"), ("MAX_BACKUP_AGE_HOURS", "0")],
                "MAX_BACKUP_AGE_HOURS",
            ),
            (
                vec![("TOPIC_ARN", "arn:x"), ("EXPECTED_BACKUPS", "weekly")],
                "EXPECTED_BACKUPS",
            ),
            (
                vec![("TOPIC_ARN", "arn:x"), ("EXPECTED_BACKUPS", "native")],
                "needs BACKUP_OWNER",
            ),
            (
                vec![
                    ("TOPIC_ARN", "arn:x"),
                    ("EXPECTED_BACKUPS", "plan"),
                    ("BACKUP_VAULT_NAME", "v"),
                ],
                "needs BACKUP_PLAN_ID",
            ),
            (
                vec![("TOPIC_ARN", "arn:x"), ("VALIDATE_RESTORE_TESTS", "true")],
                "needs FINISH_RESTORE_FUNCTION",
            ),
        ] {
            let err = from_vars::<NotifierEnv>(vars(&pairs))
                .and_then(NotifierEnv::validate)
                .unwrap_err();
            assert!(err.to_string().contains(expect), "{pairs:?}: {err}");
        }
    }
}
