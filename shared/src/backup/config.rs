//! The backup-trigger's environment, read and checked at cold start.

use std::time::Duration;

use serde::Deserialize;

use crate::backup::request::Engine;
use crate::backup::retention::RetentionPolicy;
use crate::backup::vault::{AwsBackupSettings, Lifecycle, VaultLock};
use crate::backup_name::Ownership;
use crate::env::{ConfigError, key_value, list, number};
use crate::retry::Backoff;
use crate::table_selection::{TableSelection, check_table_name};

#[derive(Debug, Clone)]
pub struct BackupSettings {
    pub tables: TableSelection,
    pub engine: Engine,
    pub retention: RetentionPolicy,
    /// Which native backups are this stack's to prune.
    pub ownership: Ownership,
    /// Report the native backups retention would delete, delete none. A request can ask for a dry
    /// run, never switch a configured one off.
    pub dry_run: bool,
    pub aws_backup: Option<AwsBackupSettings>,
    /// Why AWS Backup's settings are refused, when the configured engine is DynamoDB's: its backups
    /// go on, and a request for the aws-backup engine is refused with this.
    pub aws_backup_problem: Option<String>,
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
    /// The stack whose backups these are: part of every backup name, so two stacks covering one
    /// table never prune each other's.
    #[serde(default)]
    pub backup_owner: String,
    /// Also prune backups named by earlier versions (`<table>.ddb-guard.<time>`, no owner).
    #[serde(default)]
    pub adopt_legacy_backups: bool,
    /// The vault's lock bounds, when it has a lock.
    #[serde(default)]
    pub vault_lock_min_retention_days: String,
    #[serde(default)]
    pub vault_lock_max_retention_days: String,
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
    /// Checks each variable, in the order they are listed here, and builds the settings.
    pub fn validate(self) -> Result<BackupSettings, ConfigError> {
        let tables = selected_tables(&self.table_names, &self.backup_tag)?;
        let engine: Engine = self
            .backup_engine
            .parse()
            .map_err(|e| bad("BACKUP_ENGINE", e))?;
        // AWS Backup's settings (its vault lock, say) stop the cold start only when they are what
        // the function runs on.
        let (aws_backup, aws_backup_problem) = match self.aws_backup() {
            Ok(settings) => (settings, None),
            Err(e) if engine == Engine::DynamoDb => {
                tracing::warn!(error = %e, "AWS Backup's settings are refused; native backups go on");
                (None, Some(e.to_string()))
            }
            Err(e) => return Err(e),
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
        if self.keep_last == 0 {
            return Err(bad(
                "KEEP_LAST",
                "must be at least 1: retention never leaves a table without a backup".into(),
            ));
        }
        let ownership = self.ownership()?;
        Ok(BackupSettings {
            tables,
            engine,
            retention: RetentionPolicy {
                max_age_days: self.retention_days,
                keep_last: self.keep_last,
            },
            ownership,
            dry_run: self.dry_run,
            aws_backup,
            aws_backup_problem,
            max_attempts: self.max_attempts,
            backoff: Backoff {
                base: Duration::from_millis(200),
                cap: Duration::from_secs(10),
            },
        })
    }

    /// AWS Backup's settings, when a vault and a role are given (one without the other is an
    /// error).
    fn aws_backup(&self) -> Result<Option<AwsBackupSettings>, ConfigError> {
        let (vault, role) = match (self.backup_vault_name.trim(), self.backup_role_arn.trim()) {
            ("", "") => return Ok(None),
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
            (vault, role) => (vault, role),
        };
        let settings = AwsBackupSettings {
            vault: vault.to_string(),
            role_arn: role.to_string(),
            lifecycle: self.lifecycle()?,
            start_window_minutes: number("START_WINDOW_MINUTES", &self.start_window_minutes)?
                .unwrap_or(60),
            complete_window_minutes: number(
                "COMPLETE_WINDOW_MINUTES",
                &self.complete_window_minutes,
            )?
            .unwrap_or(120),
            lock: self.vault_lock()?,
            recovery_point_tags: list(&self.recovery_point_tags)
                .iter()
                .map(|pair| key_value(pair))
                .collect::<Result<_, _>>()
                .map_err(|e| bad("RECOVERY_POINT_TAGS", e))?,
        };
        settings.validate().map_err(ConfigError)?;
        Ok(Some(settings))
    }

    /// When recovery points move to cold storage and expire.
    fn lifecycle(&self) -> Result<Lifecycle, ConfigError> {
        Ok(Lifecycle {
            cold_after_days: number("COLD_STORAGE_AFTER_DAYS", &self.cold_storage_after_days)?,
            delete_after_days: number("DELETE_AFTER_DAYS", &self.delete_after_days)?,
        })
    }

    /// The vault's lock bounds, when either is set (the other then unbounded).
    fn vault_lock(&self) -> Result<Option<VaultLock>, ConfigError> {
        let min = number(
            "VAULT_LOCK_MIN_RETENTION_DAYS",
            &self.vault_lock_min_retention_days,
        )?;
        let max = number(
            "VAULT_LOCK_MAX_RETENTION_DAYS",
            &self.vault_lock_max_retention_days,
        )?;
        Ok(match (min, max) {
            (None, None) => None,
            (min, max) => Some(VaultLock {
                min_retention_days: min.unwrap_or(1),
                max_retention_days: max.unwrap_or(i64::MAX),
            }),
        })
    }

    /// The stack whose native backups these are, which it alone prunes.
    fn ownership(&self) -> Result<Ownership, ConfigError> {
        let owner = self.backup_owner.trim();
        Ownership::check_owner(owner).map_err(|e| {
            bad(
                "BACKUP_OWNER",
                format!(
                    "{e}; set it to the stack's name so this stack prunes only its own backups"
                ),
            )
        })?;
        Ok(Ownership {
            owner: owner.to_string(),
            adopt_legacy: self.adopt_legacy_backups,
        })
    }
}

/// `VAR: why`.
fn bad(var: &str, why: String) -> ConfigError {
    ConfigError(format!("{var}: {why}"))
}

/// The tables to back up: named in `TABLE_NAMES`, and tagged `BACKUP_TAG`.
fn selected_tables(names: &str, tag: &str) -> Result<TableSelection, ConfigError> {
    let names: Vec<String> = list(names);
    for name in &names {
        check_table_name(name).map_err(|e| bad("TABLE_NAMES", e))?;
    }
    let tag = match tag.trim() {
        "" => None,
        tag => Some(key_value(tag).map_err(|e| bad("BACKUP_TAG", e))?),
    };
    Ok(TableSelection { names, tag })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{from_vars, vars};

    /// The environment `pairs`, with an owner unless they set one.
    fn backup(pairs: &[(&str, &str)]) -> Result<BackupSettings, ConfigError> {
        let owned = pairs.iter().any(|(k, _)| *k == "BACKUP_OWNER");
        let mut all = if owned {
            vec![]
        } else {
            vec![("BACKUP_OWNER", "prod")]
        };
        all.extend_from_slice(pairs);
        from_vars::<BackupEnv>(vars(&all))?.validate()
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
        assert_eq!(
            b.ownership,
            Ownership {
                owner: "prod".into(),
                adopt_legacy: false
            }
        );
    }

    #[test]
    fn retention_can_never_leave_a_table_bare() {
        let err = backup(&[("KEEP_LAST", "0"), ("RETENTION_DAYS", "0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KEEP_LAST: must be at least 1"), "{err}");
        assert_eq!(
            backup(&[("KEEP_LAST", "1")]).unwrap().retention.keep_last,
            1
        );
    }

    #[test]
    fn backups_belong_to_a_named_stack() {
        for owner in ["", "my.stack", "has space"] {
            let err = backup(&[("BACKUP_OWNER", owner)]).unwrap_err().to_string();
            assert!(err.contains("BACKUP_OWNER"), "{owner:?}: {err}");
        }
        let b = backup(&[("BACKUP_OWNER", "team-a"), ("ADOPT_LEGACY_BACKUPS", "true")]).unwrap();
        assert!(b.ownership.adopt_legacy && b.ownership.owner == "team-a");
    }

    #[test]
    fn the_lifecycle_must_fit_the_vault_lock() {
        let aws = [
            ("BACKUP_VAULT_NAME", "v"),
            ("BACKUP_ROLE_ARN", "r"),
            ("VAULT_LOCK_MIN_RETENTION_DAYS", "7"),
            ("VAULT_LOCK_MAX_RETENTION_DAYS", "365"),
        ];
        let on = |engine: &'static str, extra: &[(&'static str, &'static str)]| {
            backup(&[&aws[..], &[("BACKUP_ENGINE", engine)], extra].concat())
        };
        let with = |extra: &[(&'static str, &'static str)]| on("aws-backup", extra);
        let lock = with(&[("DELETE_AFTER_DAYS", "35")])
            .unwrap()
            .aws_backup
            .unwrap()
            .lock;
        assert_eq!(
            lock,
            Some(VaultLock {
                min_retention_days: 7,
                max_retention_days: 365
            })
        );
        for (delete, expect) in [
            ("366", "outside the vault lock's 7 to 365 days"),
            ("3", "outside the vault lock's 7 to 365 days"),
            ("", "DELETE_AFTER_DAYS is required with a vault lock"),
        ] {
            let err = with(&[("DELETE_AFTER_DAYS", delete)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{delete:?}: {err}");
        }
        // No lock: no bounds.
        assert!(backup(&[aws[0], aws[1], ("DELETE_AFTER_DAYS", "4000")]).is_ok());
        // Native backups do not depend on AWS Backup's settings: a lock they do not fit is said,
        // and only a request for the aws-backup engine is refused.
        let native = on("dynamodb", &[("DELETE_AFTER_DAYS", "3")]).unwrap();
        assert!(native.aws_backup.is_none());
        let problem = native.aws_backup_problem.unwrap();
        assert!(problem.contains("outside the vault lock"), "{problem}");
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
        // AWS Backup's settings are checked at cold start when it is the engine.
        let aws = [
            ("BACKUP_ENGINE", "aws-backup"),
            ("BACKUP_VAULT_NAME", "v"),
            ("BACKUP_ROLE_ARN", "r"),
        ];
        for (pairs, expect) in [
            (vec![("BACKUP_ENGINE", "aws-backup")], "BACKUP_ENGINE"),
            (vec![("BACKUP_ENGINE", "rsync")], "BACKUP_ENGINE"),
            (vec![("TABLE_NAMES", "a b")], "TABLE_NAMES"),
            (vec![("BACKUP_TAG", "daily")], "BACKUP_TAG"),
            (vec![aws[0], aws[1]], "BACKUP_ROLE_ARN"),
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
}
