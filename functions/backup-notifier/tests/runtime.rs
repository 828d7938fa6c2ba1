//! The backup-notifier through the real Lambda runtime: events from `events/` become messages on a
//! real (local) SNS topic, read back through an SQS subscription.

use std::path::Path;

use local_aws::{LocalAws, LocalFunction};
use shared::metrics;

#[tokio::test(flavor = "multi_thread")]
async fn events_become_alerts_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let config = aws.sdk_config().await;
    let (topic, queue_url) =
        local_aws::topic_with_inbox(&config, "ddb-guard-alerts", "ddb-guard-inbox")
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
            ("AWS_LAMBDA_FUNCTION_NAME", "ddb-guard-backup-notifier"),
        ],
    );

    let failed = function.response("backup-job-failed.json");
    assert_eq!(failed["published"].as_array().unwrap().len(), 1);
    let quiet = function.response("backup-job-completed.json");
    assert!(quiet["published"].as_array().unwrap().is_empty());
    let test = function.response("console-test.json");
    assert_eq!(test["published"].as_array().unwrap().len(), 1);
    let watchdog = function.response("backup-schedule.json");
    assert_eq!(watchdog["watched"][0]["sources"][0]["verdict"], "missing");

    let sqs = aws_sdk_sqs::Client::new(&config);
    let envelopes = local_aws::take_notifications(&sqs, &queue_url)
        .await
        .unwrap();
    let mut subjects: Vec<&str> = envelopes
        .iter()
        .map(|envelope| envelope["Subject"].as_str().unwrap_or_default())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "[ddb-guard] FAILED: backup of table order_transaction-demo",
            "[ddb-guard] MISSING BACKUP: table order_transaction-demo needs attention",
            "[ddb-guard] TEST alert: checking the wiring",
        ]
    );

    // Each alert published is counted; a table with no backup has no age to give (its alert says
    // so instead).
    let records = function.metric_records();
    let alerts = metrics::of_family(&metrics::ALERTS, &records).unwrap();
    assert_eq!(alerts.len(), 3);
    assert!(
        alerts
            .iter()
            .all(|(d, v)| d == &["ddb-guard-backup-notifier"] && v == &[1.0])
    );
    assert!(
        metrics::of_family(&metrics::BACKUP_AGE, &records)
            .unwrap()
            .is_empty()
    );

    let refused = function.error("bad-request.json");
    assert!(refused.contains("InvalidRequest"), "{refused}");
}
