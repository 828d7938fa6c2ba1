//! What real DynamoDB answers and the local AWS does not, played with `aws-smithy-mocks`: a
//! restore refused while 50 table operations run, enabling point-in-time recovery on a table just
//! restored (`ContinuousBackupsUnavailableException`), TTL that is already on (a second finish), and
//! the settings the local AWS lacks (Contributor Insights, Kinesis destinations, table class,
//! on-demand maximum throughput) brought back.

use std::sync::{Arc, Mutex};

use aws_sdk_applicationautoscaling::operation::describe_scalable_targets::DescribeScalableTargetsOutput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemOutput;
use aws_sdk_dynamodb::operation::describe_backup::DescribeBackupOutput;
use aws_sdk_dynamodb::operation::describe_continuous_backups::DescribeContinuousBackupsOutput;
use aws_sdk_dynamodb::operation::describe_contributor_insights::DescribeContributorInsightsOutput;
use aws_sdk_dynamodb::operation::describe_kinesis_streaming_destination::DescribeKinesisStreamingDestinationOutput;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableOutput;
use aws_sdk_dynamodb::operation::describe_time_to_live::{
    DescribeTimeToLiveInput, DescribeTimeToLiveOutput,
};
use aws_sdk_dynamodb::operation::enable_kinesis_streaming_destination::EnableKinesisStreamingDestinationOutput;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::list_tags_of_resource::ListTagsOfResourceOutput;
use aws_sdk_dynamodb::operation::put_item::PutItemOutput;
use aws_sdk_dynamodb::operation::restore_table_from_backup::RestoreTableFromBackupOutput;
use aws_sdk_dynamodb::operation::scan::ScanOutput;
use aws_sdk_dynamodb::operation::tag_resource::TagResourceOutput;
use aws_sdk_dynamodb::operation::update_continuous_backups::UpdateContinuousBackupsOutput;
use aws_sdk_dynamodb::operation::update_contributor_insights::UpdateContributorInsightsOutput;
use aws_sdk_dynamodb::operation::update_table::UpdateTableOutput;
use aws_sdk_dynamodb::types::builders::TableDescriptionBuilder;
use aws_sdk_dynamodb::types::{
    AttributeValue, BackupDescription, BackupDetails, BackupStatus, BackupType, BillingMode,
    BillingModeSummary, ContinuousBackupsDescription, ContinuousBackupsStatus,
    ContributorInsightsAction, ContributorInsightsStatus, DestinationStatus,
    GlobalSecondaryIndexDescription, KinesisDataStreamDestination, OnDemandThroughput,
    PointInTimeRecoveryDescription, PointInTimeRecoveryStatus, RestoreSummary, SourceTableDetails,
    TableClass, TableClassSummary, TableDescription, TableStatus, TimeToLiveDescription,
    TimeToLiveStatus,
};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::LambdaEvent;
use local_aws::{LocalAws, RecordingStateMachine};
use restore_handler::handler::{Response, State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use shared::restore::service::{RestoreReport, RestoreService};
use shared::workflow::Workflow;

const SOURCE: &str = "orders";
const TARGET: &str = "orders-restored-20261125T050000Z";
const BACKUP: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/0001";

fn arn(table: &str) -> String {
    format!("arn:aws:dynamodb:us-east-1:123456789012:table/{table}")
}

fn dynamo_error(code: &str) -> aws_smithy_runtime_api::client::orchestrator::HttpResponse {
    aws_smithy_runtime_api::client::orchestrator::HttpResponse::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(400).unwrap(),
        aws_smithy_types::body::SdkBody::from(format!(
            r#"{{"__type": "com.amazonaws.dynamodb.v20120810#{code}", "message": "{code}"}}"#
        )),
    )
}

/// The restore state machine: one in the local AWS that keeps what its executions start with, or
/// none (the test hands nothing on).
fn workflow(recording: Option<&RecordingStateMachine>) -> Option<Workflow> {
    recording.map(|r| Workflow {
        sfn: r.sfn.clone(),
        state_machine: r.arn.clone(),
    })
}

/// The rules for a finish's reads and its lease, answering "nothing set" after `rules`.
fn state(rules: &[&Rule], workflow: Option<Workflow>) -> State {
    // The stack lets copies write to the source's stream (the template's KinesisStreamArns).
    let vars = [
        ("STATE_TABLE", "ddb-guard-state"),
        ("POLL_SECONDS", "0.01"),
        ("KINESIS_STREAM_ARNS", STREAM),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let quiet = quiet_reads();
    let all: Vec<&Rule> = rules.iter().copied().chain(quiet.iter()).collect();
    let unused = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let no_scaling = mock!(aws_sdk_applicationautoscaling::Client::describe_scalable_targets)
        .then_output(|| DescribeScalableTargetsOutput::builder().build());
    State {
        service: RestoreService {
            dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, all),
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, Vec::<&Rule>::new()),
            autoscaling: mock_client!(
                aws_sdk_applicationautoscaling,
                RuleMode::MatchAny,
                [&no_scaling]
            ),
            // No test here drills: the report and alert clients are never called.
            s3: aws_sdk_s3::Client::new(&unused),
            sns: aws_sdk_sns::Client::new(&unused),
            settings: from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap(),
        },
        workflow,
    }
}

/// Settings no test here sets, and the finish lease, as real DynamoDB answers them.
fn quiet_reads() -> Vec<Rule> {
    vec![
        mock!(aws_sdk_dynamodb::Client::describe_contributor_insights).then_compute_output(|i| {
            DescribeContributorInsightsOutput::builder()
                .set_table_name(i.table_name().map(str::to_string))
                .contributor_insights_status(ContributorInsightsStatus::Disabled)
                .build()
        }),
        mock!(aws_sdk_dynamodb::Client::describe_kinesis_streaming_destination)
            .then_output(|| DescribeKinesisStreamingDestinationOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::get_resource_policy)
            .then_http_response(|| dynamo_error("PolicyNotFoundException")),
        mock!(aws_sdk_dynamodb::Client::describe_time_to_live)
            .then_output(|| DescribeTimeToLiveOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::describe_continuous_backups)
            .then_output(|| DescribeContinuousBackupsOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::list_tags_of_resource)
            .then_output(|| ListTagsOfResourceOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::tag_resource)
            .then_output(|| TagResourceOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::put_item).then_output(|| PutItemOutput::builder().build()),
        mock!(aws_sdk_dynamodb::Client::delete_item)
            .then_output(|| DeleteItemOutput::builder().build()),
    ]
}

async fn invoke(state: &State, payload: Value) -> RestoreReport {
    let context = local_aws::lambda_context();
    function_handler(state, LambdaEvent::new(payload, context))
        .await
        .unwrap()
        .restore_report()
        .unwrap()
}

fn table(name: &str, restored: bool) -> TableDescription {
    table_in(name, restored, TableStatus::Active)
}

fn table_in(name: &str, restored: bool, status: TableStatus) -> TableDescription {
    table_builder(name, restored, status).build()
}

fn table_builder(name: &str, restored: bool, status: TableStatus) -> TableDescriptionBuilder {
    TableDescription::builder()
        .table_name(name)
        .table_arn(arn(name))
        // DynamoDB gives every table an id of its own: a finish checks it is the one restored.
        .table_id(format!("id-of-{name}"))
        .table_status(status)
        .set_restore_summary(restored.then(|| {
            RestoreSummary::builder()
                .source_backup_arn(BACKUP)
                .restore_date_time(aws_smithy_types::DateTime::from_secs(0))
                .restore_in_progress(false)
                .build()
                .unwrap()
        }))
}

/// The handler's record of the restore into `TARGET` it started.
fn restore_record() -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        let item = [
            ("pk", AttributeValue::S(format!("restore#{TARGET}"))),
            ("sk", AttributeValue::S("started".into())),
            (
                "body",
                AttributeValue::S(
                    json!({"source": SOURCE, "from": format!("backup {BACKUP}")}).to_string(),
                ),
            ),
            ("version", AttributeValue::N("1".into())),
            ("expires_at", AttributeValue::N("4102444800".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        GetItemOutput::builder().set_item(Some(item)).build()
    })
}

/// `BACKUP`, available, a backup of `SOURCE` that DynamoDB says held `items` items.
fn described_backup(items: i64) -> Rule {
    mock!(aws_sdk_dynamodb::Client::describe_backup).then_output(move || {
        let details = BackupDetails::builder()
            .backup_arn(BACKUP)
            .backup_name("nightly")
            .backup_status(BackupStatus::Available)
            .backup_type(BackupType::User)
            .backup_creation_date_time(aws_smithy_types::DateTime::from_secs(0))
            .build()
            .unwrap();
        let source = SourceTableDetails::builder()
            .table_name(SOURCE)
            .table_id("1")
            .set_key_schema(Some(vec![]))
            .table_creation_date_time(aws_smithy_types::DateTime::from_secs(0))
            .item_count(items)
            .provisioned_throughput(
                aws_sdk_dynamodb::types::ProvisionedThroughput::builder()
                    .read_capacity_units(0)
                    .write_capacity_units(0)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        DescribeBackupOutput::builder()
            .backup_description(
                BackupDescription::builder()
                    .backup_details(details)
                    .source_table_details(source)
                    .build(),
            )
            .build()
    })
}

#[tokio::test]
async fn a_restore_refused_while_dynamodb_is_busy_is_tried_again() {
    let calls = Arc::new(Mutex::new(0));
    let counted = Arc::clone(&calls);
    // The target does not exist yet; once restored it is being created.
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table)
        .sequence()
        .http_response(|| dynamo_error("ResourceNotFoundException"))
        .output(|| {
            DescribeTableOutput::builder()
                .table(table_in(TARGET, true, TableStatus::Creating))
                .build()
        })
        .repeatedly()
        .build();
    let backup = described_backup(0);
    let restore = mock!(aws_sdk_dynamodb::Client::restore_table_from_backup)
        .sequence()
        .http_response(|| dynamo_error("LimitExceededException"))
        .http_response(|| dynamo_error("LimitExceededException"))
        .output(move || {
            *counted.lock().unwrap() += 1;
            RestoreTableFromBackupOutput::builder().build()
        })
        .build();
    let no_record =
        mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| GetItemOutput::builder().build());
    let recorder = RecordingStateMachine::start(LocalAws::shared()).await;
    let state = state(
        &[&describe, &backup, &restore, &no_record],
        workflow(Some(&recorder)),
    );
    let report = invoke(
        &state,
        json!({"source_table": SOURCE, "backup_arn": BACKUP, "target_table": TARGET}),
    )
    .await;
    assert_eq!(report.table_status, "CREATING");
    assert_eq!(
        *calls.lock().unwrap(),
        1,
        "restored once, after two refusals"
    );
    assert_eq!(restore.num_calls(), 3);
    // Still being created: the restore state machine waits for it and finishes it.
    let handed = recorder.inputs().await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    let step = &handed[0]["step"];
    assert_eq!(step["action"], "finish");
    assert_eq!(step["target_table"], TARGET);
    assert_eq!(step["wait"], true);
    let said = report.next_step.unwrap();
    assert!(said.contains("execution finish-"), "{said}");
}

#[tokio::test]
async fn a_second_finish_settles_where_dynamodb_would_refuse() {
    let record = restore_record();
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_compute_output(|input| {
        let name = input.table_name().unwrap();
        DescribeTableOutput::builder()
            .table(table(name, name == TARGET))
            .build()
    });
    // TTL is on in both tables already: a second finish must not enable it again.
    let ttl = mock!(aws_sdk_dynamodb::Client::describe_time_to_live).then_compute_output(
        |_: &DescribeTimeToLiveInput| {
            DescribeTimeToLiveOutput::builder()
                .time_to_live_description(
                    TimeToLiveDescription::builder()
                        .time_to_live_status(TimeToLiveStatus::Enabled)
                        .attribute_name("expires_at")
                        .build(),
                )
                .build()
        },
    );
    let enable_ttl = mock!(aws_sdk_dynamodb::Client::update_time_to_live)
        .then_http_response(|| dynamo_error("ValidationException"));
    // On in the source; the copy's stays off until the update below succeeds.
    let pitr_on = Arc::new(Mutex::new(false));
    let pitr_seen = Arc::clone(&pitr_on);
    let pitr = mock!(aws_sdk_dynamodb::Client::describe_continuous_backups).then_compute_output(
        move |input| {
            let on = input.table_name() == Some(SOURCE) || *pitr_seen.lock().unwrap();
            let status = match on {
                true => PointInTimeRecoveryStatus::Enabled,
                false => PointInTimeRecoveryStatus::Disabled,
            };
            DescribeContinuousBackupsOutput::builder()
                .continuous_backups_description(
                    ContinuousBackupsDescription::builder()
                        .continuous_backups_status(ContinuousBackupsStatus::Enabled)
                        .point_in_time_recovery_description(
                            PointInTimeRecoveryDescription::builder()
                                .point_in_time_recovery_status(status)
                                .build(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
        },
    );
    // A table just restored: continuous backups are not available at first.
    let pitr_set = Arc::clone(&pitr_on);
    let enable_pitr = mock!(aws_sdk_dynamodb::Client::update_continuous_backups)
        .sequence()
        .http_response(|| dynamo_error("ContinuousBackupsUnavailableException"))
        .output(move || {
            *pitr_set.lock().unwrap() = true;
            UpdateContinuousBackupsOutput::builder().build()
        })
        .repeatedly()
        .build();
    let state = state(
        &[&record, &describe, &ttl, &enable_ttl, &pitr, &enable_pitr],
        None,
    );
    let finish = json!({"action": "finish", "target_table": TARGET, "ttl": true});
    let report = invoke(&state, finish.clone()).await;
    assert_eq!(
        report.settings_reapplied,
        ["point-in-time recovery (35 days)"]
    );
    assert!(report.settings_not_reapplied.is_empty());
    assert!(report.settings_differences.is_empty(), "{report:#?}");
    assert_eq!(enable_ttl.num_calls(), 0, "TTL already on is left alone");
    assert_eq!(
        enable_pitr.num_calls(),
        2,
        "tried again once continuous backups were available"
    );
    // And again: nothing left to do, nothing refused.
    let again = invoke(&state, finish).await;
    assert!(again.settings_reapplied.is_empty());
    assert!(again.settings_not_reapplied.is_empty());
    assert_eq!(enable_pitr.num_calls(), 2);
}

#[tokio::test]
async fn a_restore_still_running_is_handed_to_the_state_machine_which_looks_once_a_step() {
    let record = restore_record();
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_output(|| {
        DescribeTableOutput::builder()
            .table(table_in(TARGET, true, TableStatus::Creating))
            .build()
    });
    let recorder = RecordingStateMachine::start(LocalAws::shared()).await;
    let state = state(&[&record, &describe], workflow(Some(&recorder)));
    // An invocation near its end (1 ms left): it hands the wait on, once, however often Lambda
    // retries it (the execution is named after the request).
    let mut context = local_aws::lambda_context();
    context.deadline = 1;
    let finish = json!({"action": "finish", "target_table": TARGET, "wait": true});
    for _ in 0..2 {
        let response = function_handler(&state, LambdaEvent::new(finish.clone(), context.clone()));
        let report = response.await.unwrap().restore_report().unwrap();
        assert_eq!(report.table_status, "CREATING");
    }
    let handed = recorder.inputs().await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0]["step"]["wait"], true);
    // A step looks once, without waiting in the function: still CREATING, its next step is the
    // same finish, which the state machine sends after its Wait.
    let started = std::time::Instant::now();
    let step = json!({ "step": handed[0]["step"].clone() });
    let Response::Step(answer) = function_handler(&state, LambdaEvent::new(step, context))
        .await
        .unwrap()
    else {
        panic!("a step's answer")
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert_eq!(answer.result.table_status, "CREATING");
    assert_eq!(answer.next.unwrap()["target_table"], TARGET);
    assert_eq!(
        recorder.inputs().await.len(),
        1,
        "a step starts no execution"
    );
}

const STREAM: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/orders-changes";
const INDEX: &str = "by-customer";

/// The copy's settings as the mocked DynamoDB changes them.
#[derive(Default)]
struct Copy {
    infrequent_access: bool,
    maximum: Option<(i64, i64)>,
    index_maximum: Option<(i64, i64)>,
    insights: Vec<Option<String>>,
    streams: Vec<String>,
}

fn on_demand(maximum: Option<(i64, i64)>) -> Option<OnDemandThroughput> {
    maximum.map(|(read, write)| {
        OnDemandThroughput::builder()
            .max_read_request_units(read)
            .max_write_request_units(write)
            .build()
    })
}

/// A table in the source's shape: the source has every setting the local AWS lacks on.
fn described(name: &str, copy: &Copy) -> TableDescription {
    let source = name == SOURCE;
    let class = match source || copy.infrequent_access {
        true => TableClass::StandardInfrequentAccess,
        false => TableClass::Standard,
    };
    let (maximum, index_maximum) = match source {
        true => (Some((100, 50)), Some((40, 20))),
        false => (copy.maximum, copy.index_maximum),
    };
    let index = GlobalSecondaryIndexDescription::builder()
        .index_name(INDEX)
        .set_on_demand_throughput(on_demand(index_maximum))
        .build();
    table_builder(name, !source, TableStatus::Active)
        .billing_mode_summary(
            BillingModeSummary::builder()
                .billing_mode(BillingMode::PayPerRequest)
                .build(),
        )
        .table_class_summary(TableClassSummary::builder().table_class(class).build())
        .set_on_demand_throughput(on_demand(maximum))
        .global_secondary_indexes(index)
        .build()
}

#[tokio::test]
async fn settings_the_local_aws_lacks_come_back_and_a_second_finish_changes_nothing() {
    let copy = Arc::new(Mutex::new(Copy::default()));
    let record = restore_record();
    let describe = describe_tables(&copy);
    let update = update_the_copy(&copy);
    let insights = describe_insights(&copy);
    let enable_insights = enable_insights_on_the_copy(&copy);
    let streams = describe_streams(&copy);
    let enable_stream = enable_a_stream_on_the_copy(&copy);
    let state = state(
        &[
            &record,
            &describe,
            &update,
            &insights,
            &enable_insights,
            &streams,
            &enable_stream,
        ],
        None,
    );

    // By default the copy is not connected to the source's Kinesis stream: said, not done.
    let finish = json!({"action": "finish", "target_table": TARGET});
    let report = invoke(&state, finish.clone()).await;
    assert_eq!(
        report.settings_reapplied,
        [
            "table class STANDARD_INFREQUENT_ACCESS",
            "on-demand maximum throughput",
            "contributor insights (index by-customer, table)",
        ]
    );
    assert!(report.settings_not_reapplied.is_empty(), "{report:#?}");
    let left: Vec<&str> = report
        .settings_left_off
        .iter()
        .map(|l| l.setting.as_str())
        .collect();
    assert_eq!(left, [format!("kinesis destination {STREAM}")]);
    let differing: Vec<&str> = report
        .settings_differences
        .iter()
        .map(|d| d.setting.as_str())
        .collect();
    assert_eq!(differing, left);
    assert_eq!(enable_stream.num_calls(), 0);
    {
        let copy = copy.lock().unwrap();
        assert!(copy.infrequent_access);
        assert_eq!(
            (copy.maximum, copy.index_maximum),
            (Some((100, 50)), Some((40, 20)))
        );
    }

    // Asked for: the stream too; then the copy has everything the source has.
    let with_stream =
        json!({"action": "finish", "target_table": TARGET, "kinesis_destinations": true});
    let report = invoke(&state, with_stream.clone()).await;
    assert_eq!(
        report.settings_reapplied,
        [format!("kinesis destinations {STREAM}")]
    );
    assert!(report.settings_differences.is_empty(), "{report:#?}");

    // Again: nothing to change, nothing refused.
    let (updates, insight_calls) = (update.num_calls(), enable_insights.num_calls());
    let again = invoke(&state, with_stream).await;
    assert!(again.settings_reapplied.is_empty() && again.settings_not_reapplied.is_empty());
    assert_eq!(
        (update.num_calls(), enable_insights.num_calls()),
        (updates, insight_calls)
    );
    assert_eq!(enable_stream.num_calls(), 1);
}

/// `DescribeTable`: the source with every setting, the copy as `copy` has it now.
fn describe_tables(copy: &Arc<Mutex<Copy>>) -> Rule {
    let seen = Arc::clone(copy);
    mock!(aws_sdk_dynamodb::Client::describe_table).then_compute_output(move |i| {
        let table = described(i.table_name().unwrap(), &seen.lock().unwrap());
        DescribeTableOutput::builder().table(table).build()
    })
}

/// `UpdateTable` of the copy: its table class and on-demand maximums (its own and its index's)
/// kept in `copy`.
fn update_the_copy(copy: &Arc<Mutex<Copy>>) -> Rule {
    let changed = Arc::clone(copy);
    mock!(aws_sdk_dynamodb::Client::update_table)
        .match_requests(|i| i.table_name() == Some(TARGET))
        .then_compute_output(move |i| {
            let mut copy = changed.lock().unwrap();
            if i.table_class() == Some(&TableClass::StandardInfrequentAccess) {
                copy.infrequent_access = true;
            }
            if let Some(m) = i.on_demand_throughput() {
                copy.maximum = Some((
                    m.max_read_request_units.unwrap(),
                    m.max_write_request_units.unwrap(),
                ));
            }
            for u in i.global_secondary_index_updates() {
                let m = u.update().and_then(|u| u.on_demand_throughput()).unwrap();
                copy.index_maximum = Some((
                    m.max_read_request_units.unwrap(),
                    m.max_write_request_units.unwrap(),
                ));
            }
            UpdateTableOutput::builder().build()
        })
}

/// `DescribeContributorInsights`: on for the source and its index, on for the copy's table and
/// index once enabled.
fn describe_insights(copy: &Arc<Mutex<Copy>>) -> Rule {
    let seen = Arc::clone(copy);
    mock!(aws_sdk_dynamodb::Client::describe_contributor_insights).then_compute_output(move |i| {
        let index = i.index_name().map(str::to_string);
        let on = i.table_name() == Some(SOURCE) || seen.lock().unwrap().insights.contains(&index);
        let status = match on {
            true => ContributorInsightsStatus::Enabled,
            false => ContributorInsightsStatus::Disabled,
        };
        DescribeContributorInsightsOutput::builder()
            .contributor_insights_status(status)
            .build()
    })
}

/// `UpdateContributorInsights` of the copy: only ever enabling, kept in `copy`.
fn enable_insights_on_the_copy(copy: &Arc<Mutex<Copy>>) -> Rule {
    let changed = Arc::clone(copy);
    mock!(aws_sdk_dynamodb::Client::update_contributor_insights)
        .match_requests(|i| i.table_name() == Some(TARGET))
        .then_compute_output(move |i| {
            assert_eq!(
                i.contributor_insights_action(),
                Some(&ContributorInsightsAction::Enable)
            );
            changed
                .lock()
                .unwrap()
                .insights
                .push(i.index_name().map(str::to_string));
            UpdateContributorInsightsOutput::builder().build()
        })
}

/// `DescribeKinesisStreamingDestination`: `STREAM` for the source, the copy's from `copy`.
fn describe_streams(copy: &Arc<Mutex<Copy>>) -> Rule {
    let seen = Arc::clone(copy);
    mock!(aws_sdk_dynamodb::Client::describe_kinesis_streaming_destination).then_compute_output(
        move |i| {
            let arns = match i.table_name() == Some(SOURCE) {
                true => vec![STREAM.to_string()],
                false => seen.lock().unwrap().streams.clone(),
            };
            let destinations = arns.into_iter().map(|arn| {
                KinesisDataStreamDestination::builder()
                    .stream_arn(arn)
                    .destination_status(DestinationStatus::Active)
                    .build()
            });
            DescribeKinesisStreamingDestinationOutput::builder()
                .set_kinesis_data_stream_destinations(Some(destinations.collect()))
                .build()
        },
    )
}

/// `EnableKinesisStreamingDestination` on the copy, kept in `copy`.
fn enable_a_stream_on_the_copy(copy: &Arc<Mutex<Copy>>) -> Rule {
    let changed = Arc::clone(copy);
    mock!(aws_sdk_dynamodb::Client::enable_kinesis_streaming_destination)
        .match_requests(|i| i.table_name() == Some(TARGET))
        .then_compute_output(move |i| {
            changed
                .lock()
                .unwrap()
                .streams
                .push(i.stream_arn().unwrap().to_string());
            EnableKinesisStreamingDestinationOutput::builder().build()
        })
}

#[tokio::test]
async fn a_count_that_outlasts_an_invocation_goes_on_in_the_next_one() {
    let record = restore_record();
    let describe = mock!(aws_sdk_dynamodb::Client::describe_table).then_compute_output(|input| {
        let name = input.table_name().unwrap();
        DescribeTableOutput::builder()
            .table(table(name, name == TARGET))
            .build()
    });
    let backup = described_backup(60);
    // Each of the 4 segments: 10 items, then (from where it stopped) 5 more.
    let scan = mock!(aws_sdk_dynamodb::Client::scan)
        .match_requests(|i| i.table_name() == Some(TARGET) && i.total_segments() == Some(4))
        .then_compute_output(|input| {
            let segment = input.segment().unwrap();
            match input.exclusive_start_key() {
                None => ScanOutput::builder()
                    .count(10)
                    .last_evaluated_key("order_id", AttributeValue::S(format!("s{segment}-10")))
                    .build(),
                Some(key) => {
                    assert_eq!(key["order_id"], AttributeValue::S(format!("s{segment}-10")));
                    ScanOutput::builder().count(5).build()
                }
            }
        });
    let recorder = RecordingStateMachine::start(LocalAws::shared()).await;
    let state = state(
        &[&record, &describe, &backup, &scan],
        workflow(Some(&recorder)),
    );
    // An invocation at its end: one page per segment, then the count is handed on.
    let mut context = local_aws::lambda_context();
    context.deadline = 1;
    let finish = json!({"action": "finish", "target_table": TARGET, "verify": true});
    let report = function_handler(&state, LambdaEvent::new(finish, context))
        .await
        .unwrap()
        .restore_report()
        .unwrap();
    assert_eq!(report.verification, None);
    let next = report.next_step.unwrap();
    assert!(next.contains("counting its items (40 so far)"), "{next}");
    let handed = recorder.inputs().await;
    assert_eq!(handed.len(), 1, "{handed:?}");
    assert_eq!(handed[0]["step"]["count_progress"]["counted"], 40);

    // The execution's step goes on from each segment's key, and compares.
    let report = invoke(&state, handed[0].clone()).await;
    let verification = report.verification.unwrap();
    assert_eq!(
        (
            verification.restored_items,
            verification.expected_items,
            verification.matches
        ),
        (60, 60, true)
    );
    assert_eq!(
        serde_json::to_value(verification.baseline).unwrap(),
        "approximate"
    );
    assert_eq!(scan.num_calls(), 8, "every page read once");
    assert_eq!(recorder.inputs().await.len(), 1);
}
