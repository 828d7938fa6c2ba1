//! A DynamoDB-protocol sink for benchmarking: one table, `DescribeTable` and `BatchWriteItem` with
//! DynamoDB's validation, an optional write capacity in write units (1 KB of item each, as DynamoDB
//! counts them), counters (`GET /stats`) and, per second, the items written, the throttled requests
//! and the most requests in flight (`GET /timeline`), which is how a loader's adaptive concurrency
//! looks from the table's side. Over the capacity, a random subset of a batch comes back
//! unprocessed, as DynamoDB's partitions return it.
//!
//! It stores each key with a digest of its item's values (`values_digest` in the stats: the sum of
//! every stored item's digest), so a million-row load costs it tens of megabytes and every value
//! can still be checked (`bench expect`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::http::Reply;
use crate::token_bucket::TokenBucket;

const MAX_BATCH: usize = 25;

/// What happens to writes over the capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// Returned in `UnprocessedItems` (HTTP 200), as DynamoDB does when part of a batch is throttled.
    Unprocessed,
    /// A batch that gets no capacity at all fails with `ProvisionedThroughputExceededException`.
    Exception,
}

#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub table: String,
    pub partition_key: String,
    pub sort_key: Option<String>,
    /// Write units per second; `None` accepts everything.
    pub capacity: Option<u64>,
    pub throttle: Throttle,
}

/// The counters `GET /stats` returns.
#[derive(Debug, Default)]
struct Stats {
    requests: u64,
    items_written: u64,
    items_deleted: u64,
    items_unprocessed: u64,
    write_units: u64,
    throttled_requests: u64,
    rejected_requests: u64,
    first_write: Option<Instant>,
    last_write: Option<Instant>,
}

/// One second of the sink's life.
#[derive(Debug, Default, Clone, Copy)]
struct Second {
    items: u64,
    throttled: u64,
    max_in_flight: usize,
}

struct State {
    stats: Stats,
    /// By whole seconds since the sink started.
    timeline: BTreeMap<u64, Second>,
    /// Each stored key, with its item's digest.
    items: HashMap<Vec<u8>, u64>,
    bucket: Option<TokenBucket>,
    /// Picks which items of an over-capacity batch go through.
    shuffle: u64,
}

pub struct Sink {
    settings: SinkSettings,
    state: Mutex<State>,
    started: Instant,
    /// Requests being answered now.
    in_flight: AtomicUsize,
}

/// A DynamoDB error response: HTTP 400 with `__type` and `message`.
#[derive(Debug)]
pub struct ApiError {
    pub code: &'static str,
    pub message: String,
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError {
        code: "ValidationException",
        message: message.into(),
    }
}

impl Sink {
    pub fn new(settings: SinkSettings) -> Sink {
        let bucket = settings
            .capacity
            .map(|per_second| TokenBucket::new(per_second, Instant::now()));
        Sink {
            settings,
            state: Mutex::new(State {
                stats: Stats::default(),
                timeline: BTreeMap::new(),
                items: HashMap::new(),
                bucket,
                shuffle: 0x9e37_79b9_7f4a_7c15,
            }),
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// The second `now` falls in, with the requests in flight now counted in its peak.
    fn second<'a>(&self, state: &'a mut State, now: Instant) -> &'a mut Second {
        let at = now.saturating_duration_since(self.started).as_secs();
        let second = state.timeline.entry(at).or_default();
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        second.max_in_flight = second.max_in_flight.max(in_flight);
        second
    }

    /// Per second since the first write: items written, throttled requests, most in flight.
    pub fn timeline(&self) -> Value {
        let state = self.state.lock().expect("sink state");
        let first = state.timeline.keys().next().copied().unwrap_or_default();
        let rows: Vec<Value> = (state.timeline.iter())
            .map(|(at, s)| {
                json!({"second": at - first, "items": s.items, "throttled": s.throttled,
                       "max_in_flight": s.max_in_flight})
            })
            .collect();
        Value::Array(rows)
    }

    /// Answers one call, named by its `X-Amz-Target` operation.
    pub fn call(&self, operation: &str, body: &[u8], now: Instant) -> Result<Value, ApiError> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| validation(format!("request body is not JSON: {e}")))?;
        let mut state = self.state.lock().expect("sink state");
        state.stats.requests += 1;
        let result = match operation {
            "DescribeTable" => self.describe_table(&body, &state),
            "BatchWriteItem" => self.batch_write(&body, &mut state, now),
            other => Err(ApiError {
                code: "UnknownOperationException",
                message: format!("the benchmark sink does not serve {other}"),
            }),
        };
        if result.is_err() {
            state.stats.rejected_requests += 1;
        }
        result
    }

    pub fn stats(&self) -> Value {
        let state = self.state.lock().expect("sink state");
        let s = &state.stats;
        let window = match (s.first_write, s.last_write) {
            (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
            _ => 0.0,
        };
        json!({
            "requests": s.requests,
            "items_written": s.items_written,
            "items_deleted": s.items_deleted,
            "distinct_keys": state.items.len(),
            "values_digest": state.items.values().fold(0u64, |sum, d| sum.wrapping_add(*d)),
            "items_unprocessed": s.items_unprocessed,
            "write_units": s.write_units,
            "throttled_requests": s.throttled_requests,
            "rejected_requests": s.rejected_requests,
            "write_window_s": window,
            "capacity": self.settings.capacity,
        })
    }

    fn check_table(&self, name: Option<&str>) -> Result<(), ApiError> {
        match name {
            Some(name) if name == self.settings.table => Ok(()),
            _ => Err(ApiError {
                code: "ResourceNotFoundException",
                message: "Requested resource not found".into(),
            }),
        }
    }

    fn describe_table(&self, body: &Value, state: &State) -> Result<Value, ApiError> {
        self.check_table(body["TableName"].as_str())?;
        let s = &self.settings;
        let mut keys = vec![json!({"AttributeName": s.partition_key, "KeyType": "HASH"})];
        let mut attributes = vec![json!({"AttributeName": s.partition_key, "AttributeType": "S"})];
        if let Some(sort) = &s.sort_key {
            keys.push(json!({"AttributeName": sort, "KeyType": "RANGE"}));
            attributes.push(json!({"AttributeName": sort, "AttributeType": "S"}));
        }
        Ok(json!({"Table": {
            "TableName": s.table,
            "TableArn": format!("arn:aws:dynamodb:us-east-1:000000000000:table/{}", s.table),
            "TableStatus": "ACTIVE",
            "KeySchema": keys,
            "AttributeDefinitions": attributes,
            "ItemCount": state.items.len(),
        }}))
    }

    /// The item's key as bytes, refusing what DynamoDB refuses: a missing or empty key attribute.
    fn key_of(&self, item: &Map<String, Value>) -> Result<Vec<u8>, ApiError> {
        let mut key = Vec::new();
        let names = std::iter::once(&self.settings.partition_key).chain(&self.settings.sort_key);
        for name in names {
            let value = item
                .get(name)
                .and_then(|v| v.get("S"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    validation(
                        "The provided key element does not match the schema: \
                         a string key attribute is missing",
                    )
                })?;
            if value.is_empty() {
                return Err(validation(format!(
                    "One or more parameter values are not valid. The AttributeValue for a key \
                     attribute cannot contain an empty string value. Key: {name}"
                )));
            }
            key.extend_from_slice(value.as_bytes());
            key.push(0);
        }
        Ok(key)
    }

    fn batch_write(
        &self,
        body: &Value,
        state: &mut State,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let tables = body["RequestItems"]
            .as_object()
            .ok_or_else(|| validation("RequestItems is required"))?;
        let mut requests = Vec::new();
        for (table, writes) in tables {
            self.check_table(Some(table))?;
            let writes = writes
                .as_array()
                .ok_or_else(|| validation("RequestItems values must be lists"))?;
            requests.extend(writes);
        }
        if requests.is_empty() || requests.len() > MAX_BATCH {
            return Err(validation(format!(
                "1 validation error detected: Value at 'requestItems' failed to satisfy \
                 constraint: Member must have length less than or equal to {MAX_BATCH} and \
                 greater than or equal to 1 (got {})",
                requests.len()
            )));
        }
        // Each write: its key, its item's digest (`None`: a delete) and its write units.
        let mut writes: Vec<(Vec<u8>, Option<u64>, u64)> = Vec::with_capacity(requests.len());
        for request in &requests {
            let write = if let Some(item) = request["PutRequest"]["Item"].as_object() {
                (
                    self.key_of(item)?,
                    Some(item_digest(item)),
                    write_units(item),
                )
            } else if let Some(key) = request["DeleteRequest"]["Key"].as_object() {
                (self.key_of(key)?, None, 1)
            } else {
                return Err(validation(
                    "each write needs a PutRequest.Item or DeleteRequest.Key",
                ));
            };
            if writes.iter().any(|(k, _, _)| *k == write.0) {
                return Err(validation("Provided list of item keys contains duplicates"));
            }
            writes.push(write);
        }

        // Over the capacity, the writes that go through are a random subset.
        let mut order: Vec<usize> = (0..writes.len()).collect();
        if state.bucket.is_some() {
            for i in (1..order.len()).rev() {
                let j = (next_random(&mut state.shuffle) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        let mut taken = vec![false; writes.len()];
        let mut units = 0;
        for &i in &order {
            let ok = match &mut state.bucket {
                Some(bucket) => bucket.take_exact(writes[i].2, now),
                None => true,
            };
            if ok {
                taken[i] = true;
                units += writes[i].2;
            }
        }
        let granted = taken.iter().filter(|t| **t).count();
        let second = self.second(state, now);
        second.items += granted as u64;
        second.throttled += u64::from(granted < writes.len());
        if granted == 0 && self.settings.throttle == Throttle::Exception {
            state.stats.throttled_requests += 1;
            return Err(ApiError {
                code: "ProvisionedThroughputExceededException",
                message: "The level of configured provisioned throughput for the table was \
                          exceeded."
                    .into(),
            });
        }
        state.stats.write_units += units;
        let mut unprocessed: Vec<&Value> = Vec::new();
        for (i, (key, digest, _)) in writes.into_iter().enumerate() {
            if !taken[i] {
                unprocessed.push(requests[i]);
                continue;
            }
            match digest {
                Some(digest) => {
                    state.stats.items_written += 1;
                    state.items.insert(key, digest);
                }
                None => {
                    state.stats.items_deleted += 1;
                    state.items.remove(&key);
                }
            }
        }
        if granted > 0 {
            state.stats.first_write.get_or_insert(now);
            state.stats.last_write = Some(now);
        }
        if unprocessed.is_empty() {
            return Ok(json!({"UnprocessedItems": {}}));
        }
        state.stats.throttled_requests += 1;
        state.stats.items_unprocessed += unprocessed.len() as u64;
        Ok(json!({"UnprocessedItems": {self.settings.table.clone(): unprocessed}}))
    }
}

/// xorshift64: enough to pick which writes of a batch go through.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// An item's size as DynamoDB counts it (names and values, numbers by their digits), in 1 KB
/// write units, at least one.
pub fn write_units(item: &Map<String, Value>) -> u64 {
    let bytes: usize = (item.iter())
        .map(|(name, value)| {
            name.len()
                + match (value.get("S"), value.get("N")) {
                    (Some(Value::String(s)), _) => s.len(),
                    (_, Some(Value::String(n))) => n.len().div_ceil(2) + 1,
                    _ => value.to_string().len(),
                }
        })
        .sum();
    (bytes as u64).div_ceil(1024).max(1)
}

/// A digest of an item's attributes, whatever their order: the same as `bench expect` computes
/// from the file, so every value can be checked, not only every key.
pub fn item_digest(item: &Map<String, Value>) -> u64 {
    let mut attributes: Vec<(&String, String)> = (item.iter())
        .map(|(name, value)| {
            let text = match (value.get("S"), value.get("N")) {
                (Some(Value::String(s)), _) => format!("S:{s}"),
                (_, Some(Value::String(n))) => format!("N:{n}"),
                _ => value.to_string(),
            };
            (name, text)
        })
        .collect();
    attributes.sort();
    crate::digest::of_attributes(attributes.iter().map(|(n, t)| (n.as_str(), t.as_str())))
}

/// Serves the sink on `listener` until the task ends.
pub async fn serve(sink: Arc<Sink>, listener: TcpListener) -> std::io::Result<()> {
    crate::http::serve(listener, move |request| respond(Arc::clone(&sink), request)).await
}

async fn respond(sink: Arc<Sink>, request: Request<Incoming>) -> Reply {
    let reply = |status: StatusCode, body: Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("response")
    };
    match request.uri().path() {
        "/stats" => return Ok(reply(StatusCode::OK, sink.stats())),
        "/timeline" => return Ok(reply(StatusCode::OK, sink.timeline())),
        _ => {}
    }
    sink.in_flight.fetch_add(1, Ordering::Relaxed);
    let answered = answer(&sink, request).await;
    sink.in_flight.fetch_sub(1, Ordering::Relaxed);
    Ok(answered)
}

async fn answer(sink: &Sink, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.0")
            .body(Full::new(Bytes::from(body.to_string())))
            .expect("response")
    };
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.strip_prefix("DynamoDB_20120810."))
        .unwrap_or_default()
        .to_string();
    let body = match request.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let error = json!({"__type": "SerializationException", "message": e.to_string()});
            return reply(StatusCode::BAD_REQUEST, error);
        }
    };
    match sink.call(&operation, &body, Instant::now()) {
        Ok(output) => reply(StatusCode::OK, output),
        Err(e) => reply(
            StatusCode::BAD_REQUEST,
            json!({
                "__type": format!("com.amazonaws.dynamodb.v20120810#{}", e.code),
                "message": e.message,
            }),
        ),
    }
}
