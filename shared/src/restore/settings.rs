//! What a restore leaves undone: TTL, point-in-time recovery, tags, streams and deletion protection
//! are not restored with the data; they are copied from the source table.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, TableDescription,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::service::{RestoreReport, RestoreService};

impl RestoreService {
    /// Copies TTL, point-in-time recovery, tags, stream settings and deletion protection from the
    /// source table; each one that fails is listed, the others still happen.
    pub(super) async fn reapply_settings(
        &self,
        report: &mut RestoreReport,
        deletion_protection: Option<bool>,
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
            let steps = [
                self.copy_ttl(&source, &target).await,
                self.copy_point_in_time_recovery(&source, &target).await,
                self.copy_tags(source_table, &target_arn).await,
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
        let protect = deletion_protection.unwrap_or_else(|| {
            source_table
                .as_ref()
                .and_then(|t| t.deletion_protection_enabled())
                .unwrap_or(false)
        });
        if protect {
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

    async fn copy_point_in_time_recovery(
        &self,
        source: &str,
        target: &str,
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
        self.dynamodb
            .update_continuous_backups()
            .table_name(target)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .map_err(|e| format!("point-in-time recovery: {}", describe(&e)))?;
        Ok(Some("point-in-time recovery".to_string()))
    }

    async fn copy_tags(
        &self,
        source: &TableDescription,
        target_arn: &str,
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
        if tags.is_empty() {
            return Ok(None);
        }
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
