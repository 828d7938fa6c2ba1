//! AWS Backup restores (`DescribeRecoveryPoint`, `StartRestoreJob`), which the local AWS does not
//! serve: played with `aws-smithy-mocks` rules that check the requests; DynamoDB stays real.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::describe_recovery_point::DescribeRecoveryPointOutput;
use aws_sdk_backup::operation::start_restore_job::{StartRestoreJobInput, StartRestoreJobOutput};
use aws_sdk_backup::types::RecoveryPointStatus;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::LambdaEvent;
use local_aws::{LocalAws, unique_name};
use restore_handler::handler::{State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use shared::restore::service::{RestoreReport, RestoreService};

const ROLE: &str = "arn:aws:iam::123456789012:role/ddb-guard-restore";
const RECOVERY_POINT: &str =
    "arn:aws:backup:us-east-1:123456789012:recovery-point:1EB3B5E7-9EB0-435A-A80B-108B488B0D45";
const VAULT: &str = "ddb-guard-vault";

/// The stack's vault holds `RECOVERY_POINT`, a completed backup of `table`.
fn recovery_point_of(table: &'static str) -> Rule {
    mock!(aws_sdk_backup::Client::describe_recovery_point)
        .match_requests(|i| {
            i.backup_vault_name() == Some(VAULT) && i.recovery_point_arn() == Some(RECOVERY_POINT)
        })
        .then_output(move || {
            DescribeRecoveryPointOutput::builder()
                .recovery_point_arn(RECOVERY_POINT)
                .resource_arn(format!(
                    "arn:aws:dynamodb:us-east-1:123456789012:table/{table}"
                ))
                .status(RecoveryPointStatus::Completed)
                .build()
        })
}

async fn state(rules: &[&Rule], vars: &[(&str, &str)]) -> State {
    let aws = LocalAws::shared();
    let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    State {
        service: RestoreService {
            dynamodb: aws.dynamodb().await,
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, rules),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&aws.sdk_config().await),
            s3: aws.s3().await,
            sns: aws_sdk_sns::Client::new(&aws.sdk_config().await),
            settings: from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap(),
        },
        // An AWS Backup job not waited for is finished on its completion event, never handed over.
        workflow: None,
    }
}

async fn invoke(state: &State, payload: Value) -> RestoreReport {
    function_handler(
        state,
        LambdaEvent::new(payload, local_aws::lambda_context()),
    )
    .await
    .unwrap()
    .restore_report()
    .unwrap()
}

#[tokio::test]
async fn start_restore_job_carries_metadata_role_and_a_stable_token() {
    let seen: Arc<Mutex<Vec<StartRestoreJobInput>>> = Arc::default();
    let record = Arc::clone(&seen);
    let rule = mock!(aws_sdk_backup::Client::start_restore_job).then_compute_output(move |input| {
        record.lock().unwrap().push(input.clone());
        StartRestoreJobOutput::builder()
            .restore_job_id("restore-job-7")
            .build()
    });
    let point = recovery_point_of("orders");
    let vars = [("RESTORE_ROLE_ARN", ROLE), ("BACKUP_VAULT_NAME", VAULT)];
    let state = state(&[&point, &rule], &vars).await;
    let target = unique_name("orders-restored-from-vault");
    let request = json!({
        "source_table": "orders", "recovery_point_arn": RECOVERY_POINT, "target_table": target,
        "kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/0f3c", "deletion_protection": true
    });
    let report = invoke(&state, request.clone()).await;
    assert_eq!(report.restore_job_id.as_deref(), Some("restore-job-7"));
    assert_eq!(
        report.restored_from,
        Some(format!("recovery point {RECOVERY_POINT}"))
    );
    // The job runs in AWS Backup: the table does not exist yet, and finishing comes later.
    assert_eq!(report.table_status, "NOT_CREATED_YET");
    assert!(report.next_step.unwrap().contains("\"action\": \"finish\""));

    invoke(&state, request).await; // a retried invocation
    invoke(
        &state,
        json!({"source_table": "orders", "recovery_point_arn": RECOVERY_POINT}),
    )
    .await;

    let seen = seen.lock().unwrap();
    let job = &seen[0];
    assert_eq!(job.recovery_point_arn(), Some(RECOVERY_POINT));
    assert_eq!(job.iam_role_arn(), Some(ROLE));
    assert_eq!(job.resource_type(), Some("DynamoDB"));
    let metadata = job.metadata().unwrap();
    assert_eq!(metadata["targetTableName"], target);
    assert_eq!(metadata["encryptionType"], "KMS");
    assert_eq!(
        metadata["kmsMasterKeyArn"],
        "arn:aws:kms:us-east-1:123456789012:key/0f3c"
    );
    assert_eq!(metadata["deletionProtection"], "true");
    assert_eq!(
        seen[1].idempotency_token(),
        job.idempotency_token(),
        "a retry sends the same token"
    );
    assert_ne!(
        seen[2].idempotency_token(),
        job.idempotency_token(),
        "another target gets its own"
    );
    assert_eq!(seen[2].metadata().unwrap()["encryptionType"], "Default");
    assert!(
        !seen[2]
            .metadata()
            .unwrap()
            .contains_key("deletionProtection")
    );
}

#[tokio::test]
async fn only_a_completed_recovery_point_of_the_source_in_the_stacks_vault_is_restored() {
    let start = mock!(aws_sdk_backup::Client::start_restore_job).then_output(|| {
        StartRestoreJobOutput::builder()
            .restore_job_id("never")
            .build()
    });
    let other_table = recovery_point_of("payments");
    let with_vault = [("RESTORE_ROLE_ARN", ROLE), ("BACKUP_VAULT_NAME", VAULT)];
    let request = json!({"source_table": "orders", "recovery_point_arn": RECOVERY_POINT});
    let refused = |state: State, payload: Value| async move {
        let event = LambdaEvent::new(payload, local_aws::lambda_context());
        function_handler(&state, event)
            .await
            .unwrap_err()
            .to_string()
    };

    let handler = state(&[&other_table, &start], &with_vault).await;
    let err = refused(handler, request.clone()).await;
    assert!(err.contains("table/payments, not of table orders"), "{err}");

    let point = recovery_point_of("orders");
    let handler = state(&[&point, &start], &[("RESTORE_ROLE_ARN", ROLE)]).await;
    let err = refused(handler, request).await;
    assert!(err.contains("needs BACKUP_VAULT_NAME"), "{err}");
    assert_eq!(start.num_calls(), 0, "nothing was started");
}
