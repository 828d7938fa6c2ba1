//! Test support: a private local AWS (moto server) per test process, and SDK clients pointed at it.
//!
//! The server is `tools/local_aws.py` run by the project's virtual environment. It listens on a free
//! 127.0.0.1 port and exits when this process's end of its standard input closes, so it never
//! outlives the tests, however they end. It runs state machines, and sends their Lambda tasks to
//! the functions registered with it (`LocalFunction::register`).

mod function;
mod state_machine;

pub use function::LocalFunction;
pub use state_machine::{
    ACCOUNT, Execution, ExecutionSummary, RecordingStateMachine, function_arn, quick,
    state_machine_arn, substitute, template, template_definition,
};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;

pub const REGION: &str = "us-east-1";

const INSTALL_HINT: &str = "the local AWS (moto server) is not installed: run `tools/setup.sh` \
     (python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt), \
     or set LOCAL_AWS_PYTHON to a python that has moto[server]";

/// A running moto server.
pub struct LocalAws {
    endpoint: String,
    // Held so the server's stdin stays open; dropping it (or process exit) stops the server.
    _child: Mutex<Child>,
}

impl LocalAws {
    /// The server shared by every test in this test binary (started on first use).
    pub fn shared() -> &'static LocalAws {
        static SERVER: OnceLock<LocalAws> = OnceLock::new();
        SERVER.get_or_init(|| LocalAws::start().unwrap_or_else(|e| panic!("{e:#}")))
    }

    /// Starts a new server on a free port and waits until it answers.
    pub fn start() -> anyhow::Result<LocalAws> {
        let python = python()?;
        let script = workspace_root().join("tools/local_aws.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("--until-stdin-closes")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        let stdout = child.stdout.take().context("moto server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let Some(endpoint) = line.trim().strip_prefix("READY ") else {
            let _ = child.kill();
            bail!("the local AWS did not start (printed {line:?}); {INSTALL_HINT}");
        };
        Ok(LocalAws {
            endpoint: endpoint.to_string(),
            _child: Mutex::new(child),
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SDK configuration for the local AWS: fixed region and dummy credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new("test", "test", None, None, "local-aws"))
            .load()
            .await
    }

    /// Environment for a child process (a Lambda function, a CLI) that should use this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ]
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::new(&self.sdk_config().await)
    }

    /// The first `polls` `DescribeTable`s of a table restored as `table` (or under a name that
    /// starts with it: a drill names its scratch table as it runs), by a restore from a backup or to
    /// a point in time made after this call, answer `CREATING`, then it is `ACTIVE`, as a real
    /// restore takes a while. The restore's own answer says `CREATING` too.
    pub fn slow_restore(&self, table: &str, polls: u32) {
        let body = serde_json::json!({"table": table, "polls": polls});
        local_request(&self.endpoint, "POST", "/_local/slow-restores", &body)
            .unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A request to the local AWS's own `/_local/` endpoints (see `tools/local_aws.py`), which no SDK
/// has: plain HTTP/1.1 on one connection. An answer other than 2xx is an error.
pub(crate) fn local_request(
    endpoint: &str,
    method: &str,
    path: &str,
    body: &serde_json::Value,
) -> Result<(), String> {
    let address = endpoint.trim_start_matches("http://");
    let body = body.to_string();
    let answer = TcpStream::connect(address).and_then(|mut stream| {
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    });
    match answer {
        Ok(answer) if answer.split(' ').nth(1).is_some_and(|s| s.starts_with('2')) => Ok(()),
        Ok(answer) => Err(format!("{method} {path} on the local AWS: {answer}")),
        Err(e) => Err(format!("{method} {path} on the local AWS: {e}")),
    }
}

/// Creates a table with the seed's key schema: `order_id` (S) partition key, `item_id` (S) sort key.
pub async fn create_seed_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
) -> anyhow::Result<()> {
    create_string_keyed_table(dynamodb, name, "order_id", "item_id").await
}

/// Creates a table with a stack's state-table schema (`shared::state`: `pk` and `sk`, strings,
/// TTL on `expires_at`), as the template declares it.
pub async fn create_state_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::TimeToLiveSpecification;
    create_string_keyed_table(dynamodb, name, "pk", "sk").await?;
    dynamodb
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .with_context(|| format!("enabling TTL on {name}"))?;
    Ok(())
}

async fn create_string_keyed_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    partition: &str,
    sort: &str,
) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let key = |name: &str, kind| -> anyhow::Result<_> {
        Ok(KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()?)
    };
    let attribute = |name: &str| -> anyhow::Result<_> {
        Ok(AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()?)
    };
    dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key(partition, KeyType::Hash)?)
        .key_schema(key(sort, KeyType::Range)?)
        .attribute_definitions(attribute(partition)?)
        .attribute_definitions(attribute(sort)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(())
}

/// Creates an on-demand table keyed by one attribute of type `kind` (`"S"`, `"N"` or `"B"`).
pub async fn create_hash_keyed_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    partition: &str,
    kind: &str,
) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let key = KeySchemaElement::builder()
        .attribute_name(partition)
        .key_type(KeyType::Hash)
        .build()?;
    let attribute = AttributeDefinition::builder()
        .attribute_name(partition)
        .attribute_type(ScalarAttributeType::from(kind))
        .build()?;
    dynamodb
        .create_table()
        .table_name(name)
        .key_schema(key)
        .attribute_definitions(attribute)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .with_context(|| format!("creating table {name}"))?;
    Ok(())
}

/// The table's ARN (tags and AWS Backup address tables by ARN).
pub async fn table_arn(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<String> {
    let described = dynamodb.describe_table().table_name(table).send().await?;
    described
        .table
        .and_then(|t| t.table_arn)
        .with_context(|| format!("{table} has no ARN"))
}

/// An SNS topic with an SQS queue subscribed to it (the local AWS delivers between the two), so a
/// test reads what was published. Returns the topic ARN and the queue URL.
pub async fn topic_with_inbox(
    config: &SdkConfig,
    topic: &str,
    queue: &str,
) -> anyhow::Result<(String, String)> {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let topic_arn = sns
        .create_topic()
        .name(topic)
        .send()
        .await?
        .topic_arn
        .context("CreateTopic returned no ARN")?;
    let queue_url = sqs
        .create_queue()
        .queue_name(queue)
        .send()
        .await?
        .queue_url
        .context("CreateQueue returned no URL")?;
    let arn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(arn.clone())
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&arn))
        .context("the queue has no ARN")?;
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await?;
    Ok((topic_arn, queue_url))
}

/// Takes every message waiting in the queue: the SNS envelopes (`Subject`, `Message`,
/// `MessageAttributes`) of what was published to its topic.
pub async fn take_notifications(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    let out = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .send()
        .await?;
    let mut envelopes = Vec::new();
    for message in out.messages() {
        envelopes.push(serde_json::from_str(message.body().unwrap_or_default())?);
        if let Some(handle) = message.receipt_handle() {
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await?;
        }
    }
    Ok(envelopes)
}

pub async fn create_bucket(s3: &aws_sdk_s3::Client, name: &str) -> anyhow::Result<()> {
    s3.create_bucket()
        .bucket(name)
        .send()
        .await
        .with_context(|| format!("creating bucket {name}"))?;
    Ok(())
}

pub async fn put_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: impl Into<Vec<u8>>,
) -> anyhow::Result<()> {
    s3.put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into().into())
        .send()
        .await
        .with_context(|| format!("uploading s3://{bucket}/{key}"))?;
    Ok(())
}

pub async fn get_object_text(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
) -> anyhow::Result<String> {
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?;
    let bytes = object.body.collect().await?.into_bytes();
    Ok(String::from_utf8(bytes.to_vec())?)
}

pub type Item = std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>;

/// Every item in the table (all pages).
pub async fn scan_all(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<Vec<Item>> {
    let pages: Vec<_> = dynamodb
        .scan()
        .table_name(table)
        .into_paginator()
        .items()
        .send()
        .collect()
        .await;
    pages
        .into_iter()
        .map(|item| item.with_context(|| format!("scanning {table}")))
        .collect()
}

impl Drop for LocalAws {
    fn drop(&mut self) {
        if let Ok(child) = self._child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A file of `events/`: `events/<function>/<name>` for the function's own events (the first
/// of `prefer` that has it), else the only folder that has it, else `events/<name>` (data files).
pub fn event_file(name: &str, prefer: &[&str]) -> PathBuf {
    let events = workspace_root().join("events");
    if let Some(own) = prefer
        .iter()
        .map(|f| events.join(f).join(name))
        .find(|p| p.exists())
    {
        return own;
    }
    let found: Vec<PathBuf> = std::fs::read_dir(&events)
        .unwrap_or_else(|e| panic!("{}: {e}", events.display()))
        .filter_map(|entry| Some(entry.ok()?.path().join(name)))
        .filter(|p| p.exists())
        .collect();
    match &found[..] {
        [one] => one.clone(),
        [] => events.join(name),
        several => panic!("{name} is in several folders of events/: {several:?}"),
    }
}

/// The repository root (this crate lives in `tools/local-aws`).
/// The workspace the tests run in: found at run time from the package under test (cargo sets
/// `CARGO_MANIFEST_DIR` for it), not from where this crate was compiled, since a shared target
/// directory can hold this crate compiled in another checkout.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|manifest| manifest.contains("[workspace]"))
        })
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The project's virtual environment's `bin/` directory (moto, cargo-lambda, zig, sam, cfn-lint).
pub fn venv_bin() -> PathBuf {
    workspace_root().join(".venv/bin")
}

pub(crate) fn python() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("LOCAL_AWS_PYTHON") {
        return Ok(PathBuf::from(p));
    }
    let venv = venv_bin().join("python");
    if !venv.exists() {
        bail!("{} does not exist; {INSTALL_HINT}", venv.display());
    }
    Ok(venv)
}

/// An invocation context as Lambda hands one to a handler: a fresh request id and, as
/// `cargo lambda` gives it, ten minutes left.
pub fn lambda_context() -> lambda_runtime::Context {
    let mut context = lambda_runtime::Context::default();
    context.request_id = unique_name("request");
    context.deadline = 600_000;
    context
}

/// A resource name unique to this test run and `label`, so tests sharing a server never collide.
pub fn unique_name(label: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{n}", std::process::id())
}
