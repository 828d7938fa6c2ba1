//! Typed configuration from environment variables, read once at cold start.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::backup::{AwsBackupSettings, BackupSettings, Lifecycle, TableSelection};
use crate::backup_request::{Engine, check_table_name};
use crate::batch_writer::WriteSettings;
use crate::fan_out::FanOut;
use crate::loader::LoaderSettings;
use crate::loader_request::{DefaultObject, SourceFilter};
use crate::notifier::NotifierSettings;
use crate::notify::AlertPolicy;
use crate::restore::RestoreSettings;
use crate::retention::RetentionPolicy;
use crate::retry::Backoff;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Reads a config struct from the environment; errors name the variable (`TABLE_NAME`), not the field.
pub fn from_env<T: DeserializeOwned>() -> Result<T, ConfigError> {
    from_vars(std::env::vars())
}

pub fn from_vars<T: DeserializeOwned>(
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    envy::from_iter(vars).map_err(|e| {
        ConfigError(match e {
            envy::Error::MissingValue(field) => {
                format!("environment variable {} is required", field.to_uppercase())
            }
            envy::Error::Custom(message) => message,
        })
    })
}

fn default_source_prefix() -> String {
    "incoming/".into()
}
fn default_source_suffixes() -> String {
    ".csv,.csv.gz".into()
}
fn default_rejects_prefix() -> String {
    "rejected/".into()
}
fn default_blank_cells() -> String {
    "omit".into()
}
fn default_max_in_flight() -> usize {
    WriteSettings::default().max_in_flight
}
fn default_max_attempts() -> u32 {
    10
}
fn default_checkpoint_margin_seconds() -> f64 {
    30.0
}
fn default_fan_out_min_bytes() -> u64 {
    FanOut::default().min_bytes
}
fn default_fan_out_ranges() -> u32 {
    FanOut::default().ranges
}

/// The csv-loader's environment.
#[derive(Debug, Clone, Deserialize)]
pub struct LoaderEnv {
    /// Table to load into; its key schema comes from DescribeTable.
    pub table_name: String,
    /// Bucket and key loaded by a console test with `{}`.
    pub bucket_name: Option<String>,
    pub default_object_key: Option<String>,
    #[serde(default = "default_source_prefix")]
    pub source_prefix: String,
    /// Comma-separated, matched case-insensitively.
    #[serde(default = "default_source_suffixes")]
    pub source_suffixes: String,
    #[serde(default = "default_rejects_prefix")]
    pub rejects_prefix: String,
    /// `name:TYPE,...` with TYPE one of S, N, BOOL, JSON, B; undeclared columns are strings.
    #[serde(default)]
    pub column_types: String,
    /// omit | null | empty
    #[serde(default = "default_blank_cells")]
    pub blank_cells: String,
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_checkpoint_margin_seconds")]
    pub checkpoint_margin_seconds: f64,
    /// Uncompressed objects at least this large are split into byte ranges.
    #[serde(default = "default_fan_out_min_bytes")]
    pub fan_out_min_bytes: u64,
    /// How many ranges (concurrent invocations) a split file becomes; 1 never splits.
    #[serde(default = "default_fan_out_ranges")]
    pub fan_out_ranges: u32,
}

/// The csv-loader's configuration, validated.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub table_name: String,
    pub default_object: Option<DefaultObject>,
    pub filter: SourceFilter,
    pub settings: LoaderSettings,
}

impl LoaderEnv {
    pub fn validate(self) -> Result<LoaderConfig, ConfigError> {
        let bad = |var: &str, why: String| ConfigError(format!("{var}: {why}"));
        let filter = SourceFilter {
            prefix: self.source_prefix,
            suffixes: self
                .source_suffixes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            rejects_prefix: self.rejects_prefix.clone(),
        };
        filter.validate().map_err(ConfigError)?;
        if self.max_in_flight == 0 {
            return Err(bad("MAX_IN_FLIGHT", "must be at least 1".into()));
        }
        if self.max_attempts == 0 {
            return Err(bad("MAX_ATTEMPTS", "must be at least 1".into()));
        }
        if !self.checkpoint_margin_seconds.is_finite() || self.checkpoint_margin_seconds < 0.0 {
            return Err(bad("CHECKPOINT_MARGIN_SECONDS", "must be 0 or more".into()));
        }
        if !(1..=FanOut::MAX_RANGES).contains(&self.fan_out_ranges) {
            let why = format!("must be from 1 (never split) to {}", FanOut::MAX_RANGES);
            return Err(bad("FAN_OUT_RANGES", why));
        }
        let default_object = match (self.bucket_name, self.default_object_key) {
            (Some(bucket), Some(key)) if !bucket.is_empty() && !key.is_empty() => {
                Some(DefaultObject { bucket, key })
            }
            _ => None,
        };
        Ok(LoaderConfig {
            table_name: self.table_name,
            default_object,
            filter,
            settings: LoaderSettings {
                column_types: self
                    .column_types
                    .parse()
                    .map_err(|e| bad("COLUMN_TYPES", e))?,
                blanks: self
                    .blank_cells
                    .parse()
                    .map_err(|e| bad("BLANK_CELLS", e))?,
                rejects_prefix: self.rejects_prefix,
                write: WriteSettings {
                    max_in_flight: self.max_in_flight,
                    max_attempts: self.max_attempts,
                    backoff: Backoff::default(),
                },
                checkpoint_margin: Duration::from_secs_f64(self.checkpoint_margin_seconds),
                fan_out: FanOut {
                    min_bytes: self.fan_out_min_bytes,
                    ranges: self.fan_out_ranges,
                },
            },
        })
    }
}

fn default_engine() -> String {
    "dynamodb".into()
}
fn default_retention_days() -> u32 {
    35
}
fn default_keep_last() -> usize {
    3
}
fn default_start_window_minutes() -> String {
    "60".into()
}
fn default_complete_window_minutes() -> String {
    "120".into()
}

/// The backup-trigger's environment. Optional numbers are read as text so that an empty value (as
/// a template leaves an unset parameter) means "not set".
#[derive(Debug, Clone, Deserialize)]
pub struct BackupEnv {
    /// Comma-separated table names.
    #[serde(default)]
    pub table_names: String,
    /// `key=value`: also back up every table carrying this tag.
    #[serde(default)]
    pub backup_tag: String,
    /// dynamodb | aws-backup
    #[serde(default = "default_engine")]
    pub backup_engine: String,
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    #[serde(default = "default_keep_last")]
    pub keep_last: usize,
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub backup_vault_name: String,
    #[serde(default)]
    pub backup_role_arn: String,
    #[serde(default)]
    pub cold_storage_after_days: String,
    #[serde(default)]
    pub delete_after_days: String,
    #[serde(default = "default_start_window_minutes")]
    pub start_window_minutes: String,
    #[serde(default = "default_complete_window_minutes")]
    pub complete_window_minutes: String,
    /// `key=value,...` tags for AWS Backup recovery points.
    #[serde(default)]
    pub recovery_point_tags: String,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
}

impl BackupEnv {
    pub fn validate(self) -> Result<BackupSettings, ConfigError> {
        let bad = |var: &str, why: String| ConfigError(format!("{var}: {why}"));
        let names: Vec<String> = list(&self.table_names);
        for name in &names {
            check_table_name(name).map_err(|e| bad("TABLE_NAMES", e))?;
        }
        let tag = match self.backup_tag.trim() {
            "" => None,
            tag => Some(key_value(tag).map_err(|e| bad("BACKUP_TAG", e))?),
        };
        let engine: Engine = self
            .backup_engine
            .parse()
            .map_err(|e| bad("BACKUP_ENGINE", e))?;
        let aws_backup = match (self.backup_vault_name.trim(), self.backup_role_arn.trim()) {
            ("", "") => None,
            ("", _) => {
                return Err(bad(
                    "BACKUP_VAULT_NAME",
                    "is required with BACKUP_ROLE_ARN".into(),
                ));
            }
            (_, "") => {
                return Err(bad(
                    "BACKUP_ROLE_ARN",
                    "is required with BACKUP_VAULT_NAME".into(),
                ));
            }
            (vault, role) => {
                let settings = AwsBackupSettings {
                    vault: vault.to_string(),
                    role_arn: role.to_string(),
                    lifecycle: Lifecycle {
                        cold_after_days: number(
                            "COLD_STORAGE_AFTER_DAYS",
                            &self.cold_storage_after_days,
                        )?,
                        delete_after_days: number("DELETE_AFTER_DAYS", &self.delete_after_days)?,
                    },
                    start_window_minutes: number(
                        "START_WINDOW_MINUTES",
                        &self.start_window_minutes,
                    )?
                    .unwrap_or(60),
                    complete_window_minutes: number(
                        "COMPLETE_WINDOW_MINUTES",
                        &self.complete_window_minutes,
                    )?
                    .unwrap_or(120),
                    recovery_point_tags: list(&self.recovery_point_tags)
                        .iter()
                        .map(|pair| key_value(pair))
                        .collect::<Result<_, _>>()
                        .map_err(|e| bad("RECOVERY_POINT_TAGS", e))?,
                };
                settings.validate().map_err(ConfigError)?;
                Some(settings)
            }
        };
        if engine == Engine::AwsBackup && aws_backup.is_none() {
            return Err(bad(
                "BACKUP_ENGINE",
                "aws-backup needs BACKUP_VAULT_NAME and BACKUP_ROLE_ARN".into(),
            ));
        }
        if self.max_attempts == 0 {
            return Err(bad("MAX_ATTEMPTS", "must be at least 1".into()));
        }
        Ok(BackupSettings {
            tables: TableSelection { names, tag },
            engine,
            retention: RetentionPolicy {
                max_age_days: self.retention_days,
                keep_last: self.keep_last,
            },
            dry_run: self.dry_run,
            aws_backup,
            max_attempts: self.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(200),
                cap: Duration::from_secs(10),
            },
        })
    }
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
    /// How often a waiting restore looks at the new table.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
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
        Ok(RestoreSettings {
            source_table,
            restore_role_arn: Some(self.restore_role_arn.trim().to_string())
                .filter(|r| !r.is_empty()),
            poll_interval: Duration::from_secs_f64(self.poll_seconds),
        })
    }
}

fn default_subject_prefix() -> String {
    "[ddb-guard]".into()
}
fn default_failure_states() -> String {
    "FAILED,ABORTED,EXPIRED".into()
}
fn default_restore_states() -> String {
    "COMPLETED,FAILED".into()
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
    #[serde(default)]
    pub watch_table_names: String,
    /// `key=value`
    #[serde(default)]
    pub watch_table_tag: String,
    #[serde(default = "default_max_backup_age_hours")]
    pub max_backup_age_hours: f64,
    #[serde(default = "default_true")]
    pub watch_aws_backup: bool,
}

impl NotifierEnv {
    pub fn validate(self) -> Result<NotifierSettings, ConfigError> {
        let bad = |var: &str, why: String| ConfigError(format!("{var}: {why}"));
        if !self.topic_arn.starts_with("arn:") {
            return Err(bad(
                "TOPIC_ARN",
                format!("{:?} is not an SNS topic ARN", self.topic_arn),
            ));
        }
        let states = |var: &str, text: &str| -> Result<BTreeSet<String>, ConfigError> {
            const KNOWN: [&str; 7] = [
                "CREATED",
                "PENDING",
                "RUNNING",
                "COMPLETED",
                "ABORTED",
                "EXPIRED",
                "FAILED",
            ];
            list(text)
                .into_iter()
                .map(|s| s.to_ascii_uppercase())
                .map(|s| {
                    if KNOWN.contains(&s.as_str()) {
                        Ok(s)
                    } else {
                        Err(bad(
                            var,
                            format!("{s:?} is not one of {}", KNOWN.join(", ")),
                        ))
                    }
                })
                .collect()
        };
        let names = list(&self.watch_table_names);
        for name in &names {
            check_table_name(name).map_err(|e| bad("WATCH_TABLE_NAMES", e))?;
        }
        let tag = match self.watch_table_tag.trim() {
            "" => None,
            tag => Some(key_value(tag).map_err(|e| bad("WATCH_TABLE_TAG", e))?),
        };
        if !self.max_backup_age_hours.is_finite() || self.max_backup_age_hours <= 0.0 {
            return Err(bad("MAX_BACKUP_AGE_HOURS", "must be more than 0".into()));
        }
        Ok(NotifierSettings {
            topic_arn: self.topic_arn,
            subject_prefix: self.subject_prefix,
            policy: AlertPolicy {
                backup_states: states("ALERT_BACKUP_STATES", &self.alert_backup_states)?,
                copy_states: states("ALERT_COPY_STATES", &self.alert_copy_states)?,
                restore_states: states("ALERT_RESTORE_STATES", &self.alert_restore_states)?,
                completed_with_issues: self.alert_completed_with_issues,
            },
            finish_function: Some(self.finish_restore_function.trim().to_string())
                .filter(|f| !f.is_empty()),
            watch: TableSelection { names, tag },
            max_backup_age: chrono::Duration::seconds((self.max_backup_age_hours * 3600.0) as i64),
            watch_aws_backup: self.watch_aws_backup,
        })
    }
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn key_value(pair: &str) -> Result<(String, String), String> {
    match pair.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("{pair:?} is not key=value")),
    }
}

fn number(var: &str, text: &str) -> Result<Option<i64>, ConfigError> {
    match text.trim() {
        "" => Ok(None),
        n => n
            .parse()
            .map(Some)
            .map_err(|_| ConfigError(format!("{var}: {n:?} is not a whole number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv_schema::BlankCells;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<LoaderConfig, ConfigError> {
        from_vars::<LoaderEnv>(vars(pairs))?.validate()
    }

    #[test]
    fn defaults() {
        let c = load(&[("TABLE_NAME", "orders")]).unwrap();
        assert_eq!(c.table_name, "orders");
        assert_eq!(c.filter.prefix, "incoming/");
        assert_eq!(c.filter.suffixes, [".csv", ".csv.gz"]);
        assert_eq!(c.settings.rejects_prefix, "rejected/");
        assert_eq!(c.settings.blanks, BlankCells::Omit);
        assert_eq!(c.settings.write.max_in_flight, 32);
        assert_eq!(c.settings.fan_out.min_bytes, 256 * 1024 * 1024);
        assert_eq!(c.settings.fan_out.ranges, 8);
        assert_eq!(c.default_object, None);
    }

    #[test]
    fn missing_table_names_the_variable() {
        let err = load(&[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration: environment variable TABLE_NAME is required"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value, expect) in [
            ("COLUMN_TYPES", "amount:FLOAT", "COLUMN_TYPES"),
            ("BLANK_CELLS", "zero", "BLANK_CELLS"),
            ("MAX_IN_FLIGHT", "0", "MAX_IN_FLIGHT"),
            ("MAX_IN_FLIGHT", "lots", "MAX_IN_FLIGHT"),
            ("FAN_OUT_RANGES", "0", "FAN_OUT_RANGES"),
            ("FAN_OUT_RANGES", "101", "FAN_OUT_RANGES"),
            ("FAN_OUT_MIN_BYTES", "-1", "FAN_OUT_MIN_BYTES"),
            ("SOURCE_PREFIX", "", "trigger"),
            (
                "CHECKPOINT_MARGIN_SECONDS",
                "-1",
                "CHECKPOINT_MARGIN_SECONDS",
            ),
        ] {
            let err = load(&[("TABLE_NAME", "t"), (var, value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{var}={value}: {err}");
        }
    }

    #[test]
    fn default_object_needs_bucket_and_key() {
        let c = load(&[
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("DEFAULT_OBJECT_KEY", "incoming/order_data.csv"),
        ])
        .unwrap();
        assert_eq!(c.default_object.unwrap().key, "incoming/order_data.csv");
        let c = load(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b")]).unwrap();
        assert!(c.default_object.is_none());
    }

    fn backup(pairs: &[(&str, &str)]) -> Result<BackupSettings, ConfigError> {
        from_vars::<BackupEnv>(vars(pairs))?.validate()
    }

    #[test]
    fn backup_defaults_and_lists() {
        let b = backup(&[
            ("TABLE_NAMES", "orders, customers"),
            ("BACKUP_TAG", "backup=daily"),
        ])
        .unwrap();
        assert_eq!(b.tables.names, ["orders", "customers"]);
        assert_eq!(b.tables.tag, Some(("backup".into(), "daily".into())));
        assert_eq!(b.engine, Engine::DynamoDb);
        assert_eq!(
            b.retention,
            RetentionPolicy {
                max_age_days: 35,
                keep_last: 3
            }
        );
        assert!(!b.dry_run && b.aws_backup.is_none());
    }

    #[test]
    fn aws_backup_settings() {
        let b = backup(&[
            ("BACKUP_ENGINE", "aws-backup"),
            ("BACKUP_VAULT_NAME", "vault"),
            ("BACKUP_ROLE_ARN", "arn:aws:iam::1:role/backup"),
            ("COLD_STORAGE_AFTER_DAYS", ""),
            ("DELETE_AFTER_DAYS", "366"),
            ("RECOVERY_POINT_TAGS", "team=data,kind=on-demand"),
        ])
        .unwrap();
        let a = b.aws_backup.unwrap();
        assert_eq!(
            a.lifecycle,
            Lifecycle {
                cold_after_days: None,
                delete_after_days: Some(366)
            }
        );
        assert_eq!(
            (a.start_window_minutes, a.complete_window_minutes),
            (60, 120)
        );
        assert_eq!(a.recovery_point_tags["kind"], "on-demand");
    }

    #[test]
    fn bad_backup_settings_name_the_variable() {
        let aws = [("BACKUP_VAULT_NAME", "v"), ("BACKUP_ROLE_ARN", "r")];
        for (pairs, expect) in [
            (vec![("BACKUP_ENGINE", "aws-backup")], "BACKUP_ENGINE"),
            (vec![("BACKUP_ENGINE", "rsync")], "BACKUP_ENGINE"),
            (vec![("TABLE_NAMES", "a b")], "TABLE_NAMES"),
            (vec![("BACKUP_TAG", "daily")], "BACKUP_TAG"),
            (vec![("BACKUP_VAULT_NAME", "v")], "BACKUP_ROLE_ARN"),
            (
                [
                    &aws[..],
                    &[
                        ("COLD_STORAGE_AFTER_DAYS", "31"),
                        ("DELETE_AFTER_DAYS", "100"),
                    ],
                ]
                .concat(),
                "DELETE_AFTER_DAYS",
            ),
            (
                [&aws[..], &[("START_WINDOW_MINUTES", "30")]].concat(),
                "START_WINDOW_MINUTES",
            ),
            (
                [&aws[..], &[("DELETE_AFTER_DAYS", "soon")]].concat(),
                "DELETE_AFTER_DAYS",
            ),
            (vec![("RETENTION_DAYS", "-1")], "RETENTION_DAYS"),
        ] {
            let err = backup(&pairs).unwrap_err().to_string();
            assert!(err.contains(expect), "{pairs:?}: {err}");
        }
    }

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
            BTreeSet::from(["COMPLETED".into(), "FAILED".into()])
        );
        assert_eq!(n.max_backup_age, chrono::Duration::hours(26));
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
        ] {
            let err = from_vars::<NotifierEnv>(vars(&pairs))
                .and_then(NotifierEnv::validate)
                .unwrap_err();
            assert!(err.to_string().contains(expect), "{pairs:?}: {err}");
        }
    }
}
