//! How a job starts in an invocation. A new load is pinned to its version (the event's, or the
//! current one) and takes its object over from any older load (`fence`), unless that version was
//! loaded already; every later step of the load checks that no newer load holds the object.

use std::sync::Arc;

use crate::load::checkpoint::Checkpoint;
use crate::load::file::Loader;
use crate::load::plan::fence::{Claim, Fence, claim, running_other, settle_time};
use crate::load::plan::newest::{self, Loaded};
use crate::load::plan::pin::{self, Current};
use crate::load::plan::probe::{Probe, probe};
use crate::load::plan::request::Ignored;
use crate::load::summary::FileError;
use crate::load::write::gate::{GateAnswer, WriteGate};
use crate::workflow::{Workflow, execution_name};

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

/// Starts `job`, the `index`th of this request's plan: begins it if it is a new load, else checks
/// that it still holds its object. `workflow`: where the load's executions run (a displaced load's
/// is stopped).
pub async fn start(
    loader: &Loader,
    job: Checkpoint,
    (request_id, index): (&str, usize),
    workflow: Option<&Workflow>,
) -> Result<Start, FileError> {
    let begun = !job.load_id.is_empty();
    let job = if begun {
        job
    } else {
        match begin(loader, job, load_id(request_id, index), workflow).await? {
            Start::Load(ready) => ready.job,
            skipped => return Ok(skipped),
        }
    };
    let Some(store) = loader.state.clone() else {
        return Ok(ready(job));
    };
    let fence = Fence::new(store, &job.bucket, &job.key, &job.load_id);
    if begun {
        // Unsure is no reason to stop: the writer asks again before it sends anything.
        match fence.holds().await {
            GateAnswer::Stop => {
                let holder = fence.holder().unwrap_or_default();
                let why = format!("superseded: {holder} holds the object now");
                return Ok(skip(&job, why));
            }
            GateAnswer::Broken(reason) => return Err(not_started(&job, reason)),
            GateAnswer::Write | GateAnswer::Unsure(_) => {}
        }
    }
    Ok(Start::Load(Box::new(Ready {
        job,
        fence: Some(Arc::new(fence)),
    })))
}

/// The name of the execution that carries `job` on: the same for every event of one version, new
/// for each reload (and for a load whose version is not known yet).
pub fn execution_for(job: &Checkpoint) -> String {
    let version = job.pin.label().unwrap_or_default();
    let mode = if job.reload { "reload" } else { "load" };
    let once = if job.reload || version.is_empty() {
        job.load_id.as_str()
    } else {
        ""
    };
    execution_name(mode, &job.key, &[&job.bucket, &job.key, &version, once])
}

fn not_started(job: &Checkpoint, reason: String) -> FileError {
    FileError::NotStarted {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        reason,
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
/// no longer current or was loaded already, and takes the object over, stopping a displaced load
/// and waiting for its last calls.
async fn begin(
    loader: &Loader,
    mut job: Checkpoint,
    load_id: String,
    workflow: Option<&Workflow>,
) -> Result<Start, FileError> {
    let current = (pin::current(&loader.s3, &job.bucket, &job.key).await)
        .map_err(|e| not_started(&job, e))?;
    match current {
        Current::Version(current) => {
            if let Some(why) = pin::superseded(&job.pin, &current) {
                return Ok(skip(&job, format!("superseded: {why}")));
            }
            if job.pin.version_id.is_none() {
                job.pin = current;
            }
        }
        // An event's version of an object deleted since: what is there now is nothing.
        Current::Gone if !job.pin.is_empty() => {
            let version = job.pin.label().unwrap_or_default();
            let why =
                format!("deleted: version {version} is no longer the current one (nothing is)");
            return Ok(skip(&job, why));
        }
        // A request by name for a missing object: the load says so (`ObjectNotFound`).
        Current::Gone | Current::Unknown => {}
    }
    job.load_id = load_id;
    let Some(store) = &loader.state else {
        return Ok(ready(job));
    };
    let object = (job.bucket.as_str(), job.key.as_str());
    let version = job.pin.version_id.as_deref();
    let written = (newest::last_modified(&loader.s3, object, version).await)
        .map_err(|e| not_started(&job, e))?;
    let loaded = written.map(|last_modified| Loaded {
        url: format!("s3://{}/{}", job.bucket, job.key),
        last_modified,
    });
    if let Some(loaded) = loaded.as_ref().filter(|_| job.older_refused) {
        let newest = newest::newest(store, &loader.table.name).await;
        let newest = newest.map_err(|e| not_started(&job, e))?;
        if let Some(reason) = newest::older_than(loaded, newest.as_ref()) {
            return Err(FileError::OlderThanLoaded { reason });
        }
    }
    // A load still running goes on unless this one shows it can load.
    let running = running_other(store, object, &job.pin).await;
    if let Some(running) = running.map_err(|e| not_started(&job, e))? {
        match probe(loader, &job).await {
            Ok(Probe::Loadable) => {}
            Ok(Probe::Empty) => {
                let why = format!("it has no rows, so it does not stop {running}, which goes on");
                return Ok(skip(&job, why));
            }
            Err(e) => {
                tracing::error!(error = %e, %running, "a newer upload that cannot load: the load it would have stopped goes on");
                return Err(e);
            }
        }
    }
    let claimed = claim(
        store,
        &loader.s3,
        object,
        (&job.load_id, &job.pin),
        job.reload,
    )
    .await;
    match claimed.map_err(|e| not_started(&job, e))? {
        Claim::Superseded(why) => Ok(skip(&job, format!("superseded: {why}"))),
        Claim::Duplicate(why) => Ok(skip(&job, why)),
        Claim::Held {
            displaced,
            after_failure,
        } => {
            // Loaded again after a failure: an execution of its own, as a reload has.
            job.reload |= after_failure;
            if let Some(loaded) = &loaded
                && let Err(e) = newest::record(store, &loader.table.name, loaded).await
            {
                // Only the refusal of older files by name leans on it: said, not failed.
                tracing::warn!(error = %e, "could not record the newest file loaded into the table");
            }
            if let Some(displaced) = displaced {
                job.displaced = Some(displaced.load.clone());
                stop_displaced(workflow, &displaced.execution, &job).await;
                let wait = settle_time(loader.settings.write.call_timeout);
                tracing::warn!(key = %job.key, displaced = %displaced.load, ?wait, "a newer upload displaces a load still running: waiting for its last writes");
                tokio::time::sleep(wait).await;
            }
            Ok(ready(job))
        }
    }
}

/// Stops the displaced load's execution, if it has one: its steps already running stop at their
/// next write (the fence), and no new step starts.
async fn stop_displaced(workflow: Option<&Workflow>, execution: &str, by: &Checkpoint) {
    let Some(workflow) = workflow.filter(|_| !execution.is_empty()) else {
        return;
    };
    let cause = format!("superseded: {} holds the object now", by.url());
    if let Err(e) = workflow.stop(execution, &cause).await {
        // The fence still stops its writes: said, not failed.
        tracing::warn!(error = %e, "the displaced load's execution was not stopped");
    }
}

/// The load's name: the request that began it (and which of its files).
fn load_id(request_id: &str, index: usize) -> String {
    if index == 0 {
        request_id.to_string()
    } else {
        format!("{request_id}-{index}")
    }
}
