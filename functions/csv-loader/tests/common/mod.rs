//! A bucket and a seed-schema table on the local AWS, and the csv-loader's handler pointed at them.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use csv_loader::handler::{HandlerError, Response, State, function_handler};
use lambda_runtime::{Context, LambdaEvent};
use local_aws::{Item, LocalAws, unique_name};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::load::checkpoint::Checkpoint;
use shared::load::config::LoaderEnv;
use shared::load::plan::run::{LoadResponse, Run, SegmentResponse};
use shared::load::plan::step::{LoaderRequest, parse_request};
use shared::load::summary::FileSummary;
use shared::state::StateStore;
use shared::workflow::Workflow;
use tokio::time::Instant;

pub const SEED_COLUMN_TYPES: &str = "customer_id:N,amount:N";

pub struct Fixture {
    pub bucket: String,
    pub table: String,
    /// The stack's state table: which load holds each object.
    pub state_table: String,
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub state: State,
}

impl Fixture {
    /// A fresh bucket and table; `env` adds to (or overrides) the loader's environment.
    pub async fn new(env: &[(&str, &str)]) -> Fixture {
        Fixture::with_table(unique_name("orders"), env).await
    }

    /// The same, with the table named `table` (a test that adds tables names them all in
    /// `TABLE_NAMES`).
    pub async fn with_table(table: String, env: &[(&str, &str)]) -> Fixture {
        let aws = LocalAws::shared();
        let s3 = aws.s3().await;
        let dynamodb = aws.dynamodb().await;
        let bucket = versioned_bucket(&s3, "loader").await;
        let state_table = unique_name("state");
        local_aws::create_seed_table(&dynamodb, &table)
            .await
            .unwrap();
        local_aws::create_state_table(&dynamodb, &state_table)
            .await
            .unwrap();
        let mut vars = vec![
            ("TABLE_NAMES".to_string(), table.clone()),
            ("STATE_TABLE".to_string(), state_table.clone()),
            ("BUCKET_NAME".to_string(), bucket.clone()),
            (
                "DEFAULT_OBJECT_KEY".to_string(),
                "incoming/order_data.csv".to_string(),
            ),
            ("COLUMN_TYPES".to_string(), SEED_COLUMN_TYPES.to_string()),
        ];
        for (name, value) in env {
            vars.retain(|(existing, _)| existing != name);
            vars.push((name.to_string(), value.to_string()));
        }
        let config = from_vars::<LoaderEnv>(vars).unwrap().validate().unwrap();
        let workflow = recording_state_machine(aws).await;
        let state = (State::new(&aws.sdk_config().await, config, Some(workflow)).await).unwrap();
        Fixture {
            bucket,
            table,
            state_table,
            s3,
            dynamodb,
            state,
        }
    }

    /// Uploads `body`; returns the new version's ID.
    pub async fn put(&self, key: &str, body: impl Into<Vec<u8>>) -> String {
        let put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body.into().into())
            .send()
            .await
            .unwrap();
        put.version_id().expect("a versioned bucket").to_string()
    }

    /// Runs the handler as Lambda would, with 15 minutes left.
    pub async fn invoke(&self, payload: Value) -> Result<LoadResponse, HandlerError> {
        self.invoke_as(&unique_name("request"), payload).await
    }

    /// The same, as the request `request_id` (Lambda's retries of a request keep its ID).
    pub async fn invoke_as(
        &self,
        request_id: &str,
        payload: Value,
    ) -> Result<LoadResponse, HandlerError> {
        match self.handle(request_id, payload).await? {
            Response::Load(response) => Ok(response),
            other => panic!("not a load's response: {other:?}"),
        }
    }

    /// The load's next step, as its state machine sends it, with 15 minutes left.
    pub async fn step(&self, job: &Checkpoint) -> Result<SegmentResponse, HandlerError> {
        let payload = json!({ "segment": job });
        match self.handle(&unique_name("step"), payload).await? {
            Response::Segment(response) => Ok(*response),
            other => panic!("not a step's response: {other:?}"),
        }
    }

    async fn handle(&self, request_id: &str, payload: Value) -> Result<Response, HandlerError> {
        let mut context = Context::default();
        context.request_id = request_id.to_string();
        context.invoked_function_arn =
            "arn:aws:lambda:us-east-1:123456789012:function:csv-loader".into();
        context.deadline = epoch_ms_in(Duration::from_secs(15 * 60));
        function_handler(&self.state, LambdaEvent::new(payload, context)).await
    }

    /// What every job of a request made now shares, with `deadline`.
    pub fn run(&self, deadline: Instant) -> Run<'_> {
        Run {
            fan_out: self.state.config.fan_out,
            deadline,
            workflow: self.state.workflow.as_ref(),
            request_id: "request-1",
        }
    }

    /// The input an execution of the load's state machine was started with.
    pub async fn execution_input(&self, name: &str) -> Value {
        let workflow = self.state.workflow.as_ref().expect("a state machine");
        let described = (workflow.sfn.describe_execution())
            .execution_arn(workflow.execution_arn(name))
            .send()
            .await
            .unwrap_or_else(|e| panic!("execution {name}: {e:?}"));
        serde_json::from_str(described.input().unwrap_or_default()).unwrap()
    }

    /// The names of the executions started so far.
    pub async fn executions(&self) -> Vec<String> {
        let workflow = self.state.workflow.as_ref().expect("a state machine");
        let listed = (workflow.sfn.list_executions())
            .state_machine_arn(&workflow.state_machine)
            .send()
            .await
            .unwrap();
        listed
            .executions()
            .iter()
            .map(|e| e.name().to_string())
            .collect()
    }

    /// The state table the fixture's loader keeps its loads in.
    pub fn store(&self) -> &StateStore {
        let loader = self
            .state
            .loaders
            .get(&self.table)
            .expect("the fixture's table");
        loader.state.as_ref().expect("a state table")
    }

    pub async fn items(&self) -> Vec<Item> {
        local_aws::scan_all(&self.dynamodb, &self.table)
            .await
            .unwrap()
    }

    /// The item with this key, if any.
    pub async fn item(&self, order_id: &str, item_id: &str) -> Option<Item> {
        self.dynamodb
            .get_item()
            .table_name(&self.table)
            .key("order_id", s(order_id))
            .key("item_id", s(item_id))
            .send()
            .await
            .unwrap()
            .item
    }

    pub async fn text(&self, key: &str) -> String {
        local_aws::get_object_text(&self.s3, &self.bucket, key)
            .await
            .unwrap()
    }

    /// An S3 `ObjectCreated:Put` event for one version of `key` (not URL-encoded here).
    pub fn s3_event_for(&self, key: &str, version_id: &str) -> Value {
        let mut event = self.s3_event(&[key]);
        event["Records"][0]["s3"]["object"]["versionId"] = json!(version_id);
        event
    }

    /// The rejects report a summary names (`s3://bucket/key`).
    pub async fn report(&self, url: &str) -> String {
        let key = url
            .strip_prefix(&format!("s3://{}/", self.bucket))
            .unwrap_or_else(|| panic!("{url} is not in the fixture's bucket"));
        self.text(key).await
    }

    /// An S3 `ObjectCreated:Put` event for `keys`, as S3 encodes them, shaped like the sample event.
    pub fn s3_event(&self, encoded_keys: &[&str]) -> Value {
        let mut event = sample_event("s3-put-order-data.json");
        let template = event["Records"][0].clone();
        let records: Vec<Value> = encoded_keys
            .iter()
            .map(|key| {
                let mut record = template.clone();
                record["s3"]["bucket"]["name"] = json!(self.bucket);
                record["s3"]["bucket"]["arn"] = json!(format!("arn:aws:s3:::{}", self.bucket));
                record["s3"]["object"]["key"] = json!(key);
                record
            })
            .collect();
        event["Records"] = json!(records);
        event
    }
}

/// A new bucket, versioned as the stack's bucket is.
pub async fn versioned_bucket(s3: &aws_sdk_s3::Client, label: &str) -> String {
    let bucket = unique_name(label);
    local_aws::create_bucket(s3, &bucket).await.unwrap();
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    bucket
}

/// A state machine in the local AWS that keeps what it is started with and does nothing, so a test
/// runs the load's steps itself (`next_segment`).
pub async fn recording_state_machine(aws: &LocalAws) -> Workflow {
    let sfn = aws_sdk_sfn::Client::new(&aws.sdk_config().await);
    let created = (sfn.create_state_machine())
        .name(unique_name("load"))
        .definition(r#"{"StartAt": "Kept", "States": {"Kept": {"Type": "Succeed"}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/local")
        .send()
        .await
        .unwrap();
    Workflow {
        sfn,
        state_machine: created.state_machine_arn().to_string(),
    }
}

/// Runs one invocation of `payload` whose deadline is already past, so it loads the least it may
/// (25 rows) and hands the rest on; the job its execution was started with, if any.
pub async fn one_segment(f: &Fixture, payload: Value) -> (LoadResponse, Option<Checkpoint>) {
    // Through JSON, as Lambda carries it.
    let payload = serde_json::from_str(&payload.to_string()).unwrap();
    let LoaderRequest::Plan(plan) = parse_request(payload, &f.state.config.filter, None).unwrap()
    else {
        panic!("not a plan")
    };
    let response = (f.run(Instant::now()).plan(&f.state.loaders, plan))
        .await
        .unwrap();
    let next = match response.executions.last() {
        Some(execution) => {
            let input = f.execution_input(&execution.name).await;
            serde_json::from_value(input["job"].clone()).ok()
        }
        None => None,
    };
    (response, next)
}

/// The load's next step, run as its state machine would, with its deadline already past.
pub async fn next_segment(f: &Fixture, job: &Checkpoint) -> SegmentResponse {
    let job = serde_json::from_value(json!(job)).unwrap();
    (f.run(Instant::now()).segment(&f.state.loaders, job))
        .await
        .unwrap()
}

/// Loads `key` as the least each invocation may (`one_segment`, then `next_segment` until done):
/// every segment's summary.
pub async fn load_in_segments(f: &Fixture, key: &str) -> Vec<FileSummary> {
    let payload = json!({"bucket": f.bucket, "key": key});
    let (response, mut next) = one_segment(f, payload).await;
    let mut summaries = response.files;
    while let Some(job) = next {
        let step = next_segment(f, &job).await;
        summaries.extend(step.summary);
        next = step.next;
        assert!(summaries.len() < 30, "the load does not progress");
    }
    summaries
}

pub fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

pub fn n(value: &str) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn events_dir() -> PathBuf {
    local_aws::workspace_root().join("events")
}

pub fn sample_event(name: &str) -> Value {
    let text = std::fs::read_to_string(local_aws::event_file(name, &["csv-loader"])).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn seed_csv() -> Vec<u8> {
    std::fs::read(events_dir().join("order_data.csv")).unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

fn epoch_ms_in(from_now: Duration) -> u64 {
    (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + from_now).as_millis() as u64
}
