//! Which restores this handler started, so that `finish` acts on nothing else: a record per restore
//! in the stack's state table (written before the restore starts, and bound to the table DynamoDB
//! created once it is seen: `identity`), and tags on every table it restored. Each request's own
//! record is `idempotency`'s.

use aws_sdk_dynamodb::types::Tag;
use chrono::{Duration, Utc};
use serde_json::json;

use crate::restore::options::RestoreOptions;
use crate::restore::service::{RestoreError, RestoreService};
use crate::state::{StateKey, StateStore};

/// How long the records are kept: a restore is finished (or abandoned) well within this.
const RECORD_DAYS: i64 = 90;
/// The tags every restored table gets, saying where it came from.
pub const SOURCE_TAG: &str = "ddb-guard:restored-from-table";
pub const FROM_TAG: &str = "ddb-guard:restored-from";
/// The tag on a drill's scratch table (its drill id): only tables carrying it may be deleted.
pub const DRILL_TAG: &str = "ddb-guard:drill";

/// The provenance tags for a table restored from `source` (`from`: the backup, recovery point or
/// time). Tag values are at most 256 characters.
pub fn provenance_tags(source: &str, from: &str) -> Vec<Tag> {
    [(SOURCE_TAG, source), (FROM_TAG, from)]
        .into_iter()
        .filter_map(|(key, value)| {
            let value: String = value.chars().take(256).collect();
            Tag::builder().key(key).value(value).build().ok()
        })
        .collect()
}

/// A restore this handler started, as recorded.
pub struct Started {
    pub source: String,
    /// `backup <arn>`, `point in time <time>`, ...
    pub from: String,
    /// As the restore request asked (defaults for a record written before options were kept).
    pub options: RestoreOptions,
    /// When the restore was asked for.
    pub started: Option<chrono::DateTime<Utc>>,
    /// The table DynamoDB created (`identity::table_identity`), once bound.
    pub table: Option<String>,
}

impl RestoreService {
    pub(crate) fn state(&self) -> Option<StateStore> {
        let table = self.settings.state_table.as_deref()?;
        Some(StateStore::new(self.dynamodb.clone(), table))
    }

    /// Records that this handler is restoring `target`, before the restore starts.
    pub(super) async fn record_started(
        &self,
        target: &str,
        source: &str,
        from: &str,
        options: &RestoreOptions,
    ) -> Result<(), RestoreError> {
        let Some(state) = self.state() else {
            return Ok(());
        };
        let now = Utc::now();
        let body = json!({
            "source": source,
            "from": from,
            "started": now.to_rfc3339(),
            "options": options,
        });
        let expires = now + Duration::days(RECORD_DAYS);
        let key = StateKey::restore_started(target);
        if state
            .create(&key, &body, expires, now)
            .await
            .map_err(failed)?
        {
            return Ok(());
        }
        // A record is there already. The target does not exist (the restore checked): the record
        // is an earlier attempt of this restore (kept), or one of a table since deleted, bound to
        // it or from elsewhere (replaced: it says nothing of the table this restore makes).
        let Some(record) = state.get(&key, now).await.map_err(failed)? else {
            return Ok(());
        };
        let earlier_attempt = record.body["source"] == source
            && record.body["from"] == from
            && record.body.get("table").is_none();
        if !earlier_attempt {
            (state.replace(&key, record.version, &body, expires))
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    /// Whether this handler started restoring `target` (and from where); `Err` when it cannot
    /// know, so nothing is touched on a guess.
    pub(super) async fn started_here(&self, target: &str) -> Result<Option<Started>, RestoreError> {
        let Some(state) = self.state() else {
            return Err(RestoreError::Refused(
                "finish acts only on tables this handler restored, which it records in its state \
                 table: STATE_TABLE is not set"
                    .into(),
            ));
        };
        let record = state
            .get(&StateKey::restore_started(target), Utc::now())
            .await
            .map_err(failed)?;
        Ok(record.map(|r| {
            let text = |f: &str| r.body[f].as_str().unwrap_or_default().to_string();
            Started {
                source: text("source"),
                from: text("from"),
                options: serde_json::from_value(r.body["options"].clone()).unwrap_or_default(),
                started: serde_json::from_value(r.body["started"].clone()).ok(),
                table: r.body["table"].as_str().map(str::to_string),
            }
        }))
    }
}

/// How long a finish may hold its lease before another may take it (a finish that died).
const FINISH_LEASE_MINUTES: i64 = 16;

impl RestoreService {
    /// Takes the finish lease of `target`, waiting while another finish holds it (that one's
    /// changes then make this one's a no-op). `None` without a state table.
    pub(super) async fn take_finish_lease(
        &self,
        target: &str,
        until: tokio::time::Instant,
    ) -> Result<Option<FinishLease>, RestoreError> {
        let Some(state) = self.state() else {
            return Ok(None);
        };
        let key = StateKey::restore_finishing(target);
        let owner = format!("{:016x}", rand::random::<u64>());
        loop {
            let now = Utc::now();
            let expires = now + Duration::minutes(FINISH_LEASE_MINUTES);
            if state
                .acquire_lease(&key, &owner, expires, now)
                .await
                .map_err(failed)?
            {
                return Ok(Some(FinishLease { state, key, owner }));
            }
            let poll = self.settings.poll_interval;
            if tokio::time::Instant::now() + poll >= until {
                return Err(RestoreError::Failed(format!(
                    "another finish of {target} is still running; this one ran out of time \
                     waiting for it"
                )));
            }
            tracing::info!(%target, "another finish is running: waiting for it");
            tokio::time::sleep(poll).await;
        }
    }
}

/// A held finish lease; `release` gives it back.
pub struct FinishLease {
    state: StateStore,
    key: StateKey,
    owner: String,
}

impl FinishLease {
    pub async fn release(self) -> Result<(), RestoreError> {
        self.state
            .release_lease(&self.key, &self.owner)
            .await
            .map_err(failed)
            .map(|_| ())
    }
}

pub(super) fn failed(e: crate::state::StateError) -> RestoreError {
    RestoreError::Failed(e.to_string())
}
