//! A large file split into byte ranges, each loaded by its own invocation: every row exactly once,
//! even when newlines inside quoted fields sit right where a naive split would cut, and every key
//! ends with its last row's values whatever order the parts run in.

mod common;

use std::path::Path;

use common::{Fixture, Recorder, gzip, n, s};
use local_aws::{InvokeRecorder, LocalAws, LocalFunction};
use serde_json::{Value, json};
use shared::function_error::FunctionError;
use shared::load::file::Checkpoint;
use shared::load::plan::request::plan_request;
use shared::load::plan::run::{LoadResponse, RunError, run_plan};
use tokio::time::Instant;

const ROWS: u32 = 400;
/// Files from 1000 bytes on are split into four ranges.
const SPLIT_IN_FOUR: &[(&str, &str)] = &[
    ("FAN_OUT_MIN_BYTES", "1000"),
    ("FAN_OUT_RANGES", "4"),
    ("COLUMN_TYPES", "amount:N"),
];

/// Every row's product spans three lines, CRLF line ends, and row 333 has a bad amount. With
/// `repeating`, every even row's key is one of 20 keys that recur all through the file.
fn multiline_rows(repeating: bool) -> String {
    let mut csv = String::from("order_id,item_id,product,amount\r\n");
    for row in 1..=ROWS {
        let amount = if row == 333 {
            "n/a".to_string()
        } else {
            row.to_string()
        };
        let id = if repeating && row % 2 == 0 {
            format!("k{}", row % 40)
        } else {
            format!("o{row}")
        };
        csv.push_str(&format!(
            "{id},i{id},\"box {row}\nwith, a card\n\"\"fragile\"\"\",{amount}\r\n"
        ));
    }
    csv
}

/// What the table holds once `multiline_rows(repeating)` is loaded: each key's last row.
fn last_rows(repeating: bool) -> std::collections::BTreeMap<String, u32> {
    let mut last = std::collections::BTreeMap::new();
    for row in (1..=ROWS).filter(|row| *row != 333) {
        let id = if repeating && row % 2 == 0 {
            format!("k{}", row % 40)
        } else {
            format!("o{row}")
        };
        last.insert(id, row);
    }
    last
}

async fn assert_last_rows_win(f: &Fixture, repeating: bool) {
    let expected = last_rows(repeating);
    let items = f.items().await;
    assert_eq!(items.len(), expected.len());
    for item in &items {
        let id = item["order_id"].as_s().unwrap();
        let row = expected[id];
        assert_eq!(item["amount"], n(&row.to_string()), "{id}");
        assert_eq!(
            item["product"],
            s(&format!("box {row}\nwith, a card\n\"fragile\"")),
            "{id}: no row was cut"
        );
    }
}

async fn invoke(f: &Fixture, payload: serde_json::Value, recorder: &Recorder) -> LoadResponse {
    // Through JSON, as Lambda carries it.
    let payload = serde_json::from_str(&payload.to_string()).unwrap();
    let plan = plan_request(payload, &f.state.config.filter, None).unwrap();
    let far = Instant::now() + std::time::Duration::from_secs(600);
    run_plan(
        &f.state.loaders,
        f.state.config.fan_out,
        plan,
        far,
        recorder,
        &local_aws::unique_name("request"),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn ranges_start_at_record_boundaries_and_the_file_has_one_summary() {
    let f = Fixture::new(SPLIT_IN_FOUR).await;
    let body = multiline_rows(false);
    f.put("incoming/big.csv", body.clone()).await;

    let recorder = Recorder::default();
    let first = invoke(
        &f,
        json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
        &recorder,
    )
    .await;
    let ranges: Vec<Checkpoint> = recorder.0.lock().unwrap().drain(..).collect();
    assert_eq!(ranges.len(), 4, "four ranges handed out, none loaded here");
    assert!(first.files.is_empty());
    assert_eq!(first.dispatched.len(), 4);
    assert!(
        first.dispatched[0].contains("incoming/big.csv (version ")
            && first.dispatched[0].contains("range 1 of 4"),
        "{}",
        first.dispatched[0]
    );
    // No key is on rows of two ranges: no part of repeated keys.
    assert!(
        ranges
            .iter()
            .all(|r| r.range.as_ref().unwrap().repeats.is_none())
    );

    // Each range ends where the next begins, each begins at a row's first line.
    let starts: Vec<u64> = ranges
        .iter()
        .map(|r| r.resume.as_ref().unwrap().offset)
        .collect();
    let ends: Vec<u64> = ranges
        .iter()
        .map(|r| r.range.as_ref().unwrap().end)
        .collect();
    assert_eq!(
        starts[0],
        "order_id,item_id,product,amount\r\n".len() as u64
    );
    assert_eq!(&starts[1..], &ends[..3]);
    assert_eq!(ends[3], body.len() as u64);
    for range in &ranges {
        let start = range.resume.as_ref().unwrap();
        assert!(body[start.offset as usize..].starts_with('o'), "{start:?}");
        let lines_before = body[..start.offset as usize].matches('\n').count() as u64;
        assert_eq!(start.line, lines_before + 1, "{start:?}");
    }

    let mut summaries = Vec::new();
    let mut split_files = Vec::new();
    for range in &ranges {
        let response = invoke(&f, json!({"continue": range}), &recorder).await;
        assert!(
            recorder.0.lock().unwrap().is_empty(),
            "a range is never split again"
        );
        summaries.extend(response.files);
        split_files.extend(response.split_files);
    }
    assert!(summaries.iter().all(|s| s.complete));
    assert_last_rows_win(&f, false).await;

    // One summary for the file, when its last range finished, counting every row.
    assert_eq!(split_files.len(), 1);
    let file = &split_files[0];
    assert_eq!(
        (
            file.parts,
            file.counts.rows_read,
            file.counts.items_written,
            file.counts.rows_rejected
        ),
        (4, 400, 399, 1)
    );
    // The rejected row is reported by its range, with its line in the whole file (3 lines a row).
    assert_eq!(file.reports.len(), 1, "{:?}", file.reports);
    assert!(file.reports[0].contains(".range00"), "{}", file.reports[0]);
    let report = f
        .text(
            file.reports[0]
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
}

#[tokio::test]
async fn a_part_that_fails_is_named_once_the_others_finish() {
    let f = Fixture::new(SPLIT_IN_FOUR).await;
    f.put("incoming/big.csv", multiline_rows(true)).await;
    let recorder = Recorder::default();
    invoke(
        &f,
        json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
        &recorder,
    )
    .await;
    let mut parts: Vec<Checkpoint> = recorder.0.lock().unwrap().drain(..).collect();
    let repeated_part = parts.pop().unwrap();
    let repeats = repeated_part
        .range
        .as_ref()
        .unwrap()
        .repeats
        .clone()
        .unwrap();
    assert!(
        repeats.starts_with("rejected/.split-keys/incoming/big.csv@"),
        "{repeats}"
    );

    // The ranges finish; then the repeated keys' part cannot read what the split stored for it.
    for part in &parts {
        let response = invoke(&f, json!({"continue": part}), &recorder).await;
        assert!(response.split_files.is_empty());
    }
    let stored = (f.s3.get_object().bucket(&f.bucket).key(&repeats).send())
        .await
        .unwrap();
    let stored = stored.body.collect().await.unwrap().into_bytes();
    (f.s3.delete_object().bucket(&f.bucket).key(&repeats).send())
        .await
        .unwrap();
    let payload = json!({"continue": repeated_part});
    let failed = f.invoke_as("tail", payload.clone()).await.unwrap_err();
    assert!(failed.to_string().contains("repeated keys"), "{failed}");
    // It fails the invocation, and says the file is not complete, and which part failed.
    let FunctionError::Failed(RunError::Files { done, .. }) = failed else {
        panic!("{failed}")
    };
    let [file] = &done.split_files[..] else {
        panic!("{done:?}")
    };
    assert!(!file.complete);
    assert!(file.failed[&5].contains("repeated keys"), "{file:?}");

    // Lambda retries the failed part (same request ID); now it loads, and the file is complete.
    f.s3.put_object()
        .bucket(&f.bucket)
        .key(&repeats)
        .body(stored.into())
        .send()
        .await
        .unwrap();
    let retried = f.invoke_as("tail", payload).await.unwrap();
    assert_eq!(retried.split_files.len(), 1);
    let file = &retried.split_files[0];
    assert!(file.complete && file.failed.is_empty(), "{file:?}");
    assert_eq!((file.counts.rows_read, file.counts.rows_rejected), (400, 1));
    assert_last_rows_win(&f, true).await;
}

#[tokio::test]
async fn small_and_gzip_files_load_in_one_piece() {
    let f = Fixture::new(SPLIT_IN_FOUR).await;
    f.put(
        "incoming/big.csv.gz",
        gzip(multiline_rows(false).as_bytes()),
    )
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

/// The csv-loader through the Lambda runtime, with its asynchronous self-invocations recorded
/// instead of run, so a test can deliver them in any order.
struct Runtime {
    function: LocalFunction,
    handed_over: InvokeRecorder,
    dir: tempfile::TempDir,
}

impl Runtime {
    async fn start(f: &Fixture, instances: usize) -> Runtime {
        let handed_over = InvokeRecorder::start().await.unwrap();
        let function = LocalFunction::start_instances(
            Path::new(env!("CARGO_BIN_EXE_csv-loader")),
            LocalAws::shared(),
            &[
                SPLIT_IN_FOUR,
                &[
                    ("TABLE_NAMES", f.table.as_str()),
                    ("STATE_TABLE", f.state_table.as_str()),
                    ("AWS_ENDPOINT_URL_LAMBDA", handed_over.endpoint()),
                ],
            ]
            .concat(),
            instances,
        );
        Runtime {
            function,
            handed_over,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn event_file(&self, name: &str, payload: &Value) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, payload.to_string()).unwrap();
        path
    }

    fn invoke(&self, name: &str, payload: &Value) -> Value {
        response(self.function.invoke_file(&self.event_file(name, payload)))
    }
}

fn response(output: std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn part_index(payload: &Value) -> u64 {
    payload["continue"]["range"]["index"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_last_row_wins_whatever_order_the_parts_run_in() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/big.csv", multiline_rows(true)).await;
    let runtime = Runtime::start(&f, 1).await;

    let first = runtime.invoke(
        "request.json",
        &json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
    );
    assert_eq!(
        first["files"],
        json!([]),
        "the receiver loads no part itself"
    );
    let mut parts = runtime.handed_over.take();
    assert_eq!(parts.len(), 5, "four ranges and the repeated keys' part");
    assert_eq!(first["dispatched"].as_array().unwrap().len(), 5, "{first}");
    assert_eq!(
        parts[4]["continue"]["range"]["repeated_keys_only"],
        json!(true)
    );

    // A hostile order: the repeated keys' part first, then the ranges last to first, the second
    // range delivered twice (Lambda delivers at least once), and once more after the file's end.
    parts.sort_by_key(|p| std::cmp::Reverse(part_index(p)));
    let second = parts.iter().find(|p| part_index(p) == 2).unwrap().clone();
    let order: Vec<Value> = parts
        .iter()
        .flat_map(|p| {
            let twice = part_index(p) == 2;
            std::iter::repeat_n(p.clone(), if twice { 2 } else { 1 })
        })
        .chain([second])
        .collect();
    let responses: Vec<Value> = (order.iter().enumerate())
        .map(|(i, payload)| runtime.invoke(&format!("part{i}.json"), payload))
        .collect();
    assert!(
        runtime.handed_over.take().is_empty(),
        "no part was handed over again"
    );

    // The repeated second range, both times, did nothing: it said why.
    for again in [&responses[4], &responses[6]] {
        assert_eq!(again["files"], json!([]), "{again}");
        let reason = again["ignored"][0]["reason"].as_str().unwrap();
        assert!(reason.contains("a second delivery"), "{reason}");
    }
    assert_last_rows_win(&f, true).await;

    // One summary, from the last part to finish (the first range), counting every row once.
    let summaries: Vec<(usize, &Value)> = (responses.iter().enumerate())
        .flat_map(|(i, r)| (r["split_files"].as_array().into_iter().flatten()).map(move |s| (i, s)))
        .collect();
    assert_eq!(summaries.len(), 1, "{responses:?}");
    let (at, file) = summaries[0];
    assert_eq!(at, 5, "the first range finished last");
    assert_eq!(file["parts"], 5);
    assert_eq!(
        file["keys_in_several_ranges"], 20,
        "the 20 keys of the even rows"
    );
    assert_eq!(file["rows_read"], 400);
    assert_eq!(file["rows_rejected"], 1);
    let written = file["items_written"].as_u64().unwrap();
    let collapsed = file["duplicates_collapsed"].as_u64().unwrap();
    let repeated = file["keys_repeated"].as_u64().unwrap();
    assert_eq!(written + collapsed, 399, "{file}");
    assert!(written >= 219 && collapsed + repeated > 0, "{file}");
    assert_eq!(file["reports"].as_array().unwrap().len(), 1, "{file}");
}

#[tokio::test(flavor = "multi_thread")]
async fn parts_run_as_concurrent_invocations_through_the_lambda_runtime() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/big.csv", multiline_rows(true)).await;
    let runtime = Runtime::start(&f, 3).await;
    let first = runtime.invoke(
        "request.json",
        &json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
    );
    assert_eq!(first["dispatched"].as_array().unwrap().len(), 5, "{first}");
    let parts = runtime.handed_over.take();

    // Lambda runs the part invocations at once; so do the three function processes here.
    let files: Vec<_> = (parts.iter().enumerate())
        .map(|(i, payload)| runtime.event_file(&format!("part{i}.json"), payload))
        .collect();
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let running: Vec<_> = files
            .iter()
            .map(|file| scope.spawn(|| runtime.function.invoke_file(file)))
            .collect();
        running.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let responses: Vec<Value> = outputs.into_iter().map(response).collect();
    let files: Vec<&Value> = (responses.iter())
        .flat_map(|r| r["split_files"].as_array().into_iter().flatten())
        .collect();
    assert_eq!(files.len(), 1, "{responses:?}");
    assert_eq!(
        (
            files[0]["rows_read"].clone(),
            files[0]["rows_rejected"].clone()
        ),
        (json!(400), json!(1))
    );
    assert_last_rows_win(&f, true).await;
}
