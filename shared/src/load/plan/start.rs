//! How a job starts in an invocation. A new load is pinned to its version (the event's, or the
//! current one) and takes its object over from any older load (`fence`); every invocation of a
//! load then starts its segment in the ledger, so a second delivery of the same work is skipped,
//! and checks that no newer load holds the object.

use std::sync::Arc;

use chrono::Utc;
use tokio::time::Instant;

use crate::load::file::{Checkpoint, FileError, Loader};
use crate::load::plan::fence::{Claim, Fence, claim, settle_time};
use crate::load::plan::ledger::start_segment;
use crate::load::plan::pin;
use crate::load::plan::request::Ignored;
use crate::load::write::gate::WriteGate;

/// What became of a job before any row was read.
pub enum Start {
    Load(Box<Ready>),
    Skip(Ignored),
}

/// A job this invocation loads, and the fence its writes ask (with a state table).
pub struct Ready {
    pub job: Checkpoint,
    pub fence: Option<Arc<Fence>>,
}

fn ready(job: Checkpoint) -> Start {
    Start::Load(Box::new(Ready { job, fence: None }))
}

/// Starts `job`, the `index`th of this request's plan, to run until `deadline`: begins it if it is
/// a new load, then resumes it here.
pub async fn start(
    loader: &Loader,
    job: Checkpoint,
    request_id: &str,
    index: usize,
    deadline: Instant,
) -> Result<Start, FileError> {
    if job.load_id.is_empty() && job.resume.is_some() {
        // Sent by a loader from before loads had IDs: it finishes as it would have (`If-Match` on
        // the ETag it began with), neither fenced nor tallied.
        return Ok(ready(job));
    }
    let job = if job.load_id.is_empty() {
        match begin(loader, job, load_id(request_id, index)).await? {
            Start::Load(ready) => ready.job,
            skipped => return Ok(skipped),
        }
    } else {
        job
    };
    let fence = (loader.state.clone())
        .map(|store| Arc::new(Fence::new(store, &job.bucket, &job.key, &job.load_id)));
    match resume(loader, job, request_id, deadline, fence.as_deref()).await? {
        Start::Load(ready) => Ok(Start::Load(Box::new(Ready { fence, ..*ready }))),
        skipped => Ok(skipped),
    }
}

fn skip(job: &Checkpoint, reason: String) -> Start {
    tracing::info!(bucket = %job.bucket, key = %job.key, %reason, "not loading");
    Start::Skip(Ignored {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        reason,
    })
}

/// Begins a new load: pins the version (the event's, or the current one), skips a version that is
/// no longer current, and takes the object over, waiting for a displaced load's last calls.
async fn begin(loader: &Loader, mut job: Checkpoint, load_id: String) -> Result<Start, FileError> {
    let not_started = |reason: String| FileError::NotStarted {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        reason,
    };
    let current = (pin::current(&loader.s3, &job.bucket, &job.key).await).map_err(not_started)?;
    if let Some(current) = current {
        if let Some(why) = pin::superseded(&job.pin, &current) {
            return Ok(skip(&job, format!("superseded: {why}")));
        }
        if job.pin.version_id.is_none() {
            job.pin = current;
        }
    }
    job.load_id = load_id;
    let Some(store) = &loader.state else {
        return Ok(ready(job));
    };
    let claimed = claim(
        store,
        &loader.s3,
        &job.bucket,
        &job.key,
        &job.pin,
        &job.load_id,
    )
    .await;
    match claimed.map_err(not_started)? {
        Claim::Superseded(why) => Ok(skip(&job, format!("superseded: {why}"))),
        Claim::Held { displaced } => {
            if let Some(displaced) = displaced {
                let wait = settle_time(loader.settings.write.call_timeout);
                tracing::warn!(key = %job.key, %displaced, ?wait, "a newer upload displaces a load still running: waiting for its last writes");
                tokio::time::sleep(wait).await;
            }
            Ok(ready(job))
        }
    }
}

/// Resumes a load in this invocation: skips a second delivery of the same work, and a load that a
/// newer one has displaced.
async fn resume(
    loader: &Loader,
    job: Checkpoint,
    request_id: &str,
    deadline: Instant,
    fence: Option<&Fence>,
) -> Result<Start, FileError> {
    let (Some(store), Some(fence)) = (&loader.state, fence) else {
        return Ok(ready(job));
    };
    let not_started = |reason: String| FileError::NotStarted {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        reason,
    };
    let part = job.range.as_ref().map_or(0, |r| r.index);
    // The lease lasts until this invocation's deadline, and a minute more.
    let left =
        deadline.saturating_duration_since(Instant::now()) + std::time::Duration::from_secs(60);
    let until =
        Utc::now() + chrono::Duration::from_std(left).unwrap_or_else(|_| chrono::Duration::days(1));
    let taken = start_segment(store, &job.load_id, part, job.segment, request_id, until)
        .await
        .map_err(not_started)?;
    if let Some(why) = taken {
        let what = job.describe();
        return Ok(skip(
            &job,
            format!(
                "a second delivery: segment {} of {what}: {why}",
                job.segment
            ),
        ));
    }
    if !fence.holds().await.map_err(not_started)? {
        let holder = fence.holder().unwrap_or_default();
        return Ok(skip(
            &job,
            format!("superseded: {holder} holds the object now"),
        ));
    }
    Ok(ready(job))
}

/// The load's name: the request that began it (and which of its files).
fn load_id(request_id: &str, index: usize) -> String {
    if index == 0 {
        request_id.to_string()
    } else {
        format!("{request_id}-{index}")
    }
}
