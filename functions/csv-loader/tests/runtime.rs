//! The csv-loader through the real Lambda runtime (`cargo lambda watch` + `cargo lambda invoke`).

use std::path::Path;

use local_aws::{LocalAws, LocalFunction, workspace_root};
use shared::metrics;

const BUCKET: &str = "ddb-guard-demo";
const TABLE: &str = "order_transaction-demo";

#[tokio::test(flavor = "multi_thread")]
async fn events_run_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let s3 = aws.s3().await;
    let dynamodb = aws.dynamodb().await;
    local_aws::create_bucket(&s3, BUCKET).await.unwrap();
    local_aws::create_seed_table(&dynamodb, TABLE)
        .await
        .unwrap();
    let seed = std::fs::read(workspace_root().join("events/order_data.csv")).unwrap();
    for key in [
        "incoming/order_data.csv",
        "incoming/more orders/été 2026.csv",
    ] {
        local_aws::put_object(&s3, BUCKET, key, seed.clone())
            .await
            .unwrap();
    }
    let function = LocalFunction::start(
        Path::new(env!("CARGO_BIN_EXE_csv-loader")),
        aws,
        &[
            ("TABLE_NAMES", TABLE),
            ("BUCKET_NAME", BUCKET),
            ("DEFAULT_OBJECT_KEY", "incoming/order_data.csv"),
            ("COLUMN_TYPES", "customer_id:N,amount:N"),
            ("AWS_LAMBDA_FUNCTION_NAME", "ddb-guard-csv-loader"),
            // Progress at every check, so even this small file says how far it is.
            ("PROGRESS_SECONDS", "0.000001"),
        ],
    );

    the_put_event_loads_the_seed(&function, &s3, &dynamodb).await;
    the_load_says_its_metrics_and_progress(&function);
    every_sample_request_loads_or_is_refused(&function);
    // The same table, loaded five times over: still the file's 40 items.
    assert_eq!(
        local_aws::scan_all(&dynamodb, TABLE).await.unwrap().len(),
        40
    );
}

/// A table keyed by `customer_id` alone, a number: another key schema than the seed's.
async fn create_customers_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    local_aws::create_hash_keyed_table(dynamodb, name, "customer_id", "N")
        .await
        .unwrap();
}

/// An S3 `ObjectCreated:Put` event for `keys` in `bucket`, shaped like the sample event, in a file
/// of `dir` for `cargo lambda invoke --data-file`.
fn s3_event_file(dir: &Path, bucket: &str, keys: &[&str]) -> std::path::PathBuf {
    let sample = std::fs::read_to_string(local_aws::event_file(
        "s3-put-order-data.json",
        &["csv-loader"],
    ));
    let mut event: serde_json::Value = serde_json::from_str(&sample.unwrap()).unwrap();
    let template = event["Records"][0].clone();
    let records: Vec<serde_json::Value> = (keys.iter())
        .map(|key| {
            let mut record = template.clone();
            record["s3"]["bucket"]["name"] = bucket.into();
            record["s3"]["bucket"]["arn"] = format!("arn:aws:s3:::{bucket}").into();
            record["s3"]["object"]["key"] = (*key).into();
            record
        })
        .collect();
    event["Records"] = records.into();
    let file = dir.join("s3-put-tables.json");
    std::fs::write(&file, event.to_string()).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread")]
async fn one_loader_loads_each_folder_into_its_table_through_the_lambda_runtime() {
    let aws = LocalAws::shared();
    let (s3, dynamodb) = (aws.s3().await, aws.dynamodb().await);
    let bucket = local_aws::unique_name("tables");
    local_aws::create_bucket(&s3, &bucket).await.unwrap();
    let (a, b) = (
        local_aws::unique_name("orders"),
        local_aws::unique_name("customers"),
    );
    local_aws::create_seed_table(&dynamodb, &a).await.unwrap();
    create_customers_table(&dynamodb, &b).await;
    let state_table = local_aws::unique_name("state");
    local_aws::create_state_table(&dynamodb, &state_table)
        .await
        .unwrap();
    let (names, types) = (format!("{a},{b}"), format!("customer_id:N,{a}/amount:N"));
    let function = LocalFunction::start(
        Path::new(env!("CARGO_BIN_EXE_csv-loader")),
        aws,
        &[
            ("TABLE_NAMES", &names),
            ("COLUMN_TYPES", &types),
            ("BUCKET_NAME", &bucket),
            ("STATE_TABLE", &state_table),
        ],
    );

    // A fresh stack: `{}` says what to upload where, and fails nothing.
    let fresh = function.response("console-test.json");
    let default = format!("s3://{bucket}/incoming/{a}/order_data.csv");
    assert_eq!(fresh["files"], serde_json::json!([]));
    let hint = fresh["ignored"][0]["reason"].as_str().unwrap();
    assert!(
        hint.starts_with(&format!(
            "no object at {default} yet: upload a CSV there (aws s3 cp order_data.csv {default})"
        )),
        "{hint}"
    );

    let seed = std::fs::read(workspace_root().join("events/order_data.csv")).unwrap();
    let customers = "customer_id,name,amount\n421,Ana,2756\n422,Bo,12.5\n423,Cy,7\n";
    let (x, y) = (format!("incoming/{a}/x.csv"), format!("incoming/{b}/y.csv"));
    for (key, body) in [
        (x.as_str(), seed.clone()),
        (y.as_str(), customers.into()),
        ("incoming/c/z.csv", seed),
    ] {
        local_aws::put_object(&s3, &bucket, key, body)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let event = s3_event_file(dir.path(), &bucket, &[&x, &y, "incoming/c/z.csv"]);
    let output = function.invoke_file(&event);
    assert!(output.status.success(), "{output:?}");
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let files = response["files"].as_array().unwrap();
    let went: Vec<(&str, &str, u64)> = (files.iter())
        .map(|f| {
            let (key, table) = (f["key"].as_str().unwrap(), f["table"].as_str().unwrap());
            (key, table, f["items_written"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(went, [(&*x, &*a, 40), (&*y, &*b, 3)]);
    let ignored = response["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{ignored:?}");
    assert_eq!(ignored[0]["key"], "incoming/c/z.csv");
    assert_eq!(
        ignored[0]["reason"],
        format!(
            "folder \"c\" names no table this stack loads into: with several tables, a file goes \
             under incoming/<table>/, for one of \"{a}\", \"{b}\""
        )
    );

    // Each table holds its own file's items, typed by its own column types.
    let orders = local_aws::scan_all(&dynamodb, &a).await.unwrap();
    assert_eq!(orders.len(), 40, "the seed's rows and nothing of z.csv");
    let order = (orders.iter())
        .find(|i| i["order_id"].as_s().unwrap() == "3801" && i["item_id"].as_s().unwrap() == "23")
        .unwrap();
    assert_eq!(order["amount"].as_n().unwrap(), "2621");
    assert_eq!(order["customer_id"].as_n().unwrap(), "420");
    let people = local_aws::scan_all(&dynamodb, &b).await.unwrap();
    assert_eq!(people.len(), 3);
    let ana = (people.iter())
        .find(|i| i["customer_id"].as_n().unwrap() == "421")
        .unwrap();
    assert_eq!(ana["amount"].as_s().unwrap(), "2756", "a string in {b}");
    assert_eq!(ana["name"].as_s().unwrap(), "Ana");
    // Nor a report: z.csv was not read.
    let reports = (s3.list_objects_v2().bucket(&bucket).prefix("rejected/"))
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = (reports.contents().iter())
        .filter_map(|o| o.key())
        .collect();
    assert!(keys.iter().all(|k| !k.contains("incoming/c/")), "{keys:?}");
}

/// The sample S3 event loads the seed file: every row written, the report named by the version.
async fn the_put_event_loads_the_seed(
    function: &LocalFunction,
    s3: &aws_sdk_s3::Client,
    dynamodb: &aws_sdk_dynamodb::Client,
) {
    let put = function.response("s3-put-order-data.json");
    let file = &put["files"][0];
    assert_eq!(file["key"], "incoming/order_data.csv");
    assert_eq!(file["rows_read"], 40);
    assert_eq!(file["items_written"], 40);
    assert_eq!(file["rows_rejected"], 0);
    assert_eq!(file["complete"], true);
    // This bucket is not versioned: the summary names the version by its ETag. Nothing was
    // rejected, so no report was written.
    let head = (s3
        .head_object()
        .bucket(BUCKET)
        .key("incoming/order_data.csv"))
    .send()
    .await
    .unwrap();
    let etag = head.e_tag().unwrap().trim_matches('"');
    assert_eq!(file["version"], etag);
    assert!(file["report"].is_null(), "{file}");
    assert_eq!(
        local_aws::scan_all(dynamodb, TABLE).await.unwrap().len(),
        40
    );
}

/// One metric record for the load, per function and table, as its summary says; progress lines
/// and their metrics, the share read rising to the end; no metrics nested in a log record.
fn the_load_says_its_metrics_and_progress(function: &LocalFunction) {
    // The load's metrics: one raw record for the file, per function and table, as its summary says.
    let loads = metrics::of_family(&metrics::LOAD, &function.metric_records()).unwrap();
    assert_eq!(loads.len(), 1, "{loads:?}");
    let (dimensions, values) = &loads[0];
    assert_eq!(dimensions, &["ddb-guard-csv-loader", TABLE]);
    // rows read, written, rejected, failed, duplicates; rows per second; rejected percent.
    assert_eq!(&values[..5], &[40.0, 40.0, 0.0, 0.0, 0.0]);
    assert!(values[5] > 0.0 && values[6] == 0.0, "{values:?}");
    // Progress: log lines with rows so far and the share of the object read, and the same as
    // metric records, percent rising to the end.
    let records = function.stdout_records();
    let lines: Vec<&serde_json::Value> = (records.iter())
        .filter(|r| r["fields"]["message"] == "csv load progress")
        .collect();
    assert!(!lines.is_empty(), "{records:?}");
    assert!(
        lines
            .iter()
            .all(|l| l["fields"]["rows_so_far"].as_u64().is_some_and(|n| n > 0))
    );
    let progress = metrics::of_family(&metrics::LOAD_PROGRESS, &function.metric_records()).unwrap();
    assert_eq!(progress.len(), lines.len());
    let percents: Vec<f64> = progress.iter().map(|(_, v)| v[1]).collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]) && percents[0] > 0.0,
        "{percents:?}"
    );
    // Never nested in a log record: every record with metrics is a top-level EMF line.
    let nested = (function.stdout_records().into_iter())
        .filter(|r| r.get("_aws").is_none() && r.to_string().contains("CloudWatchMetrics"));
    assert_eq!(nested.count(), 0);
}

/// The console test, a request by name, a reload and an event of several files load; a bad request
/// is refused with its reason.
fn every_sample_request_loads_or_is_refused(function: &LocalFunction) {
    let console = function.response("console-test.json");
    assert_eq!(console["files"][0]["key"], "incoming/order_data.csv");
    assert_eq!(console["files"][0]["items_written"], 40);

    let explicit = function.response("load-request.json");
    assert_eq!(explicit["files"][0]["items_written"], 40);
    let reload = function.response("reload-request.json");
    assert_eq!(reload["files"][0]["items_written"], 40);

    let several = function.response("s3-put-several.json");
    let keys: Vec<&str> = several["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "incoming/order_data.csv",
            "incoming/more orders/été 2026.csv"
        ]
    );
    assert_eq!(
        several["ignored"][0]["key"],
        "rejected/incoming/order_data.csv.rejects.csv"
    );

    let refused = function.error("bad-request.json");
    assert!(
        refused.contains("InvalidRequest") && refused.contains("`key`"),
        "{refused}"
    );
}
