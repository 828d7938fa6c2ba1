//! The measured runs: parse + convert a local file, the csv-loader's load of an S3 object (plain, or
//! on its fenced path with a state table), and one part of a fanned-out load of one.
//! Each prints one JSON line; the caller measures CPU time and peak RSS from outside.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use csv_async::ByteRecord;
use serde_json::{Value, json};
use shared::load::checkpoint::{Checkpoint, Part};
use shared::load::file::{LoadResult, Loader};
use shared::load::plan::start::{Start, start};
use shared::load::read::columns::BlankCells;
use shared::load::read::keys::{KeyAttribute, KeyKind, KeySchema};
use shared::load::read::row::RowSchema;
use shared::load::read::source::{ByteReader, RowReader};
use shared::load::write::gate::WriteGate;
use shared::state::StateStore;

/// The seed's key schema.
pub fn seed_keys() -> KeySchema {
    let string_key = |name: &str| KeyAttribute {
        name: name.into(),
        kind: KeyKind::S,
    };
    KeySchema {
        partition: string_key("order_id"),
        sort: Some(string_key("item_id")),
        indexes: Vec::new(),
    }
}

/// Reads and types every row of `bytes` (already in memory, so only the CPU work is timed).
pub async fn parse_and_convert(bytes: Vec<u8>, column_types: &str) -> anyhow::Result<Value> {
    let types = column_types.parse().map_err(anyhow::Error::msg)?;
    let started = Instant::now();
    let reader: ByteReader = Box::pin(std::io::Cursor::new(bytes));
    let mut rows = RowReader::new(reader, 1);
    let mut record = ByteRecord::new();
    if rows.read(&mut record).await?.is_none() {
        bail!("the file is empty");
    }
    let schema = RowSchema::from_header(&record, &seed_keys(), &types, BlankCells::Omit)?;
    let (mut converted, mut rejected) = (0u64, 0u64);
    while rows.read(&mut record).await?.is_some() {
        match schema.to_item(&record) {
            Ok(_) => converted += 1,
            Err(_) => rejected += 1,
        }
    }
    Ok(summary(
        converted + rejected,
        converted,
        rejected,
        started.elapsed(),
    ))
}

/// Loads `s3://bucket/key` with the csv-loader's own code and configuration (its environment).
pub async fn load(bucket: &str, key: &str) -> anyhow::Result<Value> {
    let aws = shared::sdk::load_config().await;
    let state = csv_loader::handler::State::from_env(&aws).await?;
    let loader = state.loaders.route(key).map_err(anyhow::Error::msg)?;
    load_job(loader, Checkpoint::start(bucket, key), false).await
}

/// The same load on its fenced path, as the function runs it with a state table: pinned to its
/// version, the object claimed in the state table, and the holder record asked before the writes.
/// The state table is `STATE_TABLE` at `STATE_ENDPOINT` (the local AWS), while the writes go where
/// DynamoDB's endpoint says (the sink).
pub async fn load_fenced(bucket: &str, key: &str) -> anyhow::Result<Value> {
    let aws = shared::sdk::load_config().await;
    let state = csv_loader::handler::State::from_env(&aws).await?;
    let routed = state.loaders.route(key).map_err(anyhow::Error::msg)?;
    let endpoint = std::env::var("STATE_ENDPOINT").context("STATE_ENDPOINT is required")?;
    let table = std::env::var("STATE_TABLE").context("STATE_TABLE is required")?;
    let state_client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&aws)
            .endpoint_url(endpoint)
            .build(),
    );
    let loader = Loader {
        s3: routed.s3.clone(),
        dynamodb: routed.dynamodb.clone(),
        table: routed.table.clone(),
        settings: routed.settings.clone(),
        state: Some(StateStore::new(state_client, table)),
    };
    load_job(&loader, Checkpoint::start(bucket, key), true).await
}

/// Runs `job` to its end, handing it on as the load's next step would; `fenced`: each segment
/// started as the function starts it (a new load begins: pin, claim; a later step checks it still
/// holds the object), its writes asking the holder record.
async fn load_job(loader: &Loader, mut job: Checkpoint, fenced: bool) -> anyhow::Result<Value> {
    let started = Instant::now();
    // Throttling hands the rest of a load over, as to the load's next step: continue it here.
    let mut hand_overs = 0;
    let summary_of = loop {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
        let (next, gate) = if fenced {
            match start(loader, job, ("bench", 0), None).await? {
                Start::Load(ready) => (ready.job, ready.fence.map(|f| f as Arc<dyn WriteGate>)),
                Start::Skip(ignored) => bail!("the load did not start: {}", ignored.reason),
            }
        } else {
            (job, None)
        };
        let loaded = loader.load_fenced(next, deadline, gate).await;
        match loaded.context("the load failed")? {
            LoadResult::Done(summary) => break summary,
            LoadResult::Paused(_, next) => {
                hand_overs += 1;
                job = *next;
            }
            LoadResult::Superseded(summary) => {
                anyhow::bail!("another load took the object over: {summary:?}")
            }
        }
    };
    let counts = summary_of.counts;
    let mut out = summary(
        counts.rows_read,
        counts.items_written,
        counts.rows_rejected,
        started.elapsed(),
    );
    out["items_failed"] = json!(counts.items_failed);
    out["hand_overs"] = json!(hand_overs);
    Ok(out)
}

/// One part of a fanned-out load of `s3://bucket/key`: part 1 of `FAN_OUT_PARTS` (from the
/// environment) reads the whole file and writes the rows whose key hashes to it.
pub async fn part(bucket: &str, key: &str) -> anyhow::Result<Value> {
    let aws = shared::sdk::load_config().await;
    let state = csv_loader::handler::State::from_env(&aws).await?;
    let of = state.config.fan_out.parts;
    let job = Checkpoint {
        part: Some(Part { index: 1, of }),
        ..Checkpoint::start(bucket, key)
    };
    let loader = state.loaders.route(key).map_err(anyhow::Error::msg)?;
    let mut out = load_job(loader, job, false).await?;
    out["parts"] = json!(of);
    Ok(out)
}

fn summary(rows: u64, done: u64, rejected: u64, elapsed: Duration) -> Value {
    let seconds = elapsed.as_secs_f64();
    json!({
        "rows": rows,
        "items": done,
        "rows_rejected": rejected,
        "elapsed_s": seconds,
        "rows_per_s": rows as f64 / seconds.max(1e-9),
        "peak_rss_mib": peak_rss_mib(),
    })
}

/// This process's peak resident set (`VmHWM`). Not `getrusage`: its `ru_maxrss` also counts the
/// parent's memory the process was forked with before it exec'd.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
