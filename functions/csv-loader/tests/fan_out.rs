//! A large file split into byte ranges, each loaded by its own invocation: every row exactly once,
//! even when newlines inside quoted fields sit right where a naive split would cut.

mod common;

use std::path::Path;

use common::{Fixture, Recorder, gzip, s};
use local_aws::{InvokeRecorder, LocalAws, LocalFunction};
use serde_json::{Value, json};
use shared::load::file::Checkpoint;
use shared::load::plan::request::plan_request;
use shared::load::plan::run::{LoadResponse, run_plan};
use tokio::time::Instant;

const ROWS: u32 = 400;
/// Files from 1000 bytes on are split into four ranges.
const SPLIT_IN_FOUR: &[(&str, &str)] = &[
    ("FAN_OUT_MIN_BYTES", "1000"),
    ("FAN_OUT_RANGES", "4"),
    ("COLUMN_TYPES", "amount:N"),
];

/// Every row's product spans three lines, CRLF line ends, and row 333 has a bad amount.
fn multiline_rows() -> String {
    let mut csv = String::from("order_id,item_id,product,amount\r\n");
    for row in 1..=ROWS {
        let amount = if row == 333 {
            "n/a".to_string()
        } else {
            row.to_string()
        };
        csv.push_str(&format!(
            "o{row},i{row},\"box {row}\nwith, a card\n\"\"fragile\"\"\",{amount}\r\n"
        ));
    }
    csv
}

async fn invoke(f: &Fixture, payload: serde_json::Value, recorder: &Recorder) -> LoadResponse {
    // Through JSON, as Lambda carries it.
    let payload = serde_json::from_str(&payload.to_string()).unwrap();
    let plan = plan_request(payload, &f.state.config.filter, None).unwrap();
    let far = Instant::now() + std::time::Duration::from_secs(600);
    run_plan(&f.state.loader, f.state.config.fan_out, plan, far, recorder)
        .await
        .unwrap()
}

#[tokio::test]
async fn ranges_start_at_record_boundaries_and_load_every_row_once() {
    let f = Fixture::new(SPLIT_IN_FOUR).await;
    let body = multiline_rows();
    f.put("incoming/big.csv", body.clone()).await;

    let recorder = Recorder::default();
    let first = invoke(
        &f,
        json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
        &recorder,
    )
    .await;
    let ranges: Vec<Checkpoint> = recorder.0.lock().unwrap().drain(..).collect();
    assert_eq!(
        ranges.len(),
        3,
        "three ranges handed out, the fourth loaded here"
    );
    assert_eq!(first.dispatched.len(), 3);
    assert!(
        first.dispatched[0].starts_with(&format!("s3://{}/incoming/big.csv range 1", f.bucket))
    );
    assert_eq!(first.files[0].range, Some(4));

    // Each range ends where the next begins, each begins at a row's first line.
    let starts: Vec<u64> = ranges
        .iter()
        .map(|r| r.resume.as_ref().unwrap().offset)
        .collect();
    let ends: Vec<u64> = ranges.iter().map(|r| r.range.unwrap().end).collect();
    assert_eq!(
        starts[0],
        "order_id,item_id,product,amount\r\n".len() as u64
    );
    assert_eq!(&starts[1..], &ends[..2]);
    for range in &ranges {
        let start = range.resume.as_ref().unwrap();
        assert!(body[start.offset as usize..].starts_with('o'), "{start:?}");
        let lines_before = body[..start.offset as usize].matches('\n').count() as u64;
        assert_eq!(start.line, lines_before + 1, "{start:?}");
    }

    // A range that paused right after its last record has nothing left, and reads nothing.
    let mut finished = ranges[0].clone();
    let end = finished.range.unwrap().end;
    finished.resume.as_mut().unwrap().offset = end;
    let empty = invoke(&f, json!({"continue": finished}), &recorder).await;
    assert_eq!(empty.files[0].counts.rows_read, 0);
    assert!(empty.files[0].complete);
    assert!(
        f.items().await.len() < 399,
        "nothing beyond the range was loaded"
    );

    let mut summaries = first.files.clone();
    for range in &ranges {
        let response = invoke(&f, json!({"continue": range}), &recorder).await;
        assert!(
            recorder.0.lock().unwrap().is_empty(),
            "a range is never split again"
        );
        summaries.extend(response.files);
    }
    let read: u64 = summaries.iter().map(|s| s.counts.rows_read).sum();
    let written: u64 = summaries.iter().map(|s| s.counts.items_written).sum();
    let rejected: u64 = summaries.iter().map(|s| s.counts.rows_rejected).sum();
    assert_eq!((read, written, rejected), (400, 399, 1));
    assert!(summaries.iter().all(|s| s.complete));

    let items = f.items().await;
    assert_eq!(items.len(), 399);
    for item in &items {
        let row = item["order_id"].as_s().unwrap().trim_start_matches('o');
        assert_eq!(
            item["product"],
            s(&format!("box {row}\nwith, a card\n\"fragile\"")),
            "no row was cut"
        );
    }
    // The rejected row is reported by its range, with its line in the whole file (3 lines a row).
    let range_of_333 = summaries
        .iter()
        .find(|s| s.counts.rows_rejected == 1)
        .unwrap();
    let report = f
        .text(
            range_of_333
                .report
                .rsplit_once(&f.bucket)
                .unwrap()
                .1
                .trim_start_matches('/'),
        )
        .await;
    assert!(
        report.contains(&format!("\n{},", 1 + 332 * 3 + 1)),
        "{report}"
    );
    assert!(
        range_of_333.report.contains(".range00"),
        "{}",
        range_of_333.report
    );
}

#[tokio::test]
async fn small_and_gzip_files_load_in_one_piece() {
    let f = Fixture::new(SPLIT_IN_FOUR).await;
    f.put("incoming/big.csv.gz", gzip(multiline_rows().as_bytes()))
        .await;
    f.put("incoming/small.csv", "order_id,item_id,amount\na,1,1\n")
        .await;
    let recorder = Recorder::default();
    for key in ["incoming/big.csv.gz", "incoming/small.csv"] {
        let response = invoke(&f, json!({"bucket": f.bucket, "key": key}), &recorder).await;
        assert!(response.dispatched.is_empty(), "{key}");
        assert_eq!(response.files[0].range, None);
        assert!(response.files[0].complete);
    }
    assert!(recorder.0.lock().unwrap().is_empty());
    assert_eq!(f.items().await.len(), 399 + 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ranges_run_as_concurrent_invocations_through_the_lambda_runtime() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/big.csv", multiline_rows()).await;
    let handed_over = InvokeRecorder::start().await.unwrap();
    let function = LocalFunction::start_instances(
        Path::new(env!("CARGO_BIN_EXE_csv-loader")),
        LocalAws::shared(),
        &[
            SPLIT_IN_FOUR,
            &[
                ("TABLE_NAME", f.table.as_str()),
                ("AWS_ENDPOINT_URL_LAMBDA", handed_over.endpoint()),
            ],
        ]
        .concat(),
        3,
    );
    let dir = tempfile::tempdir().unwrap();
    let event_file = |name: &str, payload: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, payload.to_string()).unwrap();
        path
    };
    let response = |output: std::process::Output| -> Value {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };

    let request = event_file(
        "request.json",
        &json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
    );
    let first = response(function.invoke_file(&request));
    assert_eq!(first["dispatched"].as_array().unwrap().len(), 3, "{first}");
    let ranges = handed_over.take();
    assert_eq!(ranges.len(), 3);

    // Lambda runs the three range invocations at once; so do the three function processes here.
    let files: Vec<_> = ranges
        .iter()
        .enumerate()
        .map(|(i, payload)| event_file(&format!("range{i}.json"), payload))
        .collect();
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = files
            .iter()
            .map(|file| scope.spawn(|| function.invoke_file(file)))
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut summaries = vec![first["files"][0].clone()];
    summaries.extend(outputs.into_iter().map(|o| response(o)["files"][0].clone()));
    assert!(
        handed_over.take().is_empty(),
        "no range was handed over again"
    );

    let mut ranges_seen: Vec<u64> = summaries
        .iter()
        .map(|s| s["range"].as_u64().unwrap())
        .collect();
    ranges_seen.sort();
    assert_eq!(ranges_seen, [1, 2, 3, 4]);
    let total = |field: &str| {
        summaries
            .iter()
            .map(|s| s[field].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        (
            total("rows_read"),
            total("items_written"),
            total("rows_rejected")
        ),
        (400, 399, 1)
    );
    assert_eq!(f.items().await.len(), 399, "every good row once");
}
