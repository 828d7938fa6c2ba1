//! Changes to the copy made with `UpdateTable`: DynamoDB takes one at a time, and each waits for
//! the table to be `ACTIVE` again.

use aws_sdk_dynamodb::operation::update_table::builders::UpdateTableFluentBuilder;
use aws_sdk_dynamodb::types::builders::UpdateGlobalSecondaryIndexActionBuilder;
use aws_sdk_dynamodb::types::{
    BillingMode, GlobalSecondaryIndexUpdate, OnDemandThroughput, ProvisionedThroughput,
    SseSpecification, SseType, StreamSpecification, StreamViewType, TableClass,
    UpdateGlobalSecondaryIndexAction,
};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::restore::parity::{Capacity, TableSettings};
use crate::restore::service::RestoreService;
use crate::restore::settings::Step;

impl RestoreService {
    /// One `UpdateTable` once the table is `ACTIVE` (DynamoDB takes one change at a time), retried
    /// while another change is still under way.
    async fn update_table(
        &self,
        target: &str,
        what: &str,
        change: UpdateTableFluentBuilder,
        until: Instant,
    ) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_active(target, Some(until))
                .await
                .map_err(|e| format!("{what}: {e}"))?;
            match change.clone().table_name(target).send().await {
                Ok(_) => return Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_in_use_exception())
                        && Instant::now() + self.settings.poll_interval < until
                        && attempt < 30 =>
                {
                    tokio::time::sleep(self.settings.poll_interval).await;
                }
                Err(e) => return Err(format!("{what}: {}", describe(&e))),
            }
        }
    }

    pub(super) async fn set_capacity(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        let provisioned = want.billing_mode == "PROVISIONED";
        let capacity_differs = provisioned && want.provisioned != have.provisioned;
        if want.billing_mode == have.billing_mode && !capacity_differs {
            return Ok(None);
        }
        let mut change = self
            .dynamodb
            .update_table()
            .billing_mode(BillingMode::from(want.billing_mode.as_str()));
        if provisioned {
            for (scope, capacity) in &want.provisioned {
                let throughput = provisioned_throughput(capacity)?;
                change = match scope.strip_prefix("index ") {
                    None => change.provisioned_throughput(throughput),
                    Some(index) => change.global_secondary_index_updates(index_update(
                        index,
                        |action| action.provisioned_throughput(throughput),
                        "capacity",
                    )?),
                };
            }
        }
        self.update_table(target, "billing mode and capacity", change, until)
            .await?;
        Ok(Some(format!("billing mode {}", want.billing_mode)))
    }

    pub(super) async fn set_table_class(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        if want.table_class == have.table_class {
            return Ok(None);
        }
        let change =
            (self.dynamodb.update_table()).table_class(TableClass::from(want.table_class.as_str()));
        self.update_table(target, "table class", change, until)
            .await?;
        Ok(Some(format!("table class {}", want.table_class)))
    }

    pub(super) async fn set_on_demand_maximum(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        if want.on_demand_maximum == have.on_demand_maximum {
            return Ok(None);
        }
        let mut change = self.dynamodb.update_table();
        for (scope, capacity) in &want.on_demand_maximum {
            let maximum = OnDemandThroughput::builder()
                .max_read_request_units(capacity.read)
                .max_write_request_units(capacity.write)
                .build();
            change = match scope.strip_prefix("index ") {
                None => change.on_demand_throughput(maximum),
                Some(index) => change.global_secondary_index_updates(index_update(
                    index,
                    |action| action.on_demand_throughput(maximum),
                    "on-demand maximum throughput",
                )?),
            };
        }
        self.update_table(target, "on-demand maximum throughput", change, until)
            .await?;
        Ok(Some("on-demand maximum throughput".into()))
    }

    pub(super) async fn set_encryption(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        if want.encryption_key == have.encryption_key {
            return Ok(None);
        }
        let spec = match &want.encryption_key {
            Some(key) => SseSpecification::builder()
                .enabled(true)
                .sse_type(SseType::Kms)
                .kms_master_key_id(key)
                .build(),
            None => SseSpecification::builder().enabled(false).build(),
        };
        let change = self.dynamodb.update_table().sse_specification(spec);
        self.update_table(target, "encryption", change, until)
            .await?;
        Ok(Some(match &want.encryption_key {
            Some(key) => format!("encryption with KMS key {key}"),
            None => "encryption with the AWS owned key".into(),
        }))
    }

    pub(super) async fn set_stream(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        let Some(view) = want
            .stream
            .as_deref()
            .filter(|_| want.stream != have.stream)
        else {
            return Ok(None);
        };
        let spec = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view))
            .build()
            .map_err(|e| format!("stream: {e}"))?;
        let change = self.dynamodb.update_table().stream_specification(spec);
        self.update_table(target, "stream", change, until).await?;
        Ok(Some(format!("stream ({view})")))
    }

    pub(super) async fn set_deletion_protection(
        &self,
        target: &str,
        want: &TableSettings,
        have: &TableSettings,
        until: Instant,
    ) -> Step {
        if want.deletion_protection == have.deletion_protection {
            return Ok(None);
        }
        let change =
            (self.dynamodb.update_table()).deletion_protection_enabled(want.deletion_protection);
        self.update_table(target, "deletion protection", change, until)
            .await?;
        Ok(Some(format!(
            "deletion protection {}",
            if want.deletion_protection {
                "on"
            } else {
                "off"
            }
        )))
    }
}

/// One global secondary index's part of an `UpdateTable`: `set` adds what changes.
fn index_update(
    index: &str,
    set: impl FnOnce(UpdateGlobalSecondaryIndexActionBuilder) -> UpdateGlobalSecondaryIndexActionBuilder,
    what: &str,
) -> Result<GlobalSecondaryIndexUpdate, String> {
    let action = set(UpdateGlobalSecondaryIndexAction::builder().index_name(index))
        .build()
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(GlobalSecondaryIndexUpdate::builder().update(action).build())
}

fn provisioned_throughput(capacity: &Capacity) -> Result<ProvisionedThroughput, String> {
    ProvisionedThroughput::builder()
        .read_capacity_units(capacity.read)
        .write_capacity_units(capacity.write)
        .build()
        .map_err(|e| format!("capacity: {e}"))
}
