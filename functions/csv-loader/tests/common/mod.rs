//! A bucket and a seed-schema table on the local AWS, and the csv-loader's handler pointed at them.
#![allow(dead_code)] // each test binary uses its own part of this

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use csv_loader::handler::{HandlerError, State, function_handler};
use lambda_runtime::{Context, LambdaEvent};
use local_aws::{Item, LocalAws, unique_name};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::load::config::LoaderEnv;
use shared::load::file::Checkpoint;
use shared::load::plan::continuation::Continuation;
use shared::load::plan::request::plan_request;
use shared::load::plan::run::{LoadResponse, run_plan};
use shared::state::StateStore;
use tokio::time::Instant;

pub const SEED_COLUMN_TYPES: &str = "customer_id:N,amount:N";

pub struct Fixture {
    pub bucket: String,
    pub table: String,
    /// The stack's state table: which load holds each object, and the loads' ledger.
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
        let state = State::new(&aws.sdk_config().await, config).await.unwrap();
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
        let mut context = Context::default();
        context.request_id = request_id.to_string();
        context.invoked_function_arn =
            "arn:aws:lambda:us-east-1:123456789012:function:csv-loader".into();
        context.deadline = epoch_ms_in(Duration::from_secs(15 * 60));
        function_handler(&self.state, LambdaEvent::new(payload, context)).await
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

/// Runs one invocation of `payload` whose deadline is already past, so it loads the least it may
/// (25 rows) and hands the rest to `recorder`; the checkpoint handed on, if any.
pub async fn one_segment(
    f: &Fixture,
    payload: Value,
    recorder: &Recorder,
) -> (LoadResponse, Option<Checkpoint>) {
    // Through JSON, as Lambda carries it.
    let payload = serde_json::from_str(&payload.to_string()).unwrap();
    let plan = plan_request(payload, &f.state.config.filter, None).unwrap();
    let response = run_plan(
        &f.state.loaders,
        f.state.config.fan_out,
        plan,
        Instant::now(),
        recorder,
        &unique_name("request"),
    )
    .await
    .unwrap();
    let next = recorder.0.lock().unwrap().pop();
    (response, next)
}

/// Runs invocations until nothing is handed over, each loading the least it may (`one_segment`).
pub async fn load_in_segments(f: &Fixture, key: &str) -> Vec<LoadResponse> {
    let recorder = Recorder::default();
    let mut payload = json!({"bucket": f.bucket, "key": key});
    let mut responses = Vec::new();
    loop {
        let (response, next) = one_segment(f, payload, &recorder).await;
        responses.push(response);
        let Some(next) = next else {
            break;
        };
        payload = json!({"continue": next});
        assert!(responses.len() < 10, "the load does not progress");
    }
    responses
}

/// Records hand-overs (continuations, dispatched ranges) instead of invoking Lambda.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<Checkpoint>>);

impl Continuation for Recorder {
    async fn continue_later(&self, next: &Checkpoint) -> Result<(), String> {
        self.0.lock().unwrap().push(next.clone());
        Ok(())
    }
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
