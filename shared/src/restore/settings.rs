//! Bringing back what a restore drops: the source's settings are read, the restored table's are
//! read, `parity::wanted` says what the copy should have, and only what differs is changed, one
//! table change at a time. Then the copy is read again: every difference left between source and
//! copy is one the report lists (left off with its reason, not handled, or failed).
//!
//! Describing first makes a second finish (Lambda's retry, a re-send, two at once behind the
//! finish lease) a no-op where DynamoDB would refuse to enable what is already on.

use std::collections::BTreeSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::{
    ContributorInsightsAction, PointInTimeRecoverySpecification, TableDescription, Tag,
    TimeToLiveSpecification,
};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::options::RestoreOptions;
use crate::restore::parity::{
    Choices, Difference, LeftOff, NOT_HANDLED, TableSettings, differences, wanted,
};
use crate::restore::provenance::{DRILL_TAG, provenance_tags};
use crate::restore::service::{RestoreReport, RestoreService};
use crate::restore::snapshot::Snapshot;
use crate::retry::Backoff;

/// One step's outcome: what was done (`None`: nothing to do), or why it failed.
pub(super) type Step = Result<Option<String>, String>;

impl RestoreService {
    /// Brings the restored table's settings to what the source has, as `options` choose; fills the
    /// report's settings lists. Each step that fails is listed; the others still happen.
    pub(super) async fn reapply_settings(
        &self,
        report: &mut RestoreReport,
        options: &RestoreOptions,
        deadline: Instant,
    ) {
        let (source, target) = (&report.source_table, &report.target_table);
        let (source_table, target_table) =
            match (self.described(source).await, self.described(target).await) {
                (Ok(s), Ok(t)) => (s, t),
                (s, t) => {
                    let mut failed: Vec<String> = s.err().into_iter().chain(t.err()).collect();
                    failed.push("no setting was brought back".into());
                    report.settings_not_reapplied = failed;
                    return;
                }
            };
        let source_snapshot = self.snapshot(&source_table).await;
        let target_snapshot = self.snapshot(&target_table).await;
        let mut failed = unreadable(&source_snapshot, &target_snapshot);
        let (want, left_off) = wanted(
            &source_snapshot.settings,
            &target_snapshot.settings,
            &self.choices(options),
        );
        let until = crate::deadline::before_deadline(deadline, Duration::from_secs(10));
        let steps = (self.change_settings(report, &target_snapshot, &want, options, until)).await;
        let mut done = Vec::new();
        for step in steps {
            match step {
                Ok(Some(what)) => done.push(what),
                Ok(None) => {}
                Err(why) => failed.push(why),
            }
        }
        // Read the copy again (once its changes have settled) and account for every difference.
        let after = match self.settled_settings(&report.target_table, until).await {
            Ok(settings) => settings,
            Err(e) => {
                failed.push(format!("copy could not be read after the finish: {e}"));
                target_snapshot.settings.clone()
            }
        };
        let remaining = differences(&source_snapshot.settings, &after);
        failed.extend(unexplained(&remaining, &left_off));
        report.settings_reapplied = done;
        report.settings_not_reapplied = failed;
        report.settings_left_off = left_off;
        report.settings_not_handled = NOT_HANDLED.iter().map(|s| s.to_string()).collect();
        report.settings_differences = remaining;
    }

    /// The table's description, or why there is none.
    async fn described(&self, name: &str) -> Result<TableDescription, String> {
        match self.describe(name).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(format!("{name} does not exist")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// What the request and the configuration choose for the copy; the rest follows the source.
    fn choices(&self, options: &RestoreOptions) -> Choices {
        Choices {
            copy_ttl: options.copy_ttl,
            deletion_protection: options.deletion_protection,
            copy_kinesis_destinations: options.copy_kinesis_destinations,
            copy_resource_policy: options.copy_resource_policy,
            kms_key_chosen: options.kms_key_arn.is_some(),
            billing_mode_chosen: options.billing_mode.is_some(),
            skip_tags: self.settings.skip_tags.clone(),
        }
    }

    /// Each setting of the copy changed to `want`, one table change at a time, in this order.
    async fn change_settings(
        &self,
        report: &RestoreReport,
        copy: &Snapshot,
        want: &TableSettings,
        options: &RestoreOptions,
        until: Instant,
    ) -> Vec<Step> {
        let (source, target) = (&report.source_table, &report.target_table);
        let from = report.restored_from.clone().unwrap_or_default();
        let have = &copy.settings;
        vec![
            self.set_capacity(target, want, have, until).await,
            self.set_table_class(target, want, have, until).await,
            self.set_on_demand_maximum(target, want, have, until).await,
            self.set_encryption(target, want, have, until).await,
            self.set_stream(target, want, have, until).await,
            self.set_deletion_protection(target, want, have, until)
                .await,
            self.set_time_to_live(target, want, have).await,
            self.set_point_in_time_recovery(target, want, have, until)
                .await,
            self.set_tags(&copy.arn, want, have, source, &from, options)
                .await,
            self.set_contributor_insights(target, want, have).await,
            self.set_kinesis_destinations(target, want, have).await,
            self.set_resource_policy(&copy.arn, want, have).await,
            self.set_auto_scaling(target, want, have).await,
        ]
    }

    /// The copy's settings, read again once its changes have settled.
    async fn settled_settings(
        &self,
        target: &str,
        until: Instant,
    ) -> Result<TableSettings, String> {
        let _ = self.wait_active(target, Some(until)).await;
        let table = self.described(target).await?;
        Ok(self.snapshot(&table).await.settings)
    }

    async fn set_time_to_live(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
    ) -> Step {
        let Some(attribute) = want
            .time_to_live
            .as_deref()
            .filter(|_| want.time_to_live != have.time_to_live)
        else {
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

    /// Retried while DynamoDB says continuous backups are not available yet, as it often does
    /// for a table just restored.
    async fn set_point_in_time_recovery(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        let Some(days) = want
            .point_in_time_recovery
            .filter(|_| want.point_in_time_recovery != have.point_in_time_recovery)
        else {
            return Ok(None);
        };
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .recovery_period_in_days(days)
            .build()
            .map_err(|e| format!("point-in-time recovery: {e}"))?;
        let backoff = Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(30),
        };
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
                Ok(_) => return Ok(Some(format!("point-in-time recovery ({days} days)"))),
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

    /// The wanted tags that differ, and always the provenance tags.
    async fn set_tags(
        &self,
        target_arn: &str,
        want: &TableSettings,
        have: &TableSettings,
        source: &str,
        from: &str,
        options: &RestoreOptions,
    ) -> Step {
        let mut tags = Vec::new();
        let mut names = Vec::new();
        for (key, value) in &want.tags {
            if have.tags.get(key) != Some(value) {
                let tag = (Tag::builder().key(key).value(value).build())
                    .map_err(|e| format!("tags: {e}"))?;
                tags.push(tag);
                names.push(key.clone());
            }
        }
        tags.extend(provenance_tags(source, from));
        if let Some(drill) = &options.drill {
            let tag = (Tag::builder().key(DRILL_TAG).value(&drill.id).build())
                .map_err(|e| format!("tags: {e}"))?;
            tags.push(tag);
        }
        self.dynamodb
            .tag_resource()
            .resource_arn(target_arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| format!("tags: {}", describe(&e)))?;
        Ok((!names.is_empty()).then(|| format!("tags {}", names.join(", "))))
    }

    async fn set_contributor_insights(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
    ) -> Step {
        let missing: Vec<&String> = want
            .contributor_insights
            .difference(&have.contributor_insights)
            .collect();
        for scope in &missing {
            self.dynamodb
                .update_contributor_insights()
                .table_name(target)
                .set_index_name(scope.strip_prefix("index ").map(str::to_string))
                .contributor_insights_action(ContributorInsightsAction::Enable)
                .send()
                .await
                .map_err(|e| format!("contributor insights ({scope}): {}", describe(&e)))?;
        }
        Ok((!missing.is_empty()).then(|| {
            let scopes: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            format!("contributor insights ({})", scopes.join(", "))
        }))
    }

    async fn set_kinesis_destinations(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
    ) -> Step {
        let missing: Vec<&String> = want
            .kinesis_destinations
            .difference(&have.kinesis_destinations)
            .collect();
        for stream in &missing {
            self.dynamodb
                .enable_kinesis_streaming_destination()
                .table_name(target)
                .stream_arn(stream.as_str())
                .send()
                .await
                .map_err(|e| format!("kinesis destination {stream}: {}", describe(&e)))?;
        }
        Ok((!missing.is_empty()).then(|| {
            let streams: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            format!("kinesis destinations {}", streams.join(", "))
        }))
    }

    /// The source's policy with the source's ARN rewritten to the copy's.
    async fn set_resource_policy(
        &self,
        target_arn: &str,
        want: &TableSettings,
        have: &TableSettings,
    ) -> Step {
        let Some(policy) = want
            .resource_policy
            .as_deref()
            .filter(|_| want.resource_policy != have.resource_policy)
        else {
            return Ok(None);
        };
        self.dynamodb
            .put_resource_policy()
            .resource_arn(target_arn)
            .policy(policy.replace("{table}", target_arn))
            .send()
            .await
            .map_err(|e| format!("resource policy: {}", describe(&e)))?;
        Ok(Some("resource policy (with the copy's ARN)".into()))
    }
}

/// The settings either snapshot could not read, each a failure.
fn unreadable(source: &Snapshot, copy: &Snapshot) -> Vec<String> {
    let source = source.unreadable.iter().map(|e| format!("source {e}"));
    let copy = copy.unreadable.iter().map(|e| format!("copy {e}"));
    source.chain(copy).collect()
}

/// Each difference left between source and copy that the finish did not leave off on purpose.
fn unexplained(remaining: &[Difference], left_off: &[LeftOff]) -> Vec<String> {
    let explained: BTreeSet<&str> = left_off.iter().map(|l| l.setting.as_str()).collect();
    remaining
        .iter()
        .filter(|d| !explained.contains(d.setting.as_str()))
        .map(|d| {
            format!(
                "{}: still differs after the finish (source {}, copy {})",
                d.setting, d.source, d.target
            )
        })
        .collect()
}
