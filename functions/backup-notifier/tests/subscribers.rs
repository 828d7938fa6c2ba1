//! Every watchdog run through the real Lambda runtime against the local AWS says who hears its
//! alerts: a warning when no subscription of the alert topic is confirmed, the count in its
//! "watchdog finished" line, and a run that goes on when the topic cannot be read.

use std::path::Path;

use local_aws::{LocalAws, LocalFunction, unique_name};
use serde_json::Value;

/// The watchdog's log lines after one scheduled run against `topic`, watching `table`.
fn watchdog_run(topic: &str, table: &str) -> Vec<Value> {
    let function = LocalFunction::start(
        Path::new(env!("CARGO_BIN_EXE_backup-notifier")),
        LocalAws::shared(),
        &[
            ("TOPIC_ARN", topic),
            ("WATCH_TABLE_NAMES", table),
            ("WATCH_AWS_BACKUP", "false"),
            ("AWS_LAMBDA_FUNCTION_NAME", "ddb-guard-backup-notifier"),
        ],
    );
    let response = function.response("backup-schedule.json");
    assert_eq!(
        response["watched"][0]["sources"][0]["verdict"], "fresh",
        "{response:#}"
    );
    function.stdout_records()
}

fn finished(records: &[Value]) -> &Value {
    let lines: Vec<&Value> = (records.iter())
        .filter(|r| r["fields"]["message"] == "watchdog finished")
        .collect();
    let [line] = lines[..] else {
        panic!("one watchdog finished line: {records:#?}")
    };
    &line["fields"]
}

/// Warnings logged (metric lines carry level WARN too, so that a WARN log level keeps them).
fn warnings(records: &[Value]) -> Vec<String> {
    (records.iter())
        .filter(|r| r["level"] == "WARN" && r.get("_aws").is_none())
        .map(|r| {
            r["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_watchdog_warns_when_no_confirmed_subscription_hears_its_alerts() {
    let aws = LocalAws::shared();
    let config = aws.sdk_config().await;
    let dynamodb = aws.dynamodb().await;
    let sns = aws_sdk_sns::Client::new(&config);
    // A table with a fresh backup: the watchdog publishes nothing, whoever listens.
    let table = unique_name("orders");
    local_aws::create_seed_table(&dynamodb, &table)
        .await
        .unwrap();
    (dynamodb
        .create_backup()
        .table_name(&table)
        .backup_name("today"))
    .send()
    .await
    .unwrap();

    // A topic nobody subscribed to: said, with the topic and what to do.
    let unheard = (sns.create_topic().name(unique_name("alerts")).send())
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let records = watchdog_run(&unheard, &table);
    let fields = finished(&records);
    assert_eq!(fields["alert_subscribers"], 0, "{fields}");
    assert_eq!(fields["stack"], "default", "{fields}");
    assert_eq!(
        warnings(&records),
        [format!(
            "nobody hears this stack's alerts: the alert topic {unheard} has no confirmed \
             subscription (deploy with AlertEmail, or confirm the email AWS sent)"
        )]
    );

    // A confirmed subscription (the local AWS confirms an SQS one at once): quiet.
    let (heard, _inbox) =
        local_aws::topic_with_inbox(&config, &unique_name("alerts"), &unique_name("inbox"))
            .await
            .unwrap();
    let records = watchdog_run(&heard, &table);
    assert_eq!(finished(&records)["alert_subscribers"], 1);
    assert!(warnings(&records).is_empty(), "{:?}", warnings(&records));

    // More subscriptions than one page lists (100): every page is counted.
    let crowded = (sns.create_topic().name(unique_name("alerts")).send())
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    for i in 0..101 {
        (sns.subscribe().topic_arn(&crowded).protocol("sqs"))
            .endpoint(format!(
                "arn:aws:sqs:us-east-1:123456789012:{}",
                unique_name(&format!("q{i}"))
            ))
            .send()
            .await
            .unwrap();
    }
    let records = watchdog_run(&crowded, &table);
    assert_eq!(finished(&records)["alert_subscribers"], 101);
    assert!(warnings(&records).is_empty(), "{:?}", warnings(&records));

    // A topic whose subscriptions cannot be listed: a warning, and the run still finishes.
    let gone = format!("{unheard}-deleted");
    let records = watchdog_run(&gone, &table);
    let fields = finished(&records);
    assert!(fields.get("alert_subscribers").is_none(), "{fields}");
    let warned = warnings(&records);
    assert_eq!(
        warned,
        ["could not find out who hears the alerts"],
        "{records:#?}"
    );
    let line = (records.iter())
        .find(|r| r["level"] == "WARN" && r.get("_aws").is_none())
        .unwrap();
    let error = line["fields"]["error"].as_str().unwrap();
    assert!(error.contains("ListSubscriptionsByTopic"), "{error}");
}
