//! Reading a table's settings (`parity::TableSettings`) from DynamoDB and Application Auto Scaling.
//! A setting that cannot be read is named, and the others are still read.

use aws_sdk_dynamodb::types::{
    ContributorInsightsStatus, DestinationStatus, PointInTimeRecoveryStatus, SseStatus,
    TableDescription, TimeToLiveStatus,
};

use crate::aws_error::describe;
use crate::restore::parity::{Capacity, TABLE, TableSettings, index_scope};
use crate::restore::provenance::{DRILL_TAG, FROM_TAG, SOURCE_TAG};
use crate::restore::service::RestoreService;

/// A table's settings, and what could not be read (each `"<setting>: <why>"`).
pub struct Snapshot {
    pub settings: TableSettings,
    pub unreadable: Vec<String>,
    pub arn: String,
}

impl RestoreService {
    /// Reads every setting of `table` (described as `table`).
    pub(super) async fn snapshot(&self, table: &TableDescription) -> Snapshot {
        let name = table.table_name().unwrap_or_default().to_string();
        let arn = table.table_arn().unwrap_or_default().to_string();
        let indexes: Vec<String> = table
            .global_secondary_indexes()
            .iter()
            .filter_map(|i| i.index_name().map(str::to_string))
            .collect();
        let mut settings = from_description(table);
        let mut unreadable = Vec::new();
        let mut note =
            |what: &str, e: String| unreadable.push(format!("{what}: could not read: {e}"));
        match self.time_to_live(&name).await {
            Ok(ttl) => settings.time_to_live = ttl,
            Err(e) => note("time to live", e),
        }
        match self.point_in_time_recovery(&name).await {
            Ok(days) => settings.point_in_time_recovery = days,
            Err(e) => note("point-in-time recovery", e),
        }
        match self.tags(&arn).await {
            Ok(tags) => settings.tags = tags,
            Err(e) => note("tags", e),
        }
        for scope in std::iter::once(None).chain(indexes.iter().map(Some)) {
            match self
                .contributor_insights(&name, scope.map(String::as_str))
                .await
            {
                Ok(true) => {
                    settings
                        .contributor_insights
                        .insert(scope.map_or(TABLE.to_string(), |i| index_scope(i)));
                }
                Ok(false) => {}
                Err(e) => note("contributor insights", e),
            }
        }
        match self.kinesis_destinations(&name).await {
            Ok(streams) => settings.kinesis_destinations = streams,
            Err(e) => note("kinesis destinations", e),
        }
        match self.resource_policy(&arn).await {
            Ok(policy) => settings.resource_policy = policy,
            Err(e) => note("resource policy", e),
        }
        match self.auto_scaling(&name, &indexes).await {
            Ok(scaling) => settings.auto_scaling = scaling,
            Err(e) => note("auto scaling", e),
        }
        Snapshot {
            settings,
            unreadable,
            arn,
        }
    }

    async fn time_to_live(&self, table: &str) -> Result<Option<String>, String> {
        let ttl = self
            .dynamodb
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|e| describe(&e))?
            .time_to_live_description;
        Ok(ttl.and_then(|t| {
            matches!(
                t.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
            .then(|| t.attribute_name().map(str::to_string))
            .flatten()
        }))
    }

    async fn point_in_time_recovery(&self, table: &str) -> Result<Option<i32>, String> {
        let pitr = self
            .dynamodb
            .describe_continuous_backups()
            .table_name(table)
            .send()
            .await
            .map_err(|e| describe(&e))?
            .continuous_backups_description
            .and_then(|c| c.point_in_time_recovery_description);
        Ok(pitr
            .filter(|p| {
                p.point_in_time_recovery_status() == Some(&PointInTimeRecoveryStatus::Enabled)
            })
            // Without a recovery period, DynamoDB keeps 35 days.
            .map(|p| p.recovery_period_in_days().unwrap_or(35)))
    }

    async fn tags(&self, arn: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
        let mut tags = std::collections::BTreeMap::new();
        let mut next = None;
        loop {
            let page = self
                .dynamodb
                .list_tags_of_resource()
                .resource_arn(arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| describe(&e))?;
            for tag in page.tags() {
                let key = tag.key();
                // Nobody may set `aws:` tags; provenance and drill tags are the restore's own.
                if !key.starts_with("aws:") && ![SOURCE_TAG, FROM_TAG, DRILL_TAG].contains(&key) {
                    tags.insert(key.to_string(), tag.value().to_string());
                }
            }
            match page.next_token {
                Some(token) => next = Some(token),
                None => return Ok(tags),
            }
        }
    }

    async fn contributor_insights(&self, table: &str, index: Option<&str>) -> Result<bool, String> {
        let out = self
            .dynamodb
            .describe_contributor_insights()
            .table_name(table)
            .set_index_name(index.map(str::to_string))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(matches!(
            out.contributor_insights_status(),
            Some(ContributorInsightsStatus::Enabled | ContributorInsightsStatus::Enabling)
        ))
    }

    async fn kinesis_destinations(
        &self,
        table: &str,
    ) -> Result<std::collections::BTreeSet<String>, String> {
        let out = self
            .dynamodb
            .describe_kinesis_streaming_destination()
            .table_name(table)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(out
            .kinesis_data_stream_destinations()
            .iter()
            .filter(|d| {
                matches!(
                    d.destination_status(),
                    Some(DestinationStatus::Active | DestinationStatus::Enabling)
                )
            })
            .filter_map(|d| d.stream_arn().map(str::to_string))
            .collect())
    }

    /// The policy with the table's ARN written as `{table}`, so two tables' policies compare.
    async fn resource_policy(&self, arn: &str) -> Result<Option<String>, String> {
        match self
            .dynamodb
            .get_resource_policy()
            .resource_arn(arn)
            .send()
            .await
        {
            Ok(out) => Ok(out.policy.map(|p| p.replace(arn, "{table}"))),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_policy_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(describe(&e)),
        }
    }
}

/// What `DescribeTable` alone says.
fn from_description(table: &TableDescription) -> TableSettings {
    let mut settings = TableSettings {
        billing_mode: table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map_or("PROVISIONED".to_string(), |b| b.as_str().to_string()),
        table_class: table
            .table_class_summary()
            .and_then(|c| c.table_class())
            .map_or("STANDARD".to_string(), |c| c.as_str().to_string()),
        encryption_key: table
            .sse_description()
            .filter(|s| matches!(s.status(), Some(SseStatus::Enabled | SseStatus::Updating)))
            .and_then(|s| s.kms_master_key_arn().map(str::to_string)),
        stream: table
            .stream_specification()
            .filter(|s| s.stream_enabled())
            .and_then(|s| s.stream_view_type().map(|v| v.as_str().to_string())),
        deletion_protection: table.deletion_protection_enabled().unwrap_or(false),
        replicas: table
            .replicas()
            .iter()
            .filter_map(|r| r.region_name().map(str::to_string))
            .collect(),
        ..TableSettings::default()
    };
    let mut scopes = vec![(
        TABLE.to_string(),
        table.provisioned_throughput(),
        table.on_demand_throughput(),
    )];
    for index in table.global_secondary_indexes() {
        scopes.push((
            index_scope(index.index_name().unwrap_or_default()),
            index.provisioned_throughput(),
            index.on_demand_throughput(),
        ));
    }
    for (scope, provisioned, on_demand) in scopes {
        if let Some(p) = provisioned {
            let capacity = Capacity {
                read: p.read_capacity_units().unwrap_or_default(),
                write: p.write_capacity_units().unwrap_or_default(),
            };
            settings.provisioned.insert(scope.clone(), capacity);
        }
        if let Some(o) = on_demand {
            let capacity = Capacity {
                read: o.max_read_request_units().unwrap_or(-1),
                write: o.max_write_request_units().unwrap_or(-1),
            };
            // DynamoDB says -1 for "no maximum".
            if capacity.read >= 0 || capacity.write >= 0 {
                settings.on_demand_maximum.insert(scope, capacity);
            }
        }
    }
    settings
}
