//! One load reads one version of an object, and of two loads of one object the newer wins.

mod common;

use std::time::Duration;

use common::{Fixture, s};

const KEY: &str = "incoming/orders.csv";
const ROWS: u32 = 300;

/// The same keys, every row's product `value`.
fn rows(value: &str) -> String {
    let mut csv = String::from("order_id,item_id,product,amount\n");
    for row in 1..=ROWS {
        csv.push_str(&format!("o{row},i{row},{value},{row}\n"));
    }
    csv
}

#[tokio::test(flavor = "multi_thread")]
async fn a_newer_upload_stops_the_older_load_and_its_values_win() {
    // Slow enough (100 rows a second) that the second upload arrives mid-load.
    let f = Fixture::new(&[
        ("MAX_WRITES_PER_SECOND", "100"),
        ("COLUMN_TYPES", "amount:N"),
    ])
    .await;
    let first = f.put(KEY, rows("old")).await;
    let older = f.invoke(f.s3_event_for(KEY, &first));
    let newer = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let second = f.put(KEY, rows("new")).await;
        (second.clone(), f.invoke(f.s3_event_for(KEY, &second)).await)
    };
    let (older, (second, newer)) = tokio::join!(older, newer);
    let (older, newer) = (older.unwrap(), newer.unwrap());

    // The older load stopped, said so and by whom; the newer one loaded every row.
    let stopped = &older.files[0];
    assert!(!stopped.complete, "{stopped:?}");
    let by = stopped.superseded_by.as_deref().unwrap();
    assert!(by.contains(&second), "{by}");
    let c = stopped.counts;
    assert!(c.items_written < u64::from(ROWS), "{stopped:?}");
    assert!(c.items_superseded > 0, "{stopped:?}");
    assert_eq!(
        c.rows_read,
        c.items_written
            + c.rows_rejected
            + c.duplicates_collapsed
            + c.items_failed
            + c.items_superseded,
        "every row the older load read is accounted for: {c:?}"
    );
    let loaded = &newer.files[0];
    assert!(loaded.complete, "{loaded:?}");
    assert_eq!(loaded.counts.items_written, u64::from(ROWS));
    assert_eq!(loaded.version.as_deref(), Some(second.as_str()));

    // Every key holds the newer file's values.
    let items = f.items().await;
    assert_eq!(items.len(), ROWS as usize);
    assert!(items.iter().all(|item| item["product"] == s("new")));

    // Each summary names its own version.
    assert_eq!(stopped.version.as_deref(), Some(first.as_str()));

    // The older upload's event delivered again (or late): skipped, not an error, nothing written.
    let late = f.invoke(f.s3_event_for(KEY, &first)).await.unwrap();
    assert!(late.files.is_empty());
    let reason = &late.ignored[0].reason;
    assert!(
        reason.starts_with("superseded:") && reason.contains(&first) && reason.contains(&second),
        "{reason}"
    );
    assert!(
        f.items()
            .await
            .iter()
            .all(|item| item["product"] == s("new"))
    );
}

#[tokio::test]
async fn a_request_without_a_version_loads_the_current_one_and_pins_it() {
    let f = Fixture::new(&[]).await;
    f.put(KEY, rows("old")).await;
    let current = f.put(KEY, rows("new")).await;
    let response = f
        .invoke(serde_json::json!({"bucket": f.bucket, "key": KEY}))
        .await
        .unwrap();
    assert_eq!(response.files[0].version.as_deref(), Some(current.as_str()));
    assert!(
        f.items()
            .await
            .iter()
            .all(|item| item["product"] == s("new"))
    );
}

#[tokio::test]
async fn a_load_that_stopped_a_running_one_and_then_fails_says_the_table_holds_part_of_each() {
    let f = Fixture::new(&[
        ("CHECKPOINT_MARGIN_SECONDS", "0"),
        ("COLUMN_TYPES", "amount:N"),
    ])
    .await;
    let first = f.put(KEY, rows("old")).await;
    // The first version's load is under way: 25 rows written, the rest handed on.
    let (_, next) = common::one_segment(&f, f.s3_event_for(KEY, &first)).await;
    assert!(next.is_some());
    // A newer version that shows it can load (a good first row), then rejects row after row.
    let mut csv = String::from("order_id,item_id,product,amount\no1,i1,new,1\n");
    for row in 2..=1100 {
        csv.push_str(&format!("o{row},i{row},new,many\n"));
    }
    let second = f.put(KEY, csv).await;
    let failed = f.invoke(f.s3_event_for(KEY, &second)).await.unwrap_err();
    let failed = lambda_runtime::Diagnostic::from(failed);
    assert_eq!(failed.error_type, "RepeatedRejects");
    let message = failed.error_message;
    assert!(
        message.contains(&format!(
            "this load had stopped load request-1 of version {first}"
        )) && message.contains("the table holds part of each"),
        "{message}"
    );
}

#[tokio::test]
async fn an_event_for_a_version_deleted_since_loads_nothing() {
    let f = Fixture::new(&[]).await;
    let version = f.put(KEY, rows("gone")).await;
    // Deleted in a versioned bucket: a delete marker is current, the version itself still readable.
    (f.s3.delete_object().bucket(&f.bucket).key(KEY).send())
        .await
        .unwrap();
    let response = f.invoke(f.s3_event_for(KEY, &version)).await.unwrap();
    assert!(response.files.is_empty(), "{response:?}");
    let reason = &response.ignored[0].reason;
    assert!(
        reason.starts_with("deleted:") && reason.contains(&version),
        "{reason}"
    );
    assert!(f.items().await.is_empty());
}
