//! A drill: each table restored from its newest backup, recovery point or latest restorable time
//! into a scratch table (a restore like any other, with the drill recorded in its options); once
//! its finish is done, wherever that happens, the copy is checked, the result kept and told, and
//! the scratch table deleted. The drill deletes only tables it made.

use aws_sdk_dynamodb::types::Tag;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::deadline::before_deadline;
use crate::restore::config::DrillSource;
use crate::restore::drill::checks;
use crate::restore::drill::report::DrillReport;
use crate::restore::options::{DrillSpec, RestoreOptions};
use crate::restore::provenance::DRILL_TAG;
use crate::restore::request::{RestorePlan, RestoreSource};
use crate::restore::service::{FINISH_RESERVE, RestoreError, RestoreReport, RestoreService};
use crate::retry::{Backoff, Retry};
use crate::state::StateKey;
use crate::table_selection::select_tables;
use crate::workflow::HandOver;

/// Every scratch table's name carries this (inside the restore target marker's pattern), and only
/// such tables may be deleted, in code and in IAM.
pub const DRILL_MARKER: &str = "-restored-drill-";

/// `<table>-restored-drill-<drill id>`, the table part cut so the name is always valid (at most 255
/// characters).
pub fn scratch_name(table: &str, drill_id: &str) -> String {
    let suffix = format!("{DRILL_MARKER}{drill_id}");
    let room = 255usize.saturating_sub(suffix.len());
    let cut = table.get(..room.min(table.len())).unwrap_or(table);
    format!("{cut}{suffix}")
}

/// What a drill request started, per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrillResponse {
    pub drill_id: String,
    pub tables: Vec<DrillStarted>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillStarted {
    pub source_table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scratch_table: Option<String>,
    /// The drill's result when it finished within this invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<DrillReport>,
    /// What happens next, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<String>,
}

impl RestoreService {
    /// Starts a drill of each table (the configured ones unless named), from `source` (the
    /// configured one unless named). A table that cannot be drilled is reported and alerted.
    pub async fn drill(
        &self,
        tables: Option<Vec<String>>,
        source: Option<DrillSource>,
        request_id: &str,
        deadline: Instant,
        hand_over: &HandOver,
    ) -> Result<DrillResponse, RestoreError> {
        let settings = &self.settings.drill;
        let tables = match tables {
            Some(tables) => tables,
            None => self.drill_tables(deadline).await?,
        };
        if tables.is_empty() {
            let why = (settings.tables).nothing_selected(
                "drill",
                "DRILL_TABLES (or SOURCE_TABLE)",
                "DRILL_TAG",
            );
            return Err(RestoreError::Refused(format!("{why}, or name tables")));
        }
        let source = source.unwrap_or(settings.source);
        let now = Utc::now();
        let drill_id = self.drill_id(request_id, now).await?;
        let mut response = DrillResponse {
            drill_id: drill_id.clone(),
            tables: Vec::new(),
        };
        for table in tables {
            let spec = DrillSpec {
                id: drill_id.clone(),
                requested_at: now,
            };
            let started = match self
                .drill_table(&table, source, spec, request_id, deadline, hand_over)
                .await
            {
                Ok(started) => started,
                Err(e) => {
                    let left = self.left_behind(&scratch_name(&table, &drill_id)).await;
                    (self.could_not_run(&table, &drill_id, now, &e.to_string(), left)).await?
                }
            };
            response.tables.push(started);
        }
        Ok(response)
    }

    /// This request's drill id, `<date>-<request id>`: the one its first attempt recorded, so that
    /// Lambda's retry (which keeps the request id), after midnight too, carries on with the restores
    /// it started instead of starting more. Recorded before any restore starts.
    async fn drill_id(&self, request_id: &str, now: DateTime<Utc>) -> Result<String, RestoreError> {
        let short_id: String = (request_id.chars())
            .filter(char::is_ascii_alphanumeric)
            .take(8)
            .collect::<String>()
            .to_ascii_lowercase();
        let fresh = format!("{}-{short_id}", now.format("%Y%m%d"));
        let Some(state) = self.state() else {
            return Ok(fresh);
        };
        let failed = |e: crate::state::StateError| RestoreError::Failed(e.to_string());
        let key = StateKey::new(format!("drill-request#{request_id}"), "drill");
        // Longer than Lambda retries an event (6 hours) and a schedule redelivers one (an hour).
        let expires = now + chrono::Duration::days(2);
        let body = json!({ "drill_id": fresh });
        if state
            .create(&key, &body, expires, now)
            .await
            .map_err(failed)?
        {
            return Ok(fresh);
        }
        let record = state.get(&key, now).await.map_err(failed)?;
        let recorded = record.and_then(|r| r.body["drill_id"].as_str().map(str::to_string));
        Ok(recorded.unwrap_or(fresh))
    }

    /// The configured tables: the named ones, then every other table carrying `DRILL_TAG`, except
    /// a drill's scratch table (a copy that kept the tag): a copy is never drilled unless named.
    async fn drill_tables(&self, deadline: Instant) -> Result<Vec<String>, RestoreError> {
        let selection = &self.settings.drill.tables;
        let retry = Retry {
            backoff: Backoff::default(),
            max_attempts: 8,
            deadline: before_deadline(deadline, FINISH_RESERVE),
        };
        let mut tables = select_tables(&self.dynamodb, selection, &retry)
            .await
            .map_err(|e| {
                RestoreError::Failed(format!(
                    "the tables carrying DRILL_TAG could not be listed, so none was drilled: {e}"
                ))
            })?;
        tables.retain(|t| selection.names.contains(t) || !t.contains(DRILL_MARKER));
        if let Some((key, value)) = &selection.tag {
            let tagged = tables.len() - selection.names.len();
            tracing::info!(tag = %format!("{key}={value}"), tagged, ?tables, "drill tables selected");
        }
        Ok(tables)
    }

    async fn drill_table(
        &self,
        table: &str,
        source: DrillSource,
        spec: DrillSpec,
        request_id: &str,
        deadline: Instant,
        hand_over: &HandOver,
    ) -> Result<DrillStarted, RestoreError> {
        let described = self
            .describe(table)
            .await?
            .ok_or_else(|| RestoreError::Refused(format!("table {table} does not exist")))?;
        let size = described.table_size_bytes().unwrap_or_default().max(0) as u64;
        let cap = self.settings.drill.max_bytes;
        if size > cap {
            return Err(RestoreError::Refused(format!(
                "{table} holds {:.1} GB, over DRILL_MAX_GB ({:.1} GB): a restore costs per GB",
                size as f64 / 1e9,
                cap as f64 / 1e9
            )));
        }
        let from = match source {
            DrillSource::Backup => RestoreSource::LatestBackup,
            DrillSource::PointInTime => RestoreSource::LatestRestorable,
            DrillSource::RecoveryPoint => {
                let arn = described.table_arn().unwrap_or_default();
                RestoreSource::RecoveryPoint(self.latest_recovery_point(arn).await?)
            }
        };
        let scratch = scratch_name(table, &spec.id);
        let plan = RestorePlan {
            source_table: table.to_string(),
            source: from,
            target_table: Some(scratch.clone()),
            idempotency_key: Some(format!("drill#{}#{table}", spec.id)),
            options: RestoreOptions {
                drill: Some(spec),
                verify: true,
                ..RestoreOptions::default()
            },
        };
        let report = self.restore(plan, request_id, deadline, hand_over).await?;
        Ok(DrillStarted {
            source_table: table.to_string(),
            scratch_table: Some(scratch),
            next_step: report.drill.is_none().then(|| {
                report.next_step.clone().unwrap_or_else(|| {
                    "the restore is finished, checked and deleted by the restore state machine"
                        .into()
                })
            }),
            report: report.drill,
        })
    }

    /// The scratch table a drill that failed part way leaves, if its restore began: recorded as
    /// started, or there.
    async fn left_behind(&self, scratch: &str) -> Option<String> {
        let recorded = self.started_here(scratch).await.ok().flatten().is_some();
        let there = recorded || self.describe(scratch).await.ok().flatten().is_some();
        there.then(|| scratch.to_string())
    }

    /// A drill that could not start, or failed once its restore began (`scratch`: the table that
    /// restore left, named so it can be cleaned up), is a failed drill: reported and alerted.
    async fn could_not_run(
        &self,
        table: &str,
        drill_id: &str,
        requested_at: DateTime<Utc>,
        why: &str,
        scratch: Option<String>,
    ) -> Result<DrillStarted, RestoreError> {
        let mut report = DrillReport {
            drill_id: drill_id.to_string(),
            kind: "drill".into(),
            source_table: table.to_string(),
            scratch_table: scratch.clone(),
            restored_from: None,
            requested_at,
            seconds_to_active: None,
            seconds_to_checked: None,
            target_minutes: self.settings.drill.target_minutes,
            passed: false,
            checks: vec![checks::Check::new("drill ran", false, why.to_string())],
            verification: None,
            sample: None,
            settings_differences: vec![],
            scratch_table_deleted: false,
            report_location: None,
            alert_message_id: None,
        };
        self.keep_and_tell(&mut report)
            .await
            .map_err(RestoreError::Failed)?;
        Ok(DrillStarted {
            source_table: table.to_string(),
            scratch_table: scratch,
            report: Some(report),
            next_step: None,
        })
    }

    /// Once a drill's restore is finished and counted: checks it, keeps and tells the result, and
    /// deletes the scratch table; a drill whose verdict is recorded answers that (`verdict`).
    pub(crate) async fn complete_drill(
        &self,
        report: &RestoreReport,
        spec: &DrillSpec,
    ) -> Result<DrillReport, RestoreError> {
        let settings = &self.settings.drill;
        let (source_name, scratch) = (&report.source_table, &report.target_table);
        if let Some(recorded) = self.recorded_verdict(scratch).await? {
            return Ok(recorded);
        }
        let active_at = self.noted_active(scratch).await?;
        let source = self.describe(source_name).await?;
        let copy = self.describe(scratch).await?;
        let mut found = Vec::new();
        let mut sample = None;
        match (&source, &copy) {
            (Some(source), Some(copy)) => {
                found.push(checks::status(copy));
                found.push(checks::keys_and_indexes(source, copy));
                let s = self.sample(source, copy, settings.sample_size).await?;
                found.push(checks::sample(&s));
                sample = Some(s);
            }
            _ => found.push(checks::Check::new(
                "tables",
                false,
                format!("{source_name} or {scratch} could not be described"),
            )),
        }
        let left_off: Vec<String> = (report.settings_left_off.iter())
            .map(|l| l.setting.clone())
            .collect();
        found.push(checks::settings(&report.settings_not_reapplied, &left_off));
        if let Some(verification) = &report.verification {
            found.push(checks::item_count(
                verification,
                settings.count_tolerance_percent,
            ));
        }
        // Whole seconds, rounded up: a restore is never reported faster than it was.
        let millis = (active_at - spec.requested_at).num_milliseconds();
        let seconds_to_active = (millis + 999).div_euclid(1000);
        found.push(checks::restore_time(
            seconds_to_active,
            settings.target_minutes,
        ));
        let deleted = self.delete_scratch(scratch).await;
        let mut drill = DrillReport {
            drill_id: spec.id.clone(),
            kind: "drill".into(),
            source_table: source_name.clone(),
            scratch_table: Some(scratch.clone()),
            restored_from: report.restored_from.clone(),
            requested_at: spec.requested_at,
            seconds_to_active: Some(seconds_to_active),
            seconds_to_checked: Some((Utc::now() - spec.requested_at).num_seconds()),
            target_minutes: settings.target_minutes,
            passed: found.iter().all(|c| c.passed) && deleted.is_ok(),
            checks: found,
            verification: report.verification.clone(),
            sample,
            settings_differences: report.settings_differences.clone(),
            scratch_table_deleted: deleted.is_ok(),
            report_location: None,
            alert_message_id: None,
        };
        if let Err(e) = deleted {
            drill
                .checks
                .push(checks::Check::new("cleanup", false, e.to_string()));
        }
        self.keep_and_tell(&mut drill)
            .await
            .map_err(RestoreError::Failed)?;
        self.record_verdict(scratch, &drill).await;
        Ok(drill)
    }

    /// Deletes a scratch table, only when a drill made it: named with the drill marker, tagged by
    /// the drill, and recorded as a drill's restore in the state table. Anything else is refused
    /// and left untouched.
    pub async fn delete_scratch(&self, table: &str) -> Result<(), RestoreError> {
        let refuse = |why: String| {
            Err(RestoreError::Refused(format!(
                "{table} is not a drill's scratch table ({why}): it is left alone"
            )))
        };
        if !table.contains(DRILL_MARKER) {
            return refuse(format!("its name lacks {DRILL_MARKER:?}"));
        }
        let recorded = self.started_here(table).await?;
        let Some(started) = recorded.filter(|r| r.options.drill.is_some()) else {
            return refuse("no drill recorded restoring it".into());
        };
        let recorded_drill_id = (started.options.drill.as_ref())
            .map(|d| d.id.clone())
            .unwrap_or_default();
        let recorded_drill_id = &recorded_drill_id;
        let Some(described) = self.describe(table).await? else {
            return Ok(()); // already gone
        };
        // The table the drill's restore created, not one made again under its name.
        self.same_table(table, &started, &described).await?;
        let arn = described.table_arn().unwrap_or_default();
        let tags = (self
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .send())
        .await
        .map_err(|e| {
            RestoreError::Failed(format!("ListTagsOfResource {table}: {}", describe(&e)))
        })?;
        if !tags.tags().iter().any(|t| t.key() == DRILL_TAG) {
            // A drill that failed before its finish tagged the table: the record says a drill
            // restored it, so it gets the tag the finish would have given it (IAM deletes only
            // tagged drill tables).
            self.tag_as_drill(table, arn, recorded_drill_id).await?;
        }
        (self.dynamodb.delete_table().table_name(table).send())
            .await
            .map_err(|e| RestoreError::Failed(format!("DeleteTable {table}: {}", describe(&e))))?;
        tracing::info!(%table, "scratch table deleted");
        Ok(())
    }

    /// Tags a scratch table as its drill's, as the finish does.
    async fn tag_as_drill(
        &self,
        table: &str,
        arn: &str,
        drill_id: &str,
    ) -> Result<(), RestoreError> {
        let tag = (Tag::builder().key(DRILL_TAG).value(drill_id).build())
            .map_err(|e| RestoreError::Failed(format!("tag {DRILL_TAG}: {e}")))?;
        (self.dynamodb.tag_resource().resource_arn(arn).tags(tag))
            .send()
            .await
            .map_err(|e| RestoreError::Failed(format!("TagResource {table}: {}", describe(&e))))?;
        tracing::info!(%table, "scratch table tagged as its drill's, to be deleted");
        Ok(())
    }

    /// The newest completed recovery point of the table in the stack's vault.
    async fn latest_recovery_point(&self, table_arn: &str) -> Result<String, RestoreError> {
        let vault = self.settings.backup_vault_name.as_deref().ok_or_else(|| {
            RestoreError::Refused("a drill from a recovery point needs BACKUP_VAULT_NAME".into())
        })?;
        let mut newest: Option<(i64, String)> = None;
        let mut next = None;
        loop {
            let page = self
                .backup
                .list_recovery_points_by_backup_vault()
                .backup_vault_name(vault)
                .by_resource_arn(table_arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| {
                    RestoreError::Failed(format!(
                        "ListRecoveryPointsByBackupVault: {}",
                        describe(&e)
                    ))
                })?;
            for point in page.recovery_points() {
                let completed = point.status().is_some_and(|s| s.as_str() == "COMPLETED");
                let created = point.creation_date().map_or(0, |d| d.secs());
                if let (true, Some(arn)) = (completed, point.recovery_point_arn())
                    && newest.as_ref().is_none_or(|(at, _)| created > *at)
                {
                    newest = Some((created, arn.to_string()));
                }
            }
            match page.next_token {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        newest.map(|(_, arn)| arn).ok_or_else(|| {
            RestoreError::Refused(format!(
                "no completed recovery point of {table_arn} in {vault}"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table_selection::check_table_name;

    #[test]
    fn scratch_tables_are_valid_names_that_carry_the_drill_marker() {
        let name = scratch_name("orders", "20261129-ab12cd34");
        assert_eq!(name, "orders-restored-drill-20261129-ab12cd34");
        let long = scratch_name(&"t".repeat(255), "20261129-ab12cd34");
        assert_eq!(long.len(), 255);
        assert!(long.contains(DRILL_MARKER) && check_table_name(&long).is_ok());
    }
}
