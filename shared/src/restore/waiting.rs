//! Waiting for a restored table to become `ACTIVE`, and handing the wait (or a count of its items
//! under way) to a new invocation when this one runs out of time, so a restore longer than one
//! invocation still finishes by itself.

use serde_json::Value;
use tokio::time::Instant;

use crate::restore::options::RestoreOptions;
use crate::restore::service::{
    ACTIVE, FINISH_RESERVE, NOT_CREATED_YET, RestoreError, RestoreReport, RestoreService,
};
use crate::restore::verify::CountProgress;
use crate::self_invoke::SelfInvoke;

/// Where a finish stands across invocations.
#[derive(Clone, Copy)]
pub struct Relay<'a> {
    pub hand_over: &'a SelfInvoke,
    /// Invocations this finish has been handed through so far.
    pub handovers: u32,
}

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
        relay: Relay<'_>,
        deadline: Instant,
        count_progress: Option<CountProgress>,
    ) -> Result<RestoreReport, RestoreError> {
        let wait_until = options
            .wait
            .then(|| crate::deadline::before_deadline(deadline, FINISH_RESERVE));
        let (target, source) = (report.target_table.clone(), report.source_table.clone());
        report.table_status = self.wait_active(&target, wait_until).await?;
        // Ready: finish now, waited for or not (it costs no waiting).
        if report.table_status == ACTIVE {
            (self.finish_table(&mut report, options, deadline, relay, count_progress)).await?;
            return Ok(report);
        }
        if report.table_status == NOT_CREATED_YET && !options.wait {
            report.next_step = Some(finish_hint(&target, &source));
            return Ok(report);
        }
        let what = format!("still {}", report.table_status);
        self.hand_over(&report, options, relay, None, &what).await?;
        report.next_step = Some(format!(
            "{target} is {}: a new invocation waits for it and finishes it",
            report.table_status
        ));
        Ok(report)
    }

    /// Hands the finish to a new invocation (with the count so far, if one is under way), or
    /// fails, so it is heard, once `MAX_HANDOVERS` invocations have gone by. `doing`: what the
    /// finish is still at, for the failure.
    pub(super) async fn hand_over(
        &self,
        report: &RestoreReport,
        options: &RestoreOptions,
        relay: Relay<'_>,
        count_progress: Option<&CountProgress>,
        doing: &str,
    ) -> Result<(), RestoreError> {
        let (target, source) = (&report.target_table, &report.source_table);
        let handovers = relay.handovers;
        if handovers >= MAX_HANDOVERS {
            return Err(RestoreError::Failed(format!(
                "{target} is {doing} after {handovers} invocations; finish it yourself once it \
                 is ACTIVE: {}",
                finish_hint(target, source)
            )));
        }
        let payload = hand_over_request(target, source, options, handovers + 1, count_progress);
        (relay.hand_over)
            .send(&payload, "finish the restore")
            .await
            .map_err(RestoreError::Failed)?;
        tracing::info!(%target, doing, "handed to a new invocation to finish");
        Ok(())
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

/// The finish request that hands a restore still in progress to a new invocation, which waits
/// for the table and finishes it as `options` say.
pub fn hand_over_request(
    target: &str,
    source: &str,
    options: &RestoreOptions,
    handovers: u32,
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
        "handovers": handovers,
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
        let payload =
            hand_over_request("orders-restored-1", "orders", &options, 3, Some(&progress));
        let RestoreRequest::Finish(f) = parse_restore_request(payload, None).unwrap() else {
            panic!()
        };
        // Whatever the record says, the hand-over finishes as this invocation would have.
        assert!(f.options.over(&RestoreOptions::default()).copy_ttl);
        let mut recorded = options.clone();
        recorded.copy_ttl = false;
        recorded.copy_kinesis_destinations = false;
        assert_eq!(f.options.over(&recorded), options);
        assert_eq!(f.handovers, 3);
        assert_eq!(f.count_progress, Some(progress));
    }
}
