//! One load of an object writes at a time: the newest.
//!
//! `BatchWriteItem` has no conditions, so two loads of one object (a corrected file uploaded while
//! the first is loading) would interleave, and the older file's values could land last. Each object
//! therefore has a holder record in the state table naming the load that may write it. A load
//! begins by taking it over, with a conditional write, and only after checking that its version is
//! still the object's current one (between reading the record and replacing it, so of two racing
//! loads the older either fails the condition or finds it is no longer current). Every write call
//! of a load first confirms it still holds the object (a strongly consistent read, at most
//! `CHECK_EVERY` old), so once a newer load holds it the older sends nothing more; the newer load
//! waits `settle_time` before its first write, for the older one's calls already sent to finish.

use std::sync::Mutex;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::load::plan::pin;
use crate::load::read::source::ObjectVersion;
use crate::load::write::gate::{GateAnswer, WriteGate};
use crate::state::{StateKey, StateStore};

/// How stale a load's last confirmation that it holds the object may be when it sends a call.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a holder record lasts without a new load.
const HOLDER_DAYS: i64 = 30;
/// Attempts at taking the record over while other loads keep changing it.
const CLAIM_ATTEMPTS: u32 = 5;

/// A newer load waits this long after displacing a load still running: the older load's last
/// confirmation is at most `CHECK_EVERY` old when it sends a call, and a call ends within
/// `call_timeout`.
pub fn settle_time(call_timeout: Duration) -> Duration {
    CHECK_EVERY + call_timeout + Duration::from_secs(4)
}

/// The record naming the load that may write `s3://bucket/key`.
pub fn holder_key(bucket: &str, key: &str) -> StateKey {
    StateKey::new(format!("load-object#{bucket}/{key}"), "holder")
}

/// How taking an object over went.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This load holds the object; `displaced` names a load that may still be writing.
    Held { displaced: Option<String> },
    /// The version is no longer current: the load is skipped.
    Superseded(String),
}

fn holder_body(load_id: &str, pin: &ObjectVersion, finished: bool) -> Value {
    json!({"load": load_id, "version": pin.label(), "finished": finished})
}

fn describe_holder(body: &Value) -> String {
    let load = body["load"].as_str().unwrap_or("?");
    match body["version"].as_str() {
        Some(version) => format!("load {load} of version {version}"),
        None => format!("load {load}"),
    }
}

/// Takes `s3://bucket/key` over for `load_id`, which reads `pinned`.
pub async fn claim(
    store: &StateStore,
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    pinned: &ObjectVersion,
    load_id: &str,
) -> Result<Claim, String> {
    let record_key = holder_key(bucket, key);
    let body = holder_body(load_id, pinned, false);
    let expires = || Utc::now() + chrono::Duration::days(HOLDER_DAYS);
    for _ in 0..CLAIM_ATTEMPTS {
        let held = (store.get(&record_key, Utc::now()).await).map_err(|e| e.to_string())?;
        let Some(record) = held else {
            if (store
                .create(&record_key, &body, expires(), Utc::now())
                .await)
                .map_err(|e| e.to_string())?
            {
                return Ok(Claim::Held { displaced: None });
            }
            continue;
        };
        if record.body["load"] == load_id {
            return Ok(Claim::Held { displaced: None });
        }
        // Checked after reading the record and before replacing it: see the module's comment.
        let Some(current) = pin::current(s3, bucket, key).await? else {
            return Err(format!(
                "s3://{bucket}/{key} has no current version this function can see (deleted since, \
                 or not readable): it will not displace {}",
                describe_holder(&record.body)
            ));
        };
        if let Some(why) = pin::superseded(pinned, &current) {
            return Ok(Claim::Superseded(why));
        }
        if (store
            .replace(&record_key, record.version, &body, expires())
            .await)
            .map_err(|e| e.to_string())?
        {
            let running = record.body["finished"] != true;
            return Ok(Claim::Held {
                displaced: running.then(|| describe_holder(&record.body)),
            });
        }
    }
    Err(format!(
        "other loads of s3://{bucket}/{key} kept taking it over; {CLAIM_ATTEMPTS} attempts failed"
    ))
}

/// Marks the load finished, so that the next load of the object need not wait for it.
pub async fn finished(
    store: &StateStore,
    bucket: &str,
    key: &str,
    pinned: &ObjectVersion,
    load_id: &str,
) {
    let record_key = holder_key(bucket, key);
    let result = async {
        let Some(record) = store.get(&record_key, Utc::now()).await? else {
            return Ok(());
        };
        if record.body["load"] == load_id {
            let body = holder_body(load_id, pinned, true);
            store
                .replace(&record_key, record.version, &body, record.expires_at)
                .await?;
        }
        Ok::<_, crate::state::StateError>(())
    };
    // Only an optimisation: the next load waits `settle_time` instead.
    if let Err(e) = result.await {
        tracing::warn!(error = %e, "could not mark the load finished");
    }
}

/// A load's hold on its object, asked before every write call.
pub struct Fence {
    store: StateStore,
    record_key: StateKey,
    load_id: String,
    /// When the last confirmation was asked for (its start: conservative). Held while asking, so
    /// the calls that find it stale wait for one answer instead of each asking.
    confirmed_at: tokio::sync::Mutex<Option<Instant>>,
    /// Set once another load holds the object: for good.
    lost_to: Mutex<Option<String>>,
}

impl Fence {
    pub fn new(store: StateStore, bucket: &str, key: &str, load_id: &str) -> Fence {
        Fence {
            store,
            record_key: holder_key(bucket, key),
            load_id: load_id.to_string(),
            confirmed_at: tokio::sync::Mutex::new(None),
            lost_to: Mutex::new(None),
        }
    }

    fn lost(&self) -> bool {
        self.lost_to.lock().map_or(true, |l| l.is_some())
    }

    /// Whether this load still holds the object, asking the state table when the last answer is
    /// older than `CHECK_EVERY`.
    pub async fn holds(&self) -> Result<bool, String> {
        let mut confirmed_at = self.confirmed_at.lock().await;
        if self.lost() {
            return Ok(false);
        }
        if confirmed_at.is_some_and(|at| at.elapsed() < CHECK_EVERY) {
            return Ok(true);
        }
        let asked_at = Instant::now();
        let record =
            (self.store.get(&self.record_key, Utc::now()).await).map_err(|e| e.to_string())?;
        // No record: it expired, and nobody has claimed the object since.
        match record {
            Some(record) if record.body["load"] != self.load_id.as_str() => {
                if let Ok(mut lost) = self.lost_to.lock() {
                    *lost = Some(describe_holder(&record.body));
                }
                Ok(false)
            }
            _ => {
                *confirmed_at = Some(asked_at);
                Ok(true)
            }
        }
    }
}

impl WriteGate for Fence {
    fn may_write(&self) -> GateAnswer<'_> {
        Box::pin(self.holds())
    }

    fn holder(&self) -> Option<String> {
        self.lost_to.lock().ok().and_then(|l| l.clone())
    }
}
