//! The local AWS runs state machines whose Lambda tasks reach real function binaries (through
//! `cargo lambda watch`), restores can take a while on demand, and every other call still reaches
//! moto as before.

use std::path::PathBuf;

use local_aws::{LocalAws, LocalFunction};
use serde_json::{Value, json};

/// The backup-notifier binary cargo built beside this test (`cargo build -p backup-notifier`).
fn notifier_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/debug/deps/<this test> -> <target>/debug/backup-notifier
    let binary = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("backup-notifier");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build -p backup-notifier` with the same target directory",
        binary.display()
    );
    binary
}

fn event(name: &str) -> Value {
    let file = local_aws::event_file(name, &["backup-notifier"]);
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// Each event of `$.events` goes to the function (two at a time); the answers are the output.
fn definition() -> Value {
    json!({
        "StartAt": "Check",
        "States": {
            "Check": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.skip", "IsPresent": true, "Next": "Skipped"},
                    {"Variable": "$.note", "IsNull": true, "Next": "Pause"}
                ],
                "Default": "Pause"
            },
            "Pause": {"Type": "Wait", "Seconds": "${PauseSeconds}", "Next": "Each"},
            "Each": {
                "Type": "Map",
                "ItemsPath": "$.events",
                "MaxConcurrency": 2,
                "ItemSelector": {"event.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Notify",
                    "States": {
                        "Notify": {
                            "Type": "Task",
                            "Resource": "arn:aws:states:::lambda:invoke",
                            "Parameters": {"FunctionName": "${NotifierArn}", "Payload.$": "$.event"},
                            "ResultSelector": {"answer.$": "$.Payload"},
                            "TimeoutSeconds": "${TaskTimeoutSeconds}",
                            "Retry": [{
                                "ErrorEquals": ["InvalidRequest"],
                                "IntervalSeconds": "${RetrySeconds}",
                                "MaxAttempts": 1,
                                "BackoffRate": 2
                            }],
                            "End": true
                        }
                    }
                },
                "ResultPath": "$.answers",
                "OutputPath": "$.answers",
                "End": true
            },
            "Skipped": {"Type": "Pass", "Result": "skipped", "End": true}
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn lambda_tasks_reach_the_registered_function_and_its_errors() {
    let aws = LocalAws::shared();
    let function = LocalFunction::start(
        &notifier_binary(),
        aws,
        &[
            ("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:unused"),
            ("WATCH_TABLE_NAMES", "order_transaction-demo"),
            ("WATCH_AWS_BACKUP", "false"),
        ],
    );
    let name = local_aws::unique_name("notifier");
    let arn = function.register(aws, &name);
    let definition = local_aws::substitute(
        &definition(),
        &[
            ("NotifierArn", arn.as_str()),
            ("PauseSeconds", "1"),
            ("TaskTimeoutSeconds", "60"),
            ("RetrySeconds", "1"),
        ],
    )
    .unwrap();
    let machine = aws
        .create_state_machine(&local_aws::unique_name("notify"), &definition)
        .await
        .unwrap();

    let completed = event("backup-job-completed.json");
    let answer = function.response("backup-job-completed.json");
    let input = json!({"note": null, "events": [completed, completed, completed]});
    let ok = aws.run_execution(&machine, "ok", &input).await;
    assert_eq!(ok.status, "SUCCEEDED", "{ok:?}");
    assert_eq!(
        ok.output,
        Some(Value::Array(vec![json!({"answer": answer}); 3]))
    );

    // The function's own errorType names the failure, after the one retry it allows.
    let input = json!({"events": [completed, event("bad-request.json")]});
    let failed = aws.run_execution(&machine, "failed", &input).await;
    assert_eq!(failed.status, "FAILED", "{failed:?}");
    assert_eq!(failed.error.as_deref(), Some("InvalidRequest"));
    let cause: Value = serde_json::from_str(failed.cause.as_deref().unwrap()).unwrap();
    assert_eq!(cause["errorType"], "InvalidRequest");
    let history = (aws.sfn().await.get_execution_history())
        .execution_arn(&failed.arn)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    let scheduled = (history.events().iter())
        .filter(|e| e.r#type().as_str() == "TaskScheduled")
        .count();
    assert_eq!(
        scheduled, 3,
        "one invoke for the good event, two for the bad one"
    );

    let skipped = aws
        .run_execution(&machine, "skipped", &json!({"skip": true}))
        .await;
    assert_eq!(skipped.output, Some(json!("skipped")));

    let mut listed: Vec<(String, String)> = (aws.executions(&machine).await.into_iter())
        .map(|e| (e.name, e.status))
        .collect();
    listed.sort();
    let expected = [
        ("failed", "FAILED"),
        ("ok", "SUCCEEDED"),
        ("skipped", "SUCCEEDED"),
    ];
    assert_eq!(
        listed,
        expected.map(|(n, s)| (n.to_string(), s.to_string()))
    );
}

#[tokio::test]
async fn a_task_naming_a_function_nobody_registered_fails_the_execution() {
    let aws = LocalAws::shared();
    let definition = json!({
        "StartAt": "Call",
        "States": {"Call": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": local_aws::function_arn("nobody"), "Payload": {}},
            "End": true
        }}
    });
    let machine = aws
        .create_state_machine(&local_aws::unique_name("nobody"), &definition)
        .await
        .unwrap();
    let execution = aws.run_execution(&machine, "call", &json!({})).await;
    assert_eq!(execution.status, "FAILED", "{execution:?}");
    assert!(
        (execution.error.as_deref()).is_some_and(|e| e.starts_with("Lambda.")),
        "{execution:?}"
    );
}

/// Every state machine of the template has a value for each placeholder its
/// `DefinitionSubstitutions` names, and the local AWS accepts the result.
#[tokio::test]
async fn the_templates_state_machines_load() {
    let aws = LocalAws::shared();
    let resources = local_aws::template().unwrap()["Resources"]
        .as_object()
        .unwrap();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::StateMachine" {
            continue;
        }
        let keys = resource["Properties"]["DefinitionSubstitutions"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        let arn = local_aws::function_arn("any");
        let values: Vec<(&str, &str)> = (keys.iter())
            .map(|k| (k.as_str(), if k.ends_with("Arn") { &arn } else { "1" }))
            .collect();
        aws.create_template_state_machine(id, &local_aws::unique_name(id), &values)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

#[tokio::test]
async fn a_restore_stays_creating_for_the_polls_asked() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let source = local_aws::unique_name("slow-source");
    local_aws::create_hash_keyed_table(&dynamodb, &source, "pk", "S")
        .await
        .unwrap();
    let backup = (dynamodb.create_backup())
        .table_name(&source)
        .backup_name("slow-restore")
        .send()
        .await
        .unwrap();
    let backup_arn = backup.backup_details().unwrap().backup_arn();

    let status = |d: &aws_sdk_dynamodb::types::TableDescription| {
        d.table_status().unwrap().as_str().to_string()
    };
    let describe = |table: String| {
        let dynamodb = dynamodb.clone();
        async move {
            let described = dynamodb.describe_table().table_name(table).send().await;
            status(described.unwrap().table().unwrap())
        }
    };

    let target = local_aws::unique_name("slow-target");
    aws.slow_restore(&target, 2);
    let restored = (dynamodb.restore_table_from_backup())
        .target_table_name(&target)
        .backup_arn(backup_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(status(restored.table_description().unwrap()), "CREATING");
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(describe(target.clone()).await);
    }
    assert_eq!(seen, ["CREATING", "CREATING", "ACTIVE", "ACTIVE"]);

    let point_in_time = local_aws::unique_name("slow-pitr");
    aws.slow_restore(&point_in_time, 1);
    (dynamodb.restore_table_to_point_in_time())
        .source_table_name(&source)
        .target_table_name(&point_in_time)
        .use_latest_restorable_time(true)
        .send()
        .await
        .unwrap();
    assert_eq!(describe(point_in_time.clone()).await, "CREATING");
    assert_eq!(describe(point_in_time.clone()).await, "ACTIVE");

    // Restores nobody asked to slow down are ACTIVE at once, as moto makes them.
    let quick = local_aws::unique_name("quick-target");
    (dynamodb.restore_table_from_backup())
        .target_table_name(&quick)
        .backup_arn(backup_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(describe(quick).await, "ACTIVE");
}

#[tokio::test]
async fn other_calls_reach_moto_unchanged() {
    let aws = LocalAws::shared();
    let s3 = aws.s3().await;
    let bucket = local_aws::unique_name("passthrough");
    local_aws::create_bucket(&s3, &bucket).await.unwrap();
    // Several MB, and every byte value.
    let body: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    (s3.put_object().bucket(&bucket).key("a b/ä+%.bin"))
        .body(body.clone().into())
        .send()
        .await
        .unwrap();
    let object = (s3.get_object().bucket(&bucket).key("a b/ä+%.bin").send())
        .await
        .unwrap();
    assert_eq!(object.body.collect().await.unwrap().into_bytes(), body);
    let head = (s3.head_object().bucket(&bucket).key("a b/ä+%.bin").send())
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(body.len() as i64));
}
