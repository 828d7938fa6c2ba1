//! When a restore became `ACTIVE`: noted once, by the first finish that found it so (a finish
//! handed on, or sent again, does not move it). `RestoreSeconds` is written then, and only then:
//! from the restore's request to that moment, once per restore, whatever finishes follow.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::metrics;
use crate::restore::service::{RestoreError, RestoreReport, RestoreService};
use crate::state::{StateError, StateKey};

/// As long as the restore's own records.
const RECORD_DAYS: i64 = 90;

impl RestoreService {
    /// Notes that a finish found `report`'s table `ACTIVE`; the first to do so writes the
    /// restore's `RestoreSeconds`.
    pub(crate) async fn note_active(&self, report: &RestoreReport) -> Result<(), RestoreError> {
        let (active_at, first) = self.first_active(&report.target_table).await?;
        if first {
            self.emit_restore_seconds(report, active_at).await;
        }
        Ok(())
    }

    /// The first time a finish found `target` `ACTIVE` (a drill's restore time ends then).
    pub(crate) async fn noted_active(&self, target: &str) -> Result<DateTime<Utc>, RestoreError> {
        Ok(self.first_active(target).await?.0)
    }

    /// When `target` was first found `ACTIVE`, and whether this call is the first (it records it).
    /// Without a state table nothing can be known: now, and not first.
    async fn first_active(&self, target: &str) -> Result<(DateTime<Utc>, bool), RestoreError> {
        let now = Utc::now();
        let Some(state) = self.state() else {
            return Ok((now, false));
        };
        let key = StateKey::new(format!("restore#{target}"), "active");
        let expires = now + chrono::Duration::days(RECORD_DAYS);
        let failed = |e: StateError| RestoreError::Failed(e.to_string());
        if (state.create(&key, &json!({"at": now}), expires, now).await).map_err(failed)? {
            return Ok((now, true));
        }
        let record = state.get(&key, now).await.map_err(failed)?;
        let at = record.and_then(|r| serde_json::from_value(r.body["at"].clone()).ok());
        Ok((at.unwrap_or(now), false))
    }

    /// `RestoreSeconds` (`metrics::RESTORE`, per source table): from the restore's request, as
    /// recorded when it started, to `active_at`.
    async fn emit_restore_seconds(&self, report: &RestoreReport, active_at: DateTime<Utc>) {
        let started = self.started_here(&report.target_table).await.ok().flatten();
        let Some(requested) = started.and_then(|s| s.started) else {
            return;
        };
        let seconds = (active_at - requested).num_milliseconds() as f64 / 1000.0;
        let function = metrics::function_name();
        let dimensions = [function.as_str(), report.source_table.as_str()];
        metrics::emit(&metrics::RESTORE, &dimensions, &[seconds.max(0.0)]);
    }
}
