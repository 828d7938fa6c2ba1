//! A drill's verdict, recorded once in the state table when its checks are done: a second finish
//! of the same drill (the notifier's, on the restore job's completion; a step retried) answers it
//! instead of checking again a scratch table that is gone or going, which would overwrite a
//! passing report with a FAILED one and page for nothing.

use chrono::{Duration, Utc};

use crate::restore::drill::report::DrillReport;
use crate::restore::provenance::Started;
use crate::restore::service::{RestoreError, RestoreReport, RestoreService};
use crate::state::StateKey;

/// Longer than anything finishes a drill's restore again (the restore records last 90 days).
const VERDICT_DAYS: i64 = 90;

fn verdict_key(scratch: &str) -> StateKey {
    StateKey::new(format!("restore#{scratch}"), "drill-verdict")
}

impl RestoreService {
    /// The verdict recorded for the drill that restored `scratch`, if its checks are done.
    pub(crate) async fn recorded_verdict(
        &self,
        scratch: &str,
    ) -> Result<Option<DrillReport>, RestoreError> {
        let Some(state) = self.state() else {
            return Ok(None);
        };
        let record = (state.get(&verdict_key(scratch), Utc::now()))
            .await
            .map_err(|e| RestoreError::Failed(e.to_string()))?;
        Ok(record.and_then(|r| {
            serde_json::from_value(r.body)
                .inspect_err(
                    |e| tracing::warn!(%scratch, error = %e, "an unreadable drill verdict"),
                )
                .ok()
        }))
    }

    /// Records the verdict, once: a verdict already there (a finish that raced this one) stays.
    pub(crate) async fn record_verdict(&self, scratch: &str, report: &DrillReport) {
        let Some(state) = self.state() else {
            return;
        };
        let now = Utc::now();
        let body = serde_json::to_value(report).unwrap_or_default();
        let expires = now + Duration::days(VERDICT_DAYS);
        match state
            .create(&verdict_key(scratch), &body, expires, now)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::warn!(%scratch, "a verdict was recorded first by another finish"),
            Err(e) => {
                tracing::warn!(%scratch, error = %e, "could not record the drill's verdict: a second finish checks again")
            }
        }
    }

    /// A finish of a drill's restore whose checks are done: the recorded verdict, as the finish that
    /// did them answered it; `None` for any other restore, or a drill not done yet.
    pub(crate) async fn finished_drill(
        &self,
        target: &str,
        started: &Started,
    ) -> Result<Option<RestoreReport>, RestoreError> {
        if started.options.drill.is_none() {
            return Ok(None);
        }
        let Some(drill) = self.recorded_verdict(target).await? else {
            return Ok(None);
        };
        tracing::info!(%target, drill = %drill.drill_id, passed = drill.passed, "drill done before: its recorded verdict");
        let status = match self.describe(target).await? {
            Some(table) => (table.table_status())
                .map_or("UNKNOWN", |s| s.as_str())
                .to_string(),
            None => "DELETED".to_string(),
        };
        Ok(Some(RestoreReport {
            source_table: started.source.clone(),
            target_table: target.to_string(),
            restored_from: Some(started.from.clone()),
            table_status: status,
            verification: drill.verification.clone(),
            drill: Some(drill),
            ..RestoreReport::default()
        }))
    }
}
