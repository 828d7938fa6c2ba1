//! Where and how AWS Backup jobs run: the vault, the role, the recovery points' lifecycle, and the
//! vault lock that lifecycle must fit. Checked before any job starts, since AWS Backup would refuse
//! every job otherwise.

use std::collections::BTreeMap;

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
    /// The vault's lock, when it has one: every recovery point's retention must fall inside it.
    pub lock: Option<VaultLock>,
}

/// A Vault Lock's retention bounds, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaultLock {
    pub min_retention_days: i64,
    pub max_retention_days: i64,
}

impl AwsBackupSettings {
    pub fn validate(&self) -> Result<(), String> {
        self.lifecycle.validate()?;
        if let Some(lock) = self.lock {
            if lock.min_retention_days > lock.max_retention_days {
                return Err(format!(
                    "VAULT_LOCK_MIN_RETENTION_DAYS ({}) is more than VAULT_LOCK_MAX_RETENTION_DAYS ({})",
                    lock.min_retention_days, lock.max_retention_days
                ));
            }
            match self.lifecycle.delete_after_days {
                None => {
                    return Err(format!(
                        "DELETE_AFTER_DAYS is required with a vault lock: recovery points kept \
                         forever break its {} day maximum, and AWS Backup fails such jobs",
                        lock.max_retention_days
                    ));
                }
                Some(days) if days < lock.min_retention_days || days > lock.max_retention_days => {
                    return Err(format!(
                        "DELETE_AFTER_DAYS ({days}) is outside the vault lock's {} to {} days: \
                         AWS Backup would fail every job",
                        lock.min_retention_days, lock.max_retention_days
                    ));
                }
                Some(_) => {}
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
