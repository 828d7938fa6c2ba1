//! Waiting for a restored table to become `ACTIVE`, and handing the wait to a new invocation when
//! this one runs out of time, so a restore longer than one invocation still finishes by itself.

use tokio::time::Instant;

use crate::restore::options::RestoreOptions;
use crate::restore::request::hand_over_request;
use crate::restore::service::{
    ACTIVE, FINISH_RESERVE, NOT_CREATED_YET, RestoreError, RestoreReport, RestoreService,
};
use crate::self_invoke::SelfInvoke;

/// How many invocations a restore may wait through (15 minutes each at most) before the handler
/// gives up waiting and says so.
const MAX_HANDOVERS: u32 = 16;

impl RestoreService {
    /// Waits for the new table if asked (and time allows), then finishes it. A table still being
    /// restored is handed to a new invocation that waits and finishes it, so a restore longer than
    /// one invocation finishes by itself (and one not waited for gets its settings back too). An
    /// AWS Backup job not waited for is finished on its completion event instead.
    pub(super) async fn wait_and_finish(
        &self,
        mut report: RestoreReport,
        options: &RestoreOptions,
        handovers: u32,
        deadline: Instant,
        hand_over: &SelfInvoke,
    ) -> Result<RestoreReport, RestoreError> {
        let wait_until = options
            .wait
            .then(|| crate::deadline::before_deadline(deadline, FINISH_RESERVE));
        let (target, source) = (report.target_table.clone(), report.source_table.clone());
        report.table_status = self.wait_active(&target, wait_until).await?;
        // Ready: finish now, waited for or not (it costs no waiting).
        if report.table_status == ACTIVE {
            self.finish_table(&mut report, options, deadline).await?;
            return Ok(report);
        }
        if report.table_status == NOT_CREATED_YET && !options.wait {
            report.next_step = Some(finish_hint(&target, &source));
            return Ok(report);
        }
        if handovers >= MAX_HANDOVERS {
            return Err(RestoreError::Failed(format!(
                "{target} is still {} after {handovers} invocations waited for it; finish it \
                 yourself once it is ACTIVE: {}",
                report.table_status,
                finish_hint(&target, &source)
            )));
        }
        let payload = hand_over_request(&target, &source, options, handovers + 1);
        hand_over
            .send(&payload, "finish the restore")
            .await
            .map_err(RestoreError::Failed)?;
        tracing::info!(%target, status = %report.table_status, "handed to a new invocation to finish");
        report.next_step = Some(format!(
            "{target} is {}: a new invocation waits for it and finishes it",
            report.table_status
        ));
        Ok(report)
    }

    /// The table's status once `ACTIVE` or `until` passes (`None`: look once).
    pub(super) async fn wait_active(
        &self,
        table: &str,
        until: Option<Instant>,
    ) -> Result<String, RestoreError> {
        loop {
            let status = match self.describe(table).await? {
                Some(t) => t
                    .table_status()
                    .map_or("UNKNOWN".to_string(), |s| s.as_str().to_string()),
                None => NOT_CREATED_YET.to_string(),
            };
            let poll = self.settings.poll_interval;
            match until {
                Some(until) if status != ACTIVE && Instant::now() + poll < until => {
                    tokio::time::sleep(poll).await;
                }
                _ => return Ok(status),
            }
        }
    }
}

fn finish_hint(target: &str, source: &str) -> String {
    format!(
        "once {target} is ACTIVE, send {{\"action\": \"finish\", \"target_table\": \"{target}\", \
         \"source_table\": \"{source}\"}} to bring back its settings"
    )
}
