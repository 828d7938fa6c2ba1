//! The validator for AWS Backup restore testing. AWS Backup's restore jobs and validation results
//! are played with `aws-smithy-mocks` (the local AWS lacks them); the tables are real.

use std::sync::{Arc, Mutex};

use aws_sdk_backup::operation::describe_restore_job::DescribeRestoreJobOutput;
use aws_sdk_backup::operation::put_restore_validation_result::{
    PutRestoreValidationResultInput, PutRestoreValidationResultOutput,
};
use aws_sdk_backup::types::{RestoreJobCreator, RestoreJobStatus, RestoreValidationStatus};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::LambdaEvent;
use local_aws::{LocalAws, unique_name};
use restore_handler::handler::{Response, State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use shared::restore::service::RestoreService;

/// This stack's restore testing plan (the template passes it to the restore-handler).
const PLAN: &str = "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:weekly-abc";
/// Another stack's plan in the same account, whose restore jobs the notifier forwards too.
const OTHER_PLAN: &str = "arn:aws:backup:us-east-1:123456789012:restore-testing-plan:theirs-xyz";

/// The job id AWS Backup's event carries (`events/backup-notifier/restore-testing-job-completed.json`).
fn job_id_from_event() -> String {
    let path = local_aws::event_file("restore-testing-job-completed.json", &[]);
    let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    event["detail"]["restoreJobId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A restore job that restored `source` into `copy` (`by_plan`: the restore testing plan that made
/// it, if one did).
fn restore_job(job: &str, source: &str, copy: &str, by_plan: Option<&str>) -> Rule {
    let arn = |t: &str| format!("arn:aws:dynamodb:us-east-1:123456789012:table/{t}");
    let (job, source, copy) = (job.to_string(), arn(source), arn(copy));
    let by_plan = by_plan.map(str::to_string);
    mock!(aws_sdk_backup::Client::describe_restore_job)
        .match_requests({
            let job = job.clone();
            move |i| i.restore_job_id() == Some(job.as_str())
        })
        .then_output(move || {
            DescribeRestoreJobOutput::builder()
                .restore_job_id(&job)
                .status(RestoreJobStatus::Completed)
                .resource_type("DynamoDB")
                .source_resource_arn(&source)
                .created_resource_arn(&copy)
                .recovery_point_arn("arn:aws:backup:us-east-1:123456789012:recovery-point:rp-1")
                .creation_date(aws_smithy_types::DateTime::from_secs(1_795_000_000))
                .completion_date(aws_smithy_types::DateTime::from_secs(1_795_000_240))
                .set_created_by(by_plan.as_ref().map(|plan| {
                    RestoreJobCreator::builder()
                        .restore_testing_plan_arn(plan)
                        .build()
                }))
                .build()
        })
}

struct Setup {
    source: String,
    copy: String,
    dynamodb: aws_sdk_dynamodb::Client,
}

/// A source of 5 items and a real restored copy of it.
async fn tables() -> Setup {
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
    let backup = (dynamodb
        .create_backup()
        .table_name(&source)
        .backup_name("rp"))
    .send()
    .await
    .unwrap()
    .backup_details
    .unwrap()
    .backup_arn;
    let copy = format!("{source}-restore-test");
    (dynamodb
        .restore_table_from_backup()
        .backup_arn(backup)
        .target_table_name(&copy))
    .send()
    .await
    .unwrap();
    Setup {
        source,
        copy,
        dynamodb,
    }
}

/// The handler, with AWS Backup played by `rules`, telling `topic` of failures; `PLAN` is its
/// stack's restore testing plan.
async fn state(rules: &[&Rule], topic: &str) -> State {
    let aws = LocalAws::shared();
    let config = aws.sdk_config().await;
    let vars = [
        ("DRILL_TARGET_MINUTES", "60"),
        ("ALERT_TOPIC_ARN", topic),
        ("RESTORE_TESTING_PLAN_ARN", PLAN),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    State {
        service: RestoreService {
            dynamodb: aws.dynamodb().await,
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, rules),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            s3: aws.s3().await,
            sns: aws_sdk_sns::Client::new(&config),
            settings: from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap(),
        },
        workflow: None,
    }
}

/// Records each `PutRestoreValidationResult`.
fn verdicts() -> (Rule, Arc<Mutex<Vec<PutRestoreValidationResultInput>>>) {
    let seen: Arc<Mutex<Vec<PutRestoreValidationResultInput>>> = Arc::default();
    let record = Arc::clone(&seen);
    let rule = mock!(aws_sdk_backup::Client::put_restore_validation_result).then_compute_output(
        move |input| {
            record.lock().unwrap().push(input.clone());
            PutRestoreValidationResultOutput::builder().build()
        },
    );
    (rule, seen)
}

async fn validate(state: &State, job: &str) -> Result<Response, String> {
    validate_within(state, job, local_aws::lambda_context().deadline).await
}

/// `validate` in an invocation with `deadline` (as the context gives it: milliseconds left, or an
/// epoch time).
async fn validate_within(state: &State, job: &str, deadline: u64) -> Result<Response, String> {
    let request = json!({"action": "validate", "restore_job_id": job});
    let mut context = local_aws::lambda_context();
    context.deadline = deadline;
    let event = LambdaEvent::new(request, context);
    function_handler(state, event)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_restore_testing_job_is_checked_and_its_verdict_goes_back_to_aws_backup() {
    let setup = tables().await;
    let job = job_id_from_event();
    let described = restore_job(&job, &setup.source, &setup.copy, Some(PLAN));
    let (put, seen) = verdicts();
    let state = state(&[&described, &put], "").await;

    let Ok(Response::Validated(report)) = validate(&state, &job).await else {
        panic!("validated")
    };
    assert!(report.passed, "{report:#?}");
    assert_eq!(report.scratch_table.as_deref(), Some(setup.copy.as_str()));
    assert_eq!(report.seconds_to_active, Some(240));
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].restore_job_id(), Some(job.as_str()));
    assert_eq!(
        sent[0].validation_status(),
        Some(&RestoreValidationStatus::Successful)
    );
    let message = sent[0].validation_status_message().unwrap();
    assert!(
        message.starts_with("ddb-guard: all 6 checks passed (table status, keys"),
        "{message}"
    );
    // Read only: the copy is AWS Backup's to delete.
    assert!(
        setup
            .dynamodb
            .describe_table()
            .table_name(&setup.copy)
            .send()
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_copy_that_lost_items_fails_with_what_is_wrong() {
    let setup = tables().await;
    for i in 0..3 {
        (setup.dynamodb.delete_item().table_name(&setup.copy))
            .key("order_id", AttributeValue::S(format!("o{i}")))
            .key("item_id", AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
    }
    let described = restore_job("job-lossy", &setup.source, &setup.copy, Some(PLAN));
    let (put, seen) = verdicts();
    let config = LocalAws::shared().sdk_config().await;
    let (topic, inbox) =
        local_aws::topic_with_inbox(&config, &unique_name("alerts"), &unique_name("inbox"))
            .await
            .unwrap();
    let state = state(&[&described, &put], &topic).await;

    let Ok(Response::Validated(report)) = validate(&state, "job-lossy").await else {
        panic!("validated")
    };
    assert!(!report.passed);
    let sent = seen.lock().unwrap().clone();
    assert_eq!(
        sent[0].validation_status(),
        Some(&RestoreValidationStatus::Failed)
    );
    let message = sent[0].validation_status_message().unwrap();
    assert!(
        message.contains("item count: 2 items in the copy, 5 by"),
        "{message}"
    );
    // And it is heard.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let alerts = local_aws::take_notifications(&sqs, &inbox).await.unwrap();
    let subject = alerts[0]["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!("[ddb-guard] Restore test FAILED: {}", setup.source)
    );
}

/// What the handler answered, as JSON.
fn answer(response: &Response) -> Value {
    serde_json::to_value(response).unwrap()
}

#[tokio::test]
async fn a_job_not_made_by_restore_testing_is_left_alone_and_that_is_no_error() {
    let setup = tables().await;
    let described = restore_job("job-manual", &setup.source, &setup.copy, None);
    let (put, seen) = verdicts();
    let state = state(&[&described, &put], "").await;
    // Another team's restore, forwarded because this stack did not start it: not an error that
    // pages and waits 14 days in a failure queue, a logged no-op.
    let response = validate(&state, "job-manual").await.expect("no error");
    let ignored = answer(&response)["ignored"].as_str().map(str::to_string);
    assert!(
        ignored
            .as_deref()
            .is_some_and(|i| i.contains("not created by a restore testing plan")),
        "{:#}",
        answer(&response)
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no verdict for someone else's job"
    );
}

#[tokio::test]
async fn a_job_of_another_restore_testing_plan_is_not_this_stacks_to_judge() {
    let setup = tables().await;
    let described = restore_job("job-theirs", &setup.source, &setup.copy, Some(OTHER_PLAN));
    let (put, seen) = verdicts();
    let state = state(&[&described, &put], "").await;
    let response = validate(&state, "job-theirs").await.expect("no error");
    let ignored = answer(&response)["ignored"].as_str().map(str::to_string);
    assert!(
        ignored
            .as_deref()
            .is_some_and(|i| i.contains(OTHER_PLAN) && i.contains(PLAN)),
        "{:#}",
        answer(&response)
    );
    assert!(
        seen.lock().unwrap().is_empty(),
        "no verdict for another plan's job"
    );
}

/// A source of `items` items of about 350 KB each (more than one 1 MB page of a count's scan per
/// segment), and a real restored copy of it.
async fn large_tables(items: usize) -> Setup {
    let aws = LocalAws::shared();
    let dynamodb = aws.dynamodb().await;
    let source = unique_name("large");
    local_aws::create_seed_table(&dynamodb, &source)
        .await
        .unwrap();
    let filler = "x".repeat(350_000);
    for i in 0..items {
        (dynamodb.put_item().table_name(&source))
            .item("order_id", AttributeValue::S(format!("o{i}")))
            .item("item_id", AttributeValue::S("1".into()))
            .item("filler", AttributeValue::S(filler.clone()))
            .send()
            .await
            .unwrap();
    }
    let backup = (dynamodb.create_backup().table_name(&source))
        .backup_name("rp")
        .send()
        .await
        .unwrap()
        .backup_details
        .unwrap()
        .backup_arn;
    let copy = format!("{source}-restore-test");
    (dynamodb.restore_table_from_backup())
        .backup_arn(backup)
        .target_table_name(&copy)
        .send()
        .await
        .unwrap();
    Setup {
        source,
        copy,
        dynamodb,
    }
}

#[tokio::test]
async fn a_count_that_cannot_finish_in_time_is_never_reported_successful() {
    let setup = large_tables(24).await;
    let described = restore_job("job-large", &setup.source, &setup.copy, Some(PLAN));
    let (put, seen) = verdicts();
    let config = LocalAws::shared().sdk_config().await;
    let (topic, inbox) =
        local_aws::topic_with_inbox(&config, &unique_name("alerts"), &unique_name("inbox"))
            .await
            .unwrap();
    let state = state(&[&described, &put], &topic).await;
    // A millisecond left: the count stops after its first page.
    let response = validate_within(&state, "job-large", 1).await;
    let Ok(Response::Validated(report)) = response else {
        panic!("validated: {response:?}")
    };
    assert!(!report.passed, "{report:#?}");
    let sent = seen.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert_ne!(
        sent[0].validation_status(),
        Some(&RestoreValidationStatus::Successful),
        "an item count not compared is not a success"
    );
    assert_eq!(
        sent[0].validation_status(),
        Some(&RestoreValidationStatus::TimedOut)
    );
    let message = sent[0].validation_status_message().unwrap();
    assert!(message.contains("item count: not compared"), "{message}");
    // Heard, as what it is: not a copy found wrong, a copy not proven right.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let alerts = local_aws::take_notifications(&sqs, &inbox).await.unwrap();
    let subject = alerts[0]["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!("[ddb-guard] Restore test NOT VERIFIED: {}", setup.source)
    );
}
