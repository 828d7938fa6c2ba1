//! One load of an object writes at a time: the newest; and a version loads once.
//!
//! `BatchWriteItem` has no conditions, so two loads of one object (a corrected file uploaded while
//! the first is loading) would interleave, and the older file's values could land last. Each object
//! therefore has a holder record in the state table naming the load that may write it. A load
//! begins by taking it over, with a conditional write, and only after checking that its version is
//! still the object's current one (between reading the record and replacing it, so of two racing
//! loads the older either fails the condition or finds it is no longer current). Every write call
//! of a load first confirms it still holds the object (a strongly consistent read, begun at most
//! `CHECK_EVERY` ago, or `CHECK_EVERY + READ_TIMEOUT` when its answer was waited for), so once a
//! newer load holds it the older sends nothing more; the newer load
//! waits `settle_time` before its first write, for the older one's calls already sent to finish,
//! and stops the older load's execution (a step already running stops at its next write).
//!
//! The same record makes a second event for a version already loaded, or loading, a no-op: S3 may
//! deliver an event twice, and a second load would overwrite what an application wrote since. An
//! explicit reload (`"reload": true`) loads it again, and so does any request for a version whose
//! load failed (a failure-queue message sent again, say).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::Utc;
use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::load::plan::pin::{self, Current};
use crate::load::read::source::ObjectVersion;
use crate::load::write::gate::{GateAnswer, GateFuture, WriteGate};
use crate::state::{StateKey, StateStore};

/// How stale a load's last confirmation that it holds the object may be when it sends a call.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Once the last confirmation is this old, the next read starts ahead of need.
const REFRESH_AFTER: Duration = Duration::from_millis(500);
/// How long one read of the holder record may take: the writers wait on it.
const READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Reads of the holder record before a confirmation is given up (the writers then hand their items
/// to the load's next step, which asks again).
const READ_ATTEMPTS: u32 = 3;
/// How long a holder record lasts without a new load.
const HOLDER_DAYS: i64 = 30;
/// Attempts at taking the record over while other loads keep changing it.
const CLAIM_ATTEMPTS: u32 = 5;

/// A newer load waits this long after displacing a load still running: the older load sends a call
/// at most `CHECK_EVERY + READ_TIMEOUT` after the read that last found it holding the object
/// began, and a call ends within `call_timeout`.
pub fn settle_time(call_timeout: Duration) -> Duration {
    CHECK_EVERY + READ_TIMEOUT + call_timeout + Duration::from_secs(1)
}

/// The record naming the load that may write `s3://bucket/key`.
pub fn holder_key(bucket: &str, key: &str) -> StateKey {
    StateKey::new(format!("load-object#{bucket}/{key}"), "holder")
}

/// How taking an object over went.
#[derive(Debug, PartialEq, Eq)]
pub enum Claim {
    /// This load holds the object; `displaced` is a load that may still be writing.
    /// `after_failure`: an earlier load of this same version failed (this one loads it again).
    Held {
        displaced: Option<Displaced>,
        after_failure: bool,
    },
    /// The version is no longer current: the load is skipped.
    Superseded(String),
    /// This version was loaded, or is loading, already: the load is skipped.
    Duplicate(String),
}

/// A load taken over while it may still be writing.
#[derive(Debug, PartialEq, Eq)]
pub struct Displaced {
    pub load: String,
    /// The name of its execution, if it started one.
    pub execution: String,
}

/// The record of a load that holds its object: which load, of which version, not finished yet.
/// How it ends, and the name of its execution if it starts one, are added later.
fn holder_body(load_id: &str, pin: &ObjectVersion) -> Value {
    json!({"load": load_id, "version": pin.label(), "finished": false})
}

fn describe_holder(body: &Value) -> String {
    let load = body["load"].as_str().unwrap_or("?");
    match body["version"].as_str() {
        Some(version) => format!("load {load} of version {version}"),
        None => format!("load {load}"),
    }
}

fn describe_duplicate(body: &Value) -> String {
    let done = if body["finished"] == true {
        "was loaded"
    } else {
        "is loading"
    };
    let execution = (body["execution"].as_str())
        .map(|name| format!(", execution {name}"))
        .unwrap_or_default();
    format!(
        "a second event for a version that {done} ({}{execution}); send {{\"bucket\", \"key\", \
         \"reload\": true}} to load it again",
        describe_holder(body)
    )
}

/// Takes `s3://bucket/key` over for `load_id`, which reads `pinned`; `reload`: even if that version
/// was loaded before.
pub async fn claim(
    store: &StateStore,
    s3: &aws_sdk_s3::Client,
    (bucket, key): (&str, &str),
    (load_id, pinned): (&str, &ObjectVersion),
    reload: bool,
) -> Result<Claim, String> {
    let record_key = holder_key(bucket, key);
    let body = holder_body(load_id, pinned);
    let holds = |displaced, after_failure| Claim::Held {
        displaced,
        after_failure,
    };
    let expires = || Utc::now() + chrono::Duration::days(HOLDER_DAYS);
    for _ in 0..CLAIM_ATTEMPTS {
        let held = (store.get(&record_key, Utc::now()).await).map_err(|e| e.to_string())?;
        let Some(record) = held else {
            if (store
                .create(&record_key, &body, expires(), Utc::now())
                .await)
                .map_err(|e| e.to_string())?
            {
                return Ok(holds(None, false));
            }
            continue;
        };
        if record.body["load"] == load_id {
            return Ok(holds(None, false));
        }
        let same_version = pinned
            .label()
            .is_some_and(|v| record.body["version"] == v.as_str());
        let failed = record.body.get("failed").is_some();
        if same_version && !reload && !failed {
            return Ok(Claim::Duplicate(describe_duplicate(&record.body)));
        }
        // Checked after reading the record and before replacing it: see the module's comment.
        let Current::Version(current) = pin::current(s3, bucket, key).await? else {
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
            let running = record.body["finished"] != true && !failed;
            let displaced = running.then(|| Displaced {
                load: describe_holder(&record.body),
                execution: (record.body["execution"].as_str())
                    .unwrap_or_default()
                    .to_string(),
            });
            return Ok(holds(displaced, same_version && failed));
        }
    }
    Err(format!(
        "other loads of s3://{bucket}/{key} kept taking it over; {CLAIM_ATTEMPTS} attempts failed"
    ))
}

/// The load still running on the object from a version other than `pinned`, described, if any:
/// the one a load of `pinned` would stop.
pub async fn running_other(
    store: &StateStore,
    (bucket, key): (&str, &str),
    pinned: &ObjectVersion,
) -> Result<Option<String>, String> {
    let record =
        (store.get(&holder_key(bucket, key), Utc::now()).await).map_err(|e| e.to_string())?;
    Ok(record
        .filter(|r| r.body["finished"] != true && r.body.get("failed").is_none())
        .filter(|r| {
            pinned
                .label()
                .is_none_or(|v| r.body["version"] != v.as_str())
        })
        .map(|r| describe_holder(&r.body)))
}

/// Notes on the holder record the name of the execution `load_id` started, so that a duplicate
/// event names it and a newer load stops it.
pub async fn started_execution(
    store: &StateStore,
    (bucket, key): (&str, &str),
    load_id: &str,
    name: &str,
) -> Result<(), String> {
    let record_key = holder_key(bucket, key);
    let record = (store.get(&record_key, Utc::now()).await).map_err(|e| e.to_string())?;
    let Some(record) = record.filter(|r| r.body["load"] == load_id) else {
        return Ok(()); // a newer load holds the object: the fence stops this one
    };
    let mut body = record.body.clone();
    body["execution"] = json!(name);
    (store.replace(&record_key, record.version, &body, record.expires_at))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// How a load ended.
pub enum Ending<'a> {
    /// Every row done: the next load of the object need not wait for it, and a second event for its
    /// version is a duplicate.
    Finished,
    /// Stopped with an error: a request for its version loads it again.
    Failed(&'a str),
}

/// Marks on the holder record how `load_id` ended, if it still holds the object.
pub async fn ended(
    store: &StateStore,
    (bucket, key): (&str, &str),
    load_id: &str,
    how: Ending<'_>,
) {
    let record_key = holder_key(bucket, key);
    let result = async {
        let Some(record) = store.get(&record_key, Utc::now()).await? else {
            return Ok(());
        };
        if record.body["load"] == load_id {
            let mut body = record.body.clone();
            match how {
                Ending::Finished => {
                    body["finished"] = json!(true);
                    body.as_object_mut().map(|b| b.remove("failed"));
                }
                Ending::Failed(why) => body["failed"] = json!(why),
            }
            store
                .replace(&record_key, record.version, &body, record.expires_at)
                .await?;
        }
        Ok::<_, crate::state::StateError>(())
    };
    // Said, not failed: a duplicate then loads again (failed) or waits `settle_time` (finished).
    if let Err(e) = result.await {
        tracing::warn!(error = %e, "could not mark how the load ended");
    }
}

/// Who holds the object, as one read of the holder record found.
#[derive(Debug, Clone)]
enum Holder {
    ThisLoad,
    /// Another load, described.
    Other(String),
    /// Nobody: the record is gone.
    Nobody,
}

/// One read of the holder record, shared by every writer waiting for it: when its successful
/// attempt began, and what it found.
type HolderRead = Shared<BoxFuture<'static, Result<(Instant, Holder), String>>>;

/// What the fence knows between reads.
#[derive(Default)]
struct Known {
    /// When the read that last found this load holding the object began (conservative).
    confirmed_at: Option<Instant>,
    /// Set once another load holds the object: for good.
    lost_to: Option<String>,
    /// The read in flight, if any: writers that find the confirmation stale wait for it together
    /// instead of each asking.
    reading: Option<HolderRead>,
}

/// A load's hold on its object, asked before every write call. No lock is held across a call to
/// the state table: a slow read stalls only the writers that need its answer, for at most
/// `READ_ATTEMPTS` reads of `READ_TIMEOUT`, and then they hand their items back.
pub struct Fence {
    store: StateStore,
    record_key: StateKey,
    load_id: String,
    known: Mutex<Known>,
}

impl Fence {
    pub fn new(store: StateStore, bucket: &str, key: &str, load_id: &str) -> Fence {
        Fence {
            store,
            record_key: holder_key(bucket, key),
            load_id: load_id.to_string(),
            known: Mutex::new(Known::default()),
        }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        // Nothing is left half-updated under this lock, so a poisoned one is still sound.
        self.known.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this load may still write, asking the state table when the last confirmation is
    /// older than `CHECK_EVERY`. Past `REFRESH_AFTER` the next read starts ahead, in the
    /// background, so writers wait on the state table only when it is slower than that. A holder
    /// record that is gone stops the load (the fence fails closed, and says why).
    pub async fn holds(&self) -> GateAnswer {
        let read = {
            let mut known = self.known();
            // A read started ahead and finished is taken in at once: a newer holder stops writes.
            if let Some(done) = known.reading.as_ref().and_then(|r| r.peek().cloned()) {
                known.reading = None;
                match self.take_in(&mut known, done) {
                    verdict @ (GateAnswer::Stop | GateAnswer::Broken(_)) => return verdict,
                    // Unsure ahead of time is no reason to stop: the confirmation still holds.
                    GateAnswer::Write | GateAnswer::Unsure(_) => {}
                }
            }
            if known.lost_to.is_some() {
                return GateAnswer::Stop;
            }
            let age = known.confirmed_at.map(|at| at.elapsed());
            if age.is_some_and(|age| age < CHECK_EVERY) {
                if age.is_some_and(|age| age >= REFRESH_AFTER) && known.reading.is_none() {
                    let ahead = self.read_holder();
                    tokio::spawn(ahead.clone().map(|_| ()));
                    known.reading = Some(ahead);
                }
                return GateAnswer::Write;
            }
            let read = known.reading.get_or_insert_with(|| self.read_holder());
            read.clone()
        };
        let answer = read.clone().await;
        let mut known = self.known();
        if known.reading.as_ref().is_some_and(|r| r.ptr_eq(&read)) {
            known.reading = None;
        }
        self.take_in(&mut known, answer)
    }

    /// What a read of the holder record means for the writers, noted in `known`.
    fn take_in(&self, known: &mut Known, answer: Result<(Instant, Holder), String>) -> GateAnswer {
        match answer {
            // A read answers within `READ_TIMEOUT` of its start, so this holds: see `settle_time`.
            Ok((asked_at, Holder::ThisLoad)) if asked_at.elapsed() < CHECK_EVERY + READ_TIMEOUT => {
                known.confirmed_at = known.confirmed_at.max(Some(asked_at));
                GateAnswer::Write
            }
            Ok((_, Holder::ThisLoad)) => GateAnswer::Unsure("the state table answered late".into()),
            Ok((_, Holder::Other(holder))) => {
                known.lost_to = Some(holder);
                GateAnswer::Stop
            }
            Ok((_, Holder::Nobody)) => GateAnswer::Broken(format!(
                "this load's holder record ({} in the state table) is gone (deleted, or expired): \
                 the load stops rather than write without its fence; send {{\"bucket\", \"key\", \
                 \"reload\": true}} to load the file again",
                self.record_key.pk
            )),
            Err(e) => GateAnswer::Unsure(e),
        }
    }

    /// A read of the holder record: each attempt bounded by `READ_TIMEOUT`, `READ_ATTEMPTS` of them.
    fn read_holder(&self) -> HolderRead {
        let (store, record_key, load_id) = (
            self.store.clone(),
            self.record_key.clone(),
            self.load_id.clone(),
        );
        async move {
            let mut problem = String::new();
            for attempt in 0..READ_ATTEMPTS {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                }
                let asked_at = Instant::now();
                let read = store.get(&record_key, Utc::now());
                match tokio::time::timeout(READ_TIMEOUT, read).await {
                    Ok(Ok(record)) => return Ok((asked_at, holder_of(record, &load_id))),
                    Ok(Err(e)) => problem = e.to_string(),
                    Err(_) => problem = format!("no answer within {READ_TIMEOUT:?}"),
                }
            }
            Err(format!("{problem} ({READ_ATTEMPTS} attempts)"))
        }
        .boxed()
        .shared()
    }
}

fn holder_of(record: Option<crate::state::StateRecord>, load_id: &str) -> Holder {
    match record {
        Some(record) if record.body["load"] == load_id => Holder::ThisLoad,
        Some(record) => Holder::Other(describe_holder(&record.body)),
        None => Holder::Nobody,
    }
}

impl WriteGate for Fence {
    fn may_write(&self) -> GateFuture<'_> {
        Box::pin(self.holds())
    }

    fn holder(&self) -> Option<String> {
        self.known().lost_to.clone()
    }
}
