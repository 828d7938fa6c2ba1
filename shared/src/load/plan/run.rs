//! Running a load plan within one invocation: each new load pinned to its version and given its
//! object, each file split into parts or loaded whole, and what is left when the deadline nears
//! handed to the next invocation.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::function_error::ErrorType;
use crate::load::file::{Checkpoint, FileError, FileSummary, LoadResult, Loader};
use crate::load::plan::continuation::Continuation;
use crate::load::plan::fan_out::{FanOut, Split, split};
use crate::load::plan::fence::{Claim, Fence, claim, finished, settle_time};
use crate::load::plan::ledger::{
    PartTotals, SplitSummary, open_split, part_done, part_failed, start_segment,
};
use crate::load::plan::pin;
use crate::load::plan::request::{Ignored, LoadPlan};
use crate::load::write::gate::WriteGate;

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResponse {
    pub files: Vec<FileSummary>,
    /// Split files whose last part finished here: each file's one summary, all parts counted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub split_files: Vec<SplitSummary>,
    /// Files not started for lack of time, handed to new invocations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// Parts of split files handed to invocations of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dispatched: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<Ignored>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}", describe_failures(.failures))]
    Files {
        failures: Vec<FileError>,
        done: Box<LoadResponse>,
    },
    #[error("{0}")]
    Continuation(String),
    /// Lambda retried a request that had failed in a way no retry fixes: the file was not read again.
    #[error(
        "{message} (this request failed so before; Lambda's retry did not read the file again)"
    )]
    AlreadyFailed {
        error_type: &'static str,
        message: String,
    },
}

/// Failures a retry of the same request cannot fix: the input is what it is.
pub const PERMANENT_FAILURES: &[&str] = &[
    "InvalidHeader",
    "NothingLoaded",
    "RepeatedRejects",
    "ObjectNotFound",
];

/// `s3://bucket/key range 2 of 5: bytes 1000-1999 from line 51`.
fn describe_part(job: &Checkpoint) -> String {
    let (start, line) = job.resume.as_ref().map_or((0, 1), |r| (r.offset, r.line));
    let Some(range) = &job.range else {
        return job.url();
    };
    if range.repeated_keys_only {
        return format!(
            "{} part {} of {}: the rows of keys found in more than one range, in file order",
            job.url(),
            range.index,
            range.parts
        );
    }
    format!(
        "{} range {} of {}: bytes {start}-{} from line {line}",
        job.url(),
        range.index,
        range.parts,
        range.end.saturating_sub(1)
    )
}

fn describe_failures(failures: &[FileError]) -> String {
    let messages: Vec<String> = failures.iter().map(ToString::to_string).collect();
    messages.join("; ")
}

impl ErrorType for RunError {
    fn error_type(&self) -> &'static str {
        match self {
            RunError::Files { failures, .. } if failures.len() == 1 => failures[0].error_type(),
            RunError::Files { .. } => "FilesNotLoaded",
            RunError::Continuation(_) => "ContinuationFailed",
            RunError::AlreadyFailed { error_type, .. } => error_type,
        }
    }
}

impl RunError {
    /// Whether retrying the same request could only fail the same way.
    pub fn is_permanent(&self) -> bool {
        PERMANENT_FAILURES.contains(&self.error_type())
    }
}

/// What became of a job before any row was read.
enum Start {
    Load(Box<Checkpoint>),
    Skip(Ignored),
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
        return Ok(Start::Load(Box::new(job)));
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
            Ok(Start::Load(Box::new(job)))
        }
    }
}

/// Resumes a load in this invocation: skips a second delivery of the same work, and a load that a
/// newer one has displaced.
async fn resume(
    loader: &Loader,
    job: Checkpoint,
    request_id: &str,
    fence: Option<&Fence>,
) -> Result<Start, FileError> {
    let (Some(store), Some(fence)) = (&loader.state, fence) else {
        return Ok(Start::Load(Box::new(job)));
    };
    let not_started = |reason: String| FileError::NotStarted {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        reason,
    };
    let part = job.range.as_ref().map_or(0, |r| r.index);
    if !start_segment(store, &job.load_id, part, job.segment, request_id)
        .await
        .map_err(not_started)?
    {
        let what = describe_part(&job);
        return Ok(skip(
            &job,
            format!(
                "a second delivery: segment {} of {what} was started by another invocation",
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
    Ok(Start::Load(Box::new(job)))
}

/// The load's name: the request that began it (and which of its files).
fn load_id(request_id: &str, index: usize) -> String {
    if index == 0 {
        request_id.to_string()
    } else {
        format!("{request_id}-{index}")
    }
}

/// Loads every file of the plan in turn; one file's failure does not stop the others, but fails
/// the invocation at the end.
pub async fn run_plan<C: Continuation>(
    loader: &Loader,
    fan_out: FanOut,
    plan: LoadPlan,
    deadline: Instant,
    continuation: &C,
    request_id: &str,
) -> Result<LoadResponse, RunError> {
    let mut response = LoadResponse {
        ignored: plan.ignored,
        ..LoadResponse::default()
    };
    let mut failures = Vec::new();
    let pause_at = crate::deadline::before_deadline(deadline, loader.settings.checkpoint_margin);
    for (i, job) in plan.jobs.into_iter().enumerate() {
        if i > 0 && Instant::now() >= pause_at {
            let url = job.url();
            continuation
                .continue_later(&job)
                .await
                .map_err(RunError::Continuation)?;
            response.deferred.push(url);
            continue;
        }
        let new_load = job.load_id.is_empty();
        let started = if new_load {
            begin(loader, job, load_id(request_id, i)).await
        } else {
            Ok(Start::Load(Box::new(job)))
        };
        let job = match started {
            Ok(Start::Load(job)) => *job,
            Ok(Start::Skip(ignored)) => {
                response.ignored.push(ignored);
                continue;
            }
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let fence = (loader.state.clone())
            .map(|store| Arc::new(Fence::new(store, &job.bucket, &job.key, &job.load_id)));
        let job = match resume(loader, job, request_id, fence.as_deref()).await {
            Ok(Start::Load(job)) => *job,
            Ok(Start::Skip(ignored)) => {
                response.ignored.push(ignored);
                continue;
            }
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let job = match split(loader, fan_out, job, deadline).await {
            Ok(Split::Whole(job)) => *job,
            Ok(Split::Parts(parts)) => {
                dispatch(loader, &parts, continuation).await?;
                response.dispatched.extend(parts.iter().map(describe_part));
                continue;
            }
            Err(e) => return Err(RunError::Continuation(e)),
        };
        let (part, counts_before, mut reports) =
            (job.range.clone(), job.counts, job.reports.clone());
        let (load, pinned) = (job.load_id.clone(), job.pin.clone());
        let gate = fence.map(|f| f as Arc<dyn WriteGate>);
        match loader.load_fenced(job, deadline, gate).await {
            Ok(LoadResult::Done(summary)) => {
                if summary.counts.rows_rejected > counts_before.rows_rejected {
                    reports.push(summary.report.clone());
                }
                match (&loader.state, part) {
                    // A range dispatched before splits were tallied (`parts` 0) has no tally.
                    (Some(store), Some(part)) if part.parts > 0 => {
                        let totals = PartTotals {
                            counts: summary.counts,
                            reports,
                        };
                        match part_done(store, &load, part.index, totals).await {
                            Ok(Some(file)) => {
                                log_split_summary(&file);
                                finished(store, &file.bucket, &file.key, &pinned, &load).await;
                                response.split_files.push(file);
                            }
                            Ok(None) => {}
                            Err(reason) => failures.push(FileError::NotStarted {
                                bucket: summary.bucket.clone(),
                                key: summary.key.clone(),
                                reason: format!(
                                    "part {} loaded, but its totals were not recorded: {reason}",
                                    part.index
                                ),
                            }),
                        }
                    }
                    (Some(store), None) => {
                        finished(store, &summary.bucket, &summary.key, &pinned, &load).await
                    }
                    _ => {}
                }
                response.files.push(summary);
            }
            Ok(LoadResult::Paused(summary, next)) => {
                continuation
                    .continue_later(&next)
                    .await
                    .map_err(RunError::Continuation)?;
                response.files.push(summary);
            }
            Ok(LoadResult::Superseded(summary)) => {
                tracing::warn!(key = %summary.key, by = summary.superseded_by.as_deref().unwrap_or_default(), "superseded: a newer load holds the object; this one stopped");
                response.files.push(summary);
            }
            Err(e) => {
                tracing::error!(error = %e, error_type = e.error_type(), "file not loaded");
                if let (Some(store), Some(part)) = (&loader.state, part)
                    && part.parts > 0
                {
                    match part_failed(store, &load, part.index, &e.to_string()).await {
                        Ok(Some(file)) => {
                            log_split_summary(&file);
                            response.split_files.push(file);
                        }
                        Ok(None) => {}
                        Err(reason) => {
                            tracing::error!(%reason, "the part's failure was not recorded")
                        }
                    }
                }
                failures.push(e);
            }
        }
    }
    if failures.is_empty() {
        Ok(response)
    } else {
        Err(RunError::Files {
            failures,
            done: Box::new(response),
        })
    }
}

/// Opens the split's tally (so that no part can finish before it exists) and hands every part to
/// an invocation of its own; this one loads none, so a part's failure retries that part only.
async fn dispatch<C: Continuation>(
    loader: &Loader,
    parts: &[Checkpoint],
    continuation: &C,
) -> Result<(), RunError> {
    if let (Some(store), Some(first)) = (&loader.state, parts.first()) {
        open_split(
            store,
            &first.load_id,
            &first.bucket,
            &first.key,
            first.pin.label(),
            parts.len() as u32,
        )
        .await
        .map_err(|e| RunError::Continuation(format!("opening the split's tally: {e}")))?;
    }
    for part in parts {
        continuation
            .continue_later(part)
            .await
            .map_err(RunError::Continuation)?;
    }
    Ok(())
}

/// The split file's one summary line; an error when a part failed.
fn log_split_summary(file: &SplitSummary) {
    if !file.complete {
        tracing::error!(
            bucket = %file.bucket,
            key = %file.key,
            failed = ?file.failed,
            "split file not complete: every other part finished, these failed (Lambda retries \
             them, then the failure queue has them)"
        );
        return;
    }
    tracing::info!(
        bucket = %file.bucket,
        key = %file.key,
        version = file.version.as_deref().unwrap_or_default(),
        parts = file.parts,
        rows_read = file.counts.rows_read,
        items_written = file.counts.items_written,
        rows_rejected = file.counts.rows_rejected,
        items_failed = file.counts.items_failed,
        keys_repeated = file.counts.keys_repeated,
        reports = ?file.reports,
        "split file loaded: every part finished"
    );
}
