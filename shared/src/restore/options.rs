//! How a restore is made and finished: its options, recorded with the restore, and what a finish
//! may change of them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::request::RequestError;

/// The drill a restore belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillSpec {
    pub id: String,
    /// When the drill asked for the restore: its restore time counts from here.
    pub requested_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingMode {
    PayPerRequest,
    /// DynamoDB requires the capacity with the mode.
    Provisioned {
        read_capacity: i64,
        write_capacity: i64,
    },
}

/// How a restore is made and finished. Recorded with the restore, so a finish that names no
/// options (one sent by the notifier, say) finishes as the restore asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreOptions {
    /// Set when a drill made this restore: once finished it is checked, reported and deleted.
    pub drill: Option<DrillSpec>,
    /// Encrypt with this customer managed KMS key instead of the default.
    pub kms_key_arn: Option<String>,
    /// Deletion protection on the new table; `None`: as the source table has it.
    pub deletion_protection: Option<bool>,
    pub billing_mode: Option<BillingMode>,
    /// Wait for the new table within this invocation, then finish it.
    pub wait: bool,
    /// Count the restored items and compare.
    pub verify: bool,
    /// Turn TTL on as the source has it. Off unless asked: after a restore to a past time, TTL
    /// would purge the items that had expired since, under whoever is checking the copy.
    pub copy_ttl: bool,
    /// Send the copy's changes to the source's Kinesis streams too. Off unless asked.
    pub copy_kinesis_destinations: bool,
    /// Give the copy the source's resource policy (its ARNs rewritten). Off unless asked.
    pub copy_resource_policy: bool,
}

/// The options a finish may name; each one not named stays as the restore asked. How the copy
/// was made (its key, its billing mode) is the restore's, never a finish's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FinishOptions {
    pub wait: bool,
    pub verify: Option<bool>,
    pub copy_ttl: Option<bool>,
    pub deletion_protection: Option<bool>,
    pub copy_kinesis_destinations: Option<bool>,
    pub copy_resource_policy: Option<bool>,
}

impl FinishOptions {
    /// The recorded options with this finish's choices over them.
    pub fn over(&self, recorded: &RestoreOptions) -> RestoreOptions {
        RestoreOptions {
            wait: self.wait,
            verify: self.verify.unwrap_or(recorded.verify),
            copy_ttl: self.copy_ttl.unwrap_or(recorded.copy_ttl),
            deletion_protection: self.deletion_protection.or(recorded.deletion_protection),
            copy_kinesis_destinations: (self.copy_kinesis_destinations)
                .unwrap_or(recorded.copy_kinesis_destinations),
            copy_resource_policy: (self.copy_resource_policy)
                .unwrap_or(recorded.copy_resource_policy),
            ..recorded.clone()
        }
    }
}

pub fn parse_billing_mode(
    mode: Option<&str>,
    read: Option<i64>,
    write: Option<i64>,
) -> Result<Option<BillingMode>, RequestError> {
    match (mode, read, write) {
        (None, None, None) => Ok(None),
        (Some("PAY_PER_REQUEST"), None, None) => Ok(Some(BillingMode::PayPerRequest)),
        (Some("PROVISIONED"), Some(read), Some(write)) if read >= 1 && write >= 1 => {
            Ok(Some(BillingMode::Provisioned {
                read_capacity: read,
                write_capacity: write,
            }))
        }
        (Some("PROVISIONED"), _, _) => Err(RequestError(
            "billing_mode PROVISIONED needs read_capacity and write_capacity, each 1 or more"
                .into(),
        )),
        (Some("PAY_PER_REQUEST") | None, _, _) => Err(RequestError(
            "read_capacity and write_capacity go with billing_mode PROVISIONED".into(),
        )),
        (Some(other), _, _) => Err(RequestError(format!(
            "billing_mode {other:?} is not PAY_PER_REQUEST or PROVISIONED"
        ))),
    }
}
