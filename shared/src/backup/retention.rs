//! Which native backups have expired: only this toolkit's own `USER` backups, older than the
//! retention period, beyond the newest few kept whatever their age.

use chrono::{DateTime, Duration, Utc};

use crate::backup_name::parse_backup_name;
use crate::table_backups::BackupRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Backups older than this many days may be deleted (0: age alone never protects one).
    pub max_age_days: u32,
    /// The newest this many are kept whatever their age.
    pub keep_last: usize,
}

impl RetentionPolicy {
    /// The backups to delete, oldest first.
    pub fn expired<'a>(
        &self,
        backups: &'a [BackupRecord],
        now: DateTime<Utc>,
    ) -> Vec<&'a BackupRecord> {
        let mut ours: Vec<&BackupRecord> = backups
            .iter()
            .filter(|b| b.backup_type == "USER" && parse_backup_name(&b.name).is_some())
            .collect();
        ours.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
        let cutoff = now - Duration::days(i64::from(self.max_age_days));
        let mut expired: Vec<&BackupRecord> = ours
            .into_iter()
            .skip(self.keep_last)
            .filter(|b| b.created <= cutoff)
            .collect();
        expired.reverse();
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup_name::backup_name;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 0).unwrap()
    }

    fn ours(days_ago: i64) -> BackupRecord {
        let created = now() - Duration::days(days_ago);
        BackupRecord {
            arn: format!("arn:backup/{days_ago}"),
            name: backup_name("orders", created),
            created,
            backup_type: "USER".into(),
            status: "AVAILABLE".into(),
        }
    }

    fn arns(list: Vec<&BackupRecord>) -> Vec<&str> {
        list.into_iter().map(|b| b.arn.as_str()).collect()
    }

    #[test]
    fn old_backups_beyond_the_newest_kept_expire() {
        let backups: Vec<_> = [0, 10, 40, 50, 60].map(ours).to_vec();
        let policy = RetentionPolicy {
            max_age_days: 35,
            keep_last: 2,
        };
        assert_eq!(
            arns(policy.expired(&backups, now())),
            ["arn:backup/60", "arn:backup/50", "arn:backup/40"]
        );
        let policy = RetentionPolicy {
            max_age_days: 35,
            keep_last: 4,
        };
        assert_eq!(arns(policy.expired(&backups, now())), ["arn:backup/60"]);
    }

    #[test]
    fn the_newest_are_kept_even_when_old() {
        let backups: Vec<_> = [100, 200, 300].map(ours).to_vec();
        let policy = RetentionPolicy {
            max_age_days: 35,
            keep_last: 2,
        };
        assert_eq!(arns(policy.expired(&backups, now())), ["arn:backup/300"]);
    }

    #[test]
    fn backups_it_did_not_create_are_never_expired() {
        let mut foreign = ours(400);
        foreign.name = "before-migration".into();
        let mut system = ours(400);
        system.backup_type = "SYSTEM".into();
        let mut aws_backup = ours(400);
        aws_backup.backup_type = "AWS_BACKUP".into();
        let backups = vec![foreign, system, aws_backup, ours(0)];
        let policy = RetentionPolicy {
            max_age_days: 1,
            keep_last: 0,
        };
        assert!(policy.expired(&backups, now()).is_empty());
    }

    #[test]
    fn zero_days_keeps_only_the_newest() {
        let backups: Vec<_> = [0, 1, 2].map(ours).to_vec();
        let policy = RetentionPolicy {
            max_age_days: 0,
            keep_last: 1,
        };
        assert_eq!(
            arns(policy.expired(&backups, now())),
            ["arn:backup/2", "arn:backup/1"]
        );
    }
}
