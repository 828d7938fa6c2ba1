//! What DynamoDB does under load, which the local AWS never does: `UnprocessedItems`, throttling
//! errors, and refusing a batch that repeats a key. Played with `aws-smithy-mocks`; S3 stays real.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use aws_smithy_mocks::{MockResponse, RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use local_aws::{LocalAws, unique_name};
use shared::load::checkpoint::Checkpoint;
use shared::load::file::{LoadResult, Loader, LoaderSettings};
use shared::load::read::columns::BlankCells;
use shared::load::read::keys::{KeyAttribute, KeyKind, KeySchema};
use shared::load::read::source::RowStart;
use shared::load::read::table::TableInfo;
use shared::load::summary::{FileError, FileSummary};
use shared::load::write::batch::PendingItem;
use shared::load::write::writer::{BatchWriter, WriteSettings};
use shared::retry::Backoff;
use tokio::time::Instant;

const TABLE: &str = "orders";

fn keys() -> KeySchema {
    KeySchema {
        partition: KeyAttribute {
            name: "order_id".into(),
            kind: KeyKind::S,
        },
        sort: Some(KeyAttribute {
            name: "item_id".into(),
            kind: KeyKind::S,
        }),
        indexes: Vec::new(),
    }
}

fn settings(max_attempts: u32) -> WriteSettings {
    WriteSettings {
        max_in_flight: 4,
        max_attempts,
        backoff: Backoff {
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
        },
        ..WriteSettings::default()
    }
}

fn pending(n: usize) -> Vec<PendingItem> {
    (0..n)
        .map(|i| {
            let item = HashMap::from([
                ("order_id".to_string(), AttributeValue::S(format!("o{i}"))),
                ("item_id".to_string(), AttributeValue::S("1".into())),
            ]);
            PendingItem {
                line: i as u64 + 2,
                start: RowStart {
                    offset: 0,
                    line: i as u64 + 2,
                },
                key: keys().key_of(&item).unwrap(),
                item,
            }
        })
        .collect()
}

fn requests(input: &BatchWriteItemInput) -> Vec<WriteRequest> {
    input
        .request_items()
        .and_then(|r| r.get(TABLE))
        .cloned()
        .unwrap_or_default()
}

fn unprocessed(requests: Vec<WriteRequest>) -> BatchWriteItemOutput {
    BatchWriteItemOutput::builder()
        .unprocessed_items(TABLE, requests)
        .build()
}

fn order_ids(requests: &[WriteRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|w| match &w.put_request().unwrap().item()["order_id"] {
            AttributeValue::S(id) => id.clone(),
            other => panic!("order_id {other:?}"),
        })
        .collect()
}

/// Answers every call from `respond`, recording the order ids each call carried.
fn recording_client(
    respond: impl Fn(
        usize,
        Vec<WriteRequest>,
    ) -> MockResponse<
        BatchWriteItemOutput,
        aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemError,
    > + Send
    + Sync
    + 'static,
) -> (Client, Arc<Mutex<Vec<Vec<String>>>>) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let rule = mock!(Client::batch_write_item).then_compute_response(move |input| {
        let requests = requests(input);
        let mut seen = seen.lock().unwrap();
        seen.push(order_ids(&requests));
        respond(seen.len(), requests)
    });
    (
        mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]),
        calls,
    )
}

fn far_deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[tokio::test]
async fn unprocessed_items_are_retried_until_written() {
    // Calls 1-3 take nothing; call 4 takes half, call 5 the rest.
    let (client, calls) = recording_client(|call, requests| {
        MockResponse::Output(match call {
            1..=3 => unprocessed(requests),
            4 => unprocessed(requests[..10].to_vec()),
            _ => BatchWriteItemOutput::builder().build(),
        })
    });
    let mut writer = BatchWriter::new(client, TABLE.into(), keys(), settings(10), far_deadline());
    writer.submit(pending(25)).await;
    let outcome = writer.finish().await;

    assert_eq!(outcome.written, 25);
    assert!(outcome.unwritten.is_empty(), "{:?}", outcome.unwritten);
    let calls = calls.lock().unwrap();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert_eq!(sizes, [25, 25, 25, 25, 10]);
    // The last call resends exactly the items DynamoDB handed back.
    assert_eq!(calls[4], order_ids(&requests_of(&pending(10))));
}

fn requests_of(items: &[PendingItem]) -> Vec<WriteRequest> {
    items
        .iter()
        .map(|p| {
            WriteRequest::builder()
                .put_request(
                    aws_sdk_dynamodb::types::PutRequest::builder()
                        .set_item(Some(p.item.clone()))
                        .build()
                        .unwrap(),
                )
                .build()
        })
        .collect()
}

#[tokio::test]
async fn items_never_taken_are_handed_back_not_lost() {
    let (client, calls) =
        recording_client(|_, requests| MockResponse::Output(unprocessed(requests)));
    let mut writer = BatchWriter::new(client, TABLE.into(), keys(), settings(4), far_deadline());
    writer.submit(pending(25)).await;
    writer.submit(pending(30).split_off(25)).await;
    let outcome = writer.finish().await;

    assert_eq!(outcome.written, 0);
    assert_eq!(outcome.unwritten.len(), 30);
    let mut lines: Vec<u64> = outcome.unwritten.iter().map(|p| p.line).collect();
    lines.sort();
    assert_eq!(lines, (2..32).collect::<Vec<u64>>());
    let reason = outcome.unwritten_reason.unwrap();
    assert!(
        reason.starts_with("4 calls in a row wrote nothing"),
        "{reason}"
    );
    assert_eq!(
        calls.lock().unwrap().len(),
        8,
        "4 attempts for each of 2 batches"
    );
}

#[tokio::test]
async fn throttling_errors_are_retried() {
    let throttled = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;
    let rule = mock!(Client::batch_write_item)
        .sequence()
        .http_status(400, Some(throttled.to_string()))
        .times(2)
        .http_status(500, None)
        .output(|| BatchWriteItemOutput::builder().build())
        .build();
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]);
    let mut writer = BatchWriter::new(client, TABLE.into(), keys(), settings(10), far_deadline());
    writer.submit(pending(5)).await;
    let outcome = writer.finish().await;
    assert_eq!(outcome.written, 5);
    assert!(outcome.unwritten.is_empty(), "{:?}", outcome.unwritten);
    assert_eq!(rule.num_calls(), 4);
}

#[tokio::test]
async fn retries_stop_before_the_deadline() {
    let (client, _) = recording_client(|_, requests| MockResponse::Output(unprocessed(requests)));
    let slow = WriteSettings {
        backoff: Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(2),
        },
        ..settings(100)
    };
    let started = Instant::now();
    let mut writer = BatchWriter::new(
        client,
        TABLE.into(),
        keys(),
        slow,
        Instant::now() + Duration::from_millis(500),
    );
    writer.submit(pending(3)).await;
    let outcome = writer.finish().await;
    assert_eq!(outcome.unwritten.len(), 3);
    let reason = outcome.unwritten_reason.unwrap();
    assert!(
        reason.starts_with("not written before the time limit"),
        "{reason}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no retry was started past the deadline"
    );
}

/// A loader whose table is mocked and whose bucket is the local AWS's.
async fn loader(dynamodb: Client, csv: &str) -> (Loader, String, String) {
    let aws = LocalAws::shared();
    let s3 = aws.s3().await;
    let bucket = unique_name("retries");
    local_aws::create_bucket(&s3, &bucket).await.unwrap();
    let key = "incoming/orders.csv".to_string();
    local_aws::put_object(&s3, &bucket, &key, csv.as_bytes().to_vec())
        .await
        .unwrap();
    let loader = Loader {
        s3,
        dynamodb,
        table: TableInfo {
            name: TABLE.into(),
            keys: keys(),
            write_units: None,
        },
        settings: LoaderSettings {
            column_types: "amount:N".parse().unwrap(),
            blanks: BlankCells::Omit,
            rejects_prefix: "rejected/".into(),
            write: settings(3),
            checkpoint_margin: Duration::ZERO,
            progress_every: Duration::from_secs(30),
            stall_after: Duration::from_secs(900),
        },
        state: None,
    };
    (loader, bucket, key)
}

#[tokio::test]
async fn a_load_that_writes_nothing_for_too_long_stalls_and_names_the_items() {
    let (client, _) = recording_client(|_, requests| MockResponse::Output(unprocessed(requests)));
    let csv = "order_id,item_id,amount\na,1,1\nb,1,2\nc,1,x\n";
    let (mut loader, bucket, key) = loader(client, csv).await;
    loader.settings.stall_after = Duration::ZERO;
    let err = match loader
        .load(Checkpoint::start(&bucket, &key), far_deadline())
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("a load that wrote nothing must not succeed"),
    };
    assert_eq!(err.error_type(), "LoadStalled");
    let report = format!("s3://{bucket}/rejected/incoming/orders.csv.rejects.csv");
    assert_eq!(
        err.to_string(),
        format!(
            "loading s3://{bucket}/{key} made no progress for 0 minutes (3 calls in a row wrote \
             nothing: 2 items unprocessed (throttled)); the 2 items it could not write are listed \
             with their lines in {report}"
        )
    );
    let FileError::Stalled { summary, .. } = &err else {
        unreachable!()
    };
    assert_eq!(
        (
            summary.counts.rows_read,
            summary.counts.rows_rejected,
            summary.counts.items_failed
        ),
        (3, 1, 2)
    );

    let s3 = LocalAws::shared().s3().await;
    let text = local_aws::get_object_text(&s3, &bucket, "rejected/incoming/orders.csv.rejects.csv")
        .await
        .unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(lines, ["line", "4", "2", "3"]);
}

/// DynamoDB refuses a whole batch that names one key twice; the local AWS only refuses identical
/// items. This endpoint is as strict as DynamoDB.
#[tokio::test]
async fn batches_never_repeat_a_key() {
    let (client, calls) = recording_client(|_, requests| {
        let ids = order_ids(&requests);
        let distinct: HashSet<&String> = ids.iter().collect();
        if distinct.len() == ids.len() {
            MockResponse::Output(BatchWriteItemOutput::builder().build())
        } else {
            MockResponse::Http(validation_error(
                "Provided list of item keys contains duplicates",
            ))
        }
    });
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 0..60 {
        // Keys come back every 7 rows, with different values each time.
        csv.push_str(&format!("k{},1,{row}\n", row % 7));
    }
    let (loader, bucket, key) = loader(client, &csv).await;
    let LoadResult::Done(summary) = loader
        .load(Checkpoint::start(&bucket, &key), far_deadline())
        .await
        .unwrap()
    else {
        panic!("not paused")
    };
    let calls = calls.lock().unwrap();
    for ids in calls.iter() {
        let distinct: HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "a batch repeated a key: {ids:?}");
    }
    // Each batch fills with the 7 keys, the later rows replacing the earlier ones.
    assert_eq!(summary.counts.rows_read, 60);
    assert_eq!(
        summary.counts.items_written + summary.counts.duplicates_collapsed,
        60
    );
    assert_eq!(summary.counts.items_failed, 0);
    assert_eq!(
        summary.counts.items_written,
        calls.iter().map(Vec::len).sum::<usize>() as u64
    );
}

fn validation_error(message: &str) -> HttpResponse {
    let body = format!(
        r#"{{"__type":"com.amazon.coral.validate#ValidationException","message":"{message}"}}"#
    );
    HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn throttling_lowers_the_writes_in_flight_and_nothing_is_lost() {
    // The first four calls are throttled, every later one goes through.
    let (client, calls) = recording_client(|call, requests| {
        MockResponse::Output(if call <= 4 {
            unprocessed(requests)
        } else {
            BatchWriteItemOutput::builder().build()
        })
    });
    let eight = WriteSettings {
        max_in_flight: 8,
        ..settings(10)
    };
    let mut writer = BatchWriter::new(client, TABLE.into(), keys(), eight, far_deadline());
    for item in pending(20) {
        writer.submit(vec![item]).await;
    }
    let outcome = writer.finish().await;
    assert_eq!(outcome.written, 20);
    assert!(outcome.unwritten.is_empty());
    assert_eq!(calls.lock().unwrap().len(), 24);
    // Halved at least once; 20 clean writes are too few to climb all the way back to 8.
    assert!(outcome.in_flight_limit < 8, "{}", outcome.in_flight_limit);
}

/// Loads the file to its end the way the function does, one segment (invocation) after another;
/// each segment gets `deadline()`. Returns every segment's summary and checkpoint, and the end.
async fn load_to_end(
    loader: &Loader,
    first: Checkpoint,
    deadline: impl Fn() -> Instant,
) -> (
    Vec<(FileSummary, Checkpoint)>,
    Result<FileSummary, FileError>,
) {
    let mut segments = Vec::new();
    let mut job = first;
    loop {
        match loader.load(job, deadline()).await {
            Ok(LoadResult::Paused(summary, next)) => {
                segments.push((summary, (*next).clone()));
                job = *next;
            }
            Ok(LoadResult::Done(summary)) => return (segments, Ok(summary)),
            Ok(LoadResult::Superseded(summary)) => panic!("no other load: {summary:?}"),
            Err(e) => return (segments, Err(e)),
        }
        assert!(segments.len() < 100, "the load never ended");
    }
}

/// The rejects reports of every segment, concatenated without their header lines.
async fn report_rows(bucket: &str, reports: &[String]) -> Vec<(u64, String)> {
    let s3 = LocalAws::shared().s3().await;
    let mut rows = Vec::new();
    // A segment that rejected nothing wrote no report.
    for url in reports.iter().filter(|url| !url.is_empty()) {
        let key = url.strip_prefix(&format!("s3://{bucket}/")).unwrap();
        let text = local_aws::get_object_text(&s3, bucket, key).await.unwrap();
        // `line,reason,...`: the reason is quoted when it holds a comma (these hold no quotes).
        for row in text.lines().skip(1) {
            let (line, rest) = row.split_once(',').unwrap();
            let reason = match rest.strip_prefix('"') {
                Some(quoted) => quoted.split_once('"').unwrap().0,
                None => rest.split_once(',').unwrap().0,
            };
            rows.push((line.parse().unwrap(), reason.to_string()));
        }
    }
    rows
}

/// A table that keeps what it is sent: order id to amount, and how often each id was written.
type Store = Arc<Mutex<HashMap<String, (String, u32)>>>;

fn keep(store: &Store, requests: &[WriteRequest]) {
    let mut store = store.lock().unwrap();
    for w in requests {
        let item = w.put_request().unwrap().item();
        let (AttributeValue::S(id), Some(AttributeValue::N(amount))) =
            (&item["order_id"], item.get("amount"))
        else {
            panic!("{item:?}")
        };
        let entry = store.entry(id.clone()).or_default();
        *entry = (amount.clone(), entry.1 + 1);
    }
}

fn error_response(code: &str, message: &str) -> HttpResponse {
    let body =
        format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"{message}"}}"#);
    HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::from(body))
}

#[tokio::test]
async fn items_dynamodb_refuses_are_rejects_and_the_load_goes_on_across_segments() {
    let store = Store::default();
    let kept = Arc::clone(&store);
    // DynamoDB refuses a whole call for one bad item; the loader finds it by writing one by one.
    let (client, _) = recording_client(move |_, requests| {
        let ids = order_ids(&requests);
        if ids.iter().any(|id| id.starts_with("bad")) {
            MockResponse::Http(validation_error(
                "One or more parameter values were invalid: Type mismatch for Index Key",
            ))
        } else if ids.iter().any(|id| id.starts_with("big")) {
            MockResponse::Http(error_response(
                "ItemCollectionSizeLimitExceededException",
                "Item collection size limit exceeded",
            ))
        } else {
            keep(&kept, &requests);
            MockResponse::Output(BatchWriteItemOutput::builder().build())
        }
    });
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 0..60 {
        let id = match row {
            10 => "bad10".to_string(),
            40 => "big40".to_string(),
            _ => format!("o{row}"),
        };
        csv.push_str(&format!("{id},1,{row}\n"));
    }
    let (loader, bucket, key) = loader(client, &csv).await;
    // A deadline already reached: every segment loads its least (25 rows) and hands over.
    let (segments, end) =
        load_to_end(&loader, Checkpoint::start(&bucket, &key), Instant::now).await;
    let done = end.unwrap();
    assert!(segments.len() >= 2, "{} segments", segments.len() + 1);
    assert_eq!(
        (
            done.counts.rows_read,
            done.counts.items_written,
            done.counts.rows_rejected,
            done.counts.items_failed
        ),
        (60, 58, 2, 0)
    );
    assert_eq!(store.lock().unwrap().len(), 58);
    let mut reports: Vec<String> = segments.iter().map(|(s, _)| s.report.clone()).collect();
    reports.push(done.report.clone());
    let rows = report_rows(&bucket, &reports).await;
    assert_eq!(
        rows,
        [
            (
                12,
                "refused by DynamoDB: ValidationException: One or more parameter values were \
                 invalid: Type mismatch for Index Key"
                    .to_string()
            ),
            (
                42,
                "refused by DynamoDB: ItemCollectionSizeLimitExceededException: Item collection \
                 size limit exceeded"
                    .to_string()
            ),
        ]
    );
    // Each refused row is listed with its cells (typed values: the amount as DynamoDB keeps it).
    let s3 = LocalAws::shared().s3().await;
    let mut texts = String::new();
    for url in reports.iter().filter(|url| !url.is_empty()) {
        let key = url.strip_prefix(&format!("s3://{bucket}/")).unwrap();
        texts += &local_aws::get_object_text(&s3, &bucket, key).await.unwrap();
    }
    assert!(texts.contains("Index Key,bad10,1,10\n"), "{texts}");
    assert!(texts.contains("exceeded,big40,1,40\n"), "{texts}");
}

#[tokio::test]
async fn throttling_across_deadlines_hands_over_and_every_row_lands_once_the_last_row_winning() {
    // Handed over when the deadline comes (already past at every invocation here).
    throttled_load(Instant::now).await;
}

#[tokio::test]
async fn throttling_that_outlasts_the_attempts_hands_over_the_same_way() {
    throttled_load(far_deadline).await;
}

/// A table far below the load's pace: every row still lands once, the last row of a key winning.
async fn throttled_load(deadline: fn() -> Instant) {
    let store = Store::default();
    let kept = Arc::clone(&store);
    // The first batch's rows are refused the first three times they come, so the batches after
    // them get written first; after that every other call takes only half of what it carries.
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let (client, _) = recording_client(move |call, requests| {
        let mut seen = seen.lock().unwrap();
        let (mut taken, mut left) = (Vec::new(), Vec::new());
        for (i, request) in requests.into_iter().enumerate() {
            let id = order_ids(std::slice::from_ref(&request)).remove(0);
            let times = seen.entry(id.clone()).or_default();
            *times += 1;
            let first_batch = id == "dup" || id[1..].parse::<u32>().is_ok_and(|n| n < 25);
            if (first_batch && *times <= 3) || (call % 2 == 1 && i % 2 == 1) {
                left.push(request);
            } else {
                taken.push(request);
            }
        }
        keep(&kept, &taken);
        MockResponse::Output(unprocessed(left))
    });
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 0..200 {
        // `dup` is on line 2 and on line 181: the later row's amount must be the one kept.
        let id = if row == 0 || row == 179 {
            "dup".to_string()
        } else {
            format!("o{row}")
        };
        csv.push_str(&format!("{id},1,{row}\n"));
    }
    let (mut loader, bucket, key) = loader(client, &csv).await;
    loader.settings.write.max_attempts = 2;
    let (segments, end) = load_to_end(&loader, Checkpoint::start(&bucket, &key), deadline).await;
    let done = end.unwrap();
    assert!(!segments.is_empty(), "throttling handed the load over");
    for (_, next) in &segments {
        // Each hand-over resumes at the earliest row not written, and lists the rows to redo.
        let resume = next.resume.as_ref().unwrap();
        if let Some(redo) = &next.redo {
            assert!(redo.lines.iter().all(|&l| l >= resume.line), "{next:?}");
        }
    }
    assert_eq!(
        (
            done.counts.rows_read,
            done.counts.items_written,
            done.counts.items_failed
        ),
        (200, 200, 0)
    );
    let store = store.lock().unwrap();
    assert_eq!(store.len(), 199);
    assert_eq!(store["dup"].0, "179", "the last row of the key wins");
    let twice: Vec<_> = (store.iter())
        .filter(|(id, (_, writes))| *id != "dup" && *writes != 1)
        .collect();
    assert!(twice.is_empty(), "rows written more than once: {twice:?}");
}

#[tokio::test]
async fn a_mass_failure_holds_only_the_writes_in_flight() {
    let (client, _) = recording_client(|_, requests| MockResponse::Output(unprocessed(requests)));
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 0..20_000 {
        csv.push_str(&format!("o{row},1,{row}\n"));
    }
    let (mut loader, bucket, key) = loader(client, &csv).await;
    loader.settings.stall_after = Duration::ZERO;
    let err = match loader
        .load(Checkpoint::start(&bucket, &key), far_deadline())
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("nothing was written"),
    };
    let FileError::Stalled { summary, .. } = &err else {
        panic!("{err}")
    };
    // Reading stops at the first batch handed back: what is held is what was in flight.
    let in_flight = 25 * (loader.settings.write.max_in_flight as u64 + 1);
    assert!(summary.counts.items_failed <= in_flight, "{summary:?}");
    assert!(summary.counts.rows_read <= in_flight, "{summary:?}");
    assert_eq!(summary.counts.items_failed, summary.counts.rows_read);
}

#[tokio::test]
async fn a_long_run_of_rows_refused_for_one_reason_stops_the_load() {
    let (client, calls) = recording_client(|_, _| {
        MockResponse::Http(validation_error("Type mismatch for Index Key"))
    });
    let mut csv = String::from("order_id,item_id,amount\n");
    for row in 0..5_000 {
        csv.push_str(&format!("o{row},1,{row}\n"));
    }
    let (loader, bucket, key) = loader(client, &csv).await;
    let err = match loader
        .load(Checkpoint::start(&bucket, &key), far_deadline())
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("nothing was written"),
    };
    assert_eq!(err.error_type(), "RepeatedRejects");
    assert!(
        err.to_string()
            .contains("the last 1000 rows were all rejected"),
        "{err}"
    );
    let FileError::RepeatedRejects { summary, .. } = &err else {
        unreachable!()
    };
    assert!(summary.counts.rows_read < 1_200, "{summary:?}");
    assert!(calls.lock().unwrap().len() < 1_300);
}

#[tokio::test]
async fn a_file_whose_rows_are_all_rejected_fails() {
    let (client, calls) =
        recording_client(|_, _| MockResponse::Output(BatchWriteItemOutput::builder().build()));
    let csv = "order_id,item_id,amount\na,1,x\nb,1,y\n";
    let (loader, bucket, key) = loader(client, csv).await;
    let err = match loader
        .load(Checkpoint::start(&bucket, &key), far_deadline())
        .await
    {
        Err(e) => e,
        Ok(_) => panic!("nothing was loaded"),
    };
    assert_eq!(err.error_type(), "NothingLoaded");
    assert_eq!(
        err.to_string(),
        format!(
            "nothing from s3://{bucket}/{key} was loaded: all 2 rows were rejected, see \
             s3://{bucket}/rejected/incoming/orders.csv.rejects.csv"
        )
    );
    assert!(calls.lock().unwrap().is_empty());
}

/// An S3 that serves `text` from the offset a ranged GET asks for, breaking the first body off
/// after `break_after` bytes; report uploads are taken and dropped.
fn breaking_s3(text: &'static str, break_after: usize) -> aws_sdk_s3::Client {
    use aws_sdk_s3::operation::get_object::GetObjectOutput;
    use aws_sdk_s3::operation::put_object::PutObjectOutput;
    use aws_sdk_s3::primitives::ByteStream;
    use http_body_util::StreamBody;
    use hyper::body::Frame;

    let served = Arc::new(Mutex::new(0));
    let get = mock!(aws_sdk_s3::Client::get_object).then_compute_output(move |input| {
        let from: usize = (input.range())
            .and_then(|r| r.strip_prefix("bytes=")?.split('-').next()?.parse().ok())
            .unwrap_or(0);
        let mut served = served.lock().unwrap();
        *served += 1;
        let bytes = text.as_bytes()[from..].to_vec();
        let frames: Vec<Result<Frame<bytes::Bytes>, std::io::Error>> = if *served == 1 {
            vec![
                Ok(Frame::data(bytes::Bytes::from(
                    bytes[..break_after].to_vec(),
                ))),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "connection reset",
                )),
            ]
        } else {
            vec![Ok(Frame::data(bytes::Bytes::from(bytes)))]
        };
        let body = StreamBody::new(futures::stream::iter(frames));
        GetObjectOutput::builder()
            .body(ByteStream::new(SdkBody::from_body_1_x(body)))
            .e_tag("\"v1\"")
            .build()
    });
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get, &put])
}

#[tokio::test]
async fn a_dropped_s3_stream_is_read_again_from_the_row_it_broke_in() {
    let store = Store::default();
    let kept = Arc::clone(&store);
    let (client, _) = recording_client(move |_, requests| {
        keep(&kept, &requests);
        MockResponse::Output(BatchWriteItemOutput::builder().build())
    });
    const CSV: &str = "order_id,item_id,amount\na,1,1\nb,1,2\nc,1,3\nd,1,4\n";
    let (mut loader, bucket, key) = loader(client, CSV).await;
    // The first body breaks in the middle of `c,1,3`.
    loader.s3 = breaking_s3(CSV, CSV.find("c,1").unwrap() + 2);
    let (segments, end) =
        load_to_end(&loader, Checkpoint::start(&bucket, &key), far_deadline).await;
    let done = end.unwrap();
    let [(first, next)] = &segments[..] else {
        panic!("one hand-over: {segments:?}")
    };
    assert_eq!(first.counts.rows_read, 2);
    assert_eq!(
        next.resume.as_ref().unwrap().line,
        4,
        "from the row it broke in"
    );
    assert_eq!((done.counts.rows_read, done.counts.items_written), (4, 4));
    let store = store.lock().unwrap();
    assert_eq!(store.len(), 4);
    assert!(store.values().all(|(_, writes)| *writes == 1), "{store:?}");
}

#[tokio::test]
async fn a_call_that_never_answers_is_abandoned_and_tried_again() {
    // An endpoint that takes connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url(endpoint)
        .build();
    let hung = WriteSettings {
        call_timeout: Duration::from_millis(200),
        ..settings(3)
    };
    let started = Instant::now();
    let mut writer = BatchWriter::new(
        Client::from_conf(config),
        TABLE.into(),
        keys(),
        hung,
        far_deadline(),
    );
    writer.submit(pending(5)).await;
    let outcome = writer.finish().await;
    held.abort();
    assert_eq!(outcome.unwritten.len(), 5);
    assert_eq!(
        outcome.unwritten_reason.unwrap(),
        "3 calls in a row wrote nothing: no answer within 200ms"
    );
    // Three calls of 200 ms and short backoffs: nothing waited for the SDK's own timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// A fence that cannot tell whether a newer load holds the object (its state table unreachable).
struct Unreachable;

impl shared::load::write::gate::WriteGate for Unreachable {
    fn may_write(&self) -> shared::load::write::gate::GateFuture<'_> {
        let unsure = "the state table did not answer".to_string();
        Box::pin(async { shared::load::write::gate::GateAnswer::Unsure(unsure) })
    }

    fn holder(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn a_fence_that_cannot_answer_hands_the_items_on_and_fails_nothing() {
    let (client, calls) =
        recording_client(|_, _| MockResponse::Output(BatchWriteItemOutput::builder().build()));
    let mut writer = BatchWriter::new(client, TABLE.into(), keys(), settings(4), far_deadline())
        .with_gate(Some(Arc::new(Unreachable)));
    writer.submit(pending(25)).await;
    let outcome = writer.finish().await;
    assert!(calls.lock().unwrap().is_empty(), "nothing sent unconfirmed");
    assert_eq!(
        outcome.fatal, None,
        "not a failure: the next step asks again"
    );
    assert_eq!(outcome.unwritten.len(), 25);
    let reason = outcome.unwritten_reason.unwrap();
    assert!(
        reason.contains("the state table did not answer"),
        "{reason}"
    );
}
