//! The calls that start a restore: DynamoDB's `RestoreTableFromBackup` and
//! `RestoreTableToPointInTime`, and AWS Backup's `StartRestoreJob`, each retried while the service
//! is busy.

use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    BillingMode as DynamoBillingMode, ProvisionedThroughput, SseSpecification, SseType,
    TableDescription,
};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::time::Duration;
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::backup_name::hex;
use crate::restore::options::{BillingMode, RestoreOptions};
use crate::restore::service::{FINISH_RESERVE, RestoreError, RestoreService};
use crate::retry::{Backoff, Retry};

impl RestoreService {
    /// How a restore call is retried while DynamoDB is busy (`LimitExceededException`: 50 table
    /// operations at once; `BackupInUseException`; throttling), within the deadline.
    fn busy_retry(deadline: Instant) -> Retry {
        Retry {
            backoff: Backoff {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(20),
            },
            max_attempts: 8,
            deadline: crate::deadline::before_deadline(deadline, FINISH_RESERVE),
        }
    }

    /// The new table as DynamoDB's answer describes it.
    pub(super) async fn restore_from_backup(
        &self,
        arn: &str,
        target: &str,
        options: &RestoreOptions,
        deadline: Instant,
    ) -> Result<Option<TableDescription>, RestoreError> {
        let restored = Self::busy_retry(deadline)
            .call(|| {
                self.dynamodb
                    .restore_table_from_backup()
                    .backup_arn(arn)
                    .target_table_name(target)
                    .set_billing_mode_override(options.billing_mode.map(billing_mode))
                    .set_provisioned_throughput_override(provisioned(options))
                    .set_sse_specification_override(sse(options))
                    .send()
            })
            .await
            .map_err(|e| restore_call_error("RestoreTableFromBackup", target, &e))?;
        Ok(restored.table_description)
    }

    pub(super) async fn restore_to_point_in_time(
        &self,
        source: &str,
        target: &str,
        at: Option<DateTime<Utc>>,
        options: &RestoreOptions,
        deadline: Instant,
    ) -> Result<Option<TableDescription>, RestoreError> {
        let time = at.map(|t| {
            aws_smithy_types::DateTime::from_secs_and_nanos(
                t.timestamp(),
                t.timestamp_subsec_nanos(),
            )
        });
        let restored = Self::busy_retry(deadline)
            .call(|| {
                self.dynamodb
                    .restore_table_to_point_in_time()
                    .source_table_name(source)
                    .target_table_name(target)
                    .set_restore_date_time(time)
                    .set_use_latest_restorable_time(at.is_none().then_some(true))
                    .set_billing_mode_override(options.billing_mode.map(billing_mode))
                    .set_provisioned_throughput_override(provisioned(options))
                    .set_sse_specification_override(sse(options))
                    .send()
            })
            .await
            .map_err(|e| restore_call_error("RestoreTableToPointInTime", target, &e))?;
        Ok(restored.table_description)
    }

    /// AWS Backup `StartRestoreJob`; returns the job id.
    pub(super) async fn start_restore_job(
        &self,
        recovery_point: &str,
        target: &str,
        options: &RestoreOptions,
    ) -> Result<String, RestoreError> {
        let role = self.settings.restore_role_arn.as_deref().ok_or_else(|| {
            RestoreError::Refused(
                "restoring a recovery point needs RESTORE_ROLE_ARN in the function's configuration"
                    .into(),
            )
        })?;
        let mut request = self
            .backup
            .start_restore_job()
            .recovery_point_arn(recovery_point)
            .iam_role_arn(role)
            .resource_type("DynamoDB")
            .idempotency_token(hex(&Sha256::digest(
                format!("{recovery_point}\n{target}").as_bytes(),
            )))
            .metadata("targetTableName", target);
        request = match &options.kms_key_arn {
            Some(key) => request
                .metadata("encryptionType", "KMS")
                .metadata("kmsMasterKeyArn", key),
            None => request.metadata("encryptionType", "Default"),
        };
        if let Some(protect) = options.deletion_protection {
            request = request.metadata("deletionProtection", protect.to_string());
        }
        let job = request.send().await.map_err(|e| {
            RestoreError::Failed(format!(
                "StartRestoreJob {recovery_point}: {}",
                describe(&e)
            ))
        })?;
        job.restore_job_id
            .ok_or_else(|| RestoreError::Failed("StartRestoreJob returned no job id".into()))
    }
}

fn restore_call_error<E: ProvideErrorMetadata>(call: &str, target: &str, e: &E) -> RestoreError {
    match e.code() {
        Some("TableAlreadyExistsException") => RestoreError::Refused(format!(
            "table {target} already exists; a restore only ever creates a new table"
        )),
        _ => RestoreError::Failed(format!("{call} into {target}: {}", describe(e))),
    }
}

fn billing_mode(mode: BillingMode) -> DynamoBillingMode {
    match mode {
        BillingMode::PayPerRequest => DynamoBillingMode::PayPerRequest,
        BillingMode::Provisioned { .. } => DynamoBillingMode::Provisioned,
    }
}

fn provisioned(options: &RestoreOptions) -> Option<ProvisionedThroughput> {
    match options.billing_mode? {
        BillingMode::Provisioned {
            read_capacity,
            write_capacity,
        } => ProvisionedThroughput::builder()
            .read_capacity_units(read_capacity)
            .write_capacity_units(write_capacity)
            .build()
            .ok(),
        BillingMode::PayPerRequest => None,
    }
}

fn sse(options: &RestoreOptions) -> Option<SseSpecification> {
    options.kms_key_arn.as_ref().map(|key| {
        SseSpecification::builder()
            .enabled(true)
            .sse_type(SseType::Kms)
            .kms_master_key_id(key)
            .build()
    })
}
