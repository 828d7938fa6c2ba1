//! The backup-notifier against the local AWS: alerts are really published to an SNS topic and read
//! back through an SQS subscription. AWS Backup recovery points and Lambda invokes are mocked.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::list_recovery_points_by_resource::ListRecoveryPointsByResourceOutput;
use aws_sdk_backup::types::{RecoveryPointByResource, RecoveryPointStatus};
use aws_sdk_lambda::operation::invoke::{InvokeInput, InvokeOutput};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use backup_notifier::handler::{HandlerError, State, function_handler};
use lambda_runtime::{Diagnostic, LambdaEvent};
use local_aws::{LocalAws, unique_name};
use serde_json::{Value, json};
use shared::alert::config::NotifierEnv;
use shared::alert::notifier::NotifierResponse;
use shared::env::from_vars;
use shared::state::{StateKey, StateStore};

/// A message as the SQS subscriber receives it.
#[derive(Debug)]
struct Received {
    subject: String,
    body: String,
    attributes: Value,
}

struct Fixture {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    state: State,
}

impl Fixture {
    async fn new(env: &[(&str, &str)]) -> Fixture {
        let aws = LocalAws::shared();
        let config = aws.sdk_config().await;
        let (topic, queue_url) =
            local_aws::topic_with_inbox(&config, &unique_name("alerts"), &unique_name("inbox"))
                .await
                .unwrap();
        let mut vars = vec![("TOPIC_ARN".to_string(), topic)];
        for (name, value) in env {
            vars.retain(|(existing, _)| existing != name);
            vars.push((name.to_string(), value.to_string()));
        }
        let settings = from_vars::<NotifierEnv>(vars).unwrap().validate().unwrap();
        Fixture {
            sqs: aws_sdk_sqs::Client::new(&config),
            queue_url,
            state: State::new(&config, settings),
        }
    }

    async fn invoke(&self, payload: Value) -> Result<NotifierResponse, HandlerError> {
        function_handler(
            &self.state,
            LambdaEvent::new(payload, local_aws::lambda_context()),
        )
        .await
    }

    /// Every message waiting in the subscribed queue.
    async fn received(&self) -> Vec<Received> {
        let envelopes = local_aws::take_notifications(&self.sqs, &self.queue_url)
            .await
            .unwrap();
        envelopes
            .into_iter()
            .map(|envelope| Received {
                subject: envelope["Subject"].as_str().unwrap_or_default().to_string(),
                body: envelope["Message"].as_str().unwrap_or_default().to_string(),
                attributes: envelope["MessageAttributes"].clone(),
            })
            .collect()
    }
}

fn event(name: &str) -> Value {
    let text = std::fs::read_to_string(local_aws::event_file(name, &["backup-notifier"])).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn attribute(message: &Received, name: &str) -> String {
    message.attributes[name]["Value"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn each_job_event_that_matters_becomes_one_clear_alert() {
    let f = Fixture::new(&[]).await;
    for (file, subject, lines, state, job_type) in [
        (
            "backup-job-failed.json",
            "[ddb-guard] FAILED: backup of table order_transaction-demo",
            vec![
                "Status message: Insufficient privileges",
                "Vault:          ddb-guard-vault",
                "Duration:       20 min 4 s",
                "Size:           0 bytes",
                "#/jobs/backup/details/D1A4E6A0",
            ],
            "FAILED",
            "backup",
        ),
        (
            "backup-job-completed-with-issues.json",
            "[ddb-guard] COMPLETED with issues: backup of table order_transaction-demo",
            vec![
                "Size:           1.5 GiB",
                "Recovery point: arn:aws:dynamodb:us-east-1:123456789012:table/order_transaction-demo/backup/01795586400000-4b7c1e2f",
                "Status message: Backup completed with issues",
            ],
            "COMPLETED",
            "backup",
        ),
        (
            "backup-job-aborted.json",
            "[ddb-guard] ABORTED: backup of table order_transaction-demo",
            vec![
                "Started:        2026-11-25T05:00:04+00:00",
                "Status message: Backup job was aborted by user",
            ],
            "ABORTED",
            "backup",
        ),
        (
            "copy-job-failed.json",
            "[ddb-guard] FAILED: copy of table order_transaction-demo",
            vec![
                "Vault:          ddb-guard-dr",
                "From vault:     ddb-guard-vault",
                "Duration:       1 min 2 s",
                "Size:           1.0 MiB",
                "KMS key not accessible",
            ],
            "FAILED",
            "copy",
        ),
        (
            "restore-job-completed.json",
            "[ddb-guard] COMPLETED: restore into table order_transaction-demo-restored-from-vault",
            vec![
                "Table:          order_transaction-demo-restored-from-vault",
                "Duration:       3 min 30 s",
            ],
            "COMPLETED",
            "restore",
        ),
        (
            "restore-job-failed.json",
            "[ddb-guard] FAILED: restore job",
            vec!["Status message: Table already exists"],
            "FAILED",
            "restore",
        ),
    ] {
        let response = f.invoke(event(file)).await.unwrap();
        assert_eq!(response.published.len(), 1, "{file}");
        let received = f.received().await;
        let [message] = &received[..] else {
            panic!("{file}: {received:?}")
        };
        assert_eq!(message.subject, subject, "{file}");
        for line in lines {
            assert!(
                message.body.contains(line),
                "{file}: {line:?} not in\n{}",
                message.body
            );
        }
        assert_eq!(attribute(message, "state"), state, "{file}");
        assert_eq!(attribute(message, "job_type"), job_type, "{file}");
        assert_eq!(attribute(message, "resource_type"), "DynamoDB", "{file}");
    }
}

#[tokio::test]
async fn states_that_do_not_alert_publish_nothing() {
    let f = Fixture::new(&[]).await;
    for file in ["backup-job-completed.json", "restore-job-created.json"] {
        let response = f.invoke(event(file)).await.unwrap();
        assert!(response.published.is_empty(), "{file}");
        assert!(
            response.ignored.unwrap().contains("does not alert"),
            "{file}"
        );
    }
    let configured = Fixture::new(&[("ALERT_BACKUP_STATES", "COMPLETED")]).await;
    assert_eq!(
        configured
            .invoke(event("backup-job-completed.json"))
            .await
            .unwrap()
            .published
            .len(),
        1
    );
    assert!(
        configured
            .invoke(event("backup-job-failed.json"))
            .await
            .unwrap()
            .published
            .is_empty()
    );
    assert!(f.received().await.is_empty());
}

#[tokio::test]
async fn a_console_test_sends_a_marked_test_alert() {
    let f = Fixture::new(&[]).await;
    f.invoke(json!({})).await.unwrap();
    let received = f.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].subject,
        "[ddb-guard] TEST alert: checking the wiring"
    );
    assert!(received[0].body.contains("Nothing is wrong"));
    assert_eq!(attribute(&received[0], "state"), "TEST");
}

#[tokio::test]
async fn a_completed_restore_asks_the_restore_handler_to_finish() {
    let seen: Arc<Mutex<Vec<InvokeInput>>> = Arc::default();
    let record = Arc::clone(&seen);
    let rule = mock!(aws_sdk_lambda::Client::invoke).then_compute_output(move |input| {
        record.lock().unwrap().push(input.clone());
        InvokeOutput::builder().status_code(202).build()
    });
    let mut f = Fixture::new(&[("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler")]).await;
    f.state.notifier.lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&rule]);

    let response = f.invoke(event("restore-job-completed.json")).await.unwrap();
    assert_eq!(
        response.finish_requested.as_deref(),
        Some("order_transaction-demo-restored-from-vault")
    );
    let seen = seen.lock().unwrap().clone();
    let [invoke] = &seen[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(invoke.function_name(), Some("ddb-guard-restore-handler"));
    assert_eq!(
        invoke.invocation_type(),
        Some(&aws_sdk_lambda::types::InvocationType::Event)
    );
    let payload: Value = serde_json::from_slice(invoke.payload().unwrap().as_ref()).unwrap();
    assert_eq!(
        payload,
        json!({"action": "finish", "target_table": "order_transaction-demo-restored-from-vault"})
    );

    // A failed restore asks for nothing.
    assert!(
        f.invoke(event("restore-job-failed.json"))
            .await
            .unwrap()
            .finish_requested
            .is_none()
    );
}

#[tokio::test]
async fn a_publish_that_fails_fails_the_invocation() {
    let f = Fixture::new(&[(
        "TOPIC_ARN",
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
    )])
    .await;
    let err = Diagnostic::from(f.invoke(event("backup-job-failed.json")).await.unwrap_err());
    assert_eq!(err.error_type, "PublishFailed");
    assert!(
        err.error_message.contains("no-such-topic"),
        "{}",
        err.error_message
    );
}

#[tokio::test]
async fn the_watchdog_alerts_on_stale_and_missing_tables_and_not_on_fresh_ones() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let (fresh, stale, never) = (
        unique_name("fresh"),
        unique_name("stale"),
        unique_name("never"),
    );
    for table in [&fresh, &stale, &never] {
        local_aws::create_seed_table(&dynamodb, table)
            .await
            .unwrap();
    }
    dynamodb
        .create_backup()
        .table_name(&fresh)
        .backup_name("today")
        .send()
        .await
        .unwrap();
    let stale_arn = local_aws::table_arn(&dynamodb, &stale).await.unwrap();
    let three_days_ago = chrono::Utc::now() - chrono::Duration::days(3);
    let points = mock!(aws_sdk_backup::Client::list_recovery_points_by_resource)
        .then_compute_output(move |input| {
            let points = if input.resource_arn() == Some(stale_arn.as_str()) {
                vec![
                    RecoveryPointByResource::builder()
                        .recovery_point_arn(
                            "arn:aws:backup:us-east-1:123456789012:recovery-point:old",
                        )
                        .creation_date(aws_smithy_types::DateTime::from_secs(
                            three_days_ago.timestamp(),
                        ))
                        .status(RecoveryPointStatus::Completed)
                        .build(),
                ]
            } else {
                vec![]
            };
            ListRecoveryPointsByResourceOutput::builder()
                .set_recovery_points(Some(points))
                .build()
        });
    let mut f = Fixture::new(&[("WATCH_TABLE_NAMES", &format!("{fresh},{stale},{never}"))]).await;
    f.state.notifier.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&points]);

    let response = f.invoke(event("backup-schedule.json")).await.unwrap();
    let verdicts: Vec<(&str, Value)> = response
        .watched
        .iter()
        .map(|w| {
            (
                w.table.as_str(),
                serde_json::to_value(&w.sources[0].result).unwrap()["verdict"].clone(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            (fresh.as_str(), json!("fresh")),
            (stale.as_str(), json!("stale")),
            (never.as_str(), json!("missing"))
        ]
    );
    let received = f.received().await;
    let [alert] = &received[..] else {
        panic!("{received:?}")
    };
    assert_eq!(
        alert.subject,
        "[ddb-guard] MISSING BACKUP: 2 tables need attention"
    );
    assert!(
        alert
            .body
            .contains(&format!("{stale}: newest backup is 72 hours old")),
        "{}",
        alert.body
    );
    assert!(
        alert.body.contains(&format!("{never}: no backup at all")),
        "{}",
        alert.body
    );
    assert!(!alert.body.contains(&fresh), "{}", alert.body);
    assert_eq!(attribute(alert, "state"), "MISSING_BACKUP");

    // Only fresh tables: quiet.
    let mut quiet = Fixture::new(&[("WATCH_TABLE_NAMES", fresh.as_str())]).await;
    quiet.state.notifier.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&points]);
    let response = quiet.invoke(json!({"action": "watchdog"})).await.unwrap();
    assert!(response.published.is_empty());
    assert!(quiet.received().await.is_empty());
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let f = Fixture::new(&[]).await;
    for payload in [
        json!([]),
        json!({"bucket": "x"}),
        event("s3-put-order-data.json"),
    ] {
        let err = Diagnostic::from(f.invoke(payload.clone()).await.unwrap_err());
        assert_eq!(err.error_type, "InvalidRequest", "{payload}");
    }
    assert!(f.received().await.is_empty());
}

/// A fixture remembering published alerts in a fresh state table, where the restore-handler has
/// recorded starting the restore into each of `restored`.
async fn remembering(env: &[(&str, &str)], restored: &[&str]) -> Fixture {
    let body = json!({"source": "order_transaction-demo", "from": "recovery point"});
    let records: Vec<(&str, Value)> = restored.iter().map(|t| (*t, body.clone())).collect();
    remembering_records(env, &records).await
}

/// Like `remembering`, each restore recorded with the body the restore-handler wrote.
async fn remembering_records(env: &[(&str, &str)], restored: &[(&str, Value)]) -> Fixture {
    let state_table = unique_name("state");
    let dynamodb = LocalAws::shared().dynamodb().await;
    local_aws::create_state_table(&dynamodb, &state_table)
        .await
        .unwrap();
    let store = StateStore::new(dynamodb, &state_table);
    let now = chrono::Utc::now();
    for (table, body) in restored {
        let key = StateKey::restore_started(table);
        assert!(
            store
                .create(&key, body, now + chrono::Duration::days(1), now)
                .await
                .unwrap()
        );
    }
    Fixture::new(&[env, &[("STATE_TABLE", state_table.as_str())]].concat()).await
}

#[tokio::test]
async fn an_event_with_an_unknown_state_alerts_once() {
    let f = remembering(&[], &[]).await;
    let mut renamed = event("backup-job-failed.json");
    let detail = renamed["detail"].as_object_mut().unwrap();
    let state = detail.remove("state").unwrap();
    detail.insert("jobState".into(), state);

    let first = f.invoke(renamed.clone()).await.unwrap();
    assert_eq!(first.published.len(), 1);
    // EventBridge delivers the same event again: remembered, not repeated.
    let again = f.invoke(renamed).await.unwrap();
    assert!(again.published.is_empty());
    assert_eq!(again.already_published.as_ref(), Some(&first.published[0]));
    let received = f.received().await;
    let [alert] = &received[..] else {
        panic!("{received:?}")
    };
    assert!(alert.subject.contains("UNKNOWN"), "{}", alert.subject);
}

#[tokio::test]
async fn a_finish_that_fails_is_retried_without_repeating_the_alert() {
    let refuse = mock!(aws_sdk_lambda::Client::invoke).then_http_response(|| {
        aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
            aws_smithy_types::body::SdkBody::from(r#"{"message": "busy"}"#),
        )
    });
    let mut f = remembering(
        &[("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler")],
        &["order_transaction-demo-restored-from-vault"],
    )
    .await;
    f.state.notifier.lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&refuse]);
    for _ in 0..2 {
        let err = Diagnostic::from(
            f.invoke(event("restore-job-completed.json"))
                .await
                .unwrap_err(),
        );
        assert_eq!(err.error_type, "FinishRequestFailed");
    }
    assert_eq!(f.received().await.len(), 1, "one alert for one event");

    // The finish is asked for after every completed restore, even when restores do not alert.
    let ok = mock!(aws_sdk_lambda::Client::invoke)
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let mut quiet = Fixture::new(&[
        ("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler"),
        ("ALERT_RESTORE_STATES", "FAILED"),
    ])
    .await;
    quiet.state.notifier.lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&ok]);
    let response = quiet
        .invoke(event("restore-job-completed.json"))
        .await
        .unwrap();
    assert!(response.published.is_empty());
    assert!(response.finish_requested.is_some());

    // A restore this stack did not start (another team's job, restore testing's): no finish.
    let never = mock!(aws_sdk_lambda::Client::invoke).then_output(|| {
        panic!("the restore-handler must not be asked to finish a restore it did not start")
    });
    let mut theirs = remembering(
        &[("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler")],
        &[],
    )
    .await;
    theirs.state.notifier.lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&never]);
    let response = theirs
        .invoke(event("restore-job-completed.json"))
        .await
        .unwrap();
    assert_eq!(response.published.len(), 1, "the alert still goes out");
    assert!(response.finish_requested.is_none());
}

#[tokio::test]
async fn jobs_of_other_resource_types_are_not_ours() {
    let f = Fixture::new(&[]).await;
    let mut ec2 = event("backup-job-failed.json");
    ec2["detail"]["resourceType"] = json!("EC2");
    let response = f.invoke(ec2).await.unwrap();
    assert!(response.published.is_empty());
    assert!(response.ignored.unwrap().contains("EC2"));
    // Without a resource type the event is taken: a missing field never silences a failure.
    let mut unknown = event("backup-job-failed.json");
    unknown["detail"]
        .as_object_mut()
        .unwrap()
        .remove("resourceType");
    assert_eq!(f.invoke(unknown).await.unwrap().published.len(), 1);
}

/// `table`'s recovery points in the vault: one from `plan` taken `plan_age` ago.
fn vault_points(
    arn: String,
    plan: &'static str,
    plan_age: chrono::Duration,
) -> aws_smithy_mocks::Rule {
    use aws_sdk_backup::operation::list_recovery_points_by_backup_vault::ListRecoveryPointsByBackupVaultOutput;
    use aws_sdk_backup::types::{RecoveryPointByBackupVault, RecoveryPointCreator};
    mock!(aws_sdk_backup::Client::list_recovery_points_by_backup_vault).then_compute_output(
        move |input| {
            assert_eq!(input.backup_vault_name(), Some("ddb-guard-vault"));
            assert_eq!(input.by_backup_plan_id(), Some(plan));
            let points = if input.by_resource_arn() == Some(arn.as_str()) {
                let created = chrono::Utc::now() - plan_age;
                vec![
                    RecoveryPointByBackupVault::builder()
                        .recovery_point_arn(
                            "arn:aws:backup:us-east-1:123456789012:recovery-point:p1",
                        )
                        .resource_arn(&arn)
                        .created_by(RecoveryPointCreator::builder().backup_plan_id(plan).build())
                        .creation_date(aws_smithy_types::DateTime::from_secs(created.timestamp()))
                        .status(RecoveryPointStatus::Completed)
                        .build(),
                ]
            } else {
                vec![]
            };
            ListRecoveryPointsByBackupVaultOutput::builder()
                .set_recovery_points(Some(points))
                .build()
        },
    )
}

#[tokio::test]
async fn each_source_and_table_is_judged_on_its_own() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let (orders, deleted) = (unique_name("orders"), unique_name("deleted"));
    local_aws::create_seed_table(&dynamodb, &orders)
        .await
        .unwrap();
    // The trigger's native backups are fresh: one taken now, named by the stack.
    let ownership = shared::backup_name::Ownership {
        owner: "watched-stack".into(),
        adopt_legacy: false,
    };
    dynamodb
        .create_backup()
        .table_name(&orders)
        .backup_name(ownership.backup_name(&orders, chrono::Utc::now()))
        .send()
        .await
        .unwrap();
    // The plan stopped 40 days ago.
    let arn = local_aws::table_arn(&dynamodb, &orders).await.unwrap();
    let points = vault_points(arn, "plan-1", chrono::Duration::days(40));
    let mut f = Fixture::new(&[
        ("WATCH_TABLE_NAMES", &format!("{deleted},{orders}")),
        ("EXPECTED_BACKUPS", "native,plan"),
        ("BACKUP_OWNER", "watched-stack"),
        ("BACKUP_VAULT_NAME", "ddb-guard-vault"),
        ("BACKUP_PLAN_ID", "plan-1"),
        ("WATCH_PITR", "true"),
    ])
    .await;
    f.state.notifier.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&points]);

    let response = f.invoke(json!({"action": "watchdog"})).await.unwrap();
    let verdicts: Vec<(String, Value)> = response
        .watched
        .iter()
        .flat_map(|w| {
            w.sources.iter().map(|s| {
                let verdict = serde_json::to_value(&s.result).unwrap();
                (format!("{} {:?}", w.table, s.source), verdict)
            })
        })
        .map(|(who, v)| (who, v.get("verdict").cloned().unwrap_or(json!("unchecked"))))
        .collect();
    assert_eq!(
        verdicts,
        [
            (format!("{deleted} Native"), json!("unchecked")),
            (format!("{deleted} Plan"), json!("unchecked")),
            (format!("{orders} Native"), json!("fresh")),
            (format!("{orders} Plan"), json!("stale")),
        ]
    );
    let received = f.received().await;
    let [alert] = &received[..] else {
        panic!("{received:?}")
    };
    assert_eq!(
        alert.subject,
        "[ddb-guard] MISSING BACKUP: 2 tables need attention"
    );
    for line in [
        format!(
            "{deleted}: could not check native backup (backup-trigger): the table does not exist"
        ),
        format!("{orders}: newest recovery point of the backup plan is 960 hours old"),
        // The seed table has no point-in-time recovery.
        format!("{orders}: point-in-time recovery is disabled"),
    ] {
        assert!(alert.body.contains(&line), "{line}\n{}", alert.body);
    }
    assert!(
        !alert.body.contains(&format!("{orders}: newest native")),
        "{}",
        alert.body
    );
}

/// A Lambda client that answers every invoke as accepted, and what it was asked.
fn recording_lambda() -> (aws_sdk_lambda::Client, Arc<Mutex<Vec<InvokeInput>>>) {
    let seen: Arc<Mutex<Vec<InvokeInput>>> = Arc::default();
    let record = Arc::clone(&seen);
    let rule = mock!(aws_sdk_lambda::Client::invoke).then_compute_output(move |input| {
        record.lock().unwrap().push(input.clone());
        InvokeOutput::builder().status_code(202).build()
    });
    let client = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&rule]);
    (client, seen)
}

/// Each invoke's function, whether it was asynchronous, and its payload.
fn invokes(seen: &Mutex<Vec<InvokeInput>>) -> Vec<(String, bool, Value)> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|input| {
            (
                input.function_name().unwrap_or_default().to_string(),
                input.invocation_type() == Some(&aws_sdk_lambda::types::InvocationType::Event),
                serde_json::from_slice(input.payload().unwrap().as_ref()).unwrap(),
            )
        })
        .collect()
}

const RESTORE_TEST_JOB: &str = "5E2B7C19-3A4D-4F8E-9B6A-0C1D2E3F4A5B";

#[tokio::test]
async fn a_restore_job_this_stack_did_not_start_is_forwarded_for_validation_when_asked() {
    let finish = ("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler");
    let validate = ("VALIDATE_RESTORE_TESTS", "true");

    // On: the restore-handler is asked, asynchronously, to validate the job; nothing is finished.
    let (lambda, seen) = recording_lambda();
    let mut on = remembering(&[finish, validate], &[]).await;
    on.state.notifier.lambda = lambda;
    let response = on
        .invoke(event("restore-testing-job-completed.json"))
        .await
        .unwrap();
    assert_eq!(
        response.validation_requested.as_deref(),
        Some(RESTORE_TEST_JOB)
    );
    assert!(response.finish_requested.is_none());
    assert!(
        response.published.is_empty(),
        "a routine restore test: its validation tells what matters"
    );
    assert_eq!(
        invokes(&seen),
        [(
            "ddb-guard-restore-handler".to_string(),
            true,
            json!({"action": "validate", "restore_job_id": RESTORE_TEST_JOB})
        )]
    );

    // Off (the default): neither finished nor validated.
    let (lambda, seen) = recording_lambda();
    let mut off = remembering(&[finish], &[]).await;
    off.state.notifier.lambda = lambda;
    let response = off
        .invoke(event("restore-testing-job-completed.json"))
        .await
        .unwrap();
    assert!(response.validation_requested.is_none());
    assert!(response.finish_requested.is_none());
    assert!(invokes(&seen).is_empty(), "{:?}", invokes(&seen));

    // A restore this stack started: finished, never validated.
    let (lambda, seen) = recording_lambda();
    let mut mine = remembering(
        &[finish, validate],
        &["order_transaction-demo-restored-from-vault"],
    )
    .await;
    mine.state.notifier.lambda = lambda;
    let response = mine
        .invoke(event("restore-job-completed.json"))
        .await
        .unwrap();
    assert!(response.validation_requested.is_none());
    assert_eq!(
        invokes(&seen),
        [(
            "ddb-guard-restore-handler".to_string(),
            true,
            json!({"action": "finish", "target_table": "order_transaction-demo-restored-from-vault"})
        )]
    );

    // A failed restore job is not validated.
    let (lambda, seen) = recording_lambda();
    let mut failed = remembering(&[finish, validate], &[]).await;
    failed.state.notifier.lambda = lambda;
    let response = failed
        .invoke(event("restore-job-failed.json"))
        .await
        .unwrap();
    assert!(response.validation_requested.is_none());
    assert!(invokes(&seen).is_empty(), "{:?}", invokes(&seen));
}

#[tokio::test]
async fn a_validation_request_that_fails_is_retried_without_repeating_the_alert() {
    let refuse = mock!(aws_sdk_lambda::Client::invoke).then_http_response(|| {
        aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(500).unwrap(),
            aws_smithy_types::body::SdkBody::from(r#"{"message": "busy"}"#),
        )
    });
    let mut f = remembering(
        &[
            ("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler"),
            ("VALIDATE_RESTORE_TESTS", "true"),
        ],
        &[],
    )
    .await;
    f.state.notifier.lambda = mock_client!(aws_sdk_lambda, RuleMode::MatchAny, [&refuse]);
    // Another team's restore (which alerts, unlike a restore test's): forwarded, since the
    // notifier cannot tell it from a restore test.
    let theirs = event("restore-job-completed.json");
    let job = theirs["detail"]["restoreJobId"]
        .as_str()
        .unwrap()
        .to_string();
    for _ in 0..2 {
        let err = Diagnostic::from(f.invoke(theirs.clone()).await.unwrap_err());
        assert_eq!(err.error_type, "ValidationRequestFailed");
        assert!(err.error_message.contains(&job), "{}", err.error_message);
    }
    assert_eq!(f.received().await.len(), 1, "one alert for one event");
}

#[tokio::test]
async fn an_aborted_restore_alerts() {
    let f = Fixture::new(&[]).await;
    let response = f.invoke(event("restore-job-aborted.json")).await.unwrap();
    assert_eq!(response.published.len(), 1, "{response:?}");
    let received = f.received().await;
    let [alert] = &received[..] else {
        panic!("{received:?}")
    };
    assert_eq!(
        alert.subject,
        "[ddb-guard] ABORTED: restore into table order_transaction-demo-restored-from-vault"
    );
    assert!(alert.body.contains("Restore job was aborted by user"));
}

#[tokio::test]
async fn routine_drill_and_restore_test_restores_do_not_email_completed() {
    let finish = ("FINISH_RESTORE_FUNCTION", "ddb-guard-restore-handler");
    // A drill's restore from a recovery point, as the restore-handler recorded it.
    let scratch = "order_transaction-demo-restored-drill-20261129-5efcba8f";
    let drill = json!({"source": "order_transaction-demo", "from": "recovery point arn:rp",
        "started": "2026-11-29T09:00:00Z",
        "options": {"drill": {"id": "20261129-5efcba8f", "requested_at": "2026-11-29T09:00:00Z"},
                    "verify": true}});
    let (lambda, seen) = recording_lambda();
    let mut f = remembering_records(&[finish], &[(scratch, drill)]).await;
    f.state.notifier.lambda = lambda;
    let mut completed = event("restore-job-completed.json");
    completed["detail"]["createdResourceArn"] = json!(format!(
        "arn:aws:dynamodb:us-east-1:123456789012:table/{scratch}"
    ));
    let response = f.invoke(completed).await.unwrap();
    assert!(response.published.is_empty(), "{response:?}");
    assert_eq!(response.finish_requested.as_deref(), Some(scratch));
    assert_eq!(
        invokes(&seen).len(),
        1,
        "the drill's restore is still finished"
    );
    // The same drill's restore failing is no routine: it alerts.
    let mut failed = event("restore-job-aborted.json");
    failed["detail"]["createdResourceArn"] = json!(format!(
        "arn:aws:dynamodb:us-east-1:123456789012:table/{scratch}"
    ));
    assert_eq!(f.invoke(failed).await.unwrap().published.len(), 1);

    // A restore test (restore testing names its tables awsbackup-restore-test-...), with or
    // without validation on: quiet when it completes.
    for env in [
        vec![finish, ("VALIDATE_RESTORE_TESTS", "true")],
        vec![finish],
    ] {
        let (lambda, _) = recording_lambda();
        let mut f = remembering(&env, &[]).await;
        f.state.notifier.lambda = lambda;
        let response = f
            .invoke(event("restore-testing-job-completed.json"))
            .await
            .unwrap();
        assert!(response.published.is_empty(), "{env:?}: {response:?}");
    }
    assert!(
        f.received().await.len() == 1,
        "only the aborted drill restore"
    );
}

/// Recovery points: none, for any table.
fn no_recovery_points() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_backup::Client::list_recovery_points_by_resource).then_output(|| {
        ListRecoveryPointsByResourceOutput::builder()
            .set_recovery_points(Some(vec![]))
            .build()
    })
}

#[tokio::test]
async fn the_watchdog_tells_each_problem_once_and_a_second_table_going_bad_at_once() {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let state_table = unique_name("state");
    local_aws::create_state_table(&dynamodb, &state_table)
        .await
        .unwrap();
    let (first, second) = (unique_name("first"), unique_name("second"));
    for table in [&first, &second] {
        local_aws::create_seed_table(&dynamodb, table)
            .await
            .unwrap();
    }
    let points = no_recovery_points();
    // The watchdog of a stack watching `tables`, remembering in the same state table.
    let watching = |tables: String| {
        let state_table = state_table.clone();
        let points = &points;
        async move {
            let mut f = Fixture::new(&[
                ("WATCH_TABLE_NAMES", tables.as_str()),
                ("STATE_TABLE", state_table.as_str()),
            ])
            .await;
            f.state.notifier.backup = mock_client!(aws_sdk_backup, RuleMode::MatchAny, [points]);
            f
        }
    };

    // The first table has no backup at all: told.
    let f = watching(first.clone()).await;
    f.invoke(json!({"action": "watchdog"})).await.unwrap();
    let received = f.received().await;
    let [alert] = &received[..] else {
        panic!("{received:?}")
    };
    assert!(alert.body.contains(&format!("{first}: no backup at all")));

    // Three hours later, nothing changed: not told again (at most daily).
    let again = f.invoke(json!({"action": "watchdog"})).await.unwrap();
    assert!(again.published.is_empty(), "{again:?}");
    assert!(f.received().await.is_empty());

    // A second table goes bad while the first still is: told at once, alone.
    let both = watching(format!("{first},{second}")).await;
    both.invoke(json!({"action": "watchdog"})).await.unwrap();
    let received = both.received().await;
    let [alert] = &received[..] else {
        panic!("{received:?}")
    };
    assert_eq!(
        alert.subject,
        format!("[ddb-guard] MISSING BACKUP: table {second} needs attention")
    );
    assert!(alert.body.contains(&format!("{second}: no backup at all")));
    assert!(!alert.body.contains(&first), "{}", alert.body);
}
