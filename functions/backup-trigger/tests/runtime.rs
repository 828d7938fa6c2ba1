//! The backup-trigger through the real Lambda runtime, with each trigger shape from `events/`.

use std::path::Path;

use local_aws::{LocalAws, LocalFunction};
use shared::metrics;

const TABLE: &str = "order_transaction-demo";

#[tokio::test(flavor = "multi_thread")]
async fn the_three_trigger_shapes_run_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    local_aws::create_seed_table(&dynamodb, TABLE)
        .await
        .unwrap();
    local_aws::create_seed_table(&dynamodb, "customers-demo")
        .await
        .unwrap();
    let function = LocalFunction::start(
        Path::new(env!("CARGO_BIN_EXE_backup-trigger")),
        aws,
        &[
            ("TABLE_NAMES", "customers-demo"),
            ("KEEP_LAST", "5"),
            ("BACKUP_OWNER", "demo"),
            ("AWS_LAMBDA_FUNCTION_NAME", "ddb-guard-backup-trigger"),
        ],
    );

    let scheduled = function.response("backup-schedule.json");
    assert_eq!(scheduled["trigger"], "schedule");
    assert_eq!(scheduled["engine"], "dynamodb");
    assert_eq!(scheduled["tables"][0]["table"], "customers-demo");
    assert_eq!(
        scheduled["tables"][0]["backup_name"],
        "customers-demo.ddb-guard-demo.20261125T050000Z"
    );

    // EventBridge Scheduler's own event shape (no custom input): the same schedule.
    let scheduler = function.response("backup-scheduler.json");
    assert_eq!(scheduler["trigger"], "schedule");
    assert_eq!(
        scheduler["tables"][0]["backup_name"],
        "customers-demo.ddb-guard-demo.20261125T030000Z"
    );

    let custom = function.response("backup-custom-input.json");
    assert_eq!(custom["trigger"], "custom-input");
    assert_eq!(custom["tables"][0]["table"], TABLE);
    assert!(
        custom["tables"][0]["backup_arn"]
            .as_str()
            .unwrap()
            .contains(TABLE)
    );

    let console = function.response("console-test.json");
    assert_eq!(console["trigger"], "console");
    assert_eq!(console["tables"][0]["table"], "customers-demo");

    let backups = dynamodb.list_backups().send().await.unwrap();
    let mut names: Vec<&str> = backups
        .backup_summaries()
        .iter()
        .filter_map(|b| b.backup_name())
        .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.contains(&"customers-demo.ddb-guard-demo.20261125T050000Z"));

    // One metric record per table and run: a backup taken, none failed or deleted.
    let records = metrics::of_family(&metrics::BACKUP, &function.metric_records()).unwrap();
    let tables: Vec<&str> = records.iter().map(|(d, _)| d[1].as_str()).collect();
    assert_eq!(
        tables,
        ["customers-demo", "customers-demo", TABLE, "customers-demo"]
    );
    for (dimensions, values) in &records {
        assert_eq!(
            (dimensions[0].as_str(), dimensions[2].as_str()),
            ("ddb-guard-backup-trigger", "dynamodb")
        );
        assert_eq!(values, &[1.0, 0.0, 0.0]);
    }

    let refused = function.error("bad-request.json");
    assert!(
        refused.contains("InvalidRequest") && refused.contains("`bucket`"),
        "{refused}"
    );
}
