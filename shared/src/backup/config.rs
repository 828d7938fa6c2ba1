//! The backup-trigger's environment, read and checked at cold start.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::backup::request::Engine;
use crate::backup::retention::RetentionPolicy;
use crate::env::{ConfigError, key_value, list, number};
use crate::retry::Backoff;
use crate::table_selection::{TableSelection, check_table_name};

/// When AWS Backup moves a recovery point to cold storage and deletes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifecycle {
    pub cold_after_days: Option<i64>,
    pub delete_after_days: Option<i64>,
}

impl Lifecycle {
    /// Refuses what AWS Backup would refuse, before any job starts.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(cold) = self.cold_after_days
            && cold < 1
        {
            return Err(format!(
                "COLD_STORAGE_AFTER_DAYS must be at least 1, not {cold}"
            ));
        }
        if let Some(delete) = self.delete_after_days
            && delete < 1
        {
            return Err(format!(
                "DELETE_AFTER_DAYS must be at least 1, not {delete}"
            ));
        }
        if let (Some(cold), Some(delete)) = (self.cold_after_days, self.delete_after_days)
            && delete < cold + 90
        {
            return Err(format!(
                "DELETE_AFTER_DAYS ({delete}) must be at least 90 days after \
                 COLD_STORAGE_AFTER_DAYS ({cold}): cold storage keeps recovery points 90 days at least"
            ));
        }
        Ok(())
    }
}

/// Where and how AWS Backup jobs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsBackupSettings {
    pub vault: String,
    pub role_arn: String,
    pub lifecycle: Lifecycle,
    pub start_window_minutes: i64,
    pub complete_window_minutes: i64,
    pub recovery_point_tags: BTreeMap<String, String>,
}

impl AwsBackupSettings {
    pub fn validate(&self) -> Result<(), String> {
        self.lifecycle.validate()?;
        if self.start_window_minutes < 60 {
            return Err(format!(
                "START_WINDOW_MINUTES must be at least 60, not {}",
                self.start_window_minutes
            ));
        }
        if self.complete_window_minutes < 1 {
            return Err(format!(
                "COMPLETE_WINDOW_MINUTES must be at least 1, not {}",
                self.complete_window_minutes
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub tables: TableSelection,
    pub engine: Engine,
    pub retention: RetentionPolicy,
    /// Report the native backups retention would delete, delete none.
    pub dry_run: bool,
    pub aws_backup: Option<AwsBackupSettings>,
    pub max_attempts: u32,
    pub backoff: Backoff,
}

fn default_max_attempts() -> u32 {
    10
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{from_vars, vars};

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
    fn lifecycles_aws_would_refuse_are_refused() {
        let ok = |cold, delete| {
            Lifecycle {
                cold_after_days: cold,
                delete_after_days: delete,
            }
            .validate()
        };
        assert!(ok(None, None).is_ok());
        assert!(ok(None, Some(366)).is_ok());
        assert!(ok(Some(31), Some(366)).is_ok());
        assert!(ok(Some(31), Some(121)).is_ok());
        let err = ok(Some(31), Some(120)).unwrap_err();
        assert!(
            err.contains("DELETE_AFTER_DAYS (120)") && err.contains("90 days"),
            "{err}"
        );
        assert!(ok(Some(0), None).is_err());
        assert!(ok(None, Some(0)).is_err());
    }
}
