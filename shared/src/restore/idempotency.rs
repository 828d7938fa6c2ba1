//! One idempotency key, one restore: each request's target is recorded under its key
//! (`restore-request#<key>`) with a fingerprint of the request, so a retried or re-sent request
//! carries on with the table it chose, and the same key sent with another request is refused
//! instead of finishing the earlier copy with the new request's source and settings.

use chrono::{Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::backup_name::hex;
use crate::restore::request::{RestorePlan, RestoreSource};
use crate::restore::service::{RestoreError, RestoreService};
use crate::state::StateKey;

/// How long a key is remembered: as long as the record of the restore it made.
const RECORD_DAYS: i64 = 90;

/// The target a request restores into, and whether an earlier attempt of it chose it.
pub struct Claim {
    pub target: String,
    pub earlier: bool,
}

/// What makes two requests the same restore: all the request says of the copy but how long this
/// invocation waits for it. A drill's key already names its drill and table, and its source is
/// whatever was newest when it ran (a retry may find a newer one), so neither counts for a drill;
/// nor does its request time, which a retry moves.
pub fn fingerprint(plan: &RestorePlan) -> String {
    let mut options = plan.options.clone();
    options.wait = false;
    let drill = options.drill.take().map(|d| d.id);
    let source = drill.is_none().then(|| source_text(&plan.source));
    let canonical = json!({
        "source_table": plan.source_table,
        "source": source,
        "target_table": plan.target_table,
        "drill": drill,
        "options": options,
    });
    hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

fn source_text(source: &RestoreSource) -> String {
    match source {
        RestoreSource::Backup(arn) => format!("backup {arn}"),
        RestoreSource::RecoveryPoint(arn) => format!("recovery point {arn}"),
        RestoreSource::PointInTime(at) => format!("point in time {}", at.to_rfc3339()),
        RestoreSource::LatestBackup => "latest backup".into(),
        RestoreSource::LatestRestorable => "latest restorable time".into(),
    }
}

impl RestoreService {
    /// The target for this request: `chosen`, unless an earlier attempt of the same request already
    /// chose one (then that, so a retry makes no second restore). The key sent with another
    /// request is refused. Without a state table, `chosen`.
    pub(super) async fn claim_target(
        &self,
        idempotency_key: &str,
        chosen: &str,
        plan: &RestorePlan,
    ) -> Result<Claim, RestoreError> {
        let fresh = || Claim {
            target: chosen.to_string(),
            earlier: false,
        };
        let Some(state) = self.state() else {
            return Ok(fresh());
        };
        let now = Utc::now();
        let key = StateKey::restore_request(idempotency_key);
        let print = fingerprint(plan);
        let body =
            json!({"target": chosen, "fingerprint": print, "source_table": plan.source_table});
        let expires = now + Duration::days(RECORD_DAYS);
        let failed = |e: crate::state::StateError| RestoreError::Failed(e.to_string());
        if state
            .create(&key, &body, expires, now)
            .await
            .map_err(failed)?
        {
            return Ok(fresh());
        }
        let Some(record) = state.get(&key, now).await.map_err(failed)? else {
            return Ok(fresh());
        };
        let Some(target) = record.body["target"].as_str().map(str::to_string) else {
            return Ok(fresh());
        };
        if record.body["fingerprint"].as_str() == Some(print.as_str()) {
            return Ok(Claim {
                target,
                earlier: true,
            });
        }
        let earlier = match record.body["source_table"].as_str() {
            Some(source) => format!("source_table {source}"),
            None => "a request recorded before requests were fingerprinted".into(),
        };
        Err(RestoreError::Refused(format!(
            "idempotency_key {idempotency_key:?} was first sent with another request ({earlier}, \
             restoring into {target}): a key names one restore, so this one is refused; send it \
             with a new idempotency_key"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::options::{DrillSpec, RestoreOptions};

    fn plan(source_table: &str, source: RestoreSource) -> RestorePlan {
        RestorePlan {
            source_table: source_table.into(),
            source,
            target_table: None,
            idempotency_key: Some("ticket-42".into()),
            options: RestoreOptions::default(),
        }
    }

    #[test]
    fn a_request_is_the_same_restore_however_long_it_waits_and_no_other() {
        let first = plan("orders", RestoreSource::LatestBackup);
        let mut waiting = first.clone();
        waiting.options.wait = true;
        assert_eq!(fingerprint(&first), fingerprint(&waiting));
        let mut others = vec![
            plan("payments", RestoreSource::LatestBackup),
            plan("orders", RestoreSource::LatestRestorable),
            plan("orders", RestoreSource::Backup("arn:b".into())),
        ];
        let mut named = first.clone();
        named.target_table = Some("orders-restored-x".into());
        let mut ttl = first.clone();
        ttl.options.copy_ttl = true;
        let mut key = first.clone();
        key.options.kms_key_arn = Some("arn:aws:kms:us-east-1:1:key/k".into());
        others.extend([named, ttl, key]);
        for other in &others {
            assert_ne!(fingerprint(&first), fingerprint(other), "{other:?}");
        }
    }

    #[test]
    fn a_retried_drill_is_the_same_restore_whatever_its_source_and_time() {
        let drill = |at: i64, source| {
            let mut p = plan("orders", source);
            p.options.drill = Some(DrillSpec {
                id: "20261129-ab12cd34".into(),
                requested_at: chrono::DateTime::from_timestamp(at, 0).unwrap(),
            });
            p
        };
        let first = drill(0, RestoreSource::RecoveryPoint("arn:rp:1".into()));
        let retry = drill(60, RestoreSource::RecoveryPoint("arn:rp:2".into()));
        assert_eq!(fingerprint(&first), fingerprint(&retry));
        let mut another = retry.clone();
        another.options.drill.as_mut().unwrap().id = "20261206-ab12cd34".into();
        assert_ne!(fingerprint(&first), fingerprint(&another));
    }
}
