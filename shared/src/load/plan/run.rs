//! Running a load plan within one invocation: each job started (`start`), each file split into
//! parts or loaded whole, what is left when the deadline nears handed to the next invocation, and
//! each end of a load recorded (a split file's parts tallied into one summary).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::function_error::ErrorType;
use crate::load::file::{Checkpoint, FileError, FileSummary, LoadResult, Loader};
use crate::load::plan::continuation::Continuation;
use crate::load::plan::fan_out::{FanOut, Split, split};
use crate::load::plan::fence::finished;
use crate::load::plan::ledger::{
    PartTotals, SplitSummary, open_split, part_done, part_failed, segment_done,
};
use crate::load::plan::pin;
use crate::load::plan::request::{Ignored, LoadPlan};
use crate::load::plan::route::{Loaders, not_uploaded_yet};
use crate::load::plan::start::{Ready, Start, start};
use crate::load::read::source::ObjectVersion;
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

/// Loads every file of the plan in turn, each into the table its key routes to; one file's failure
/// does not stop the others, but fails the invocation at the end.
pub async fn run_plan<C: Continuation>(
    loaders: &Loaders,
    fan_out: FanOut,
    plan: LoadPlan,
    deadline: Instant,
    continuation: &C,
    request_id: &str,
) -> Result<LoadResponse, RunError> {
    let (jobs, mut ignored) = loaders.route_jobs(plan.jobs);
    let jobs = if plan.default_object {
        uploaded(jobs, &mut ignored).await
    } else {
        jobs
    };
    let mut response = LoadResponse {
        ignored: [plan.ignored, ignored].concat(),
        ..LoadResponse::default()
    };
    let run = Invocation {
        fan_out,
        deadline,
        continuation,
        request_id,
    };
    let mut failures = Vec::new();
    for (i, (loader, job)) in jobs.into_iter().enumerate() {
        let pause_at =
            crate::deadline::before_deadline(deadline, loader.settings.checkpoint_margin);
        if i > 0 && Instant::now() >= pause_at {
            let url = job.url();
            continuation
                .continue_later(&job)
                .await
                .map_err(RunError::Continuation)?;
            response.deferred.push(url);
            continue;
        }
        if let Err(e) = run.job(loader, job, i, &mut response).await? {
            failures.push(e);
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

/// The default object's jobs whose object exists; one that was never uploaded is listed under
/// `ignored` with what to upload where (a fresh stack's `{}` is no failure).
async fn uploaded<'l>(
    jobs: Vec<(&'l Loader, Checkpoint)>,
    ignored: &mut Vec<Ignored>,
) -> Vec<(&'l Loader, Checkpoint)> {
    let mut found = Vec::new();
    for (loader, job) in jobs {
        // Anything but a clear absence is left to the load, which says what is wrong.
        if let Ok(None) = pin::current(&loader.s3, &job.bucket, &job.key).await {
            let reason = not_uploaded_yet(&job.bucket, &job.key);
            tracing::warn!(bucket = %job.bucket, key = %job.key, %reason, "no default object");
            ignored.push(Ignored {
                bucket: job.bucket,
                key: job.key,
                reason,
            });
        } else {
            found.push((loader, job));
        }
    }
    found
}

/// What every job of one invocation shares.
struct Invocation<'a, C> {
    fan_out: FanOut,
    deadline: Instant,
    continuation: &'a C,
    request_id: &'a str,
}

impl<C: Continuation> Invocation<'_, C> {
    /// Runs the `index`th job of the plan with its table's loader: starts it, splits it or loads
    /// it, hands on what is left, and records its end. `Ok(Err(..))`: this file failed, the others
    /// go on.
    async fn job(
        &self,
        loader: &Loader,
        job: Checkpoint,
        index: usize,
        response: &mut LoadResponse,
    ) -> Result<Result<(), FileError>, RunError> {
        let (deadline, continuation) = (self.deadline, self.continuation);
        let Ready { job, fence } = match start(loader, job, self.request_id, index, deadline).await
        {
            Ok(Start::Load(ready)) => *ready,
            Ok(Start::Skip(ignored)) => {
                response.ignored.push(ignored);
                return Ok(Ok(()));
            }
            Err(e) => return Ok(Err(e)),
        };
        let ending = Ending::of(&job);
        let job = match split(loader, self.fan_out, job, deadline).await {
            Ok(Split::Whole(job)) => *job,
            Ok(Split::Parts {
                parts,
                keys_in_several_ranges,
            }) => {
                dispatch(loader, &parts, keys_in_several_ranges, continuation).await?;
                ending.segment_done(loader).await;
                response
                    .dispatched
                    .extend(parts.iter().map(Checkpoint::describe));
                return Ok(Ok(()));
            }
            Err(e) => return Err(RunError::Continuation(e)),
        };
        let gate = fence.map(|f| f as Arc<dyn WriteGate>);
        match loader.load_fenced(job, deadline, gate).await {
            Ok(LoadResult::Done(summary)) => {
                ending.segment_done(loader).await;
                let done = ending.done(loader, &summary, response).await;
                response.files.push(summary);
                return Ok(done);
            }
            Ok(LoadResult::Paused(summary, next)) => {
                continuation
                    .continue_later(&next)
                    .await
                    .map_err(RunError::Continuation)?;
                ending.segment_done(loader).await;
                response.files.push(summary);
            }
            Ok(LoadResult::Superseded(summary)) => {
                ending.segment_done(loader).await;
                tracing::warn!(key = %summary.key, by = summary.superseded_by.as_deref().unwrap_or_default(), "superseded: a newer load holds the object; this one stopped");
                response.files.push(summary);
            }
            Err(e) => {
                tracing::error!(error = %e, error_type = e.error_type(), "file not loaded");
                ending.failed(loader, &e, response).await;
                return Ok(Err(e));
            }
        }
        Ok(Ok(()))
    }
}

/// What the end of a load needs of its job, which the load consumes.
struct Ending {
    /// The split file's part, when tallied (a range dispatched before splits were tallied has
    /// `parts` 0 and no tally).
    part: Option<u32>,
    /// The segment this invocation ran, as the ledger names it (part 0: a file loaded whole).
    segment: (u32, u32),
    rejected_before: u64,
    reports: Vec<String>,
    load: String,
    pinned: ObjectVersion,
}

impl Ending {
    fn of(job: &Checkpoint) -> Ending {
        Ending {
            part: (job.range.as_ref())
                .filter(|r| r.parts > 0)
                .map(|r| r.index),
            segment: (job.range.as_ref().map_or(0, |r| r.index), job.segment),
            rejected_before: job.counts.rows_rejected,
            reports: job.reports.clone(),
            load: job.load_id.clone(),
            pinned: job.pin.clone(),
        }
    }

    /// The segment ended (done, handed on or superseded): a later delivery of it is skipped.
    async fn segment_done(&self, loader: &Loader) {
        let Some(store) = loader.state.as_ref().filter(|_| !self.load.is_empty()) else {
            return;
        };
        let (part, segment) = self.segment;
        if let Err(reason) = segment_done(store, &self.load, part, segment).await {
            // Only a second delivery of this segment would run it again: said, not failed.
            tracing::error!(%reason, part, segment, "the segment's end was not recorded");
        }
    }

    /// A split file's part goes to its tally (the last part gives the file's summary); a whole
    /// file's holder record is marked finished.
    async fn done(
        mut self,
        loader: &Loader,
        summary: &FileSummary,
        response: &mut LoadResponse,
    ) -> Result<(), FileError> {
        let Some(store) = &loader.state else {
            return Ok(());
        };
        let Some(part) = self.part else {
            finished(
                store,
                &summary.bucket,
                &summary.key,
                &self.pinned,
                &self.load,
            )
            .await;
            return Ok(());
        };
        if summary.counts.rows_rejected > self.rejected_before {
            self.reports.push(summary.report.clone());
        }
        let totals = PartTotals {
            counts: summary.counts,
            reports: self.reports,
        };
        let file = (part_done(store, &self.load, part, totals).await).map_err(|reason| {
            FileError::NotStarted {
                bucket: summary.bucket.clone(),
                key: summary.key.clone(),
                reason: format!("part {part} loaded, but its totals were not recorded: {reason}"),
            }
        })?;
        if let Some(file) = file {
            log_split_summary(&file);
            // Not while a failed part may still be retried: the next load must wait for it.
            if file.complete {
                finished(store, &file.bucket, &file.key, &self.pinned, &self.load).await;
            }
            response.split_files.push(file);
        }
        Ok(())
    }

    /// A split file's failed part goes to its tally too: once every other part has finished, the
    /// file is said to be incomplete.
    async fn failed(&self, loader: &Loader, error: &FileError, response: &mut LoadResponse) {
        let (Some(store), Some(part)) = (&loader.state, self.part) else {
            return;
        };
        match part_failed(store, &self.load, part, &error.to_string()).await {
            Ok(Some(file)) => {
                log_split_summary(&file);
                response.split_files.push(file);
            }
            Ok(None) => {}
            Err(reason) => tracing::error!(%reason, "the part's failure was not recorded"),
        }
    }
}

/// Opens the split's tally (so that no part can finish before it exists) and hands every part to
/// an invocation of its own; this one loads none, so a part's failure retries that part only.
async fn dispatch<C: Continuation>(
    loader: &Loader,
    parts: &[Checkpoint],
    keys_in_several_ranges: u64,
    continuation: &C,
) -> Result<(), RunError> {
    if let (Some(store), Some(first)) = (&loader.state, parts.first()) {
        let table = &loader.table.name;
        open_split(
            store,
            first,
            table,
            parts.len() as u32,
            keys_in_several_ranges,
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
            table = %file.table,
            failed = ?file.failed,
            "split file not complete: every other part finished, these failed (Lambda retries \
             them, then the failure queue has them)"
        );
        return;
    }
    tracing::info!(
        bucket = %file.bucket,
        key = %file.key,
        table = %file.table,
        version = file.version.as_deref().unwrap_or_default(),
        parts = file.parts,
        rows_read = file.counts.rows_read,
        items_written = file.counts.items_written,
        rows_rejected = file.counts.rows_rejected,
        items_failed = file.counts.items_failed,
        keys_repeated = file.counts.keys_repeated,
        keys_in_several_ranges = file.keys_in_several_ranges,
        reports = ?file.reports,
        "split file loaded: every part finished"
    );
}
