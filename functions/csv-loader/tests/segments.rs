//! A file too big for one invocation loads across several (the steps of its execution), each row
//! exactly once. The steps are run here as the state machine runs them; `state_machine.rs` runs the
//! template's own state machine.

mod common;

use common::{Fixture, gzip, load_in_segments, n, next_segment, one_segment, s};
use serde_json::json;

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
        let summaries = load_in_segments(&f, key).await;

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
async fn the_rest_goes_on_as_an_execution_named_after_the_load() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    let version = f.put("incoming/big.csv", sixty_rows()).await;
    let event = f.s3_event_for("incoming/big.csv", &version);
    let (response, next) = one_segment(&f, event.clone()).await;
    let execution = &response.executions[0];
    assert!(execution.new);
    assert!(
        execution.name.starts_with("load-incoming-big-csv-"),
        "{}",
        execution.name
    );
    assert!(execution.console.contains("console.aws.amazon.com/states/"));
    let next = next.expect("the rest of the file is the execution's input");
    assert_eq!((next.segment, next.counts.rows_read), (2, 25));
    // The same event again finds the load begun: nothing is loaded or started twice.
    let again = f.invoke(event).await.unwrap();
    assert!(
        again.files.is_empty() && again.executions.is_empty(),
        "{again:?}"
    );
    assert!(
        again.ignored[0]
            .reason
            .contains("a second event for a version")
    );
    assert_eq!(f.executions().await, std::slice::from_ref(&execution.name));
}

#[tokio::test]
async fn a_later_step_reads_the_version_its_load_began_with() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    let first_version = f.put("incoming/big.csv", sixty_rows()).await;
    let request = json!({"bucket": f.bucket, "key": "incoming/big.csv"});
    let (_, next) = one_segment(&f, request).await;
    let mut next = next.expect("handed on");
    assert_eq!(next.pin.version_id.as_deref(), Some(first_version.as_str()));

    // A new upload between segments: the rest of the load still reads the first version (the new
    // version's own event loads the new one).
    f.put("incoming/big.csv", "order_id,item_id\nnew,1\n").await;
    for _ in 0..5 {
        let step = next_segment(&f, &next).await;
        let summary = step.summary.expect("a segment loaded");
        assert_eq!(summary.version.as_deref(), Some(first_version.as_str()));
        let Some(job) = step.next else {
            break;
        };
        next = job;
    }
    assert_eq!(f.items().await.len(), 59);
    assert!(f.item("new", "1").await.is_none());
}

#[tokio::test]
async fn a_step_retried_after_its_invocation_died_loads_again() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    f.put("incoming/big.csv", sixty_rows()).await;
    let request = json!({"bucket": f.bucket, "key": "incoming/big.csv"});
    let (_, next) = one_segment(&f, request).await;
    let next = next.expect("handed on");
    // The step's first invocation died (out of memory, say); the state machine's retry sends the
    // same job again, with time enough: the rest loads, each row once.
    let retried = f.step(&next).await.unwrap();
    assert!(retried.next.is_none(), "{retried:?}");
    let summary = retried.summary.expect("loaded");
    assert!(summary.complete);
    assert_eq!(summary.counts.rows_read, 60);
    assert_eq!(f.items().await.len(), 59);
}

#[tokio::test]
async fn a_file_that_ends_where_a_segment_pauses_finishes_in_the_next() {
    let f = Fixture::new(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    let mut csv = String::from("order_id,item_id\n");
    for row in 1..=50 {
        csv.push_str(&format!("o{row},i\n"));
    }
    f.put("incoming/even.csv", csv).await;
    let summaries = load_in_segments(&f, "incoming/even.csv").await;
    let last = summaries.last().unwrap();
    assert!(last.complete, "{summaries:?}");
    assert_eq!(last.counts.rows_read, 50);
    assert_eq!(f.items().await.len(), 50);
}
