//! Lambda retries a failed asynchronous invocation twice, with the same request ID. A failure no
//! retry can fix (a bad header, nothing loadable, a missing object) is remembered in the state table
//! under that ID, so the retries fail at once, the same way, without reading the file again, and
//! the event reaches the failure queue after one read.

use chrono::{Duration, Utc};
use serde_json::json;

use crate::function_error::ErrorType;
use crate::load::plan::run::{PERMANENT_FAILURES, RunError};
use crate::state::{StateKey, StateStore};

/// Lambda's retries come within minutes, or hours when its queue is backed up; a day covers both.
const KEPT_FOR: Duration = Duration::days(1);

pub struct FailureMemo {
    pub store: StateStore,
}

impl FailureMemo {
    /// The failure this request already ended in, if it was one no retry fixes. A state table that
    /// cannot be read only costs the retry a second read of the file: logged, not fatal.
    pub async fn recall(&self, request_id: &str) -> Option<RunError> {
        let record = match self
            .store
            .get(&StateKey::load_failed(request_id), Utc::now())
            .await
        {
            Ok(record) => record?,
            Err(e) => {
                tracing::warn!(error = %e, "could not read whether this request failed before");
                return None;
            }
        };
        let stored = record.body["error_type"].as_str().unwrap_or_default();
        // Only types this code remembers come back, as the same `'static` names.
        let error_type = PERMANENT_FAILURES.iter().find(|t| **t == stored)?;
        Some(RunError::AlreadyFailed {
            error_type,
            message: record.body["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    /// Remembers `error` for the request's retries, when no retry can fix it.
    pub async fn remember(&self, request_id: &str, error: &RunError) {
        if !error.is_permanent() {
            return;
        }
        let body = json!({"error_type": error.error_type(), "message": error.to_string()});
        let now = Utc::now();
        let key = StateKey::load_failed(request_id);
        if let Err(e) = self.store.create(&key, &body, now + KEPT_FOR, now).await {
            tracing::warn!(error = %e, "could not remember the failure: a retry reads the file again");
        }
    }
}
