//! The toolkit's own state: one small DynamoDB table per stack, written only with conditions so that
//! two invocations racing for the same record never both win.
//!
//! Records are keyed by a partition (`pk`: what the record is about, such as one object being
//! loaded or one restore) and a sort key (`sk`: which part of it, such as its holder or its lease),
//! so everything about one thing is one `Query` away. Each record carries a JSON body, a
//! version that every replace checks and bumps, and an expiry time that DynamoDB's TTL deletes
//! (lazily, within days): a record past its expiry reads as absent, whether or not TTL has caught
//! up yet.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::aws_error::describe;

/// The table's partition key (S).
pub const PK: &str = "pk";
/// The table's sort key (S).
pub const SK: &str = "sk";
/// The table's TTL attribute (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";
const BODY: &str = "body";
const VERSION: &str = "version";
const OWNER: &str = "owner";

/// Where one record lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateKey {
    pub pk: String,
    pub sk: String,
}

impl StateKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> StateKey {
        StateKey {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// The restore-handler started restoring `target` (written before the restore starts).
    pub fn restore_started(target: &str) -> StateKey {
        StateKey::new(format!("restore#{target}"), "started")
    }

    /// The lease a finish of `target` holds, so two finishes never change it at once.
    pub fn restore_finishing(target: &str) -> StateKey {
        StateKey::new(format!("restore#{target}"), "finishing")
    }

    /// The target a restore request (by its idempotency key) restores into.
    pub fn restore_request(idempotency_key: &str) -> StateKey {
        StateKey::new(format!("restore-request#{idempotency_key}"), "target")
    }

    /// The alert for an EventBridge event was published.
    pub fn alert_published(event_id: &str) -> StateKey {
        StateKey::new(format!("alert#{event_id}"), "published")
    }

    /// The problems of a subject (a table's backups, a table's restore checks) told so far.
    pub fn problems_told(subject: &str) -> StateKey {
        StateKey::new(format!("problems#{subject}"), "told")
    }
}

/// One record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StateRecord {
    pub body: Value,
    /// Starts at 1; every successful replace adds one.
    pub version: u64,
    pub expires_at: DateTime<Utc>,
    /// The holder, for a lease.
    pub owner: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("state table {table}: {call} {key:?} failed: {reason}")]
pub struct StateError {
    pub table: String,
    pub call: &'static str,
    pub key: String,
    pub reason: String,
}

/// The stack's state table.
#[derive(Debug, Clone)]
pub struct StateStore {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl StateStore {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> StateStore {
        StateStore {
            dynamodb,
            table: table.into(),
        }
    }

    /// Stores `body` unless a live record is already there; `false` when one is (nothing written).
    pub async fn create(
        &self,
        key: &StateKey,
        body: &Value,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let item = self.item(key, body, 1, expires_at, None);
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #expires_at <= :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expires_at", EXPIRES_AT)
            .expression_attribute_values(":now", epoch(now))
            .send()
            .await;
        self.conditional("PutItem", key, result)
    }

    /// The live record under `key` (a strongly consistent read), or `None`.
    pub async fn get(
        &self,
        key: &StateKey,
        now: DateTime<Utc>,
    ) -> Result<Option<StateRecord>, StateError> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error("GetItem", key, describe(&e)))?;
        let Some(item) = output.item else {
            return Ok(None);
        };
        let record = record(&item).map_err(|reason| self.error("GetItem", key, reason))?;
        Ok((record.expires_at > now).then_some(record))
    }

    /// Replaces the record if it is still at `version`; `false` when another writer came first.
    pub async fn replace(
        &self,
        key: &StateKey,
        version: u64,
        body: &Value,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let item = self.item(key, body, version + 1, expires_at, None);
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":version", AttributeValue::N(version.to_string()))
            .send()
            .await;
        self.conditional("PutItem", key, result)
    }

    /// Takes the lease under `key` for `owner` until `until`, or renews it: succeeds when there is
    /// no lease, when the last one ran out, or when `owner` already holds it.
    pub async fn acquire_lease(
        &self,
        key: &StateKey,
        owner: &str,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        let item = self.item(key, &Value::Null, 1, until, Some(owner));
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR #expires_at <= :now OR #owner = :owner",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#expires_at", EXPIRES_AT)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_values(":now", epoch(now))
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .send()
            .await;
        self.conditional("PutItem", key, result)
    }

    /// Gives the lease back if `owner` still holds it; `false` when someone else does.
    pub async fn release_lease(&self, key: &StateKey, owner: &str) -> Result<bool, StateError> {
        let result = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .condition_expression("attribute_not_exists(#pk) OR #owner = :owner")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#owner", OWNER)
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_string()))
            .send()
            .await;
        self.conditional("DeleteItem", key, result)
    }

    fn key(&self, key: &StateKey) -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PK.to_string(), AttributeValue::S(key.pk.clone())),
            (SK.to_string(), AttributeValue::S(key.sk.clone())),
        ])
    }

    fn item(
        &self,
        key: &StateKey,
        body: &Value,
        version: u64,
        expires_at: DateTime<Utc>,
        owner: Option<&str>,
    ) -> HashMap<String, AttributeValue> {
        let mut item = self.key(key);
        item.insert(BODY.into(), AttributeValue::S(body.to_string()));
        item.insert(VERSION.into(), AttributeValue::N(version.to_string()));
        item.insert(EXPIRES_AT.into(), epoch(expires_at));
        if let Some(owner) = owner {
            item.insert(OWNER.into(), AttributeValue::S(owner.to_string()));
        }
        item
    }

    /// A refused condition is an answer (`false`), not an error.
    fn conditional<T, E, R>(
        &self,
        call: &'static str,
        key: &StateKey,
        result: Result<T, SdkError<E, R>>,
    ) -> Result<bool, StateError>
    where
        E: ProvideErrorMetadata,
    {
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(self.error(call, key, describe(&e))),
        }
    }

    fn error(&self, call: &'static str, key: &StateKey, reason: String) -> StateError {
        StateError {
            table: self.table.clone(),
            call,
            key: format!("{}/{}", key.pk, key.sk),
            reason,
        }
    }
}

fn epoch(time: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(time.timestamp().to_string())
}

/// Reads a stored item back; a record this module did not write is an error, not a guess.
fn record(item: &HashMap<String, AttributeValue>) -> Result<StateRecord, String> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => Ok(s.as_str()),
        _ => Err(format!("the record has no {name}")),
    };
    let body = serde_json::from_str(text(BODY)?).map_err(|e| format!("its body: {e}"))?;
    let version = text(VERSION)?
        .parse()
        .map_err(|e| format!("its version: {e}"))?;
    let expires_at = text(EXPIRES_AT)?
        .parse()
        .ok()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or("its expiry is not a time")?;
    Ok(StateRecord {
        body,
        version,
        expires_at,
        owner: text(OWNER).ok().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_strangers_are_refused() {
        let store = StateStore::new(
            aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                    .build(),
            ),
            "state",
        );
        let at = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let key = StateKey::new("restore#orders-restored", "started");
        let item = store.item(&key, &serde_json::json!({"a": 1}), 3, at, Some("me"));
        assert_eq!(
            record(&item).unwrap(),
            StateRecord {
                body: serde_json::json!({"a": 1}),
                version: 3,
                expires_at: at,
                owner: Some("me".into()),
            }
        );
        let mut stranger = item.clone();
        stranger.remove(VERSION);
        assert_eq!(record(&stranger).unwrap_err(), "the record has no version");
    }
}
