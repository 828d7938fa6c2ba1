//! Waiting for a restored table to become `ACTIVE`, and handing the wait (or a count of its items
//! under way) to the restore state machine when this invocation runs out of time: its steps look
//! again every poll interval, so a restore longer than one invocation still finishes by itself.

use serde_json::Value;
use tokio::time::Instant;

use crate::restore::options::RestoreOptions;
use crate::restore::service::{
    ACTIVE, FINISH_RESERVE, NOT_CREATED_YET, RestoreError, RestoreReport, RestoreService,
};
use crate::restore::verification::CountProgress;
use crate::workflow::HandOver;

impl RestoreService {
    /// Waits for the new table if asked (and time allows), then finishes it. A table still being
    /// restored is handed to the restore state machine, which waits and finishes it, so a restore
    /// longer than one invocation finishes by itself (and one not waited for gets its settings back
    /// too). A step of that state machine looks once: the state machine waits between steps. An
    /// AWS Backup job not waited for is finished on its completion event instead.
    pub(super) async fn wait_and_finish(
        &self,
        mut report: RestoreReport,
        options: &RestoreOptions,
        hand_over: &HandOver,
        deadline: Instant,
        count_progress: Option<CountProgress>,
    ) -> Result<RestoreReport, RestoreError> {
        let wait_until = (options.wait && !hand_over.in_step())
            .then(|| crate::deadline::before_deadline(deadline, FINISH_RESERVE));
        let (target, source) = (report.target_table.clone(), report.source_table.clone());
        report.table_status = self.wait_active(&target, wait_until).await?;
        // Ready: finish now, waited for or not (it costs no waiting).
        if report.table_status == ACTIVE {
            (self.finish_table(&mut report, options, deadline, hand_over, count_progress)).await?;
            return Ok(report);
        }
        if report.table_status == NOT_CREATED_YET && !options.wait {
            report.next_step = Some(finish_hint(&target, &source));
            return Ok(report);
        }
        let what = format!("still {}", report.table_status);
        let to = self
            .hand_over(&report, options, hand_over, None, &what)
            .await?;
        report.next_step = Some(format!(
            "{target} is {}: {to} waits for it and finishes it",
            report.table_status
        ));
        Ok(report)
    }

    /// Hands the finish on (with the count so far, if one is under way); says where. `doing`:
    /// what the finish is still at.
    pub(super) async fn hand_over(
        &self,
        report: &RestoreReport,
        options: &RestoreOptions,
        hand_over: &HandOver,
        count_progress: Option<&CountProgress>,
        doing: &str,
    ) -> Result<String, RestoreError> {
        let (target, source) = (&report.target_table, &report.source_table);
        let payload = hand_over_request(target, source, options, count_progress);
        let to = (hand_over.send("finish", target, payload).await).map_err(|e| {
            RestoreError::Failed(format!(
                "{target} is {doing}, and its finish could not be handed on ({e}): {}",
                finish_hint(target, source)
            ))
        })?;
        tracing::info!(%target, doing, to, "finish handed on");
        Ok(to)
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

/// The finish request that hands a restore still in progress on: the next step waits for the
/// table and finishes it as `options` say.
pub fn hand_over_request(
    target: &str,
    source: &str,
    options: &RestoreOptions,
    count_progress: Option<&CountProgress>,
) -> Value {
    serde_json::json!({
        "action": "finish",
        "target_table": target,
        "source_table": source,
        "wait": true,
        "verify": options.verify,
        "ttl": options.copy_ttl,
        "deletion_protection": options.deletion_protection,
        "kinesis_destinations": options.copy_kinesis_destinations,
        "resource_policy": options.copy_resource_policy,
        "count_progress": count_progress,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::options::BillingMode;
    use crate::restore::request::{RestoreRequest, parse_restore_request};

    #[test]
    fn a_hand_over_finishes_with_the_same_options() {
        let options = RestoreOptions {
            drill: None,
            kms_key_arn: Some("arn:aws:kms:eu-west-1:1:key/k".into()),
            deletion_protection: Some(true),
            billing_mode: Some(BillingMode::Provisioned {
                read_capacity: 4,
                write_capacity: 3,
            }),
            wait: true,
            verify: true,
            copy_ttl: true,
            copy_kinesis_destinations: true,
            copy_resource_policy: true,
        };
        let progress = CountProgress {
            counted: 40,
            segments: vec![None, Some(Default::default())],
        };
        let payload = hand_over_request("orders-restored-1", "orders", &options, Some(&progress));
        let RestoreRequest::Finish(f) = parse_restore_request(payload, None).unwrap() else {
            panic!()
        };
        // Whatever the record says, the hand-over finishes as this invocation would have.
        assert!(f.options.over(&RestoreOptions::default()).copy_ttl);
        let mut recorded = options.clone();
        recorded.copy_ttl = false;
        recorded.copy_kinesis_destinations = false;
        assert_eq!(f.options.over(&recorded), options);
        assert_eq!(f.count_progress, Some(progress));
    }
}
