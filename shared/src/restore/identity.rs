//! Trust bound to what DynamoDB created, not to a name: the record of each restore is bound to the
//! table the restore made (its `TableId`, from the restore's answer or the first look at it), and
//! every later finish, retry or clean-up checks that the table of that name is still that one and
//! was restored from what the record says. A table deleted and made again under a restored name,
//! by hand or by another restore, is left alone, and so is a copy promoted to production.

use aws_sdk_dynamodb::types::{RestoreSummary, TableDescription};
use chrono::{Duration, Utc};

use crate::restore::drill::run::DRILL_MARKER;
use crate::restore::provenance::{Started, failed};
use crate::restore::service::{RestoreError, RestoreService};
use crate::state::StateKey;

/// What DynamoDB created under a name: its `TableId`, which a table made again under the name
/// does not share. DynamoDB always gives one; a description without one (the local AWS's) falls
/// back on the creation time, which a table made again does not share either.
pub fn table_identity(table: &TableDescription) -> Option<String> {
    if let Some(id) = table.table_id() {
        return Some(format!("id {id}"));
    }
    let created = table.creation_date_time()?;
    Some(format!(
        "created {}.{:09}",
        created.secs(),
        created.subsec_nanos()
    ))
}

/// Whether DynamoDB's restore summary names what the record says the table was restored from:
/// the backup, or the source table of a point-in-time restore. AWS Backup's restores are not
/// compared (what their summary names is not documented).
pub fn summary_names(from: &str, source: &str, summary: &RestoreSummary) -> bool {
    if let Some(arn) = from.strip_prefix("backup ") {
        return summary.source_backup_arn() == Some(arn);
    }
    if from.starts_with("point in time ") || from == "latest restorable time" {
        let table = format!(":table/{source}");
        return summary
            .source_table_arn()
            .is_some_and(|a| a.ends_with(&table));
    }
    true
}

impl RestoreService {
    /// A name carrying the drill marker is a drill's scratch table, which a drill may delete:
    /// only a drill restores into one.
    pub(super) fn check_drill_name(&self, target: &str, drill: bool) -> Result<(), RestoreError> {
        if target.contains(DRILL_MARKER) && !drill {
            return Err(RestoreError::Refused(format!(
                "target table {target:?} carries {DRILL_MARKER:?}, which names a drill's scratch \
                 tables (checked and deleted by the drill): choose another name"
            )));
        }
        Ok(())
    }

    /// The record of `target`'s restore and its description, when `target` is a table this handler
    /// restored: named as a restore target, recorded when its restore started (from `asked`, when
    /// given), listed by DynamoDB as restored from what the record says, and the very table the
    /// restore created. Anything else is refused and left alone.
    pub(super) async fn restored_here(
        &self,
        target: &str,
        asked: Option<&str>,
    ) -> Result<(Started, TableDescription), RestoreError> {
        self.check_target_name(target, asked.unwrap_or_default())?;
        let Some(started) = self.started_here(target).await? else {
            return Err(RestoreError::Refused(format!(
                "{target} was not restored by this handler (no record of it): it acts only on \
                 the tables it restored"
            )));
        };
        let Some(described) = self.describe(target).await? else {
            return Err(RestoreError::Refused(format!(
                "table {target} does not exist (yet)"
            )));
        };
        if described.restore_summary().is_none() {
            return Err(RestoreError::Refused(format!(
                "DynamoDB does not list {target} as a restored table: it is left alone"
            )));
        }
        if let Some(asked) = asked
            && *asked != started.source
        {
            return Err(RestoreError::Refused(format!(
                "{target} was restored from {}, not {asked}",
                started.source
            )));
        }
        self.same_table(target, &started, &described).await?;
        Ok((started, described))
    }

    /// Before a finish changes `target`: the table of that name is still the one its restore
    /// created (bound now if this is the first look at it). Without a state table there is no
    /// record to bind, and only a restore waited for inline gets here.
    pub(super) async fn confirm_same_table(&self, target: &str) -> Result<(), RestoreError> {
        if self.state().is_none() {
            return Ok(());
        }
        let Some(started) = self.started_here(target).await? else {
            return Err(RestoreError::Refused(format!(
                "{target} was not restored by this handler (no record of it)"
            )));
        };
        let Some(described) = self.describe(target).await? else {
            return Err(RestoreError::Refused(format!(
                "table {target} does not exist"
            )));
        };
        self.same_table(target, &started, &described).await
    }

    /// `described` is the table `started` records: restored from what it says, and the table the
    /// restore created (bound to the record on the first look).
    pub(crate) async fn same_table(
        &self,
        target: &str,
        started: &Started,
        described: &TableDescription,
    ) -> Result<(), RestoreError> {
        let not_ours = |why: String| {
            Err(RestoreError::Refused(format!(
                "{target} is not the table this handler restored ({why}): it is left alone"
            )))
        };
        if let Some(summary) = described.restore_summary()
            && !summary_names(&started.from, &started.source, summary)
        {
            return not_ours(format!(
                "DynamoDB says it was restored from {}, the record says {}",
                (summary.source_backup_arn().or(summary.source_table_arn())).unwrap_or("elsewhere"),
                started.from
            ));
        }
        let identity = table_identity(described).ok_or_else(|| {
            RestoreError::Failed(format!(
                "DynamoDB described {target} without a TableId: it cannot be told from a table \
                 made again under its name"
            ))
        })?;
        match &started.table {
            Some(bound) if *bound == identity => {}
            Some(_) => {
                return not_ours(
                    "a table of that name was made again since the restore: its TableId differs"
                        .into(),
                );
            }
            None => self.bind_table(target, &identity).await?,
        }
        // Production now: IAM denies the stack's roles its changes, and this handler makes none.
        let arn = described.table_arn().unwrap_or_default();
        if let Some(at) = self.promoted_at(arn).await? {
            return Err(RestoreError::Refused(format!(
                "{target} was promoted to production on {at}: the restore-handler no longer \
                 finishes, restores into or otherwise changes it"
            )));
        }
        Ok(())
    }

    /// Binds the record of a restore just started to the table DynamoDB's answer describes (`None`:
    /// AWS Backup creates the table later, and the first look at it binds it).
    pub(super) async fn bind_created(
        &self,
        target: &str,
        created: Option<&TableDescription>,
    ) -> Result<(), RestoreError> {
        match created.and_then(table_identity) {
            Some(identity) => self.bind_table(target, &identity).await,
            None => Ok(()),
        }
    }

    /// Binds the record of `target`'s restore to the table DynamoDB created; if another
    /// invocation bound it first, that binding must be this table.
    async fn bind_table(&self, target: &str, identity: &str) -> Result<(), RestoreError> {
        let Some(state) = self.state() else {
            return Ok(());
        };
        let key = StateKey::restore_started(target);
        for _ in 0..3 {
            let now = Utc::now();
            let Some(record) = state.get(&key, now).await.map_err(failed)? else {
                return Err(RestoreError::Refused(format!(
                    "{target} was not restored by this handler (no record of it)"
                )));
            };
            match record.body["table"].as_str() {
                Some(bound) if bound == identity => return Ok(()),
                Some(_) => {
                    return Err(RestoreError::Refused(format!(
                        "{target} is not the table this handler restored (a table of that name \
                         was made again since the restore): it is left alone"
                    )));
                }
                None => {}
            }
            let mut body = record.body.clone();
            body["table"] = identity.into();
            let expires = record.expires_at.max(now + Duration::days(1));
            if state
                .replace(&key, record.version, &body, expires)
                .await
                .map_err(failed)?
            {
                tracing::info!(%target, identity, "restore bound to the table DynamoDB created");
                return Ok(());
            }
        }
        Err(RestoreError::Failed(format!(
            "the record of {target}'s restore kept changing while it was bound to its table"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::DateTime;

    #[test]
    fn a_table_is_known_by_its_id_or_else_its_creation_time() {
        let with_id = TableDescription::builder()
            .table_id("4a3c-11")
            .creation_date_time(DateTime::from_secs(5))
            .build();
        assert_eq!(table_identity(&with_id).as_deref(), Some("id 4a3c-11"));
        let created = TableDescription::builder()
            .creation_date_time(DateTime::from_secs_and_nanos(5, 7))
            .build();
        assert_eq!(
            table_identity(&created).as_deref(),
            Some("created 5.000000007")
        );
        assert_eq!(table_identity(&TableDescription::builder().build()), None);
    }

    #[test]
    fn the_restore_summary_must_name_what_the_record_says() {
        let backup = "arn:aws:dynamodb:us-east-1:1:table/orders/backup/01";
        let from_backup = |arn: &str| {
            RestoreSummary::builder()
                .source_backup_arn(arn)
                .restore_date_time(DateTime::from_secs(0))
                .restore_in_progress(false)
                .build()
                .unwrap()
        };
        let from_table = |table: &str| {
            RestoreSummary::builder()
                .source_table_arn(format!("arn:aws:dynamodb:us-east-1:1:table/{table}"))
                .restore_date_time(DateTime::from_secs(0))
                .restore_in_progress(false)
                .build()
                .unwrap()
        };
        let from = format!("backup {backup}");
        assert!(summary_names(&from, "orders", &from_backup(backup)));
        assert!(!summary_names(&from, "orders", &from_backup("arn:other")));
        let at = "point in time 2026-11-25T05:00:00+00:00";
        assert!(summary_names(at, "orders", &from_table("orders")));
        assert!(!summary_names(at, "orders", &from_table("payments")));
        assert!(summary_names(
            "latest restorable time",
            "orders",
            &from_table("orders")
        ));
        assert!(summary_names(
            "recovery point arn:rp",
            "orders",
            &from_table("x")
        ));
    }
}
