//! The restore state machine as the template defines it, run by the local AWS, each step a real
//! invocation of the restore-handler through the Lambda runtime: a restore that stays `CREATING`
//! past the invocation that started it is waited for and finished by the state machine.

use std::path::Path;

use aws_sdk_dynamodb::types::{
    AttributeValue, PointInTimeRecoverySpecification, PointInTimeRecoveryStatus,
};
use local_aws::{LocalAws, LocalFunction, state_machine_arn, unique_name};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn a_restore_still_creating_when_its_invocation_ends_is_finished_by_the_state_machine() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let source = unique_name("orders");
    local_aws::create_seed_table(&dynamodb, &source)
        .await
        .unwrap();
    for i in 0..5 {
        (dynamodb.put_item().table_name(&source))
            .item("order_id", AttributeValue::S(format!("o{i}")))
            .item("item_id", AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
    }
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .unwrap();
    (dynamodb.update_continuous_backups().table_name(&source))
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .unwrap();
    let backup = (dynamodb
        .create_backup()
        .table_name(&source)
        .backup_name("nightly"))
    .send()
    .await
    .unwrap();
    let backup_arn = backup.backup_details().unwrap().backup_arn().to_string();
    let state_table = unique_name("state");
    local_aws::create_state_table(&dynamodb, &state_table)
        .await
        .unwrap();
    let machine = unique_name("restore");
    let function = LocalFunction::start(
        Path::new(env!("CARGO_BIN_EXE_restore-handler")),
        aws,
        &[
            ("STATE_TABLE", &state_table),
            ("STATE_MACHINE_ARN", &state_machine_arn(&machine)),
        ],
    );
    let function_arn = function.register(aws, &unique_name("restore-handler"));
    let substitutions = [("RestoreFunctionArn", function_arn.as_str())];
    (aws.create_template_state_machine("RestoreStateMachine", &machine, &substitutions))
        .await
        .unwrap();
    // The restored table answers CREATING to its first four looks: the invocation's and three
    // steps'.
    let target = format!("{source}-restored-slowly");
    aws.slow_restore(&target, 4);

    let request = json!({"source_table": source, "backup_arn": backup_arn,
                         "target_table": target, "verify": true});
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let output = function.invoke_file(file.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let started: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(started["table_status"], "CREATING", "{started:#}");
    let next = started["next_step"].as_str().unwrap();
    assert!(next.contains("execution finish-"), "{next}");

    let executions = aws.executions(&state_machine_arn(&machine)).await;
    let [execution] = &executions[..] else {
        panic!("{executions:?}")
    };
    let ended = aws.wait_execution(&execution.arn).await;
    assert_eq!(ended.status, "SUCCEEDED", "{ended:#?}");
    // Finished: the settings a restore drops are back (the source's point-in-time recovery), and
    // the copy was counted in the last step.
    let backups = (dynamodb.describe_continuous_backups().table_name(&target))
        .send()
        .await
        .unwrap();
    let pitr = backups.continuous_backups_description().unwrap();
    let status = pitr.point_in_time_recovery_description().unwrap();
    assert_eq!(
        status.point_in_time_recovery_status(),
        Some(&PointInTimeRecoveryStatus::Enabled)
    );
    let records = function.stdout_records();
    let finished = (records.iter().map(Value::to_string))
        .find(|r| r.contains("restore finished"))
        .unwrap_or_else(|| panic!("no \"restore finished\" line: {records:#?}"));
    assert!(finished.contains("restored_items: 5"), "{finished}");
}
