//! Running a load. A request's files are each started (`start`) and loaded here while the
//! invocation has time; what does not fit (the rest of a file, a file this invocation had no time
//! for, or a large file's parts) goes on as an execution of the load's state machine, named after
//! the load (`start::execution_for`). Each step of that execution loads one segment
//! (`run_segment`); a fanned-out load's parts end in one summary (`summarize`).

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::function_error::ErrorType;
use crate::load::checkpoint::Checkpoint;
use crate::load::file::{LoadResult, Loader};
use crate::load::plan::fan_out::{self, FanOut};
use crate::load::plan::fence::{Ending, Fence, ended, started_execution};
use crate::load::plan::pin::{self, Current};
use crate::load::plan::request::{Ignored, LoadPlan};
use crate::load::plan::route::{Loaders, not_uploaded_yet};
use crate::load::plan::start::{Ready, Start, execution_for, start};
use crate::load::plan::step::PartOutcome;
use crate::load::report::report_key;
use crate::load::summary::{Counts, FileError, FileSummary};
use crate::load::write::gate::WriteGate;
use crate::workflow::{Execution, Workflow};

/// What one invocation did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResponse {
    pub files: Vec<FileSummary>,
    /// Loads that go on as executions of the load's state machine: the rest of a file, a large
    /// file's parts, or a file this invocation had no time to start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executions: Vec<Execution>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<Ignored>,
}

/// A step's answer to the load's state machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SegmentResponse {
    /// The rest of the job, the state machine's next step; `null` when it is done.
    pub next: Option<Checkpoint>,
    /// What this segment did; `null` when it was skipped (see `ignored`).
    pub summary: Option<FileSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Ignored>,
}

/// A fanned-out load's one summary, all parts counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitSummary {
    pub bucket: String,
    pub key: String,
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub parts: u32,
    #[serde(flatten)]
    pub counts: Counts,
    /// The parts' last reports that list rejected rows.
    pub reports: Vec<String>,
    /// Where every report of this load is: the S3 prefix they all start with.
    pub reports_under: String,
    /// Every part loaded its rows to the end of the file.
    pub complete: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}", describe_failures(.failures))]
    Files {
        failures: Vec<FileError>,
        done: Box<LoadResponse>,
    },
    /// Work that outlasts this invocation could not go on as an execution.
    #[error("{0}")]
    Execution(String),
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
            RunError::Execution(_) => "ExecutionNotStarted",
        }
    }
}

impl From<FileError> for RunError {
    fn from(e: FileError) -> RunError {
        RunError::Files {
            failures: vec![e],
            done: Box::default(),
        }
    }
}

/// What every job of one request shares.
pub struct Run<'a> {
    pub fan_out: FanOut,
    pub deadline: Instant,
    /// The load's state machine (`None`: `STATE_MACHINE_ARN` is not set).
    pub workflow: Option<&'a Workflow>,
    pub request_id: &'a str,
}

impl Run<'_> {
    /// Loads every file of the plan in turn, each into the table its key routes to; one file's
    /// failure does not stop the others, but fails the invocation at the end.
    pub async fn plan(&self, loaders: &Loaders, plan: LoadPlan) -> Result<LoadResponse, RunError> {
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
        let mut failures = Vec::new();
        for (i, (loader, job)) in jobs.into_iter().enumerate() {
            if let Err(e) = self.job(loader, job, i, &mut response).await? {
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

    /// Starts the `index`th job of the plan, then fans it out, hands it on, or loads it here.
    /// `Ok(Err(..))`: this file failed, the others go on.
    async fn job(
        &self,
        loader: &Loader,
        job: Checkpoint,
        index: usize,
        response: &mut LoadResponse,
    ) -> Result<Result<(), FileError>, RunError> {
        let ready = match start(loader, job, (self.request_id, index), self.workflow).await {
            Ok(Start::Load(ready)) => *ready,
            Ok(Start::Skip(ignored)) => {
                response.ignored.push(ignored);
                return Ok(Ok(()));
            }
            Err(e) => return Ok(Err(e)),
        };
        let Ready { job, fence } = ready;
        if let Some(parts) = fan_out::parts(loader, self.fan_out, &job).await {
            let input = json!({ "parts": parts });
            response
                .executions
                .push(self.hand_on(loader, &job, input).await?);
            return Ok(Ok(()));
        }
        let pause_at =
            crate::deadline::before_deadline(self.deadline, loader.settings.checkpoint_margin);
        if index > 0 && Instant::now() >= pause_at {
            let input = json!({ "job": job });
            response
                .executions
                .push(self.hand_on(loader, &job, input).await?);
            return Ok(Ok(()));
        }
        let (summary, next) = match segment(loader, job, fence, self.deadline).await {
            Ok(done) => done,
            Err(e) => return Ok(Err(e)),
        };
        response.files.push(summary);
        if let Some(next) = next {
            let input = json!({ "job": next });
            response
                .executions
                .push(self.hand_on(loader, &next, input).await?);
        }
        Ok(Ok(()))
    }

    /// Starts the execution that carries `job` on with `input` (or finds it started), and notes
    /// its name on the object's holder record.
    async fn hand_on(
        &self,
        loader: &Loader,
        job: &Checkpoint,
        input: Value,
    ) -> Result<Execution, RunError> {
        let not_handed = |why: String| {
            RunError::Execution(format!(
                "{} could not go on past this invocation, so what is left of it was not loaded: \
                 {why}",
                job.describe()
            ))
        };
        let workflow = self
            .workflow
            .ok_or_else(|| not_handed("STATE_MACHINE_ARN is not set".into()))?;
        let execution = (workflow.start(&execution_for(job), &input).await).map_err(not_handed)?;
        if let Some(store) = &loader.state {
            let object = (job.bucket.as_str(), job.key.as_str());
            if let Err(e) = started_execution(store, object, &job.load_id, &execution.name).await {
                // Only a duplicate event's message and stopping it on a newer upload need it.
                tracing::warn!(error = %e, "the execution's name was not noted on the object");
            }
        }
        tracing::info!(file = %job.describe(), execution = %execution.name, console = %execution.console, new = execution.new, "goes on as an execution of the load's state machine");
        Ok(execution)
    }

    /// One step of a load's execution: the job's next segment, loaded here.
    pub async fn segment(
        &self,
        loaders: &Loaders,
        job: Checkpoint,
    ) -> Result<SegmentResponse, RunError> {
        let loader = (loaders.route(&job.key))
            .map_err(|why| RunError::Execution(format!("{}: {why}", job.describe())))?;
        let Ready { job, fence } =
            match start(loader, job, (self.request_id, 0), self.workflow).await? {
                Start::Load(ready) => *ready,
                Start::Skip(ignored) => {
                    return Ok(SegmentResponse {
                        ignored: Some(ignored),
                        ..SegmentResponse::default()
                    });
                }
            };
        let (summary, next) = segment(loader, job, fence, self.deadline).await?;
        Ok(SegmentResponse {
            next,
            summary: Some(summary),
            ignored: None,
        })
    }
}

/// Loads `job`'s next segment in this invocation: its summary, and what is left of it. A whole
/// file's load that ends is marked finished (a part's ends with the summary of all parts); one that
/// fails is marked failed, so that its version may be loaded again.
async fn segment(
    loader: &Loader,
    job: Checkpoint,
    fence: Option<Arc<Fence>>,
    deadline: Instant,
) -> Result<(FileSummary, Option<Checkpoint>), FileError> {
    let (load_id, whole) = (job.load_id.clone(), job.part.is_none());
    let object = (job.bucket.clone(), job.key.clone());
    let gate = fence.map(|f| f as Arc<dyn WriteGate>);
    let end = |how| async {
        if let Some(store) = &loader.state {
            ended(store, (&object.0, &object.1), &load_id, how).await;
        }
    };
    match loader.load_fenced(job, deadline, gate).await {
        Ok(LoadResult::Done(summary)) => {
            if whole {
                end(Ending::Finished).await;
            }
            Ok((summary, None))
        }
        Ok(LoadResult::Paused(summary, next)) => Ok((summary, Some(*next))),
        Ok(LoadResult::Superseded(summary)) => {
            tracing::warn!(key = %summary.key, by = summary.superseded_by.as_deref().unwrap_or_default(), "superseded: a newer load holds the object; this one stopped");
            Ok((summary, None))
        }
        Err(e) => {
            tracing::error!(error = %e, error_type = e.error_type(), "file not loaded");
            end(Ending::Failed(e.error_type())).await;
            Err(e)
        }
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
        if let Ok(Current::Gone | Current::Unknown) =
            pin::current(&loader.s3, &job.bucket, &job.key).await
        {
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

/// The last step of a fanned-out load: the parts' summaries (the Map's output) added into one, and
/// the load marked finished when every part loaded to the end.
pub async fn summarize(loaders: &Loaders, parts: Vec<PartOutcome>) -> SplitSummary {
    let count = parts.len() as u32;
    let summaries: Vec<FileSummary> = parts.into_iter().filter_map(|p| p.summary).collect();
    let Some(first) = summaries.first() else {
        tracing::warn!(parts = count, "no part loaded anything: each was skipped");
        return SplitSummary {
            parts: count,
            ..SplitSummary::default()
        };
    };
    let mut file = SplitSummary {
        bucket: first.bucket.clone(),
        key: first.key.clone(),
        table: first.table.clone(),
        version: first.version.clone(),
        parts: count,
        complete: summaries.len() == count as usize && summaries.iter().all(|s| s.complete),
        superseded_by: summaries.iter().find_map(|s| s.superseded_by.clone()),
        ..SplitSummary::default()
    };
    for summary in &summaries {
        file.counts = file.counts.plus(summary.counts);
        if summary.counts.rows_rejected > 0 {
            file.reports.push(summary.report.clone());
        }
    }
    let loader = loaders.get(&file.table);
    if let Some(loader) = loader {
        let version = file.version.as_deref();
        let first = report_key(&loader.settings.rejects_prefix, &file.key, version, None, 1);
        let stem = first.trim_end_matches(".rejects.csv");
        file.reports_under = format!("s3://{}/{stem}", file.bucket);
    }
    let store = loader.and_then(|l| l.state.as_ref());
    if let (Some(store), true) = (store, file.complete) {
        let object = (file.bucket.as_str(), file.key.as_str());
        ended(store, object, &first.load, Ending::Finished).await;
    }
    log_split_summary(&file);
    file
}

/// The fanned-out file's one summary line.
fn log_split_summary(file: &SplitSummary) {
    tracing::info!(
        bucket = %file.bucket,
        key = %file.key,
        table = %file.table,
        version = file.version.as_deref().unwrap_or_default(),
        parts = file.parts,
        complete = file.complete,
        rows_read = file.counts.rows_read,
        items_written = file.counts.items_written,
        rows_rejected = file.counts.rows_rejected,
        items_failed = file.counts.items_failed,
        reports = ?file.reports,
        "fanned-out file loaded: every part finished"
    );
}
