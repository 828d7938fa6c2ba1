//! A file too big for one invocation loads across several, each row exactly once.

mod common;

use common::{Fixture, Recorder, gzip, load_in_segments, n, one_segment, s};
use serde_json::json;
use shared::load::plan::ledger;

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
        assert!(summaries[1].report.ends_with(".rejects.part002.csv"));
        let report = f.report(&summaries[1].report).await;
        assert_eq!(
            report,
            "line,reason,order_id,item_id,product,amount\n\
             42,\"column \"\"amount\"\": \"\"forty\"\" is not a decimal number\",o40,i40,p40,forty\n"
        );
    }
}

#[tokio::test]
async fn a_continuation_reads_the_version_its_load_began_with() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    let first_version = f.put("incoming/big.csv", sixty_rows()).await;
    let recorder = Recorder::default();
    let request = json!({"bucket": f.bucket, "key": "incoming/big.csv"});
    let (_, next) = one_segment(&f, request, &recorder).await;
    let next = next.expect("handed over");
    assert_eq!(next.pin.version_id.as_deref(), Some(first_version.as_str()));

    // A new upload between segments: the rest of the load still reads the first version (the new
    // version's own event loads the new one).
    f.put("incoming/big.csv", "order_id,item_id\nnew,1\n").await;
    let mut payload = json!({"continue": next});
    for _ in 0..5 {
        let (response, next) = one_segment(&f, payload, &recorder).await;
        assert_eq!(
            response.files[0].version.as_deref(),
            Some(first_version.as_str())
        );
        let Some(next) = next else {
            break;
        };
        payload = json!({"continue": next});
    }
    assert_eq!(f.items().await.len(), 59);
    assert!(f.item("new", "1").await.is_none());
}

#[tokio::test]
async fn a_continuation_delivered_twice_runs_once() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    f.put("incoming/big.csv", sixty_rows()).await;
    let recorder = Recorder::default();
    let request = json!({"bucket": f.bucket, "key": "incoming/big.csv"});
    let (_, next) = one_segment(&f, request, &recorder).await;
    let next = next.expect("handed over");
    let payload = json!({"continue": next});

    // The first delivery, request r2, started and died (out of memory, say) holding its lease.
    let store = f.store();
    let until = chrono::Utc::now() + chrono::Duration::minutes(15);
    let taken = ledger::start_segment(store, &next.load_id, 0, 2, "r2", until).await;
    assert_eq!(taken, Ok(None));
    // A second delivery, another request, meanwhile: it loads nothing, and says why.
    let again = f.invoke_as("r3", payload.clone()).await.unwrap();
    assert!(again.files.is_empty(), "{again:?}");
    let reason = &again.ignored[0].reason;
    assert!(
        reason.contains("a second delivery") && reason.contains("request r2 is loading it"),
        "{reason}"
    );
    // Lambda's retry of r2 (the same request ID) runs it; with time enough, the rest loads here.
    let retry = f.invoke_as("r2", payload.clone()).await.unwrap();
    assert_eq!(retry.files[0].segment, 2);
    assert!(retry.files[0].complete);
    assert_eq!(f.items().await.len(), 59);
    // Delivered once more after it finished, even as r2: skipped.
    for request in ["r2", "r4"] {
        let late = f.invoke_as(request, payload.clone()).await.unwrap();
        assert!(late.files.is_empty(), "{late:?}");
        assert!(late.ignored[0].reason.contains("it was loaded already"));
    }
}

#[tokio::test]
async fn a_continuation_whose_invocation_died_can_be_sent_again() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    f.put("incoming/big.csv", sixty_rows()).await;
    let recorder = Recorder::default();
    let request = json!({"bucket": f.bucket, "key": "incoming/big.csv"});
    let (_, next) = one_segment(&f, request, &recorder).await;
    let next = next.expect("handed over");
    // Request r2 took the segment and died; its lease (its deadline) has run out.
    let store = f.store();
    let ran_out = chrono::Utc::now() - chrono::Duration::seconds(1);
    let taken = ledger::start_segment(store, &next.load_id, 0, 2, "r2", ran_out).await;
    assert_eq!(taken, Ok(None));
    // Sent again from the failure queue (a new request): it loads.
    let redriven = f
        .invoke_as("redrive", json!({"continue": next}))
        .await
        .unwrap();
    assert!(redriven.files[0].complete, "{redriven:?}");
    assert_eq!(f.items().await.len(), 59);
}
