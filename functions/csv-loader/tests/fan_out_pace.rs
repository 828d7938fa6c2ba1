//! A fanned-out load keeps to `MAX_WRITES_PER_SECOND` in total, not per part: the load's state
//! machine runs on the local AWS, its three parts at once in three instances of the csv-loader
//! (each a real invocation through the Lambda runtime), and the table is the benchmark's sink,
//! whose per-second timeline shows what the table received.

use std::path::Path;
use std::sync::Arc;

use bench::sink::{Sink, SinkSettings, Throttle, serve};
use local_aws::{LocalAws, LocalFunction, state_machine_arn, unique_name};
use serde_json::{Value, json};

const CAP: u64 = 150;
const PARTS: u64 = 3;
const ROWS: u64 = 900;

/// The sink on a port of its own, as the table `paced`.
async fn start_sink() -> (Arc<Sink>, String) {
    let sink = Arc::new(Sink::new(SinkSettings {
        table: "paced".into(),
        partition_key: "order_id".into(),
        sort_key: Some("item_id".into()),
        capacity: None,
        throttle: Throttle::Unprocessed,
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(Arc::clone(&sink), listener));
    (sink, endpoint)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fanned_out_load_keeps_to_the_write_cap_in_total() {
    let aws = LocalAws::shared();
    let s3 = aws.s3().await;
    let bucket = unique_name("paced");
    local_aws::create_bucket(&s3, &bucket).await.unwrap();
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 1..=ROWS {
        csv.push_str(&format!("o{row},i,{row}\n"));
    }
    local_aws::put_object(&s3, &bucket, "incoming/paced.csv", csv.into_bytes())
        .await
        .unwrap();
    let (sink, sink_endpoint) = start_sink().await;
    let name = unique_name("load");
    let state_machine = state_machine_arn(&name);
    let (cap, parts) = (CAP.to_string(), PARTS.to_string());
    let function = LocalFunction::start_instances(
        Path::new(env!("CARGO_BIN_EXE_csv-loader")),
        aws,
        &[
            ("TABLE_NAMES", "paced"),
            ("BUCKET_NAME", &bucket),
            ("COLUMN_TYPES", "amount:N"),
            ("STATE_MACHINE_ARN", &state_machine),
            ("FAN_OUT_MIN_BYTES", "1"),
            ("FAN_OUT_PARTS", &parts),
            ("MAX_WRITES_PER_SECOND", &cap),
            // One writer measured at 50 items/s: a load capped at 150/s fans out.
            ("FAN_OUT_WRITER_RATE", "50"),
            // DynamoDB is the sink; S3, Lambda and Step Functions stay the local AWS.
            ("AWS_ENDPOINT_URL_DYNAMODB", &sink_endpoint),
        ],
        PARTS as usize,
    );
    let function_arn = function.register(aws, &unique_name("csv-loader"));
    let substitutions = [("LoaderFunctionArn", function_arn.as_str())];
    (aws.create_template_state_machine("LoadStateMachine", &name, &substitutions))
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let request = dir.path().join("request.json");
    let payload = json!({"bucket": bucket, "key": "incoming/paced.csv"});
    std::fs::write(&request, payload.to_string()).unwrap();
    let output = function.invoke_file(&request);
    assert!(output.status.success(), "{output:?}");
    let response: Value = serde_json::from_slice(&output.stdout).unwrap();
    let arn = response["executions"][0]["arn"].as_str();
    let execution = aws
        .wait_execution(arn.unwrap_or_else(|| panic!("{response:#}")))
        .await;
    assert_eq!(execution.status, "SUCCEEDED", "{execution:#?}");
    let summary = execution.output.unwrap();
    assert_eq!(
        (summary["parts"].clone(), summary["items_written"].clone()),
        (json!(PARTS), json!(ROWS))
    );

    let timeline = sink.timeline();
    let seconds = timeline.as_array().unwrap();
    let items: Vec<u64> = seconds
        .iter()
        .map(|s| s["items"].as_u64().unwrap())
        .collect();
    assert_eq!(items.iter().sum::<u64>(), ROWS, "{timeline}");
    // Each part may send one batch ahead of its pace; beyond that, the load's cap holds.
    let burst = PARTS * 25;
    assert!(
        items.iter().all(|&n| n <= CAP + burst),
        "a second over {CAP} items/s (+{burst}): {items:?}"
    );
    // At the cap throughout: the parts wrote side by side (one after another, each at its share,
    // they would take three times as long).
    let span = seconds.len() as u64;
    let at_cap = ROWS / CAP;
    assert!(
        (at_cap - 1..=at_cap + 2).contains(&span),
        "{ROWS} items at {CAP}/s took {span} s: {items:?}"
    );
}
