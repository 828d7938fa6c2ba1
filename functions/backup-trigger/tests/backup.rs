//! The backup-trigger's handler against the local AWS (native backups, tags, retention).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::Tag;
use backup_trigger::handler::{HandlerError, Response, State, function_handler};
use lambda_runtime::LambdaEvent;
use local_aws::{LocalAws, RecordingStateMachine, unique_name};
use serde_json::{Value, json};
use shared::backup::config::BackupEnv;
use shared::backup::service::{BackupFailures, BackupReport};
use shared::env::from_vars;
use shared::workflow::Workflow;

const OWNER: &str = "test-stack";

/// The name the trigger gives `table`'s backup of 25 November 2026, 05:00 UTC (or `day`).
fn name_on(table: &str, day: &str) -> String {
    format!("{table}.ddb-guard-{OWNER}.{day}T050000Z")
}

struct Fixture {
    dynamodb: aws_sdk_dynamodb::Client,
    state: State,
}

impl Fixture {
    /// The trigger with the environment `env`, owned by `OWNER` unless `env` names another.
    async fn new(env: &[(&str, &str)]) -> Fixture {
        let aws = LocalAws::shared();
        let owned = env.iter().any(|(k, _)| *k == "BACKUP_OWNER");
        let vars = [("BACKUP_OWNER", OWNER)]
            .iter()
            .filter(|_| !owned)
            .chain(env)
            .map(|(k, v)| (k.to_string(), v.to_string()));
        let settings = from_vars::<BackupEnv>(vars).unwrap().validate().unwrap();
        Fixture {
            dynamodb: aws.dynamodb().await,
            state: State::new(&aws.sdk_config().await, settings, None),
        }
    }

    /// The run's report (a step's too).
    async fn invoke(&self, payload: Value) -> Result<BackupReport, HandlerError> {
        let context = local_aws::lambda_context();
        match function_handler(&self.state, LambdaEvent::new(payload, context)).await? {
            Response::Report(report) => Ok(report),
            Response::Step(step) => Ok(step.result),
        }
    }

    /// Names of the table's backups, as DynamoDB lists them.
    async fn backups(&self, table: &str) -> BTreeSet<String> {
        self.state
            .service
            .list_backups(table)
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.name)
            .collect()
    }
}

async fn new_table(label: &str) -> String {
    let name = unique_name(label);
    let dynamodb = LocalAws::shared().dynamodb().await;
    local_aws::create_seed_table(&dynamodb, &name)
        .await
        .unwrap();
    name
}

fn event(name: &str) -> Value {
    let path = local_aws::event_file(name, &["backup-trigger"]);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The sample schedule event, fired at `time`.
fn scheduled_at(time: &str) -> Value {
    let mut e = event("backup-schedule.json");
    e["time"] = json!(time);
    e
}

fn names(report: &BackupReport) -> Vec<&str> {
    report.tables.iter().map(|t| t.table.as_str()).collect()
}

#[tokio::test]
async fn a_schedule_backs_up_the_configured_tables_once() {
    let (a, b) = (new_table("orders").await, new_table("customers").await);
    let f = Fixture::new(&[("TABLE_NAMES", &format!("{a},{b}"))]).await;

    let report = f.invoke(event("backup-schedule.json")).await.unwrap();
    assert_eq!(names(&report), [a.as_str(), b.as_str()]);
    for (table, outcome) in [&a, &b].into_iter().zip(&report.tables) {
        let name = name_on(table, "20261125");
        assert_eq!(outcome.backup_name.as_deref(), Some(name.as_str()));
        assert!(
            outcome
                .backup_arn
                .as_deref()
                .unwrap()
                .contains(table.as_str())
        );
        assert!(!outcome.already_existed);
        assert_eq!(f.backups(table).await, BTreeSet::from([name]));
    }

    // Lambda retries an invocation with the same event: no second backup.
    let again = f.invoke(event("backup-schedule.json")).await.unwrap();
    assert!(again.tables.iter().all(|t| t.already_existed));
    assert_eq!(again.tables[0].backup_arn, report.tables[0].backup_arn);
    assert_eq!(f.backups(&a).await.len(), 1);
}

#[tokio::test]
async fn a_custom_input_names_its_own_tables() {
    let (configured, asked) = (new_table("configured").await, new_table("asked").await);
    let f = Fixture::new(&[("TABLE_NAMES", configured.as_str())]).await;
    let mut input = event("backup-custom-input.json");
    input["tables"] = json!([asked]);
    let report = f.invoke(input).await.unwrap();
    assert_eq!(names(&report), [asked.as_str()]);
    assert_eq!(f.backups(&asked).await.len(), 1);
    assert!(f.backups(&configured).await.is_empty());
}

#[tokio::test]
async fn a_console_test_backs_up_now() {
    let table = new_table("console").await;
    let f = Fixture::new(&[("TABLE_NAMES", table.as_str())]).await;
    let report = f.invoke(event("console-test.json")).await.unwrap();
    assert_eq!(names(&report), [table.as_str()]);
    let taken = f.backups(&table).await;
    assert_eq!(taken.len(), 1);
    assert!(
        taken
            .first()
            .unwrap()
            .starts_with(&format!("{table}.ddb-guard-{OWNER}.20"))
    );
}

#[tokio::test]
async fn tables_are_selected_by_tag() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let tag = unique_name("daily");
    let (daily1, daily2, weekly) = (
        new_table("daily").await,
        new_table("daily").await,
        new_table("weekly").await,
    );
    for (table, value) in [
        (&daily1, tag.as_str()),
        (&daily2, tag.as_str()),
        (&weekly, "weekly"),
    ] {
        let arn = local_aws::table_arn(&dynamodb, table).await.unwrap();
        let tag = Tag::builder().key("backup").value(value).build().unwrap();
        dynamodb
            .tag_resource()
            .resource_arn(arn)
            .tags(tag)
            .send()
            .await
            .unwrap();
    }
    let f = Fixture::new(&[("BACKUP_TAG", &format!("backup={tag}"))]).await;
    let report = f.invoke(json!({})).await.unwrap();
    let mut expected = [daily1.as_str(), daily2.as_str()];
    expected.sort();
    assert_eq!(names(&report), expected);
    assert!(f.backups(&weekly).await.is_empty());
}

#[tokio::test]
async fn a_missing_table_is_reported_and_the_others_backed_up() {
    let good = new_table("good").await;
    let missing = unique_name("missing");
    let f = Fixture::new(&[("TABLE_NAMES", &format!("{missing},{good}"))]).await;
    let Err(HandlerError::Failed(BackupFailures(report))) = f.invoke(json!({})).await else {
        panic!("a missing table must fail the invocation")
    };
    assert_eq!(
        report.tables[0].error.as_deref(),
        Some(format!("table {missing} does not exist").as_str())
    );
    assert!(report.tables[1].error.is_none());
    assert_eq!(f.backups(&good).await.len(), 1);
    let diagnostic = lambda_runtime::Diagnostic::from(HandlerError::Failed(BackupFailures(report)));
    assert_eq!(diagnostic.error_type, "BackupsFailed");
    assert!(
        diagnostic
            .error_message
            .starts_with("1 of 2 tables not backed up: "),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn retention_keeps_the_newest_of_its_own_and_nothing_else_is_touched() {
    let table = new_table("retained").await;
    let f = Fixture::new(&[
        ("TABLE_NAMES", table.as_str()),
        ("RETENTION_DAYS", "0"),
        ("KEEP_LAST", "2"),
    ])
    .await;
    f.dynamodb
        .create_backup()
        .table_name(&table)
        .backup_name("before-migration")
        .send()
        .await
        .unwrap();

    for (run, time) in ["2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"]
        .into_iter()
        .enumerate()
    {
        let report = f
            .invoke(scheduled_at(&format!("{time}T05:00:00Z")))
            .await
            .unwrap();
        assert_eq!(
            report.tables[0].deleted.len(),
            usize::from(run >= 2),
            "run {run}"
        );
        assert!(f.backups(&table).await.contains("before-migration"));
    }
    let left = f.backups(&table).await;
    assert_eq!(
        left,
        BTreeSet::from([
            "before-migration".to_string(),
            name_on(&table, "20261123"),
            name_on(&table, "20261124"),
        ])
    );
}

#[tokio::test]
async fn a_dry_run_deletes_nothing_and_says_what_it_would() {
    let table = new_table("dry").await;
    let f = Fixture::new(&[
        ("TABLE_NAMES", table.as_str()),
        ("RETENTION_DAYS", "0"),
        ("KEEP_LAST", "1"),
        ("DRY_RUN", "true"),
    ])
    .await;
    f.invoke(scheduled_at("2026-11-21T05:00:00Z"))
        .await
        .unwrap();
    f.invoke(scheduled_at("2026-11-22T05:00:00Z"))
        .await
        .unwrap();
    let report = f
        .invoke(scheduled_at("2026-11-23T05:00:00Z"))
        .await
        .unwrap();
    assert!(report.dry_run);
    let outcome = &report.tables[0];
    assert!(outcome.deleted.is_empty());
    assert_eq!(outcome.would_delete.len(), 2);
    assert_eq!(f.backups(&table).await.len(), 3);
}

#[tokio::test]
async fn bad_requests_are_refused() {
    let f = Fixture::new(&[]).await;
    for (payload, expect) in [
        (json!({}), "no tables to back up"),
        (
            json!({"tables": ["orders"], "engine": "aws-backup"}),
            "BACKUP_VAULT_NAME",
        ),
        (json!({"tables": "orders"}), "invalid type"),
    ] {
        let err = f.invoke(payload.clone()).await.unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "InvalidRequest");
        assert!(
            diagnostic.error_message.contains(expect),
            "{payload}: {}",
            diagnostic.error_message
        );
    }
}

#[tokio::test]
async fn keep_last_one_never_leaves_the_table_without_a_backup() {
    let table = new_table("last").await;
    let f = Fixture::new(&[
        ("TABLE_NAMES", table.as_str()),
        ("RETENTION_DAYS", "0"),
        ("KEEP_LAST", "1"),
    ])
    .await;
    for day in ["21", "22", "23"] {
        let report = f
            .invoke(scheduled_at(&format!("2026-11-{day}T05:00:00Z")))
            .await
            .unwrap();
        let outcome = &report.tables[0];
        assert!(
            !outcome
                .deleted
                .contains(outcome.backup_arn.as_ref().unwrap()),
            "the backup just taken is never deleted"
        );
        assert_eq!(
            f.backups(&table).await,
            BTreeSet::from([name_on(&table, &format!("202611{day}"))])
        );
    }
}

#[tokio::test]
async fn two_stacks_backing_up_one_table_never_prune_each_other() {
    let table = new_table("shared").await;
    let stack = |owner: &'static str| {
        let table = table.clone();
        async move {
            Fixture::new(&[
                ("TABLE_NAMES", table.as_str()),
                ("BACKUP_OWNER", owner),
                ("RETENTION_DAYS", "0"),
                ("KEEP_LAST", "1"),
            ])
            .await
        }
    };
    let (blue, green) = (stack("blue").await, stack("green").await);
    for day in ["21", "22", "23"] {
        let at = scheduled_at(&format!("2026-11-{day}T05:00:00Z"));
        blue.invoke(at.clone()).await.unwrap();
        green.invoke(at).await.unwrap();
    }
    let name = |owner: &str, day: &str| format!("{table}.ddb-guard-{owner}.202611{day}T050000Z");
    assert_eq!(
        blue.backups(&table).await,
        BTreeSet::from([name("blue", "23"), name("green", "23")]),
        "each stack kept its own newest and left the other's alone"
    );
}

#[tokio::test]
async fn a_request_cannot_switch_a_configured_dry_run_off() {
    let table = new_table("dry-off").await;
    let f = Fixture::new(&[
        ("TABLE_NAMES", table.as_str()),
        ("RETENTION_DAYS", "0"),
        ("KEEP_LAST", "1"),
        ("DRY_RUN", "true"),
    ])
    .await;
    f.invoke(scheduled_at("2026-11-21T05:00:00Z"))
        .await
        .unwrap();
    let report = f
        .invoke(json!({"tables": [table], "dry_run": false}))
        .await
        .unwrap();
    assert!(report.dry_run);
    assert_eq!(report.tables[0].would_delete.len(), 1);
    assert_eq!(f.backups(&table).await.len(), 2);
}

#[tokio::test]
async fn tables_with_no_time_left_go_on_as_a_step_of_the_backup_state_machine() {
    let tables = [
        new_table("first").await,
        new_table("second").await,
        new_table("third").await,
    ];
    let recorder = RecordingStateMachine::start(LocalAws::shared()).await;
    let mut f = Fixture::new(&[("TABLE_NAMES", &tables.join(","))]).await;
    f.state.workflow = Some(Workflow {
        sfn: recorder.sfn.clone(),
        state_machine: recorder.arn.clone(),
    });
    // One millisecond left: the first table is still backed up, the rest handed on.
    let mut context = local_aws::lambda_context();
    context.deadline = 1;
    let response = function_handler(
        &f.state,
        LambdaEvent::new(scheduled_at("2026-11-25T05:00:00Z"), context),
    );
    let Response::Report(report) = response.await.unwrap() else {
        panic!("a run's report")
    };
    assert_eq!(names(&report), [tables[0].as_str()]);
    assert_eq!(report.handed_over, [tables[1].clone(), tables[2].clone()]);
    let inputs = recorder.inputs().await;
    let [handed] = &inputs[..] else {
        panic!("{inputs:?}")
    };
    assert_eq!(handed["step"]["tables"], json!([tables[1], tables[2]]));

    // The execution's step backs them up under the first invocation's time, and is the last.
    let context = local_aws::lambda_context();
    let Response::Step(step) =
        function_handler(&f.state, LambdaEvent::new(handed.clone(), context))
            .await
            .unwrap()
    else {
        panic!("a step's answer")
    };
    assert_eq!(step.next, None);
    assert_eq!(
        names(&step.result),
        [tables[1].as_str(), tables[2].as_str()]
    );
    for table in &tables {
        assert_eq!(
            f.backups(table).await,
            BTreeSet::from([name_on(table, "20261125")])
        );
    }
}

#[tokio::test]
async fn a_table_that_failed_in_an_earlier_step_fails_the_run_at_its_last_step() {
    let table = new_table("later").await;
    let f = Fixture::new(&[]).await;
    let last_step = json!({"step": {
        "tables": [table],
        "scheduled_at": "2026-11-25T05:00:00Z",
        "handed_over_by": "r1",
        "failed_before": {"gone": "ResourceNotFoundException: table gone"},
    }});
    let err = f.invoke(last_step).await.unwrap_err().to_string();
    assert!(err.contains("gone") && err.contains("table gone"), "{err}");
    assert_eq!(
        f.backups(&table).await.len(),
        1,
        "the reached table is backed up"
    );
}
