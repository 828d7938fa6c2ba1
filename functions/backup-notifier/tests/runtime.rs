//! The backup-notifier through the real Lambda runtime: events from `events/` become messages on a
//! real (local) SNS topic, read back through an SQS subscription.

use std::path::Path;

use local_aws::{LocalAws, LocalFunction};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn events_become_alerts_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let config = aws.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("ddb-guard-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = sqs
        .create_queue()
        .queue_name("ddb-guard-inbox")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = "arn:aws:sqs:us-east-1:123456789012:ddb-guard-inbox";
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    let dynamodb = aws.dynamodb().await;
    local_aws::create_seed_table(&dynamodb, "order_transaction-demo")
        .await
        .unwrap();

    let function = LocalFunction::start(
        Path::new(env!("CARGO_BIN_EXE_backup-notifier")),
        aws,
        &[
            ("TOPIC_ARN", topic.as_str()),
            ("WATCH_TABLE_NAMES", "order_transaction-demo"),
            ("WATCH_AWS_BACKUP", "false"),
        ],
    );

    let failed = function.response("backup-job-failed.json");
    assert_eq!(failed["published"].as_array().unwrap().len(), 1);
    let quiet = function.response("backup-job-completed.json");
    assert!(quiet["published"].as_array().unwrap().is_empty());
    let test = function.response("console-test.json");
    assert_eq!(test["published"].as_array().unwrap().len(), 1);
    let watchdog = function.response("backup-schedule.json");
    assert_eq!(watchdog["watched"][0]["verdict"], "missing");

    let out = sqs
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut subjects: Vec<String> = out
        .messages()
        .iter()
        .map(|m| {
            let envelope: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            envelope["Subject"].as_str().unwrap().to_string()
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "[ddb-guard] FAILED: backup of table order_transaction-demo",
            "[ddb-guard] MISSING BACKUP: table order_transaction-demo has no recent backup",
            "[ddb-guard] TEST alert: checking the wiring",
        ]
    );

    let refused = function.error("bad-request.json");
    assert!(refused.contains("InvalidRequest"), "{refused}");
}
