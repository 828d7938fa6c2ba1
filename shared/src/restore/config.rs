//! The restore-handler's environment, read and checked at cold start.

use std::time::Duration;

use serde::Deserialize;

use crate::env::{ConfigError, key_value, list};
use crate::table_selection::{TableSelection, check_table_name};

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    /// The table `{}` restores, and the source a `finish` falls back on.
    pub source_table: Option<String>,
    /// The role AWS Backup restores with.
    pub restore_role_arn: Option<String>,
    /// The stack's vault: the only one whose recovery points the handler restores.
    pub backup_vault_name: Option<String>,
    /// How often to look at a table being created while waiting.
    pub poll_interval: Duration,
    /// Every restore target's name contains this, so IAM can limit writes to restore targets.
    pub target_marker: String,
    /// Where the restores this handler started are recorded; `finish` acts only on those.
    pub state_table: Option<String>,
    /// Tag keys never copied to a restored table (besides `aws:` ones): the backup plan's
    /// selection tag would enrol every copy in the plan.
    pub skip_tags: Vec<String>,
    /// The stack's protection tag (key, value): a promoted copy gets it, so the stack backs it up
    /// and watches it like the tables it protects.
    pub protected_tag: Option<(String, String)>,
    /// The Kinesis streams a copy may send its changes to (IAM grants those only); none: a
    /// request for Kinesis destinations is refused.
    pub kinesis_streams: Vec<String>,
    pub drill: DrillSettings,
}

/// Where a drill restores from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillSource {
    /// The newest available native backup.
    Backup,
    /// The latest restorable time (point-in-time recovery).
    PointInTime,
    /// The newest completed AWS Backup recovery point in the stack's vault.
    RecoveryPoint,
}

impl DrillSource {
    pub fn parse(text: &str) -> Result<DrillSource, String> {
        match text.trim() {
            "backup" => Ok(DrillSource::Backup),
            "point_in_time" => Ok(DrillSource::PointInTime),
            "recovery_point" => Ok(DrillSource::RecoveryPoint),
            other => Err(format!(
                "{other:?} is not backup, point_in_time or recovery_point"
            )),
        }
    }
}

/// How drills run and what they must prove.
#[derive(Debug, Clone)]
pub struct DrillSettings {
    /// Tables drilled when a request names none: the named ones, then every table carrying the
    /// tag (default, when neither is set: the source table).
    pub tables: TableSelection,
    pub source: DrillSource,
    /// A restore slower than this (request to `ACTIVE`) fails the drill.
    pub target_minutes: u32,
    /// Items sampled from the copy, and as many from the source.
    pub sample_size: u32,
    /// Tables bigger than this are not drilled (a restore costs per GB), and that is heard.
    pub max_bytes: u64,
    /// How much of DynamoDB's approximate item count the copy may lack before the count check
    /// fails; less drift (and any surplus) is for information.
    pub count_tolerance_percent: f64,
    /// Where drill reports are written (`<prefix><table>/<drill id>.json`).
    pub bucket: Option<String>,
    pub prefix: String,
    pub alert_topic: Option<String>,
    pub subject_prefix: String,
    /// Alert on a failed drill (off where an alarm on `DrillFailed` pages instead).
    pub alert_failures: bool,
    /// Alert on a passing drill too.
    pub alert_on_pass: bool,
    /// This stack's restore testing plan: only its restore jobs are validated.
    pub restore_testing_plan: Option<String>,
}

fn default_poll_seconds() -> f64 {
    5.0
}

/// The restore-handler's environment.
#[derive(Debug, Clone, Deserialize)]
pub struct RestoreEnv {
    /// The table a `{}` console test restores (its newest backup).
    #[serde(default)]
    pub source_table: String,
    /// The role AWS Backup restores recovery points with.
    #[serde(default)]
    pub restore_role_arn: String,
    /// The vault whose recovery points may be restored.
    #[serde(default)]
    pub backup_vault_name: String,
    /// How often a waiting restore looks at the new table.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
    #[serde(default = "default_target_marker")]
    pub restore_target_marker: String,
    #[serde(default)]
    pub state_table: String,
    /// Comma-separated tag keys.
    #[serde(default = "default_skip_tags")]
    pub skip_tags: String,
    /// `key=value`: the tag the stack protects tables by, given to a promoted copy.
    #[serde(default)]
    pub protected_tag: String,
    /// Comma-separated stream ARNs.
    #[serde(default)]
    pub kinesis_stream_arns: String,
    /// Comma-separated tables a drill restores (default, without DRILL_TAG: SOURCE_TABLE).
    #[serde(default)]
    pub drill_tables: String,
    /// `key=value`: a drill also restores every table carrying this tag.
    #[serde(default)]
    pub drill_tag: String,
    #[serde(default = "default_drill_source")]
    pub drill_source: String,
    #[serde(default = "default_drill_target_minutes")]
    pub drill_target_minutes: u32,
    #[serde(default = "default_drill_sample_size")]
    pub drill_sample_size: u32,
    #[serde(default = "default_drill_max_gb")]
    pub drill_max_gb: f64,
    #[serde(default = "default_drill_count_tolerance_percent")]
    pub drill_count_tolerance_percent: f64,
    #[serde(default)]
    pub drill_bucket: String,
    #[serde(default = "default_drill_prefix")]
    pub drill_prefix: String,
    #[serde(default)]
    pub alert_topic_arn: String,
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    #[serde(default)]
    pub drill_alert_on_pass: bool,
    #[serde(default = "default_true")]
    pub drill_alerts: bool,
    /// The ARN of this stack's restore testing plan (none: no restore job is validated).
    #[serde(default)]
    pub restore_testing_plan_arn: String,
}

fn default_true() -> bool {
    true
}

fn default_drill_source() -> String {
    "backup".into()
}
fn default_drill_target_minutes() -> u32 {
    60
}
fn default_drill_sample_size() -> u32 {
    20
}
fn default_drill_max_gb() -> f64 {
    50.0
}
fn default_drill_count_tolerance_percent() -> f64 {
    50.0
}
fn default_drill_prefix() -> String {
    "drills/".into()
}
fn default_subject_prefix() -> String {
    "[ddb-guard]".into()
}

fn default_target_marker() -> String {
    "-restored-".into()
}
fn default_skip_tags() -> String {
    "backup".into()
}

impl RestoreEnv {
    pub fn validate(self) -> Result<RestoreSettings, ConfigError> {
        let source_table = match self.source_table.trim() {
            "" => None,
            name => {
                check_table_name(name).map_err(|e| ConfigError(format!("SOURCE_TABLE: {e}")))?;
                Some(name.to_string())
            }
        };
        if !self.poll_seconds.is_finite() || self.poll_seconds <= 0.0 {
            return Err(ConfigError("POLL_SECONDS: must be more than 0".into()));
        }
        let marker = self.restore_target_marker.trim().to_string();
        let marker_chars = marker
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if marker.len() < 3 || !marker_chars {
            return Err(ConfigError(format!(
                "RESTORE_TARGET_MARKER: {marker:?} must be 3 or more of [A-Za-z0-9_.-]"
            )));
        }
        let drill = self.drill_settings(source_table.as_deref())?;
        let protected_tag = match self.protected_tag.trim() {
            "" => None,
            tag => Some(key_value(tag).map_err(|e| ConfigError(format!("PROTECTED_TAG: {e}")))?),
        };
        Ok(RestoreSettings {
            protected_tag,
            kinesis_streams: list(&self.kinesis_stream_arns),
            drill,
            source_table,
            restore_role_arn: Some(self.restore_role_arn.trim().to_string())
                .filter(|r| !r.is_empty()),
            backup_vault_name: Some(self.backup_vault_name.trim().to_string())
                .filter(|v| !v.is_empty()),
            poll_interval: Duration::from_secs_f64(self.poll_seconds),
            target_marker: marker,
            state_table: Some(self.state_table.trim().to_string()).filter(|t| !t.is_empty()),
            skip_tags: list(&self.skip_tags),
        })
    }
}

impl RestoreEnv {
    fn drill_settings(&self, source_table: Option<&str>) -> Result<DrillSettings, ConfigError> {
        let mut names = list(&self.drill_tables);
        for table in &names {
            check_table_name(table).map_err(|e| ConfigError(format!("DRILL_TABLES: {e}")))?;
        }
        let tag = match self.drill_tag.trim() {
            "" => None,
            tag => Some(key_value(tag).map_err(|e| ConfigError(format!("DRILL_TAG: {e}")))?),
        };
        if names.is_empty() && tag.is_none() {
            names.extend(source_table.map(str::to_string));
        }
        let source = DrillSource::parse(&self.drill_source)
            .map_err(|e| ConfigError(format!("DRILL_SOURCE: {e}")))?;
        if self.drill_sample_size == 0 || self.drill_sample_size > 1000 {
            return Err(ConfigError("DRILL_SAMPLE_SIZE: from 1 to 1000".into()));
        }
        let gb = self.drill_max_gb;
        if !gb.is_finite() || gb <= 0.0 {
            return Err(ConfigError("DRILL_MAX_GB: must be more than 0".into()));
        }
        let tolerance = self.drill_count_tolerance_percent;
        if !tolerance.is_finite() || !(0.0..=100.0).contains(&tolerance) {
            return Err(ConfigError(
                "DRILL_COUNT_TOLERANCE_PERCENT: from 0 to 100".into(),
            ));
        }
        let text = |s: &str| Some(s.trim().to_string()).filter(|t| !t.is_empty());
        Ok(DrillSettings {
            tables: TableSelection { names, tag },
            source,
            target_minutes: self.drill_target_minutes,
            sample_size: self.drill_sample_size,
            max_bytes: (gb * 1e9) as u64,
            count_tolerance_percent: tolerance,
            bucket: text(&self.drill_bucket),
            prefix: self.drill_prefix.trim().to_string(),
            alert_topic: text(&self.alert_topic_arn),
            subject_prefix: self.subject_prefix.clone(),
            alert_failures: self.drill_alerts,
            alert_on_pass: self.drill_alert_on_pass,
            restore_testing_plan: text(&self.restore_testing_plan_arn),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{from_vars, vars};

    fn drill(pairs: &[(&str, &str)]) -> Result<DrillSettings, ConfigError> {
        Ok(from_vars::<RestoreEnv>(vars(pairs))?.validate()?.drill)
    }

    #[test]
    fn drills_cover_named_and_tagged_tables() {
        let d = drill(&[
            ("DRILL_TABLES", "orders, customers"),
            ("DRILL_TAG", " backup = daily "),
        ])
        .unwrap();
        assert_eq!(d.tables.names, ["orders", "customers"]);
        assert_eq!(d.tables.tag, Some(("backup".into(), "daily".into())));
        // An empty DRILL_TAG (as the template leaves an unset parameter) selects by name only.
        let d = drill(&[("DRILL_TABLES", "orders"), ("DRILL_TAG", "")]).unwrap();
        assert_eq!(
            d.tables,
            TableSelection {
                names: vec!["orders".into()],
                tag: None
            }
        );
    }

    #[test]
    fn the_source_table_is_drilled_only_when_nothing_else_is_chosen() {
        let d = drill(&[("SOURCE_TABLE", "orders")]).unwrap();
        assert_eq!(
            (d.tables.names, d.tables.tag),
            (vec!["orders".into()], None)
        );
        let d = drill(&[("SOURCE_TABLE", "orders"), ("DRILL_TAG", "drill=weekly")]).unwrap();
        assert!(d.tables.names.is_empty(), "{:?}", d.tables);
        let d = drill(&[("SOURCE_TABLE", "orders"), ("DRILL_TABLES", "customers")]).unwrap();
        assert_eq!(d.tables.names, ["customers"]);
        assert!(drill(&[]).unwrap().tables == TableSelection::default());
    }

    #[test]
    fn a_bad_drill_selection_names_the_variable() {
        for (pairs, expect) in [
            (vec![("DRILL_TAG", "weekly")], "DRILL_TAG"),
            (vec![("DRILL_TAG", "=weekly")], "DRILL_TAG"),
            (vec![("DRILL_TABLES", "a b")], "DRILL_TABLES"),
            (vec![("PROTECTED_TAG", "protected")], "PROTECTED_TAG"),
        ] {
            let err = drill(&pairs).unwrap_err().to_string();
            assert!(err.contains(expect), "{pairs:?}: {err}");
        }
    }
}
