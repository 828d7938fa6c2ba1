//! What a restore leaves undone: point-in-time recovery, tags and streams are not restored with the
//! data; they are copied from the source table. TTL and deletion protection only when asked.
//!
//! Each step reads the target first and changes only what differs, so a second finish (Lambda's
//! retry, a re-send) succeeds where DynamoDB would refuse to enable what is already on. Tags are
//! copied except `aws:` ones and the configured skip list (the backup plan's selection tag would
//! enrol every copy in the plan), and every restored table is tagged with where it came from.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, TableDescription,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::provenance::provenance_tags;
use crate::restore::request::RestoreOptions;
use crate::restore::service::{RestoreReport, RestoreService};
use crate::retry::Backoff;

impl RestoreService {
    /// Copies point-in-time recovery, tags, stream settings (and TTL when asked) from the source
    /// table, and deletion protection when asked; each one that fails is listed, the others still
    /// happen.
    pub(super) async fn reapply_settings(
        &self,
        report: &mut RestoreReport,
        options: &RestoreOptions,
        deadline: Instant,
    ) {
        let (source, target) = (report.source_table.clone(), report.target_table.clone());
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let source_table = match self.describe(&source).await {
            Ok(Some(t)) => Some(t),
            Ok(None) => {
                failed.push(format!(
                    "source table {source} no longer exists: TTL, point-in-time recovery, tags \
                     and stream settings were not copied"
                ));
                None
            }
            Err(e) => {
                failed.push(e.to_string());
                None
            }
        };
        let target_arn = match self.describe(&target).await {
            Ok(Some(t)) => t.table_arn().unwrap_or_default().to_string(),
            Ok(None) => String::new(),
            Err(e) => {
                failed.push(e.to_string());
                String::new()
            }
        };
        if let Some(source_table) = &source_table {
            let from = report.restored_from.clone().unwrap_or_default();
            let ttl = match options.copy_ttl {
                true => self.copy_ttl(&source, &target).await,
                false => Ok(None),
            };
            let steps = [
                ttl,
                self.copy_point_in_time_recovery(&source, &target, deadline)
                    .await,
                self.copy_tags(source_table, &target_arn, &from).await,
                self.copy_stream(source_table, &target, deadline).await,
            ];
            for step in steps {
                match step {
                    Ok(Some(what)) => done.push(what),
                    Ok(None) => {}
                    Err(why) => failed.push(why),
                }
            }
        }
        // Off unless asked: a restored copy is most often checked and then deleted.
        if options.deletion_protection == Some(true) {
            let _ = self
                .wait_active(
                    &target,
                    Some(crate::deadline::before_deadline(
                        deadline,
                        Duration::from_secs(5),
                    )),
                )
                .await;
            match self
                .dynamodb
                .update_table()
                .table_name(&target)
                .deletion_protection_enabled(true)
                .send()
                .await
            {
                Ok(_) => done.push("deletion protection".to_string()),
                Err(e) => failed.push(format!("deletion protection: {}", describe(&e))),
            }
        }
        report.settings_reapplied = done;
        report.settings_not_reapplied = failed;
    }

    async fn copy_ttl(&self, source: &str, target: &str) -> Result<Option<String>, String> {
        let ttl = self
            .dynamodb
            .describe_time_to_live()
            .table_name(source)
            .send()
            .await
            .map_err(|e| format!("time to live: {}", describe(&e)))?
            .time_to_live_description;
        let attribute = ttl.as_ref().and_then(|t| {
            (t.time_to_live_status() == Some(&TimeToLiveStatus::Enabled))
                .then(|| t.attribute_name())
                .flatten()
        });
        let Some(attribute) = attribute else {
            return Ok(None);
        };
        let on_target = self
            .dynamodb
            .describe_time_to_live()
            .table_name(target)
            .send()
            .await
            .map_err(|e| format!("time to live: {}", describe(&e)))?
            .time_to_live_description;
        if on_target.is_some_and(|t| {
            t.time_to_live_status() == Some(&TimeToLiveStatus::Enabled)
                && t.attribute_name() == Some(attribute)
        }) {
            return Ok(Some(format!("time to live on {attribute} (already on)")));
        }
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name(attribute)
            .build()
            .map_err(|e| format!("time to live: {e}"))?;
        self.dynamodb
            .update_time_to_live()
            .table_name(target)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(|e| format!("time to live: {}", describe(&e)))?;
        Ok(Some(format!("time to live on {attribute}")))
    }

    /// Retried while DynamoDB says continuous backups are not available yet, as it often does
    /// for a table just restored.
    async fn copy_point_in_time_recovery(
        &self,
        source: &str,
        target: &str,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let pitr = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(source)
            .send()
            .await
            .map_err(|e| format!("point-in-time recovery: {}", describe(&e)))?
            .continuous_backups_description
            .and_then(|c| c.point_in_time_recovery_description);
        let Some(pitr) = pitr.filter(|p| {
            p.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled)
        }) else {
            return Ok(None);
        };
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .set_recovery_period_in_days(pitr.recovery_period_in_days())
            .build()
            .map_err(|e| format!("point-in-time recovery: {e}"))?;
        let backoff = Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(30),
        };
        let until = crate::deadline::before_deadline(deadline, Duration::from_secs(10));
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .dynamodb
                .update_continuous_backups()
                .table_name(target)
                .point_in_time_recovery_specification(spec.clone())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Some("point-in-time recovery".to_string())),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_continuous_backups_unavailable_exception())
                        && Instant::now() + backoff.delay(attempt) < until =>
                {
                    tracing::info!(%target, attempt, "continuous backups not available yet: retrying");
                    tokio::time::sleep(backoff.delay(attempt)).await;
                }
                Err(e) => return Err(format!("point-in-time recovery: {}", describe(&e))),
            }
        }
    }

    async fn copy_tags(
        &self,
        source: &TableDescription,
        target_arn: &str,
        from: &str,
    ) -> Result<Option<String>, String> {
        let source_arn = source.table_arn().unwrap_or_default();
        let mut tags = Vec::new();
        let mut next = None;
        loop {
            let page = self
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(source_arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| format!("tags: {}", describe(&e)))?;
            tags.extend(page.tags().iter().cloned());
            match page.next_token {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        let skip = &self.settings.skip_tags;
        tags.retain(|t| !t.key().starts_with("aws:") && !skip.iter().any(|s| s == t.key()));
        let source_name = source.table_name().unwrap_or_default();
        tags.extend(provenance_tags(source_name, from));
        let mut names: Vec<String> = tags.iter().map(|t| t.key().to_string()).collect();
        names.sort();
        self.dynamodb
            .tag_resource()
            .resource_arn(target_arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| format!("tags: {}", describe(&e)))?;
        Ok(Some(format!("tags {}", names.join(", "))))
    }

    async fn copy_stream(
        &self,
        source: &TableDescription,
        target: &str,
        deadline: Instant,
    ) -> Result<Option<String>, String> {
        let Some(spec) = source
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .cloned()
        else {
            return Ok(None);
        };
        let view = spec
            .stream_view_type()
            .map_or(String::new(), |v| v.as_str().to_string());
        let on_target = self
            .describe(target)
            .await
            .map_err(|e| format!("stream: {e}"))?
            .and_then(|t| t.stream_specification().cloned());
        if on_target
            .is_some_and(|t| t.stream_enabled() && t.stream_view_type() == spec.stream_view_type())
        {
            return Ok(Some(format!("stream ({view}, already on)")));
        }
        self.wait_active(
            target,
            Some(crate::deadline::before_deadline(
                deadline,
                Duration::from_secs(5),
            )),
        )
        .await
        .map_err(|e| format!("stream: {e}"))?;
        self.dynamodb
            .update_table()
            .table_name(target)
            .stream_specification(spec)
            .send()
            .await
            .map_err(|e| format!("stream: {}", describe(&e)))?;
        Ok(Some(format!("stream ({view})")))
    }
}
