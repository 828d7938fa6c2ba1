//! A file too big for one invocation loads across several, each row exactly once.

mod common;

use common::{Fixture, Recorder, gzip, load_in_segments, n, s};
use serde_json::json;
use shared::function_error::ErrorType;
use shared::load::plan::request::plan_request;
use shared::load::plan::run::run_plan;
use tokio::time::Instant;

/// 60 data rows; row 10 spans two lines, row 40 has a bad amount.
fn sixty_rows() -> String {
    let mut csv = String::from("order_id,item_id,product,amount\r\n");
    for row in 1..=60 {
        let product = if row == 10 {
            "\"two\nlines\"".to_string()
        } else {
            format!("p{row}")
        };
        let amount = if row == 40 {
            "forty".to_string()
        } else {
            row.to_string()
        };
        csv.push_str(&format!("o{row},i{row},{product},{amount}\r\n"));
    }
    csv
}

#[tokio::test]
async fn a_file_loads_across_invocations_each_row_once() {
    for (key, body) in [
        ("incoming/big.csv", sixty_rows().into_bytes()),
        ("incoming/big.csv.gz", gzip(sixty_rows().as_bytes())),
    ] {
        let f = Fixture::new(&[
            ("CHECKPOINT_MARGIN_SECONDS", "0"),
            ("COLUMN_TYPES", "amount:N"),
        ])
        .await;
        f.put(key, body).await;
        let responses = load_in_segments(&f, key).await;

        let summaries: Vec<_> = responses.iter().map(|r| r.files[0].clone()).collect();
        let segments: Vec<u32> = summaries.iter().map(|s| s.segment).collect();
        assert_eq!(segments, [1, 2, 3], "{key}");
        // Running totals: 25 rows, then 50, then all 60, each read once.
        let read: Vec<u64> = summaries.iter().map(|s| s.counts.rows_read).collect();
        assert_eq!(read, [25, 50, 60], "{key}");
        let complete: Vec<bool> = summaries.iter().map(|s| s.complete).collect();
        assert_eq!(complete, [false, false, true]);
        let last = summaries.last().unwrap().counts;
        assert_eq!((last.items_written, last.rows_rejected), (59, 1), "{key}");

        let items = f.items().await;
        assert_eq!(items.len(), 59, "{key}");
        for row in (1..=60).filter(|r| *r != 40) {
            let item = f
                .item(&format!("o{row}"), &format!("i{row}"))
                .await
                .unwrap();
            assert_eq!(item["amount"], n(&row.to_string()), "{key} row {row}");
        }
        assert_eq!(
            f.item("o10", "i10").await.unwrap()["product"],
            s("two\nlines")
        );

        // Row 40 was rejected in segment 2 and is reported there with its line in the file: line
        // numbers run on across segments (the header and row 10's second line come before it).
        let report = f.text(&format!("rejected/{key}.rejects.part002.csv")).await;
        assert_eq!(
            report,
            "line,reason,order_id,item_id,product,amount\n\
             42,\"column \"\"amount\"\": \"\"forty\"\" is not a decimal number\",o40,i40,p40,forty\n"
        );
    }
}

#[tokio::test]
async fn a_file_changed_between_segments_is_not_mixed() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    f.put("incoming/big.csv", sixty_rows()).await;
    let recorder = Recorder::default();
    let plan = plan_request(
        json!({"bucket": f.bucket, "key": "incoming/big.csv"}),
        &f.state.config.filter,
        None,
    )
    .unwrap();
    run_plan(
        &f.state.loader,
        f.state.config.fan_out,
        plan,
        Instant::now(),
        &recorder,
    )
    .await
    .unwrap();
    let next = recorder.0.lock().unwrap().pop().expect("handed over");

    f.put("incoming/big.csv", "order_id,item_id\nnew,1\n").await;
    let plan = plan_request(json!({"continue": next}), &f.state.config.filter, None).unwrap();
    let err = run_plan(
        &f.state.loader,
        f.state.config.fan_out,
        plan,
        Instant::now(),
        &recorder,
    )
    .await
    .unwrap_err();
    assert_eq!(err.error_type(), "ObjectChanged");
    assert!(err.to_string().contains("incoming/big.csv"), "{err}");
}
