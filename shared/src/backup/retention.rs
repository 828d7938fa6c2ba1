//! Which native backups have expired: only this stack's own `USER` backups of the table, older than
//! the retention period, beyond the newest few `AVAILABLE` ones, which are kept whatever their age.
//!
//! It can never leave a table bare: at least one backup is always kept (`keep_last` is at least 1,
//! checked at cold start), only `AVAILABLE` backups count as kept (one still `CREATING` may yet
//! fail), and the backup the run has just taken is never a candidate.

use chrono::{DateTime, Duration, Utc};

use crate::backup_name::Ownership;
use crate::table_backups::BackupRecord;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Backups older than this many days may be deleted (0: age alone never protects one).
    pub max_age_days: u32,
    /// The newest this many available backups are kept whatever their age; at least 1.
    pub keep_last: usize,
}

impl RetentionPolicy {
    /// The backups of `table` to delete, oldest first. `just_taken`: the ARN of the backup this
    /// run created (or found), never deleted.
    pub fn expired<'a>(
        &self,
        backups: &'a [BackupRecord],
        table: &str,
        ownership: &Ownership,
        just_taken: Option<&str>,
        now: DateTime<Utc>,
    ) -> Vec<&'a BackupRecord> {
        let mut ours: Vec<&BackupRecord> = backups
            .iter()
            .filter(|b| b.backup_type == "USER" && b.is_available())
            .filter(|b| ownership.taken_at(&b.name, table).is_some())
            .collect();
        ours.sort_by(|a, b| (b.created, &b.name).cmp(&(a.created, &a.name)));
        let cutoff = now - Duration::days(i64::from(self.max_age_days));
        let mut expired: Vec<&BackupRecord> = ours
            .into_iter()
            .skip(self.keep_last.max(1))
            .filter(|b| b.created <= cutoff && Some(b.arn.as_str()) != just_taken)
            .collect();
        expired.reverse();
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const TABLE: &str = "orders";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 0).unwrap()
    }

    fn stack() -> Ownership {
        Ownership {
            owner: "prod".into(),
            adopt_legacy: false,
        }
    }

    fn ours(days_ago: i64) -> BackupRecord {
        let created = now() - Duration::days(days_ago);
        BackupRecord {
            arn: format!("arn:backup/{days_ago}"),
            name: stack().backup_name(TABLE, created),
            created,
            backup_type: "USER".into(),
            status: "AVAILABLE".into(),
        }
    }

    fn arns(list: Vec<&BackupRecord>) -> Vec<&str> {
        list.into_iter().map(|b| b.arn.as_str()).collect()
    }

    fn expired(policy: RetentionPolicy, backups: &[BackupRecord]) -> Vec<&str> {
        arns(policy.expired(backups, TABLE, &stack(), None, now()))
    }

    fn policy(max_age_days: u32, keep_last: usize) -> RetentionPolicy {
        RetentionPolicy {
            max_age_days,
            keep_last,
        }
    }

    #[test]
    fn old_backups_beyond_the_newest_kept_expire() {
        let backups: Vec<_> = [0, 10, 40, 50, 60].map(ours).to_vec();
        assert_eq!(
            expired(policy(35, 2), &backups),
            ["arn:backup/60", "arn:backup/50", "arn:backup/40"]
        );
        assert_eq!(expired(policy(35, 4), &backups), ["arn:backup/60"]);
    }

    #[test]
    fn the_newest_are_kept_even_when_old() {
        let backups: Vec<_> = [100, 200, 300].map(ours).to_vec();
        assert_eq!(expired(policy(35, 2), &backups), ["arn:backup/300"]);
    }

    #[test]
    fn backups_it_did_not_create_are_never_expired() {
        let mut foreign = ours(400);
        foreign.name = "before-migration".into();
        let mut system = ours(400);
        system.backup_type = "SYSTEM".into();
        let mut aws_backup = ours(400);
        aws_backup.backup_type = "AWS_BACKUP".into();
        let mut other_stack = ours(400);
        other_stack.name = Ownership {
            owner: "staging".into(),
            adopt_legacy: false,
        }
        .backup_name(TABLE, other_stack.created);
        let mut other_table = ours(400);
        other_table.name = stack().backup_name("customers", other_table.created);
        let mut legacy = ours(400);
        legacy.name = "orders.ddb-guard.20251020T050000Z".into();
        let backups = vec![
            foreign,
            system,
            aws_backup,
            other_stack,
            other_table,
            legacy.clone(),
            ours(0),
        ];
        assert!(expired(policy(1, 1), &backups).is_empty());
        let adopting = Ownership {
            owner: "prod".into(),
            adopt_legacy: true,
        };
        assert_eq!(
            arns(policy(1, 1).expired(&backups, TABLE, &adopting, None, now())),
            [legacy.arn.as_str()]
        );
    }

    #[test]
    fn zero_days_keeps_only_the_newest() {
        let backups: Vec<_> = [0, 1, 2].map(ours).to_vec();
        assert_eq!(
            expired(policy(0, 1), &backups),
            ["arn:backup/2", "arn:backup/1"]
        );
    }

    #[test]
    fn a_backup_still_creating_neither_counts_nor_goes() {
        // The new backup is CREATING: the newest AVAILABLE one is kept, so the table is never bare
        // if the new one fails.
        let mut creating = ours(0);
        creating.status = "CREATING".into();
        let backups = vec![creating, ours(1), ours(2)];
        assert_eq!(expired(policy(0, 1), &backups), ["arn:backup/2"]);
        // Only CREATING ones: nothing is deleted.
        let mut only = ours(5);
        only.status = "CREATING".into();
        assert!(expired(policy(0, 1), &[only]).is_empty());
    }

    #[test]
    fn the_backup_just_taken_is_never_a_candidate_and_one_is_always_kept() {
        let backups: Vec<_> = [0, 1].map(ours).to_vec();
        let policy = policy(0, 0);
        // keep_last 0 is refused at cold start; here it still keeps one.
        let left = policy.expired(&backups, TABLE, &stack(), Some("arn:backup/0"), now());
        assert_eq!(arns(left), ["arn:backup/1"]);
        let left = policy.expired(&backups, TABLE, &stack(), Some("arn:backup/1"), now());
        assert!(
            arns(left).is_empty(),
            "the newest is kept, the other was just taken"
        );
    }
}
