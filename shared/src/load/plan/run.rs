//! Running a load plan within one invocation: each file split or loaded whole, and what is left when
//! the deadline nears handed to the next invocation.

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::function_error::ErrorType;
use crate::load::file::{Checkpoint, FileError, FileSummary, LoadResult, Loader};
use crate::load::plan::continuation::Continuation;
use crate::load::plan::fan_out::{FanOut, Split, split};
use crate::load::plan::request::{Ignored, LoadPlan};

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

/// Loads every file of the plan in turn; one file's failure does not stop the others, but fails
/// the invocation at the end.
pub async fn run_plan<C: Continuation>(
    loader: &Loader,
    fan_out: FanOut,
    plan: LoadPlan,
    deadline: Instant,
    continuation: &C,
) -> Result<LoadResponse, RunError> {
    let mut response = LoadResponse {
        ignored: plan.ignored,
        ..LoadResponse::default()
    };
    let mut failures = Vec::new();
    let pause_at = crate::deadline::before_deadline(deadline, loader.settings.checkpoint_margin);
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
        let job = match split(loader, fan_out, job, deadline, continuation).await {
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
