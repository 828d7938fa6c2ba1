//! The restore-handler through the real Lambda runtime, with the requests in `events/`.

use std::path::Path;

use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoverySpecification};
use local_aws::{LocalAws, LocalFunction};
use serde_json::Value;
use shared::restore::request::{RestoreRequest, RestoreSource, parse_restore_request};

const TABLE: &str = "order_transaction-demo";

#[test]
fn every_sample_request_is_valid_and_means_its_mode() {
    let read = |name: &str| {
        let text =
            std::fs::read_to_string(local_aws::event_file(name, &["restore-handler"])).unwrap();
        parse_restore_request(serde_json::from_str(&text).unwrap(), None).unwrap()
    };
    let source = |name: &str| match read(name) {
        RestoreRequest::Restore(plan) => plan.source,
        other => panic!("{name}: {other:?}"),
    };
    assert!(matches!(
        source("restore-backup.json"),
        RestoreSource::Backup(_)
    ));
    assert!(matches!(
        source("restore-point-in-time.json"),
        RestoreSource::PointInTime(_)
    ));
    assert_eq!(
        source("restore-latest-backup.json"),
        RestoreSource::LatestBackup
    );
    assert_eq!(
        source("restore-latest-restorable.json"),
        RestoreSource::LatestRestorable
    );
    assert!(matches!(
        source("restore-recovery-point.json"),
        RestoreSource::RecoveryPoint(_)
    ));
    assert!(matches!(
        read("restore-finish.json"),
        RestoreRequest::Finish(_)
    ));
    assert!(matches!(read("promote.json"), RestoreRequest::Promote(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn restores_run_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    seed_table_with_a_backup_and_pitr(&dynamodb).await;
    local_aws::create_state_table(&dynamodb, "ddb-guard-state")
        .await
        .unwrap();
    // Two instances, so two invocations can run at once.
    let function = LocalFunction::start_instances(
        Path::new(env!("CARGO_BIN_EXE_restore-handler")),
        aws,
        &[
            ("SOURCE_TABLE", TABLE),
            ("POLL_SECONDS", "0.2"),
            ("STATE_TABLE", "ddb-guard-state"),
        ],
        2,
    );
    let dir = tempfile::tempdir().unwrap();

    each_sample_restore_restores(&function);
    what_this_handler_did_not_restore_is_refused(&function, &dynamodb, dir.path()).await;
    two_finishes_at_once_both_succeed(&function, dir.path());
    each_restore_is_timed_once(&function);
    a_promoted_copy_is_left_alone(&function, dir.path());
    let refused = function.error("bad-request.json");
    assert!(
        refused.contains("InvalidRequest") && refused.contains("`bucket`"),
        "{refused}"
    );
}

/// `TABLE` with 7 items, a backup of them, and point-in-time recovery on.
async fn seed_table_with_a_backup_and_pitr(dynamodb: &aws_sdk_dynamodb::Client) {
    local_aws::create_seed_table(dynamodb, TABLE).await.unwrap();
    for i in 0..7 {
        dynamodb
            .put_item()
            .table_name(TABLE)
            .item("order_id", AttributeValue::S(format!("{i}")))
            .item("item_id", AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
    }
    dynamodb
        .create_backup()
        .table_name(TABLE)
        .backup_name("nightly")
        .send()
        .await
        .unwrap();
    let pitr = PointInTimeRecoverySpecification::builder()
        .point_in_time_recovery_enabled(true)
        .build()
        .unwrap();
    dynamodb
        .update_continuous_backups()
        .table_name(TABLE)
        .point_in_time_recovery_specification(pitr)
        .send()
        .await
        .unwrap();
}

/// The newest backup, the latest restorable time and the console test's `{}`: each restored,
/// finished and verified.
fn each_sample_restore_restores(function: &LocalFunction) {
    let latest = function.response("restore-latest-backup.json");
    assert_eq!(
        latest["target_table"],
        "order_transaction-demo-restored-latest-backup"
    );
    assert_eq!(latest["table_status"], "ACTIVE");
    assert_eq!(latest["verification"]["restored_items"], 7);
    assert_eq!(latest["verification"]["matches"], true);
    assert!(
        reapplied(&latest, "point-in-time recovery (35 days)"),
        "{latest}"
    );
    assert_eq!(
        latest["settings_differences"],
        Value::Null,
        "nothing left different"
    );

    let restorable = function.response("restore-latest-restorable.json");
    assert_eq!(restorable["restored_from"], "latest restorable time");
    // Deletion protection because the request asks for it.
    assert!(
        reapplied(&restorable, "deletion protection on"),
        "{restorable}"
    );

    let console = function.response("console-test.json");
    assert!(
        console["target_table"]
            .as_str()
            .unwrap()
            .starts_with("order_transaction-demo-restored-")
    );
    assert_eq!(console["verification"]["restored_items"], 7);
}

/// The same target again: refused, nothing touched. A finish of a table this handler did not
/// restore (a forged notifier request, a hand-typed name, the source itself): refused, the table
/// untouched.
async fn what_this_handler_did_not_restore_is_refused(
    function: &LocalFunction,
    dynamodb: &aws_sdk_dynamodb::Client,
    dir: &Path,
) {
    let refused = function.error("restore-latest-backup.json");
    assert!(
        refused.contains("RestoreRefused")
            && refused.contains("order_transaction-demo-restored-latest-backup"),
        "{refused}"
    );
    let forged = function.error("restore-finish.json");
    assert!(
        forged.contains("RestoreRefused") && forged.contains("restored-from-vault was not"),
        "{forged}"
    );
    let finish_source = dir.join("finish-source.json");
    let request = serde_json::json!({"action": "finish", "target_table": TABLE});
    std::fs::write(&finish_source, request.to_string()).unwrap();
    let output = function.invoke_file(&finish_source);
    let refused = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !output.status.success() && refused.contains("must contain"),
        "{refused}"
    );
    let arn = local_aws::table_arn(dynamodb, TABLE).await.unwrap();
    let tags = dynamodb
        .list_tags_of_resource()
        .resource_arn(arn)
        .send()
        .await;
    assert!(
        tags.unwrap().tags().is_empty(),
        "the source was not tagged as a copy"
    );
}

/// Two finishes of one restore at once, in two instances: both succeed.
fn two_finishes_at_once_both_succeed(function: &LocalFunction, dir: &Path) {
    let finish = dir.join("finish-twice.json");
    let request = serde_json::json!({"action": "finish",
        "target_table": "order_transaction-demo-restored-latest-backup", "verify": true});
    std::fs::write(&finish, request.to_string()).unwrap();
    let (first, second) = std::thread::scope(|scope| {
        let first = scope.spawn(|| function.invoke_file(&finish));
        let second = scope.spawn(|| function.invoke_file(&finish));
        (first.join().unwrap(), second.join().unwrap())
    });
    for output in [first, second] {
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(report["verification"]["matches"], true, "{report}");
        assert_eq!(report["settings_differences"], Value::Null, "{report}");
    }
}

/// `RestoreSeconds` says how long a restore took to become `ACTIVE`: written once per restore, by
/// the finish that first saw the table `ACTIVE`, never again by a later finish of it.
fn each_restore_is_timed_once(function: &LocalFunction) {
    let records = function.metric_records();
    let timed: Vec<&Value> = (records.iter())
        .filter(|r| r.get("RestoreSeconds").is_some())
        .collect();
    // The newest backup, the latest restorable time and the console test's: three restores, the
    // first of them finished three times.
    assert_eq!(timed.len(), 3, "{timed:#?}");
    for record in timed {
        assert_eq!(record["Table"], TABLE, "{record}");
        assert!(
            record["RestoreSeconds"].as_f64().unwrap() >= 0.0,
            "{record}"
        );
    }
}

/// `promote.json` makes the finished copy production; a finish of it is refused from then on.
fn a_promoted_copy_is_left_alone(function: &LocalFunction, dir: &Path) {
    let promoted = function.response("promote.json");
    let copy = "order_transaction-demo-restored-latest-backup";
    assert_eq!(promoted["promoted"], copy, "{promoted}");
    let finish = dir.join("finish-promoted.json");
    let request = serde_json::json!({"action": "finish", "target_table": copy});
    std::fs::write(&finish, request.to_string()).unwrap();
    let output = function.invoke_file(&finish);
    let refused = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !output.status.success() && refused.contains("promoted to production"),
        "{refused}"
    );
}

fn reapplied(report: &Value, setting: &str) -> bool {
    let list = report["settings_reapplied"].as_array();
    list.is_some_and(|l| l.iter().any(|s| s == setting))
}
