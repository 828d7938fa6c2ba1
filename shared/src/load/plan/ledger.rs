//! The ledger of a load that spans invocations, in the state table: which segments have started,
//! so that a continuation Lambda delivers twice runs once, and each part of a split file with its
//! totals, so that the file has one summary, given by whichever part finishes last. A part that
//! fails is recorded too: once every other part has finished, the file is said to be incomplete,
//! naming the part and why (Lambda retries it; the file's summary comes when it finishes).
//!
//! A segment is started by the request that runs it, with a lease until that invocation's deadline,
//! and marked done when it ends. A second delivery of the same event (another request) finds it
//! done, or running; Lambda's retries of a failed request keep its request ID and run it again (its
//! writes are the same puts, in the same order), and once the lease has run out (an invocation
//! that died) any request may, such as a redrive from the failure queue.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::load::file::{Checkpoint, Counts};
use crate::state::{StateKey, StateStore};

/// Longer than any load runs, Lambda's retries included.
const KEPT_FOR: Duration = Duration::days(7);
/// Attempts at recording a part while other parts record theirs.
const RECORD_ATTEMPTS: u32 = 20;

fn segment_key(load_id: &str, part: u32, segment: u32, what: &str) -> StateKey {
    StateKey::new(
        format!("load-run#{load_id}"),
        format!("part{part:03}#segment{segment:05}#{what}"),
    )
}

fn split_key(load_id: &str) -> StateKey {
    StateKey::new(format!("load-run#{load_id}"), "split")
}

/// Starts `segment` of `part` (0 for a file loaded whole) as `request_id` until `until`; `Some(why
/// not)` when it was done already or another request is running it.
pub async fn start_segment(
    store: &StateStore,
    load_id: &str,
    part: u32,
    segment: u32,
    request_id: &str,
    until: DateTime<Utc>,
) -> Result<Option<String>, String> {
    let now = Utc::now();
    let done = segment_key(load_id, part, segment, "done");
    if (store.get(&done, now).await)
        .map_err(|e| e.to_string())?
        .is_some()
    {
        return Ok(Some("it was loaded already".into()));
    }
    let started = segment_key(load_id, part, segment, "started");
    if !(store.acquire_lease(&started, request_id, until, now).await).map_err(|e| e.to_string())? {
        let holder = store.get(&started, now).await.ok().flatten();
        let by = holder.and_then(|h| h.owner).unwrap_or_default();
        return Ok(Some(format!("request {by} is loading it")));
    }
    Ok(None)
}

/// Marks `segment` of `part` done: a later delivery of it is skipped.
pub async fn segment_done(
    store: &StateStore,
    load_id: &str,
    part: u32,
    segment: u32,
) -> Result<(), String> {
    let now = Utc::now();
    let done = segment_key(load_id, part, segment, "done");
    store
        .create(&done, &serde_json::Value::Null, now + KEPT_FOR, now)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// One finished part of a split file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartTotals {
    pub counts: Counts,
    /// Its reports that list rejected rows.
    pub reports: Vec<String>,
}

/// A split file's parts as they finish.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tally {
    bucket: String,
    key: String,
    #[serde(default)]
    table: String,
    version: Option<String>,
    parts: u32,
    keys_in_several_ranges: u64,
    done: BTreeMap<u32, PartTotals>,
    /// Parts whose last attempt failed, and why.
    #[serde(default)]
    failed: BTreeMap<u32, String>,
    summarized: bool,
}

/// The one summary of a split file: every part's rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub bucket: String,
    pub key: String,
    /// The table the file loads into.
    #[serde(default)]
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub parts: u32,
    #[serde(flatten)]
    pub counts: Counts,
    /// Distinct keys found on rows of more than one range, whose rows loaded in file order as a
    /// part of their own (the split's count: it may run slightly high, never low).
    pub keys_in_several_ranges: u64,
    /// Where the rejected rows are listed, part by part.
    pub reports: Vec<String>,
    /// Every part finished; otherwise `failed` says which did not, and why.
    pub complete: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub failed: BTreeMap<u32, String>,
}

/// Opens the tally of a split file (its first part: the load, object and version) before its parts
/// are handed out. Opening it again (Lambda's retry of the request that split it) keeps what it
/// holds.
pub async fn open_split(
    store: &StateStore,
    first: &Checkpoint,
    table: &str,
    parts: u32,
    keys_in_several_ranges: u64,
) -> Result<(), String> {
    let load_id = &first.load_id;
    let tally = Tally {
        bucket: first.bucket.clone(),
        key: first.key.clone(),
        table: table.to_string(),
        version: first.pin.label(),
        parts,
        keys_in_several_ranges,
        done: BTreeMap::new(),
        failed: BTreeMap::new(),
        summarized: false,
    };
    let body = serde_json::to_value(&tally).map_err(|e| e.to_string())?;
    let now = Utc::now();
    store
        .create(&split_key(load_id), &body, now + KEPT_FOR, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Records that `part` finished; returns the file's summary when it was the last part to (once,
/// however often a part is recorded).
pub async fn part_done(
    store: &StateStore,
    load_id: &str,
    part: u32,
    totals: PartTotals,
) -> Result<Option<SplitSummary>, String> {
    record(store, load_id, part, |tally| {
        if tally.done.contains_key(&part) {
            return None;
        }
        tally.failed.remove(&part);
        tally.done.insert(part, totals.clone());
        let complete_now = tally.done.len() as u32 >= tally.parts && !tally.summarized;
        tally.summarized |= complete_now;
        let all_ended = (tally.done.len() + tally.failed.len()) as u32 >= tally.parts;
        Some(complete_now || (all_ended && !tally.failed.is_empty()))
    })
    .await
}

/// Records that `part` failed; returns the file's summary, incomplete, when every other part has
/// finished or failed.
pub async fn part_failed(
    store: &StateStore,
    load_id: &str,
    part: u32,
    reason: &str,
) -> Result<Option<SplitSummary>, String> {
    record(store, load_id, part, |tally| {
        if tally.done.contains_key(&part) {
            return None;
        }
        tally.failed.insert(part, reason.to_string());
        Some((tally.done.len() + tally.failed.len()) as u32 >= tally.parts)
    })
    .await
}

/// Applies `change` to the tally (`None`: nothing to change; `Some(true)`: summarize it now).
async fn record(
    store: &StateStore,
    load_id: &str,
    part: u32,
    change: impl Fn(&mut Tally) -> Option<bool>,
) -> Result<Option<SplitSummary>, String> {
    let key = split_key(load_id);
    for _ in 0..RECORD_ATTEMPTS {
        let record = (store.get(&key, Utc::now()).await)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("the split's record {}/{} is gone", key.pk, key.sk))?;
        let mut tally: Tally =
            serde_json::from_value(record.body).map_err(|e| format!("the split's record: {e}"))?;
        let Some(summarize_now) = change(&mut tally) else {
            return Ok(None);
        };
        let body = serde_json::to_value(&tally).map_err(|e| e.to_string())?;
        if (store
            .replace(&key, record.version, &body, record.expires_at)
            .await)
            .map_err(|e| e.to_string())?
        {
            return Ok(summarize_now.then(|| summarize(&tally)));
        }
    }
    Err(format!(
        "could not record part {part}: the split's record kept changing"
    ))
}

fn summarize(tally: &Tally) -> SplitSummary {
    let counts = (tally.done.values()).fold(Counts::default(), |sum, part| sum.plus(part.counts));
    SplitSummary {
        bucket: tally.bucket.clone(),
        key: tally.key.clone(),
        table: tally.table.clone(),
        version: tally.version.clone(),
        parts: tally.parts,
        counts,
        keys_in_several_ranges: tally.keys_in_several_ranges,
        reports: (tally.done.values())
            .flat_map(|part| part.reports.iter().cloned())
            .collect(),
        complete: tally.failed.is_empty() && tally.done.len() as u32 >= tally.parts,
        failed: tally.failed.clone(),
    }
}
