//! The csv-loader's handler against the local AWS: every trigger shape and every tricky input.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Fixture, gzip, n, s, sample_event, seed_csv};
use serde_json::json;
use shared::load::summary::{Counts, FileSummary};

const HEADER: &str =
    "order_id,item_id,customer_id,product,amount,currency,time_stamp,transaction_date";

fn assert_accounted(summary: &FileSummary) {
    let c = summary.counts;
    assert_eq!(
        c.rows_read,
        c.items_written + c.rows_rejected + c.duplicates_collapsed + c.items_failed,
        "every row is written, rejected or collapsed: {c:?}"
    );
}

fn counts(
    rows_read: u64,
    items_written: u64,
    rows_rejected: u64,
    duplicates_collapsed: u64,
) -> Counts {
    Counts {
        rows_read,
        items_written,
        rows_rejected,
        duplicates_collapsed,
        items_failed: 0,
        items_superseded: 0,
    }
}

#[tokio::test]
async fn seed_csv_loads_with_typed_columns() {
    let f = Fixture::new(&[]).await;
    let version = f.put("incoming/order_data.csv", seed_csv()).await;
    let response = f
        .invoke(f.s3_event(&["incoming/order_data.csv"]))
        .await
        .unwrap();

    let [summary] = &response.files[..] else {
        panic!("one file: {response:?}")
    };
    assert_eq!(summary.counts, counts(40, 40, 0, 0));
    assert!(summary.complete);
    assert_eq!(summary.report, "", "no row rejected: no report");
    assert_eq!(summary.version.as_deref(), Some(version.as_str()));
    assert_accounted(summary);
    assert_eq!(f.items().await.len(), 40);

    // Row 4: 3802,38,403,"Tuna, yellowfin",8463,JPY,2020-09-03T06:02:05Z,9-3-2020
    let item = f.item("3802", "38").await.expect("row 4 loaded");
    assert_eq!(item["customer_id"], n("403"));
    assert_eq!(item["amount"], n("8463"));
    assert_eq!(item["product"], s("Tuna, yellowfin"));
    assert_eq!(item["currency"], s("JPY"));
    assert_eq!(item["time_stamp"], s("2020-09-03T06:02:05Z"));
    assert_eq!(item["transaction_date"], s("9-3-2020"));
    assert_eq!(item.len(), 8);
    // Non-ASCII names, quoted and unquoted.
    assert_eq!(
        f.item("3804", "26").await.unwrap()["product"],
        s("東京ラーメン")
    );
    assert_eq!(
        f.item("3803", "39").await.unwrap()["product"],
        s("Jalapeño")
    );

    // Nothing was rejected, so no report was written.
    let reports = (f.s3.list_objects_v2().bucket(&f.bucket).prefix("rejected/"))
        .send()
        .await
        .unwrap();
    assert_eq!(reports.key_count(), Some(0));
}

#[tokio::test]
async fn bom_crlf_quoted_newlines_and_non_ascii() {
    let csv = format!(
        "\u{feff}{HEADER}\r\n\
         1,1,7,\"Crème brûlée, large\",12.50,EUR,2020-09-01T00:00:00Z,9-1-2020\r\n\
         1,2,7,\"Two\r\nlines, \"\"quoted\"\"\",3,USD,2020-09-01T00:00:00Z,9-1-2020\r\n\
         2,1,8,東京ラーメン,0.000000000000000000000000000000000000001,JPY,2020-09-01T00:00:00Z,9-1-2020\r\n"
    );
    for (key, body) in [
        ("incoming/tricky.csv", csv.clone().into_bytes()),
        // gzip is recognised by its magic bytes, whatever the name says.
        ("incoming/tricky-gzipped.csv", gzip(csv.as_bytes())),
    ] {
        let f = Fixture::new(&[]).await;
        f.put(key, body).await;
        let response = f
            .invoke(json!({"bucket": f.bucket, "key": key}))
            .await
            .unwrap();
        assert_eq!(response.files[0].counts, counts(3, 3, 0, 0), "{key}");

        let first = f.item("1", "1").await.expect("first row");
        // The BOM is not part of the first column's name.
        assert_eq!(first["order_id"], s("1"));
        assert_eq!(first["product"], s("Crème brûlée, large"));
        assert_eq!(first["amount"], n("12.50"));
        let second = f.item("1", "2").await.expect("second row");
        assert_eq!(second["product"], s("Two\r\nlines, \"quoted\""));
        let third = f.item("2", "1").await.expect("third row");
        assert_eq!(third["product"], s("東京ラーメン"));
        // 39 significant digits would not survive an f64; the text is kept as written.
        assert_eq!(
            third["amount"],
            n("0.000000000000000000000000000000000000001")
        );
    }
}

#[tokio::test]
async fn gzip_file_with_a_gz_name_loads() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/order_data.csv.gz", gzip(&seed_csv())).await;
    let response = f
        .invoke(f.s3_event(&["incoming/order_data.csv.gz"]))
        .await
        .unwrap();
    assert_eq!(response.files[0].counts, counts(40, 40, 0, 0));
    assert_eq!(f.items().await.len(), 40);
    assert_eq!(f.item("3802", "38").await.unwrap()["amount"], n("8463"));
}

#[tokio::test]
async fn every_way_s3_delivers_an_upload_loads() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/ORDERS.CSV", seed_csv()).await;
    f.put("incoming/data.Csv.gz", gzip(&seed_csv())).await;
    let version = f.put("incoming/through eventbridge.csv", seed_csv()).await;
    f.put("incoming/minimal.csv", seed_csv()).await;
    // Suffixes in any case, through S3's own notification.
    let response = f
        .invoke(f.s3_event(&["incoming/ORDERS.CSV", "incoming/data.Csv.gz"]))
        .await
        .unwrap();
    let loaded: Vec<_> = response
        .files
        .iter()
        .map(|s| (s.key.as_str(), s.counts))
        .collect();
    assert_eq!(
        loaded,
        [
            ("incoming/ORDERS.CSV", counts(40, 40, 0, 0)),
            ("incoming/data.Csv.gz", counts(40, 40, 0, 0))
        ]
    );
    // Through EventBridge: the key is not URL-encoded, the version and ETag are the upload's.
    let etag = (f
        .s3
        .head_object()
        .bucket(&f.bucket)
        .key("incoming/through eventbridge.csv"))
    .send()
    .await
    .unwrap()
    .e_tag()
    .unwrap()
    .trim_matches('"')
    .to_string();
    let eventbridge = json!({
        "version": "0", "id": "7e1f", "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2026-11-25T05:00:00Z", "region": "us-east-1",
        "resources": [format!("arn:aws:s3:::{}", f.bucket)],
        "detail": {"version": "0", "bucket": {"name": f.bucket},
                   "object": {"key": "incoming/through eventbridge.csv", "size": 3200,
                              "etag": etag, "version-id": version, "sequencer": "0062E99A88DC407460"},
                   "request-id": "R", "requester": "123456789012", "reason": "PutObject"}
    });
    let response = f.invoke(eventbridge).await.unwrap();
    assert_eq!(response.files[0].key, "incoming/through eventbridge.csv");
    assert_eq!(response.files[0].version, Some(version));
    assert_eq!(response.files[0].counts, counts(40, 40, 0, 0));
    // Only the fields the loader reads.
    let minimal = json!({"Records": [{"s3": {"bucket": {"name": f.bucket},
                                              "object": {"key": "incoming/minimal.csv"}}}]});
    let response = f.invoke(minimal).await.unwrap();
    assert_eq!(response.files[0].counts, counts(40, 40, 0, 0));
    // A schedule (EventBridge Scheduler's own event here) loads the default object, as {} does.
    f.put("incoming/order_data.csv", seed_csv()).await;
    let response = f
        .invoke(sample_event("backup-scheduler.json"))
        .await
        .unwrap();
    assert_eq!(response.files[0].key, "incoming/order_data.csv");
    assert_eq!(response.files[0].counts, counts(40, 40, 0, 0));
}

#[tokio::test]
async fn empty_and_header_only_files_load_nothing_and_succeed() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/empty.csv", Vec::new()).await;
    f.put("incoming/header-only.csv", format!("{HEADER}\n"))
        .await;
    let response = f
        .invoke(f.s3_event(&["incoming/empty.csv", "incoming/header-only.csv"]))
        .await
        .unwrap();
    assert_eq!(response.files.len(), 2);
    for summary in &response.files {
        assert_eq!(summary.counts, Counts::default(), "{}", summary.key);
        assert!(summary.complete);
    }
    assert!(f.items().await.is_empty());
}

#[tokio::test]
async fn bad_rows_are_rejected_with_line_and_reason_while_good_rows_load() {
    let f = Fixture::new(&[("COLUMN_TYPES", "customer_id:N,amount:N,meta:JSON")]).await;
    let big = "x".repeat(410_000);
    let csv = format!(
        "order_id,item_id,customer_id,product,amount,meta\n\
         1,1,7,Good,10,\"{{\"\"size\"\": 2, \"\"tags\"\": [\"\"a\"\"]}}\"\n\
         1,2,7,Bad number,12x,{{}}\n\
         1,3,7,Too few columns\n\
         ,4,7,Empty key,5,{{}}\n\
         1,5,7,Bad JSON,5,{{not json\n\
         1,6,7,{big},5,{{}}\n\
         1,7,7,\"Quoted,\nbut good\",1e3,\"[1,2]\"\n\
         1,8,7,Huge number,123456789012345678901234567890123456789,{{}}\n"
    );
    f.put("incoming/mixed.csv", csv).await;
    let err_or_ok = f
        .invoke(json!({"bucket": f.bucket, "key": "incoming/mixed.csv"}))
        .await;
    let response = err_or_ok.expect("rejected rows do not fail the invocation");
    let summary = &response.files[0];
    let report = f.report(&summary.report).await;
    assert_eq!(
        summary.counts,
        counts(8, 2, 6, 0),
        "{}",
        report.replace(&big, "x...")
    );
    assert_accounted(summary);

    let good = f.item("1", "1").await.expect("line 2 loaded");
    let AttributeValue::M(meta) = &good["meta"] else {
        panic!("meta is a map: {good:?}")
    };
    assert_eq!(meta["size"], n("2"));
    assert_eq!(meta["tags"], AttributeValue::L(vec![s("a")]));
    let quoted = f.item("1", "7").await.expect("lines 8-9 loaded");
    assert_eq!(quoted["product"], s("Quoted,\nbut good"));
    assert_eq!(quoted["amount"], n("1e3"));
    assert_eq!(quoted["meta"], AttributeValue::L(vec![n("1"), n("2")]));
    assert_eq!(f.items().await.len(), 2);

    // The report names each rejected row by the line it starts on, with the reason and the row.
    let mut rows = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(report.as_bytes());
    assert_eq!(
        rows.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "line",
            "reason",
            "order_id",
            "item_id",
            "customer_id",
            "product",
            "amount",
            "meta"
        ]
    );
    let rejected: Vec<(String, String)> = rows
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    let lines: Vec<&str> = rejected.iter().map(|(line, _)| line.as_str()).collect();
    assert_eq!(lines, ["3", "4", "5", "6", "7", "10"]);
    let reason = |line: &str| &rejected.iter().find(|(l, _)| l == line).unwrap().1;
    assert_eq!(
        reason("3"),
        "column \"amount\": \"12x\" is not a decimal number"
    );
    assert_eq!(reason("4"), "expected 6 columns, found 4");
    assert_eq!(reason("5"), "key column \"order_id\" is empty");
    assert!(reason("6").contains("\"meta\""), "{}", reason("6"));
    assert!(reason("7").contains("409600-byte limit"), "{}", reason("7"));
    assert!(reason("10").contains("at most 38"), "{}", reason("10"));
}

#[tokio::test]
async fn duplicate_keys_in_one_batch_collapse_to_the_last_row() {
    let f = Fixture::new(&[]).await;
    let csv = format!(
        "{HEADER}\n\
         9,1,1,First,1,USD,t,d\n\
         9,2,1,Other,2,USD,t,d\n\
         9,1,1,Second,3,USD,t,d\n\
         9,1,1,Last,4,USD,t,d\n"
    );
    f.put("incoming/dupes.csv", csv).await;
    let response = f.invoke(f.s3_event(&["incoming/dupes.csv"])).await.unwrap();
    let summary = &response.files[0];
    assert_eq!(summary.counts, counts(4, 2, 0, 2));
    assert_accounted(summary);
    let item = f.item("9", "1").await.unwrap();
    assert_eq!(item["product"], s("Last"));
    assert_eq!(item["amount"], n("4"));
}

#[tokio::test]
async fn event_keys_are_decoded_and_other_objects_ignored() {
    let f = Fixture::new(&[]).await;
    let decoded = "incoming/my orders+2026 é.csv";
    f.put(decoded, format!("{HEADER}\n5,1,1,Spaces,1,USD,t,d\n"))
        .await;
    f.put(
        "incoming/second.csv",
        format!("{HEADER}\n6,1,1,Second,1,USD,t,d\n"),
    )
    .await;
    let response = f
        .invoke(f.s3_event(&[
            "incoming/my+orders%2B2026+%C3%A9.csv",
            "incoming/second.csv",
            "elsewhere/order_data.csv",
            "incoming/notes.txt",
            "rejected/incoming/second.csv.rejects.csv",
        ]))
        .await
        .unwrap();
    let keys: Vec<&str> = response.files.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys, [decoded, "incoming/second.csv"]);
    let ignored: Vec<&str> = response.ignored.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        ignored,
        [
            "elsewhere/order_data.csv",
            "incoming/notes.txt",
            "rejected/incoming/second.csv.rejects.csv"
        ]
    );
    assert_eq!(f.item("5", "1").await.unwrap()["product"], s("Spaces"));
    assert_eq!(f.item("6", "1").await.unwrap()["product"], s("Second"));
    // Nothing rejected: no report is written.
    assert_eq!(response.files[0].report, "");
}

#[tokio::test]
async fn console_test_with_empty_object_loads_the_default_object() {
    let f = Fixture::new(&[]).await;
    f.put("incoming/order_data.csv", seed_csv()).await;
    let response = f.invoke(json!({})).await.unwrap();
    assert_eq!(response.files[0].key, "incoming/order_data.csv");
    assert_eq!(response.files[0].counts, counts(40, 40, 0, 0));
}

#[tokio::test]
async fn a_version_loads_once_and_an_explicit_reload_loads_it_again() {
    let f = Fixture::new(&[]).await;
    let version = f.put("incoming/order_data.csv", seed_csv()).await;
    let event = f.s3_event_for("incoming/order_data.csv", &version);
    f.invoke(event.clone()).await.unwrap();
    let first = sorted(f.items().await);
    assert_eq!(first.len(), 40);
    // An application changes a loaded item.
    let changed = f.items().await.remove(0);
    let (order, item) = (changed["order_id"].clone(), changed["item_id"].clone());
    let changed_by_app = || async {
        let item = (f.dynamodb.get_item().table_name(&f.table))
            .key("order_id", order.clone())
            .key("item_id", item.clone())
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        item.get("amount") == Some(&n("999"))
    };
    (f.dynamodb.update_item().table_name(&f.table))
        .key("order_id", order.clone())
        .key("item_id", item.clone())
        .update_expression("SET amount = :a")
        .expression_attribute_values(":a", n("999"))
        .send()
        .await
        .unwrap();
    // S3 delivers the event again, and someone asks for the file by name: neither loads it again.
    let by_name = json!({"bucket": f.bucket, "key": "incoming/order_data.csv"});
    for duplicate in [event, by_name.clone(), json!({})] {
        let response = f.invoke(duplicate).await.unwrap();
        assert!(response.files.is_empty(), "{response:?}");
        let reason = &response.ignored[0].reason;
        assert!(
            reason.contains("a second event for a version that was loaded"),
            "{reason}"
        );
        assert!(reason.contains("\"reload\": true"), "{reason}");
    }
    assert!(
        changed_by_app().await,
        "the application's write survives a duplicate event"
    );
    // A reload, asked for by name, loads the version again.
    let mut reload = by_name;
    reload["reload"] = json!(true);
    let response = f.invoke(reload).await.unwrap();
    assert_eq!(response.files[0].counts.items_written, 40);
    assert!(!changed_by_app().await);
    assert_eq!(sorted(f.items().await), first);
}

fn sorted(mut items: Vec<local_aws::Item>) -> Vec<String> {
    let mut text: Vec<String> = items
        .drain(..)
        .map(|item| {
            let mut fields: Vec<_> = item
                .into_iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            fields.sort();
            fields.join(",")
        })
        .collect();
    text.sort();
    text
}

#[tokio::test]
async fn bad_requests_are_refused_with_a_reason() {
    let f = Fixture::new(&[]).await;
    for (payload, expect) in [
        (json!([1, 2]), "got an array"),
        (json!({"bucket": f.bucket}), "missing field `key`"),
        (json!({"hello": 1}), "[\"hello\"]"),
        (
            json!({"bucket": f.bucket, "key": "rejected/x.csv.rejects.csv"}),
            "is a rejects report",
        ),
        (json!({"Records": [{"s3": {}}]}), "not a valid S3 event"),
    ] {
        let err = f.invoke(payload.clone()).await.unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(diagnostic.error_type, "InvalidRequest", "{payload}");
        assert!(
            diagnostic.error_message.contains(expect),
            "{payload}: {}",
            diagnostic.error_message
        );
    }
}

#[tokio::test]
async fn missing_object_fails_the_invocation() {
    let f = Fixture::new(&[]).await;
    let err = f
        .invoke(json!({"bucket": f.bucket, "key": "incoming/absent.csv"}))
        .await
        .unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "ObjectNotFound");
    assert!(
        diagnostic.error_message.contains("incoming/absent.csv"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn console_test_without_a_bucket_is_refused() {
    let f = Fixture::new(&[("BUCKET_NAME", "")]).await;
    let err = f.invoke(json!({})).await.unwrap_err();
    assert!(err.to_string().contains("BUCKET_NAME is not set"), "{err}");
}

#[tokio::test]
async fn an_unbalanced_quote_ends_the_file_naming_its_line_after_loading_the_rows_before() {
    let f = Fixture::new(&[]).await;
    let mut csv = format!(
        "{HEADER}\n\
         1,1,7,Tuna,10,JPY,2020-09-03T06:02:05Z,9-3-2020\n\
         2,1,7,\"Tuna,10,JPY,2020-09-03T06:02:05Z,9-3-2020\n"
    );
    // Everything after the open quote is one field, longer than any row can be.
    for row in 0..40_000 {
        csv.push_str(&format!(
            "{row},1,7,Tuna,10,JPY,2020-09-03T06:02:05Z,9-3-2020\n"
        ));
    }
    f.put("incoming/unbalanced.csv", csv).await;
    let err = f
        .invoke(f.s3_event(&["incoming/unbalanced.csv"]))
        .await
        .unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(
        diagnostic.error_type, "MalformedFile",
        "no retry reads it better"
    );
    assert!(
        diagnostic
            .error_message
            .contains("the quote opened on line 3 does not close within 1048576 bytes"),
        "{}",
        diagnostic.error_message
    );
    assert!(
        f.item("1", "1").await.is_some(),
        "the row before was loaded"
    );
    assert_eq!(f.items().await.len(), 1);
}

#[tokio::test]
async fn cr_only_line_endings_are_refused_clearly() {
    let f = Fixture::new(&[]).await;
    let csv = format!("{HEADER}\r1,1,7,Tuna,10,JPY,2020-09-03T06:02:05Z,9-3-2020\r");
    f.put("incoming/classic-mac.csv", csv).await;
    let err = f
        .invoke(f.s3_event(&["incoming/classic-mac.csv"]))
        .await
        .unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(diagnostic.error_type, "InvalidHeader");
    assert!(
        diagnostic.error_message.contains(
            "holds a carriage return alone: the file's lines end with CR only? save it with LF \
             or CRLF line endings"
        ),
        "{}",
        diagnostic.error_message
    );
    assert!(f.items().await.is_empty());
}

#[tokio::test]
async fn a_carriage_return_alone_inside_a_cell_is_data() {
    let f = Fixture::new(&[]).await;
    let csv = format!("{HEADER}\n1,1,7,Tu\rna,10,JPY,2020-09-03T06:02:05Z,9-3-2020\n");
    f.put("incoming/cr.csv", csv).await;
    let response = f.invoke(f.s3_event(&["incoming/cr.csv"])).await.unwrap();
    assert_eq!(response.files[0].counts.items_written, 1, "{response:?}");
    let items = f.items().await;
    let names: Vec<String> = (items.iter())
        .filter_map(|i| {
            i.values()
                .find_map(|v| v.as_s().ok().filter(|s| s.contains('\r')))
        })
        .cloned()
        .collect();
    assert_eq!(names, ["Tu\rna"]);
}

#[tokio::test]
async fn a_wrong_type_in_every_row_stops_the_load_early_whatever_the_values() {
    let f = Fixture::new(&[]).await;
    let mut csv = format!("{HEADER}\n");
    for row in 0..1500 {
        csv.push_str(&format!(
            "{row},1,7,Tuna,not-a-number-{row},JPY,2020-09-03T06:02:05Z,9-3-2020\n"
        ));
    }
    f.put("incoming/wrong-type.csv", csv).await;
    let err = f
        .invoke(f.s3_event(&["incoming/wrong-type.csv"]))
        .await
        .unwrap_err();
    let diagnostic = lambda_runtime::Diagnostic::from(err);
    assert_eq!(
        diagnostic.error_type, "RepeatedRejects",
        "{}",
        diagnostic.error_message
    );
    assert!(
        diagnostic.error_message.contains("stopped at line 1001"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn a_version_whose_load_failed_is_loaded_again_when_sent_again() {
    let f = Fixture::new(&[]).await;
    let version = f
        .put("incoming/orders.csv", "order_id,order_id\n1,2\n")
        .await;
    let event = f.s3_event_for("incoming/orders.csv", &version);
    // Sent again from the failure queue: not a duplicate, it is read again (and fails again).
    for _ in 0..2 {
        let failed = lambda_runtime::Diagnostic::from(f.invoke(event.clone()).await.unwrap_err());
        assert_eq!(failed.error_type, "InvalidHeader");
    }
}
