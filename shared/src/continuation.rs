//! Running a load plan within one invocation, and handing what is left to the next one.
//!
//! When the deadline nears, the loader pauses at a row boundary after every earlier row is written,
//! and the rest of the file is sent to this same function as an asynchronous invocation
//! (`InvocationType=Event`) carrying a checkpoint: byte offset, line, header, ETag and running
//! totals. Needs `lambda:InvokeFunction` on the function itself.

use std::future::Future;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::fan_out::{Split, split};
use crate::function_error::ErrorType;
use crate::loader::{Checkpoint, FileError, FileSummary, LoadResult, Loader};
use crate::loader_request::{Ignored, LoadPlan};

/// Somewhere to send the rest of the work.
pub trait Continuation {
    fn continue_later(&self, next: &Checkpoint) -> impl Future<Output = Result<(), String>> + Send;
}

/// Invokes this same function asynchronously with `{"continue": checkpoint}`.
pub struct SelfInvoke {
    pub lambda: aws_sdk_lambda::Client,
    /// The invoked function's ARN (from the invocation context, so aliases and versions hold).
    pub function: String,
}

impl Continuation for SelfInvoke {
    async fn continue_later(&self, next: &Checkpoint) -> Result<(), String> {
        let payload =
            serde_json::to_vec(&json!({ "continue": next })).map_err(|e| e.to_string())?;
        self.lambda
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| format!("invoking {} to continue: {}", self.function, describe(&e)))?;
        Ok(())
    }
}

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResponse {
    pub files: Vec<FileSummary>,
    /// Files not started for lack of time, handed to new invocations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// Byte ranges of split files handed to other invocations (this one loads the last range).
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
}

/// `s3://bucket/key range 2: bytes 1000-1999 from line 51`.
fn describe_range(job: &Checkpoint) -> String {
    let (start, line) = job.resume.as_ref().map_or((0, 1), |r| (r.offset, r.line));
    let (index, end) = job.range.map_or((0, 0), |r| (r.index, r.end));
    format!(
        "s3://{}/{} range {index}: bytes {start}-{} from line {line}",
        job.bucket,
        job.key,
        end.saturating_sub(1)
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
        }
    }
}

/// Loads every file of the plan in turn; one file's failure does not stop the others, but fails
/// the invocation at the end.
pub async fn run_plan<C: Continuation>(
    loader: &Loader,
    plan: LoadPlan,
    deadline: Instant,
    continuation: &C,
) -> Result<LoadResponse, RunError> {
    let mut response = LoadResponse {
        ignored: plan.ignored,
        ..LoadResponse::default()
    };
    let mut failures = Vec::new();
    let pause_at = crate::before_deadline(deadline, loader.settings.checkpoint_margin);
    for (i, job) in plan.jobs.into_iter().enumerate() {
        if i > 0 && Instant::now() >= pause_at {
            let url = format!("s3://{}/{}", job.bucket, job.key);
            continuation
                .continue_later(&job)
                .await
                .map_err(RunError::Continuation)?;
            response.deferred.push(url);
            continue;
        }
        let job = match split(loader, job, deadline, continuation).await {
            Ok(Split::Whole(job)) => job,
            Ok(Split::Ranges { dispatched, own }) => {
                response
                    .dispatched
                    .extend(dispatched.iter().map(describe_range));
                own
            }
            Err(e) => return Err(RunError::Continuation(e)),
        };
        match loader.load(job, deadline).await {
            Ok(LoadResult::Done(summary)) => response.files.push(summary),
            Ok(LoadResult::Paused(summary, next)) => {
                continuation
                    .continue_later(&next)
                    .await
                    .map_err(RunError::Continuation)?;
                response.files.push(summary);
            }
            Err(e) => {
                tracing::error!(error = %e, error_type = e.error_type(), "file not loaded");
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
