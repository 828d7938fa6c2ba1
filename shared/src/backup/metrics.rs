//! What a backup run did, as metrics per table and engine (`metrics::BACKUP`).

use crate::backup::request::Engine;
use crate::backup::service::{BackupReport, TableOutcome};
use crate::metrics::{BACKUP, emit, function_name};

/// `[taken, failed, deleted]` for one table. A backup an earlier attempt already took is not
/// counted again.
pub fn values(outcome: &TableOutcome) -> [f64; 3] {
    let taken = (outcome.error.is_none()
        && !outcome.already_existed
        && (outcome.backup_arn.is_some() || outcome.backup_job_id.is_some())) as u8;
    [
        f64::from(taken),
        f64::from(outcome.error.is_some() as u8),
        outcome.deleted.len() as f64,
    ]
}

pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::DynamoDb => "dynamodb",
        Engine::AwsBackup => "aws-backup",
    }
}

impl BackupReport {
    /// One metric record per table.
    pub fn emit_metrics(&self) {
        let function = function_name();
        for outcome in &self.tables {
            let dimensions = [function.as_str(), &outcome.table, engine_name(self.engine)];
            emit(&BACKUP, &dimensions, &values(outcome));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_counts_once_and_failures_and_deletions_count() {
        let taken = TableOutcome {
            table: "orders".into(),
            backup_arn: Some("arn:b".into()),
            deleted: vec!["arn:old1".into(), "arn:old2".into()],
            ..TableOutcome::default()
        };
        assert_eq!(values(&taken), [1.0, 0.0, 2.0]);
        let again = TableOutcome {
            already_existed: true,
            ..taken.clone()
        };
        assert_eq!(
            values(&again)[0],
            0.0,
            "a retry's backup was counted the first time"
        );
        let failed = TableOutcome {
            table: "orders".into(),
            error: Some("denied".into()),
            ..TableOutcome::default()
        };
        assert_eq!(values(&failed), [0.0, 1.0, 0.0]);
        assert_eq!(engine_name(Engine::AwsBackup), "aws-backup");
    }
}
