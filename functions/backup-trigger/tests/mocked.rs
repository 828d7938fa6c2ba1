//! What the local AWS does not serve: AWS Backup jobs, and `ListBackups` in several pages. Played
//! with `aws-smithy-mocks` rules that check every request; DynamoDB tables stay real where they can.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::start_backup_job::{StartBackupJobInput, StartBackupJobOutput};
use aws_sdk_dynamodb::operation::create_backup::CreateBackupOutput;
use aws_sdk_dynamodb::operation::delete_backup::DeleteBackupOutput;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
use aws_sdk_dynamodb::operation::list_backups::ListBackupsOutput;
use aws_sdk_dynamodb::types::{
    BackupDetails, BackupStatus, BackupSummary, BackupType, TableDescription,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use backup_trigger::handler::{HandlerError, Response, State, function_handler};
use chrono::{Duration, Utc};
use lambda_runtime::LambdaEvent;
use local_aws::{LocalAws, unique_name};
use serde_json::{Value, json};
use shared::backup::config::BackupEnv;
use shared::backup::service::{BackupFailures, BackupReport, BackupService};
use shared::backup_name::Ownership;
use shared::env::from_vars;

const ROLE: &str = "arn:aws:iam::123456789012:role/ddb-guard-backup";

const OWNER: &str = "ddb-guard-test";

/// The settings `env` makes, owned by `OWNER`.
fn settings(env: &[(&str, &str)]) -> shared::backup::config::BackupSettings {
    let owned = env.iter().any(|(k, _)| *k == "BACKUP_OWNER");
    let vars = [("BACKUP_OWNER", OWNER)]
        .iter()
        .filter(|_| !owned)
        .chain(env)
        .map(|(k, v)| (k.to_string(), v.to_string()));
    from_vars::<BackupEnv>(vars).unwrap().validate().unwrap()
}

fn ownership() -> Ownership {
    Ownership {
        owner: OWNER.into(),
        adopt_legacy: false,
    }
}

async fn invoke(state: &State, payload: Value) -> Result<BackupReport, HandlerError> {
    let context = local_aws::lambda_context();
    match function_handler(state, LambdaEvent::new(payload, context)).await? {
        Response::Report(report) => Ok(report),
        Response::Step(step) => Ok(step.result),
    }
}

fn schedule(time: &str) -> Value {
    let path = local_aws::event_file("backup-schedule.json", &["backup-trigger"]);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["time"] = json!(time);
    event
}

/// A real table on the local AWS and a mocked AWS Backup that records each StartBackupJob.
async fn aws_backup_fixture(
    env: &[(&str, &str)],
    respond: aws_smithy_mocks::Rule,
) -> (String, String, State) {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let table = unique_name("orders");
    local_aws::create_seed_table(&dynamodb, &table)
        .await
        .unwrap();
    let arn = local_aws::table_arn(&dynamodb, &table).await.unwrap();
    let mut vars = vec![
        ("TABLE_NAMES", table.as_str()),
        ("BACKUP_ENGINE", "aws-backup"),
        ("BACKUP_VAULT_NAME", "ddb-guard-vault"),
        ("BACKUP_ROLE_ARN", ROLE),
    ];
    vars.extend_from_slice(env);
    let state = State {
        service: BackupService {
            dynamodb,
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, [&respond]),
            settings: settings(&vars),
        },
        // These tests never hand on.
        workflow: None,
    };
    (table, arn, state)
}

#[tokio::test]
async fn start_backup_job_carries_vault_role_lifecycle_windows_tags_and_a_stable_token() {
    let seen: Arc<Mutex<Vec<StartBackupJobInput>>> = Arc::default();
    let record = Arc::clone(&seen);
    let rule = mock!(aws_sdk_backup::Client::start_backup_job).then_compute_output(move |input| {
        record.lock().unwrap().push(input.clone());
        StartBackupJobOutput::builder()
            .backup_job_id("job-1")
            .recovery_point_arn("arn:aws:backup:us-east-1:123456789012:recovery-point:rp-1")
            .build()
    });
    let (table, arn, state) = aws_backup_fixture(
        &[
            ("COLD_STORAGE_AFTER_DAYS", "31"),
            ("DELETE_AFTER_DAYS", "366"),
            ("START_WINDOW_MINUTES", "60"),
            ("COMPLETE_WINDOW_MINUTES", "120"),
            ("RECOVERY_POINT_TAGS", "created-by=ddb-guard,schedule=daily"),
        ],
        rule,
    )
    .await;

    let report = invoke(&state, schedule("2026-11-25T05:00:00Z"))
        .await
        .unwrap();
    let outcome = &report.tables[0];
    assert_eq!(outcome.table, table);
    assert_eq!(outcome.backup_job_id.as_deref(), Some("job-1"));
    assert!(
        outcome
            .recovery_point_arn
            .as_deref()
            .unwrap()
            .ends_with("rp-1")
    );

    // Lambda retries the same event; then the next day's schedule.
    invoke(&state, schedule("2026-11-25T05:00:00Z"))
        .await
        .unwrap();
    invoke(&state, schedule("2026-11-26T05:00:00Z"))
        .await
        .unwrap();

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let job = &seen[0];
    assert_eq!(job.backup_vault_name(), Some("ddb-guard-vault"));
    assert_eq!(job.resource_arn(), Some(arn.as_str()));
    assert_eq!(job.iam_role_arn(), Some(ROLE));
    assert_eq!(job.start_window_minutes(), Some(60));
    assert_eq!(job.complete_window_minutes(), Some(120));
    let lifecycle = job.lifecycle().unwrap();
    assert_eq!(lifecycle.move_to_cold_storage_after_days(), Some(31));
    assert_eq!(lifecycle.delete_after_days(), Some(366));
    let tags = job.recovery_point_tags().unwrap();
    assert_eq!(tags["created-by"], "ddb-guard");
    assert_eq!(tags["schedule"], "daily");
    let token = job.idempotency_token().unwrap();
    assert_eq!(
        seen[1].idempotency_token(),
        Some(token),
        "a retry sends the same token"
    );
    assert_ne!(
        seen[2].idempotency_token(),
        Some(token),
        "the next run gets its own"
    );
}

#[tokio::test]
async fn a_lifecycle_aws_rejects_fails_that_table() {
    let refused = r#"{"__type":"InvalidParameterValueException","Message":"Invalid lifecycle"}"#;
    let rule = mock!(aws_sdk_backup::Client::start_backup_job)
        .sequence()
        .http_status(400, Some(refused.to_string()))
        .repeatedly()
        .build();
    let (table, _, state) = aws_backup_fixture(&[("DELETE_AFTER_DAYS", "1")], rule).await;
    let Err(HandlerError::Failed(BackupFailures(report))) = invoke(&state, json!({})).await else {
        panic!("a refused job must fail the invocation")
    };
    let error = report.tables[0].error.as_deref().unwrap();
    assert!(
        error.starts_with(&format!(
            "StartBackupJob {table}: InvalidParameterValueException"
        )),
        "{error}"
    );
}

#[test]
fn a_lifecycle_aws_would_reject_is_refused_at_cold_start() {
    let vars = [
        ("TABLE_NAMES", "orders"),
        ("BACKUP_ENGINE", "aws-backup"),
        ("BACKUP_VAULT_NAME", "v"),
        ("BACKUP_ROLE_ARN", ROLE),
        ("COLD_STORAGE_AFTER_DAYS", "31"),
        ("DELETE_AFTER_DAYS", "60"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let err = from_vars::<BackupEnv>(vars)
        .unwrap()
        .validate()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("DELETE_AFTER_DAYS (60) must be at least 90 days after"),
        "{err}"
    );
}

fn summary(table: &str, days_ago: i64, n: usize) -> BackupSummary {
    let created = Utc::now() - Duration::days(days_ago);
    BackupSummary::builder()
        .table_name(table)
        .backup_arn(format!(
            "arn:aws:dynamodb:us-east-1:123456789012:table/{table}/backup/{n:03}"
        ))
        .backup_name(ownership().backup_name(table, created))
        .backup_creation_date_time(aws_smithy_types::DateTime::from_secs(created.timestamp()))
        .backup_type(BackupType::User)
        .backup_status(BackupStatus::Available)
        .build()
}

/// A mocked DynamoDB holding table `orders` whose backups come in three pages, the oldest (005)
/// alone on the last; `delete` answers `DeleteBackup`.
async fn paged_backups(delete: &aws_smithy_mocks::Rule) -> (State, aws_smithy_mocks::Rule) {
    let table = "orders";
    let pages = [
        (
            vec![summary(table, 1, 1), summary(table, 2, 2)],
            Some("arn-page-2"),
        ),
        (
            vec![summary(table, 3, 3), summary(table, 4, 4)],
            Some("arn-page-3"),
        ),
        (vec![summary(table, 90, 5)], None),
    ];
    let list = mock!(aws_sdk_dynamodb::Client::list_backups).then_compute_output(move |input| {
        let page = match input.exclusive_start_backup_arn() {
            None => 0,
            Some("arn-page-2") => 1,
            Some("arn-page-3") => 2,
            Some(other) => panic!("unexpected page start {other}"),
        };
        assert_eq!(input.table_name(), Some("orders"));
        let (summaries, next) = pages[page].clone();
        ListBackupsOutput::builder()
            .set_backup_summaries(Some(summaries))
            .set_last_evaluated_backup_arn(next.map(str::to_string))
            .build()
    });
    let describe = orders_table();
    let create = mock!(aws_sdk_dynamodb::Client::create_backup)
        .then_compute_output(|input| created(input.backup_name().unwrap(), Utc::now().timestamp()));
    let dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&list, &describe, &create, delete]
    );
    let state = State {
        service: BackupService {
            dynamodb,
            backup: mock_client!(
                aws_sdk_backup,
                RuleMode::MatchAny,
                Vec::<&aws_smithy_mocks::Rule>::new()
            ),
            settings: settings(&[
                ("TABLE_NAMES", table),
                ("RETENTION_DAYS", "30"),
                ("KEEP_LAST", "2"),
            ]),
        },
        // These tests never hand on.
        workflow: None,
    };
    (state, list)
}

const OLDEST: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/005";

#[tokio::test]
async fn retention_reads_every_page_of_list_backups() {
    let deleted: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&deleted);
    let delete = mock!(aws_sdk_dynamodb::Client::delete_backup).then_compute_output(move |input| {
        record
            .lock()
            .unwrap()
            .push(input.backup_arn().unwrap().to_string());
        DeleteBackupOutput::builder().build()
    });
    let (state, list) = paged_backups(&delete).await;
    let report = invoke(&state, json!({})).await.unwrap();
    assert_eq!(list.num_calls(), 3, "every page was read");
    assert_eq!(*deleted.lock().unwrap(), [OLDEST]);
    assert_eq!(report.tables[0].deleted, [OLDEST]);
}

#[tokio::test]
async fn a_deletion_refused_by_policy_is_reported_not_fatal() {
    let denied = r#"{"__type":"com.amazon.coral.service#AccessDeniedException","message":"explicit deny in an identity-based policy"}"#;
    let delete = mock!(aws_sdk_dynamodb::Client::delete_backup)
        .sequence()
        .http_status(400, Some(denied.to_string()))
        .repeatedly()
        .build();
    let (state, _) = paged_backups(&delete).await;
    let report = invoke(&state, json!({}))
        .await
        .expect("a refused deletion does not fail the run");
    let outcome = &report.tables[0];
    assert!(outcome.backup_arn.is_some() && outcome.deleted.is_empty());
    assert_eq!(delete.num_calls(), 1, "access denied is not retried");
    assert_eq!(
        outcome.not_deleted,
        [format!(
            "{OLDEST}: AccessDeniedException: explicit deny in an identity-based policy"
        )]
    );
}

#[tokio::test]
async fn a_busy_table_is_retried_with_backoff() {
    let list = mock!(aws_sdk_dynamodb::Client::list_backups)
        .then_output(|| ListBackupsOutput::builder().build());
    let describe = orders_table();
    let busy = r#"{"__type":"com.amazonaws.dynamodb.v20120810#LimitExceededException","message":"Too many operations"}"#;
    let in_use = r#"{"__type":"com.amazonaws.dynamodb.v20120810#BackupInUseException","message":"Backup in use"}"#;
    let create = mock!(aws_sdk_dynamodb::Client::create_backup)
        .sequence()
        .http_status(400, Some(busy.to_string()))
        .http_status(400, Some(in_use.to_string()))
        .output(|| created("orders.ddb-guard.20261125T050000Z", 0))
        .build();
    let dynamodb = mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&list, &describe, &create]
    );
    let state = State {
        service: BackupService {
            dynamodb,
            backup: mock_client!(
                aws_sdk_backup,
                RuleMode::MatchAny,
                Vec::<&aws_smithy_mocks::Rule>::new()
            ),
            settings: settings(&[("TABLE_NAMES", "orders")]),
        },
        // These tests never hand on.
        workflow: None,
    };
    let report = invoke(&state, schedule("2026-11-25T05:00:00Z"))
        .await
        .unwrap();
    assert_eq!(create.num_calls(), 3);
    assert!(
        report.tables[0]
            .backup_arn
            .as_deref()
            .unwrap()
            .ends_with("/backup/new")
    );
}

/// `DescribeTable` of the mocked table `orders`.
fn orders_table() -> aws_smithy_mocks::Rule {
    mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
        DescribeTableOutput::builder()
            .table(
                TableDescription::builder()
                    .table_name("orders")
                    .table_arn("arn:aws:dynamodb:us-east-1:123456789012:table/orders")
                    .build(),
            )
            .build()
    })
}

/// `CreateBackup`'s answer for a backup of `orders` named `name`, created at `epoch_seconds`.
fn created(name: &str, epoch_seconds: i64) -> CreateBackupOutput {
    CreateBackupOutput::builder()
        .backup_details(
            BackupDetails::builder()
                .backup_arn("arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/new")
                .backup_name(name)
                .backup_status(BackupStatus::Creating)
                .backup_type(BackupType::User)
                .backup_creation_date_time(aws_smithy_types::DateTime::from_secs(epoch_seconds))
                .build()
                .unwrap(),
        )
        .build()
}
