//! The benchmark sink, driven by the real DynamoDB SDK over HTTP: it must validate like DynamoDB and
//! throttle as configured, or the benchmark's figures mean nothing.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use bench::sink::{Sink, SinkSettings, Throttle};
use serde_json::Value;

async fn start(capacity: Option<u64>, throttle: Throttle) -> (aws_sdk_dynamodb::Client, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let sink = Sink::new(SinkSettings {
        table: "orders".into(),
        partition_key: "order_id".into(),
        sort_key: Some("item_id".into()),
        capacity,
        throttle,
    });
    tokio::spawn(bench::sink::serve(Arc::new(sink), listener));
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    (aws_sdk_dynamodb::Client::new(&config), endpoint)
}

fn put(order: &str, item: &str) -> WriteRequest {
    let fields = HashMap::from([
        ("order_id".to_string(), AttributeValue::S(order.into())),
        ("item_id".to_string(), AttributeValue::S(item.into())),
        ("amount".to_string(), AttributeValue::N("1.5".into())),
    ]);
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(fields))
                .build()
                .unwrap(),
        )
        .build()
}

fn batch(n: usize, offset: usize) -> Vec<WriteRequest> {
    (0..n)
        .map(|i| put(&format!("o{}", i + offset), "1"))
        .collect()
}

async fn stats(endpoint: &str) -> Value {
    page(endpoint, "/stats").await
}

async fn page(endpoint: &str, path: &str) -> Value {
    // A plain HTTP/1.0 GET: the stats and timeline pages are for scripts.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(endpoint.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!("GET {path} HTTP/1.0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str(body).unwrap()
}

#[tokio::test]
async fn describes_the_table_and_counts_written_and_distinct_items() {
    let (client, endpoint) = start(None, Throttle::Unprocessed).await;
    let table = client
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let key_names: Vec<_> = table
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(key_names, ["order_id", "item_id"]);

    for offset in [0, 25, 0] {
        let output = client
            .batch_write_item()
            .request_items("orders", batch(25, offset))
            .send()
            .await
            .unwrap();
        assert!(output.unprocessed_items().is_none_or(HashMap::is_empty));
    }
    let stats = stats(&endpoint).await;
    assert_eq!(stats["items_written"], 75);
    assert_eq!(
        stats["distinct_keys"], 50,
        "the third batch rewrote the first"
    );

    let missing = client
        .describe_table()
        .table_name("other")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn refuses_what_dynamodb_refuses() {
    let (client, endpoint) = start(None, Throttle::Unprocessed).await;
    let send = |requests: Vec<WriteRequest>| {
        client
            .batch_write_item()
            .request_items("orders", requests)
            .send()
    };
    let too_many = send(batch(26, 0)).await.unwrap_err();
    assert_eq!(too_many.code(), Some("ValidationException"));
    assert!(too_many.message().unwrap().contains("25"));

    let duplicates = send(vec![put("a", "1"), put("b", "1"), put("a", "1")])
        .await
        .unwrap_err();
    assert!(duplicates.message().unwrap().contains("duplicates"));

    let empty_key = send(vec![put("a", "")]).await.unwrap_err();
    assert!(empty_key.message().unwrap().contains("empty string"));

    let unknown_table = client
        .batch_write_item()
        .request_items("other", batch(1, 0))
        .send()
        .await
        .unwrap_err();
    assert_eq!(unknown_table.code(), Some("ResourceNotFoundException"));

    let stats = stats(&endpoint).await;
    assert_eq!(stats["items_written"], 0, "a refused batch writes nothing");
    assert_eq!(stats["rejected_requests"], 4);
}

#[tokio::test]
async fn over_capacity_items_come_back_unprocessed() {
    let (client, endpoint) = start(Some(30), Throttle::Unprocessed).await;
    let first = client
        .batch_write_item()
        .request_items("orders", batch(25, 0))
        .send()
        .await
        .unwrap();
    assert!(first.unprocessed_items().is_none_or(HashMap::is_empty));
    let second = client
        .batch_write_item()
        .request_items("orders", batch(25, 25))
        .send()
        .await
        .unwrap();
    let left = &second.unprocessed_items().unwrap()["orders"];
    // The bucket held 30 and refills at 30/s: 5 and whatever trickled in went through.
    assert!(
        (17..=20).contains(&left.len()),
        "{} unprocessed",
        left.len()
    );
    // A random subset of the batch, as DynamoDB's partitions return it, not its tail.
    let left_ids: Vec<&String> = (left.iter())
        .map(|w| w.put_request().unwrap().item()["order_id"].as_s().unwrap())
        .collect();
    let tail: Vec<String> = (50 - left.len()..50).map(|i| format!("o{i}")).collect();
    assert!(
        left_ids
            .iter()
            .all(|id| id[1..].parse::<usize>().unwrap() >= 25)
    );
    assert_ne!(
        left_ids.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        tail
    );
    let stats = stats(&endpoint).await;
    assert_eq!(stats["items_written"], 50 - left.len());
    assert_eq!(stats["items_unprocessed"], left.len());
    // The timeline holds the same writes, second by second, and the throttled request.
    let timeline = page(&endpoint, "/timeline").await;
    let seconds = timeline.as_array().unwrap();
    let items: u64 = seconds.iter().map(|s| s["items"].as_u64().unwrap()).sum();
    let throttled: u64 = seconds
        .iter()
        .map(|s| s["throttled"].as_u64().unwrap())
        .sum();
    assert_eq!((items as usize, throttled), (50 - left.len(), 1));
    assert_eq!(seconds[0]["second"], 0);
    assert!(
        seconds
            .iter()
            .all(|s| s["max_in_flight"].as_u64() >= Some(1))
    );
}

#[tokio::test]
async fn capacity_is_counted_in_write_units_of_one_kilobyte() {
    let (client, endpoint) = start(Some(10), Throttle::Unprocessed).await;
    // Three items of about 3 KB: 9 units of the 10 the bucket starts with, then no room for more.
    let big = |order: &str| {
        let mut request = put(order, "1");
        let item = request.put_request.as_mut().unwrap();
        item.item
            .insert("blob".into(), AttributeValue::S("x".repeat(2900)));
        request
    };
    let output = client
        .batch_write_item()
        .request_items("orders", vec![big("a"), big("b"), big("c"), big("d")])
        .send()
        .await
        .unwrap();
    assert_eq!(output.unprocessed_items().unwrap()["orders"].len(), 1);
    let stats = stats(&endpoint).await;
    assert_eq!(
        (
            stats["items_written"].as_u64(),
            stats["write_units"].as_u64()
        ),
        (Some(3), Some(9))
    );
}

#[tokio::test]
async fn over_capacity_can_be_an_exception() {
    let (client, _) = start(Some(25), Throttle::Exception).await;
    client
        .batch_write_item()
        .request_items("orders", batch(25, 0))
        .send()
        .await
        .unwrap();
    let throttled = client
        .batch_write_item()
        .request_items("orders", batch(25, 25))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        throttled.code(),
        Some("ProvisionedThroughputExceededException")
    );
}
