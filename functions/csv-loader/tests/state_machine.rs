//! The load's state machine as the template defines it, run by the local AWS, each step a real
//! invocation of the csv-loader through the Lambda runtime (`cargo lambda watch`): long loads, a
//! version loaded once however often its event comes, reloads, a failing step, fan-out (gzip too),
//! and an older file sent again by name.

mod common;

use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{n, s, versioned_bucket};
use local_aws::{Execution, LocalAws, LocalFunction, state_machine_arn, unique_name};
use serde_json::{Value, json};

/// A stack's loader on the local AWS: a bucket, a table, the state table, the function and its
/// state machine.
struct Stack {
    aws: &'static LocalAws,
    bucket: String,
    table: String,
    state_machine: String,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    function: LocalFunction,
    files: tempfile::TempDir,
}

impl Stack {
    /// The loader with `env` added; `MAX_SEGMENT_SECONDS=0` makes every invocation load 25 rows.
    async fn new(env: &[(&str, &str)]) -> Stack {
        let aws = LocalAws::shared();
        let (s3, dynamodb) = (aws.s3().await, aws.dynamodb().await);
        let bucket = versioned_bucket(&s3, "machine").await;
        let (table, state_table) = (unique_name("orders"), unique_name("state"));
        local_aws::create_seed_table(&dynamodb, &table)
            .await
            .unwrap();
        local_aws::create_state_table(&dynamodb, &state_table)
            .await
            .unwrap();
        let name = unique_name("load");
        let state_machine = state_machine_arn(&name);
        let mut vars = vec![
            ("TABLE_NAMES", table.as_str()),
            ("STATE_TABLE", state_table.as_str()),
            ("BUCKET_NAME", bucket.as_str()),
            ("COLUMN_TYPES", "amount:N"),
            ("STATE_MACHINE_ARN", state_machine.as_str()),
        ];
        vars.extend_from_slice(env);
        let binary = Path::new(env!("CARGO_BIN_EXE_csv-loader"));
        let function = LocalFunction::start(binary, aws, &vars);
        let function_arn = function.register(aws, &unique_name("csv-loader"));
        let substitutions = [("LoaderFunctionArn", function_arn.as_str())];
        (aws.create_template_state_machine("LoadStateMachine", &name, &substitutions))
            .await
            .unwrap();
        Stack {
            aws,
            bucket,
            table,
            state_machine,
            s3,
            dynamodb,
            function,
            files: tempfile::tempdir().unwrap(),
        }
    }

    /// Uploads `body` to `key`; the S3 event S3 sends for it.
    async fn upload(&self, key: &str, body: String) -> Value {
        self.upload_bytes(key, body.into_bytes()).await
    }

    async fn upload_bytes(&self, key: &str, body: Vec<u8>) -> Value {
        let put = (self.s3.put_object())
            .bucket(&self.bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
        let sample = std::fs::read_to_string(local_aws::event_file(
            "s3-put-order-data.json",
            &["csv-loader"],
        ));
        let mut event: Value = serde_json::from_str(&sample.unwrap()).unwrap();
        let object = &mut event["Records"][0]["s3"];
        object["bucket"]["name"] = json!(self.bucket);
        object["object"]["key"] = json!(key);
        object["object"]["versionId"] = json!(put.version_id().unwrap());
        event
    }

    /// `cargo lambda invoke` with `payload`.
    fn run(&self, payload: &Value) -> std::process::Output {
        let file = self
            .files
            .path()
            .join(format!("{}.json", unique_name("request")));
        std::fs::write(&file, payload.to_string()).unwrap();
        self.function.invoke_file(&file)
    }

    /// The response to `payload`, which must succeed.
    fn invoke(&self, payload: &Value) -> Value {
        let output = self.run(payload);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{stderr}");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// What the failure of `payload`, which must fail, printed.
    fn invoke_failing(&self, payload: &Value) -> String {
        let output = self.run(payload);
        assert!(!output.status.success(), "{payload} must fail");
        String::from_utf8_lossy(&output.stderr).to_string()
            + &String::from_utf8_lossy(&output.stdout)
    }

    /// The execution the response started (or found), once it ended.
    async fn finished(&self, response: &Value) -> Execution {
        let arn = response["executions"][0]["arn"].as_str();
        let arn = arn.unwrap_or_else(|| panic!("no execution: {response:#}"));
        self.aws.wait_execution(arn).await
    }

    async fn execution_names(&self) -> Vec<String> {
        let executions = self.aws.executions(&self.state_machine).await;
        executions.into_iter().map(|e| e.name).collect()
    }

    async fn amount(&self, order_id: &str) -> Option<AttributeValue> {
        let item = (self.dynamodb.get_item())
            .table_name(&self.table)
            .key("order_id", s(order_id))
            .key("item_id", s("i"))
            .send()
            .await
            .unwrap()
            .item?;
        item.get("amount").cloned()
    }

    /// An application's own write to a loaded item.
    async fn application_writes(&self, order_id: &str, amount: &str) {
        (self.dynamodb.update_item())
            .table_name(&self.table)
            .key("order_id", s(order_id))
            .key("item_id", s("i"))
            .update_expression("SET amount = :a")
            .expression_attribute_values(":a", n(amount))
            .send()
            .await
            .unwrap();
    }
}

/// `rows` rows over 100 keys (`o0`..`o99`), each key on every 100th row with the row's number as
/// its amount: the last row of key `ok` is row `rows - 100 + k` (row `rows` for `o0`).
fn rows_over_100_keys(rows: u32) -> String {
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 1..=rows {
        csv.push_str(&format!("o{},i,{row}\n", row % 100));
    }
    csv
}

fn ignored_reason(response: &Value) -> &str {
    let reason = response["ignored"][0]["reason"].as_str();
    reason.unwrap_or_else(|| panic!("nothing ignored: {response:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_load_of_many_segments_runs_to_the_end_as_one_execution_and_the_last_row_wins() {
    let stack = Stack::new(&[("MAX_SEGMENT_SECONDS", "0")]).await;
    let event = stack
        .upload("incoming/long.csv", rows_over_100_keys(600))
        .await;
    let first = stack.invoke(&event);
    assert_eq!(first["files"][0]["rows_read"], 25, "{first:#}");
    let name = first["executions"][0]["name"].as_str().unwrap();
    assert!(name.starts_with("load-incoming-long-csv-"), "{name}");

    let execution = stack.finished(&first).await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let last = &execution.output.unwrap()["summary"];
    assert!(last["segment"].as_u64().unwrap() >= 20, "{last:#}");
    assert_eq!(last["complete"], true);
    // Every row read once and written once; each key holds its last row.
    assert_eq!(
        (last["rows_read"].clone(), last["items_written"].clone()),
        (json!(600), json!(600))
    );
    for k in 0..100 {
        let expected = if k == 0 { 600 } else { 500 + k };
        let amount = stack.amount(&format!("o{k}")).await;
        assert_eq!(amount, Some(n(&expected.to_string())), "o{k}");
    }
    assert_eq!(stack.execution_names().await, [name]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_twice_loads_once_and_an_applications_write_survives() {
    // A large file (an execution) and a small one (loaded in the invocation that received it).
    let long: &[(&str, &str)] = &[("MAX_SEGMENT_SECONDS", "0")];
    for (env, rows) in [(long, 100), (&[][..], 10)] {
        let stack = Stack::new(env).await;
        let event = stack
            .upload("incoming/twice.csv", rows_over_100_keys(rows))
            .await;
        let first = stack.invoke(&event);
        let second = stack.invoke(&event);
        assert!(second["files"].as_array().unwrap().is_empty(), "{second:#}");
        assert!(ignored_reason(&second).contains("a second event for a version"));
        if rows > 25 {
            assert_eq!(stack.finished(&first).await.status, "SUCCEEDED");
            assert_eq!(stack.execution_names().await.len(), 1, "one execution");
        } else {
            assert_eq!(first["files"][0]["complete"], true, "{first:#}");
            assert!(stack.execution_names().await.is_empty());
        }
        stack.application_writes("o1", "-1").await;
        let third = stack.invoke(&event);
        assert!(ignored_reason(&third).contains("was loaded"), "{third:#}");
        assert_eq!(
            stack.amount("o1").await,
            Some(n("-1")),
            "the application's write"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_explicit_reload_of_the_same_version_loads_it_again() {
    let stack = Stack::new(&[("MAX_SEGMENT_SECONDS", "0")]).await;
    let event = stack
        .upload("incoming/again.csv", rows_over_100_keys(100))
        .await;
    let first = stack.invoke(&event);
    assert_eq!(stack.finished(&first).await.status, "SUCCEEDED");
    let reload = json!({"bucket": stack.bucket, "key": "incoming/again.csv", "reload": true});
    for time in 1..=2 {
        stack.application_writes("o1", "-1").await;
        let again = stack.invoke(&reload);
        let name = again["executions"][0]["name"].as_str().unwrap();
        assert!(name.starts_with("reload-incoming-again-csv-"), "{name}");
        assert_eq!(stack.finished(&again).await.status, "SUCCEEDED");
        assert_eq!(stack.amount("o1").await, Some(n("1")), "reload {time}");
    }
    // Each reload got a name of its own: a closed name never blocks a deliberate reload.
    assert_eq!(stack.execution_names().await.len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_segment_ends_the_execution_failed_with_its_metrics_emitted() {
    let stack = Stack::new(&[("MAX_SEGMENT_SECONDS", "0")]).await;
    // Every amount is bad: each segment rejects its rows, and the last finds nothing loaded.
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 1..=60 {
        csv.push_str(&format!("o{row},i,not-a-number\n"));
    }
    let event = stack.upload("incoming/bad.csv", csv).await;
    let first = stack.invoke(&event);
    let execution = stack.finished(&first).await;
    assert_eq!(execution.status, "FAILED", "{execution:#?}");
    assert_eq!(execution.error.as_deref(), Some("NothingLoaded"));
    assert!(
        execution
            .cause
            .unwrap()
            .contains("all 60 rows were rejected")
    );
    // Each segment said what it rejected, the failing one included: 60 rows in all, each segment
    // at 100 % (what the rejected-rows alarm watches).
    let records = stack.function.metric_records();
    let rejected: f64 = records
        .iter()
        .filter_map(|r| r["RowsRejected"].as_f64())
        .sum();
    assert_eq!(rejected, 60.0);
    let percents: Vec<f64> = (records.iter())
        .filter_map(|r| r["RejectedPercent"].as_f64())
        .collect();
    assert!(
        percents.len() >= 3 && percents.iter().all(|&p| p == 100.0),
        "{percents:?}"
    );
    // A failed version is not a duplicate: sent again, it is read again.
    let again = stack.invoke(&event);
    assert!(again["ignored"].is_null(), "{again:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_file_fans_out_into_the_maps_parts_and_ends_in_one_summary() {
    let stack = Stack::new(&[("FAN_OUT_MIN_BYTES", "1"), ("FAN_OUT_PARTS", "3")]).await;
    let event = stack
        .upload("incoming/wide.csv", rows_over_100_keys(300))
        .await;
    let first = stack.invoke(&event);
    assert!(first["files"].as_array().unwrap().is_empty(), "{first:#}");
    let execution = stack.finished(&first).await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let file = execution.output.unwrap();
    assert_eq!(
        (file["parts"].clone(), file["complete"].clone()),
        (json!(3), json!(true))
    );
    assert_eq!(file["rows_read"], 300, "{file:#}");
    for k in [0, 1, 57, 99] {
        let expected = if k == 0 { 300 } else { 200 + k };
        let amount = stack.amount(&format!("o{k}")).await;
        assert_eq!(amount, Some(n(&expected.to_string())), "o{k}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_upload_stops_the_older_files_execution_and_its_values_win() {
    let stack = Stack::new(&[("MAX_SEGMENT_SECONDS", "0")]).await;
    let older = stack
        .upload("incoming/news.csv", rows_over_100_keys(2000))
        .await;
    let first = stack.invoke(&older);
    let mut newer_csv = String::from("order_id,item_id,amount\n");
    for k in 0..100 {
        newer_csv.push_str(&format!("o{k},i,-{}\n", k + 1));
    }
    let newer = stack.upload("incoming/news.csv", newer_csv).await;
    let second = stack.invoke(&newer);
    let stopped = stack.finished(&first).await;
    assert_eq!(stopped.status, "ABORTED", "{stopped:#?}");
    let second_done = stack.finished(&second).await;
    assert_eq!(second_done.status, "SUCCEEDED", "{second_done:#?}");
    for k in [0, 1, 99] {
        let amount = stack.amount(&format!("o{k}")).await;
        let newer_value = format!("-{}", k + 1);
        assert_eq!(
            amount,
            Some(n(&newer_value)),
            "o{k}: the newer file's value"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_reupload_fails_on_its_own_and_the_good_load_runs_to_its_end() {
    let stack = Stack::new(&[("MAX_SEGMENT_SECONDS", "0")]).await;
    let good = stack
        .upload("incoming/keep.csv", rows_over_100_keys(1000))
        .await;
    let first = stack.invoke(&good);
    // A re-upload whose header repeats a column, while the good file loads.
    let broken = (stack.upload("incoming/keep.csv", "order_id,order_id\no1,i\n".into())).await;
    let failed = stack.invoke_failing(&broken);
    assert!(failed.contains("InvalidHeader"), "{failed}");
    let good_done = stack.finished(&first).await;
    assert_eq!(good_done.status, "SUCCEEDED", "{good_done:#?}");
    assert_eq!(good_done.output.unwrap()["summary"]["rows_read"], 1000);
    assert_eq!(
        stack.amount("o1").await,
        Some(n("901")),
        "the good file's last row"
    );
}

/// Compressed with gzip.
fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gzip_file_fans_out_and_the_last_row_of_a_key_wins_with_every_row_counted_once() {
    let stack = Stack::new(&[("FAN_OUT_MIN_BYTES", "1"), ("FAN_OUT_PARTS", "3")]).await;
    // The first and the last row share a key, 600 rows apart; the rows between have keys of their own.
    let mut csv = String::from("order_id,item_id,amount\nfirst-and-last,i,1\n");
    for row in 2..600 {
        csv.push_str(&format!("k{row},i,{row}\n"));
    }
    csv.push_str("first-and-last,i,600\n");
    let event = stack.upload_bytes("incoming/big.csv.gz", gzip(&csv)).await;
    let first = stack.invoke(&event);
    let execution = stack.finished(&first).await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let file = execution.output.unwrap();
    assert_eq!(
        (file["parts"].clone(), file["complete"].clone()),
        (json!(3), json!(true)),
        "{file:#}"
    );
    let counted = [
        "items_written",
        "rows_rejected",
        "duplicates_collapsed",
        "items_failed",
    ]
    .map(|count| file[count].as_u64().unwrap_or_default());
    assert_eq!(
        file["rows_read"], 600,
        "every row read once, over the parts: {file:#}"
    );
    assert_eq!(
        counted.iter().sum::<u64>(),
        600,
        "each row in one count: {file:#}"
    );
    assert_eq!(
        stack.amount("first-and-last").await,
        Some(n("600")),
        "the last row wins"
    );
    let items = local_aws::scan_all(&stack.dynamodb, &stack.table)
        .await
        .unwrap();
    assert_eq!(items.len(), 599);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_older_file_sent_again_by_name_is_refused_unless_forced() {
    let stack = Stack::new(&[]).await;
    let older = stack
        .upload(
            "incoming/monday.csv",
            "order_id,item_id,amount\no1,i,1\n".into(),
        )
        .await;
    stack.invoke(&older);
    // S3 keeps write times to the second.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let newer = stack
        .upload(
            "incoming/tuesday.csv",
            "order_id,item_id,amount\no1,i,2\n".into(),
        )
        .await;
    stack.invoke(&newer);
    assert_eq!(stack.amount("o1").await, Some(n("2")));

    let by_name = json!({"bucket": stack.bucket, "key": "incoming/monday.csv", "reload": true});
    let refused = stack.invoke_failing(&by_name);
    assert!(refused.contains("OlderThanLoaded"), "{refused}");
    assert!(
        refused.contains("tuesday.csv") && refused.contains("force"),
        "{refused}"
    );
    assert_eq!(
        stack.amount("o1").await,
        Some(n("2")),
        "the newer values stay"
    );

    // Said on purpose, it loads: the older file's values are back.
    let mut forced = by_name.clone();
    forced["force"] = json!(true);
    let loaded = stack.invoke(&forced);
    assert_eq!(loaded["files"][0]["items_written"], 1, "{loaded:#}");
    assert_eq!(
        stack.amount("o1").await,
        Some(n("1")),
        "forced: the older file's values"
    );
}
