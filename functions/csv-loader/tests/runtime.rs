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
            ("TABLE_NAME", TABLE),
            ("BUCKET_NAME", BUCKET),
            ("DEFAULT_OBJECT_KEY", "incoming/order_data.csv"),
            ("COLUMN_TYPES", "customer_id:N,amount:N"),
            ("AWS_LAMBDA_FUNCTION_NAME", "ddb-guard-csv-loader"),
            // Progress at every check, so even this small file says how far it is.
            ("PROGRESS_SECONDS", "0.000001"),
        ],
    );

    let put = function.response("s3-put-order-data.json");
    let file = &put["files"][0];
    assert_eq!(file["key"], "incoming/order_data.csv");
    assert_eq!(file["rows_read"], 40);
    assert_eq!(file["items_written"], 40);
    assert_eq!(file["rows_rejected"], 0);
    assert_eq!(file["complete"], true);
    // This bucket is not versioned: the report names the version by its ETag.
    let head = (s3
        .head_object()
        .bucket(BUCKET)
        .key("incoming/order_data.csv"))
    .send()
    .await
    .unwrap();
    let etag = head.e_tag().unwrap().trim_matches('"');
    assert_eq!(
        file["report"],
        format!("s3://{BUCKET}/rejected/incoming/order_data.csv@{etag}.rejects.csv")
    );
    assert_eq!(
        local_aws::scan_all(&dynamodb, TABLE).await.unwrap().len(),
        40
    );

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

    let console = function.response("console-test.json");
    assert_eq!(console["files"][0]["key"], "incoming/order_data.csv");
    assert_eq!(console["files"][0]["items_written"], 40);

    let explicit = function.response("load-request.json");
    assert_eq!(explicit["files"][0]["items_written"], 40);

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

    // The same table, loaded four times over: still the file's 40 items.
    assert_eq!(
        local_aws::scan_all(&dynamodb, TABLE).await.unwrap().len(),
        40
    );
}
