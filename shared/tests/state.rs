//! The state store against the local AWS: conditional writes decide races, leases expire and pass
//! on, and expired records read as absent before TTL has removed them.

use chrono::{DateTime, Duration, Utc};
use local_aws::{LocalAws, unique_name};
use serde_json::json;
use shared::state::{EXPIRES_AT, PK, SK, StateKey, StateStore};

async fn store() -> (StateStore, aws_sdk_dynamodb::Client, String) {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let table = unique_name("state");
    local_aws::create_state_table(&dynamodb, &table)
        .await
        .unwrap();
    (StateStore::new(dynamodb.clone(), &table), dynamodb, table)
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_900_000_000 + secs, 0).unwrap()
}

#[tokio::test]
async fn create_writes_once_and_replace_checks_the_version() {
    let (store, _, _) = store().await;
    let key = StateKey::new("restore#orders-restored-1", "started");
    let now = at(0);
    assert!(
        store
            .create(&key, &json!({"by": "a"}), at(3600), now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .create(&key, &json!({"by": "b"}), at(3600), now)
            .await
            .unwrap()
    );
    let record = store.get(&key, now).await.unwrap().unwrap();
    assert_eq!((record.body, record.version), (json!({"by": "a"}), 1));

    assert!(
        store
            .replace(&key, 1, &json!({"step": 2}), at(3600))
            .await
            .unwrap()
    );
    // A writer still holding version 1 lost the race.
    assert!(
        !store
            .replace(&key, 1, &json!({"step": "stale"}), at(3600))
            .await
            .unwrap()
    );
    let record = store.get(&key, now).await.unwrap().unwrap();
    assert_eq!((record.body, record.version), (json!({"step": 2}), 2));

    // Past its expiry a record is gone for readers, and a new one may take its place.
    let later = at(3601);
    assert_eq!(store.get(&key, later).await.unwrap(), None);
    assert!(
        store
            .create(&key, &json!({"by": "c"}), at(7200), later)
            .await
            .unwrap()
    );
    assert_eq!(store.get(&key, later).await.unwrap().unwrap().version, 1);
}

#[tokio::test]
async fn a_lease_has_one_holder_until_it_runs_out_or_is_given_back() {
    let (store, _, _) = store().await;
    let key = StateKey::new("load#bucket/incoming/orders.csv#v1", "lease");
    let now = at(0);
    let until = now + Duration::minutes(15);
    assert!(
        store
            .acquire_lease(&key, "first", until, now)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease(&key, "second", until, now)
            .await
            .unwrap()
    );
    // The holder renews.
    let renewed = until + Duration::minutes(15);
    assert!(
        store
            .acquire_lease(&key, "first", renewed, now)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get(&key, now)
            .await
            .unwrap()
            .unwrap()
            .owner
            .as_deref(),
        Some("first")
    );
    // Only the holder gives it back.
    assert!(!store.release_lease(&key, "second").await.unwrap());
    assert!(store.release_lease(&key, "first").await.unwrap());
    assert!(
        store
            .acquire_lease(&key, "second", until, now)
            .await
            .unwrap()
    );
    // A lease that ran out passes to whoever asks next.
    assert!(
        store
            .acquire_lease(&key, "third", renewed, until + Duration::seconds(1))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn records_are_grouped_by_partition_and_written_with_a_ttl() {
    let (store, dynamodb, table) = store().await;
    let now = at(0);
    for range in ["range#1", "range#2"] {
        let key = StateKey::new("load#bucket/big.csv#v1", range);
        assert!(
            store
                .create(&key, &json!({"done": false}), at(60), now)
                .await
                .unwrap()
        );
    }
    let items = dynamodb
        .query()
        .table_name(&table)
        .key_condition_expression("#pk = :pk")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_values(
            ":pk",
            aws_sdk_dynamodb::types::AttributeValue::S("load#bucket/big.csv#v1".into()),
        )
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 2);
    for item in &items {
        assert_eq!(
            item[EXPIRES_AT].as_n().unwrap(),
            &at(60).timestamp().to_string()
        );
    }
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some(EXPIRES_AT)
    );
}

#[tokio::test]
async fn the_test_tables_have_the_stores_schema() {
    let (_, dynamodb, table) = store().await;
    let described = dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let keys: Vec<(String, String)> = described
        .table()
        .unwrap()
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (PK.to_string(), "HASH".to_string()),
            (SK.to_string(), "RANGE".to_string())
        ]
    );
}

#[tokio::test]
async fn a_missing_table_is_an_error_that_names_it() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let store = StateStore::new(dynamodb, "no-such-state-table");
    let err = store
        .create(&StateKey::new("a", "b"), &json!(null), at(60), at(0))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no-such-state-table") && err.contains("PutItem"),
        "{err}"
    );
}
