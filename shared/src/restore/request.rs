//! What the restore-handler is asked to do: restore a table from one source into a new table, or
//! finish a restore (re-apply settings, verify) once the new table is `ACTIVE`.

use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::request::{RequestError, kind_of};
use crate::restore::drill::request::{DRILL_ACTIONS, DrillRequest, parse_drill_request};
use crate::restore::options::{FinishOptions, RestoreOptions, parse_billing_mode};
use crate::restore::promote_request::parse_promote_request;
use crate::restore::verification::CountProgress;
use crate::table_selection::check_table_name;

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreSource {
    /// A native DynamoDB backup.
    Backup(String),
    /// An AWS Backup recovery point.
    RecoveryPoint(String),
    /// Point-in-time recovery at this time.
    PointInTime(DateTime<Utc>),
    /// The newest available native backup of the source table.
    LatestBackup,
    /// Point-in-time recovery at the latest restorable time.
    LatestRestorable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestorePlan {
    pub source_table: String,
    pub source: RestoreSource,
    /// `None`: `<source>-restored-<UTC time>`.
    pub target_table: Option<String>,
    /// The same key makes no second restore (a re-send from a console or CLI); `None`: the Lambda
    /// request id, which Lambda's retries keep.
    pub idempotency_key: Option<String>,
    pub options: RestoreOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishRequest {
    pub target_table: String,
    /// `None`: from the handler's record of the restore.
    pub source_table: Option<String>,
    /// What this finish changes of the options recorded when the restore started.
    pub options: FinishOptions,
    /// The count of the copy's items, when an earlier invocation began it.
    pub count_progress: Option<CountProgress>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreRequest {
    Restore(RestorePlan),
    Finish(FinishRequest),
    Drill(DrillRequest),
    /// `{"action": "promote", "target_table": ...}`: a restored copy becomes production.
    Promote(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    action: Option<String>,
    source_table: Option<String>,
    backup_arn: Option<String>,
    recovery_point_arn: Option<String>,
    point_in_time: Option<String>,
    latest_backup: Option<bool>,
    latest_restorable: Option<bool>,
    target_table: Option<String>,
    kms_key_arn: Option<String>,
    deletion_protection: Option<bool>,
    billing_mode: Option<String>,
    read_capacity: Option<i64>,
    write_capacity: Option<i64>,
    wait: Option<bool>,
    verify: Option<bool>,
    ttl: Option<bool>,
    kinesis_destinations: Option<bool>,
    resource_policy: Option<bool>,
    idempotency_key: Option<String>,
    count_progress: Option<CountProgress>,
}

const SOURCES: &str = "one of backup_arn, recovery_point_arn, point_in_time, latest_backup: true, \
                       latest_restorable: true";

/// Decodes a request. `{}` restores the newest backup of `default_source` (waiting and verifying, as
/// a console test wants to see the result).
pub fn parse_restore_request(
    payload: Value,
    default_source: Option<&str>,
) -> Result<RestoreRequest, RequestError> {
    let Value::Object(fields) = &payload else {
        return Err(RequestError(format!(
            "expected a restore request object; got {}",
            kind_of(&payload)
        )));
    };
    if fields.is_empty() {
        return console_test(default_source).map(RestoreRequest::Restore);
    }
    let action = fields.get("action").and_then(Value::as_str);
    if action.is_some_and(|a| DRILL_ACTIONS.contains(&a)) {
        return parse_drill_request(payload).map(RestoreRequest::Drill);
    }
    if action == Some("promote") {
        return parse_promote_request(payload).map(RestoreRequest::Promote);
    }
    let raw: Raw = serde_json::from_value(payload).map_err(|e| RequestError(e.to_string()))?;
    let options = raw.restore_options()?;
    for table in [&raw.source_table, &raw.target_table].into_iter().flatten() {
        check_table_name(table).map_err(RequestError)?;
    }
    match raw.action.as_deref().unwrap_or("restore") {
        "restore" => raw.into_plan(options).map(RestoreRequest::Restore),
        "finish" => raw.into_finish().map(RestoreRequest::Finish),
        other => Err(RequestError(format!(
            "action {other:?} is not \"restore\", \"finish\", \"promote\", \"drill\", \"drill_cleanup\" or \"validate\""
        ))),
    }
}

/// `{}`: the newest backup of `default_source`, waited for and verified.
fn console_test(default_source: Option<&str>) -> Result<RestorePlan, RequestError> {
    let source_table = default_source.ok_or_else(|| {
        RequestError("{} restores the newest backup of SOURCE_TABLE, which is not set".into())
    })?;
    Ok(RestorePlan {
        source_table: source_table.to_string(),
        source: RestoreSource::LatestBackup,
        target_table: None,
        idempotency_key: None,
        options: RestoreOptions {
            wait: true,
            verify: true,
            ..RestoreOptions::default()
        },
    })
}

impl Raw {
    /// How the restore makes the copy and what its finish brings back; a key must be an ARN.
    fn restore_options(&self) -> Result<RestoreOptions, RequestError> {
        let options = RestoreOptions {
            drill: None,
            kms_key_arn: self.kms_key_arn.clone().filter(|k| !k.is_empty()),
            deletion_protection: self.deletion_protection,
            billing_mode: parse_billing_mode(
                self.billing_mode.as_deref(),
                self.read_capacity,
                self.write_capacity,
            )?,
            wait: self.wait.unwrap_or(false),
            verify: self.verify.unwrap_or(false),
            copy_ttl: self.ttl.unwrap_or(false),
            copy_kinesis_destinations: self.kinesis_destinations.unwrap_or(false),
            copy_resource_policy: self.resource_policy.unwrap_or(false),
        };
        if let Some(key) = &options.kms_key_arn
            && !key.starts_with("arn:")
        {
            return Err(RequestError(format!("kms_key_arn {key:?} is not an ARN")));
        }
        Ok(options)
    }

    /// A restore: its source table, exactly one source, and a target that is not the source.
    fn into_plan(self, options: RestoreOptions) -> Result<RestorePlan, RequestError> {
        let source_table = (self.source_table.clone())
            .ok_or_else(|| RequestError(format!("source_table is required, with {SOURCES}")))?;
        let source = self.the_one_source()?;
        if matches!(source, RestoreSource::RecoveryPoint(_)) && options.billing_mode.is_some() {
            return Err(RequestError(
                "billing_mode cannot be chosen for a recovery point: AWS Backup restores the \
                 table's billing mode as backed up"
                    .into(),
            ));
        }
        if self.target_table.as_deref() == Some(source_table.as_str()) {
            return Err(RequestError(
                "target_table must be a new table, not the source table".into(),
            ));
        }
        Ok(RestorePlan {
            source_table,
            source,
            target_table: self.target_table,
            idempotency_key: self.idempotency_key.filter(|k| !k.trim().is_empty()),
            options,
        })
    }

    /// The one source the request names (`SOURCES`).
    fn the_one_source(&self) -> Result<RestoreSource, RequestError> {
        let mut sources = Vec::new();
        if let Some(arn) = &self.backup_arn {
            sources.push(RestoreSource::Backup(arn.clone()));
        }
        if let Some(arn) = &self.recovery_point_arn {
            sources.push(RestoreSource::RecoveryPoint(arn.clone()));
        }
        if let Some(time) = &self.point_in_time {
            let at = DateTime::parse_from_rfc3339(time).map_err(|e| {
                RequestError(format!("point_in_time {time:?} is not RFC 3339: {e}"))
            })?;
            sources.push(RestoreSource::PointInTime(at.with_timezone(&Utc)));
        }
        match self.latest_backup {
            Some(true) => sources.push(RestoreSource::LatestBackup),
            Some(false) => return Err(RequestError("latest_backup can only be true".into())),
            None => {}
        }
        match self.latest_restorable {
            Some(true) => sources.push(RestoreSource::LatestRestorable),
            Some(false) => return Err(RequestError("latest_restorable can only be true".into())),
            None => {}
        }
        if sources.len() != 1 {
            return Err(RequestError(format!(
                "give exactly {SOURCES}; got {}",
                sources.len()
            )));
        }
        Ok(sources.remove(0))
    }

    /// A finish: a restored table, no source, and nothing of how the copy was made (the restore
    /// chose that).
    fn into_finish(self) -> Result<FinishRequest, RequestError> {
        let target_table = (self.target_table)
            .ok_or_else(|| RequestError("\"finish\" needs target_table".into()))?;
        let given = [
            self.backup_arn.is_some(),
            self.recovery_point_arn.is_some(),
            self.point_in_time.is_some(),
            self.latest_backup.is_some(),
            self.latest_restorable.is_some(),
        ];
        if given.contains(&true) {
            return Err(RequestError(
                "\"finish\" works on a restored table; it takes no restore source".into(),
            ));
        }
        let made_how = [
            self.kms_key_arn.is_some(),
            self.billing_mode.is_some(),
            self.read_capacity.is_some(),
            self.write_capacity.is_some(),
        ];
        if made_how.contains(&true) {
            return Err(RequestError(
                "\"finish\" keeps the key and billing mode the restore chose; give \
                 kms_key_arn or billing_mode with the restore"
                    .into(),
            ));
        }
        Ok(FinishRequest {
            target_table,
            options: FinishOptions {
                wait: self.wait.unwrap_or(false),
                verify: self.verify,
                copy_ttl: self.ttl,
                deletion_protection: self.deletion_protection,
                copy_kinesis_destinations: self.kinesis_destinations,
                copy_resource_policy: self.resource_policy,
            },
            source_table: self.source_table,
            count_progress: self.count_progress,
        })
    }
}

/// `<source>-restored-<UTC time>`, cut so it is always a valid table name.
pub fn default_target_name(source: &str, now: DateTime<Utc>) -> String {
    let suffix = format!(
        "-restored-{}",
        now.trunc_subsecs(0).format("%Y%m%dT%H%M%SZ")
    );
    let room = 255 - suffix.len();
    let cut = source.get(..room.min(source.len())).unwrap_or(source);
    format!("{cut}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::options::BillingMode;
    use chrono::TimeZone;
    use serde_json::json;

    fn restore(payload: Value) -> RestorePlan {
        match parse_restore_request(payload, Some("orders")).unwrap() {
            RestoreRequest::Restore(plan) => plan,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_source_mode() {
        let p = restore(json!({"source_table": "orders", "backup_arn": "arn:b"}));
        assert_eq!(p.source, RestoreSource::Backup("arn:b".into()));
        let p = restore(json!({"source_table": "orders", "recovery_point_arn": "arn:rp"}));
        assert_eq!(p.source, RestoreSource::RecoveryPoint("arn:rp".into()));
        let p = restore(
            json!({"source_table": "orders", "point_in_time": "2026-11-25T04:00:00+01:00"}),
        );
        assert_eq!(
            p.source,
            RestoreSource::PointInTime(Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap())
        );
        let p = restore(
            json!({"source_table": "orders", "latest_backup": true, "target_table": "orders-copy",
            "kms_key_arn": "arn:aws:kms:us-east-1:1:key/k", "deletion_protection": true,
            "billing_mode": "PROVISIONED", "read_capacity": 5, "write_capacity": 2,
            "wait": true, "verify": true, "kinesis_destinations": true, "resource_policy": true}),
        );
        assert_eq!(p.source, RestoreSource::LatestBackup);
        assert_eq!(p.target_table.as_deref(), Some("orders-copy"));
        assert_eq!(
            p.options.billing_mode,
            Some(BillingMode::Provisioned {
                read_capacity: 5,
                write_capacity: 2
            })
        );
        assert!(p.options.copy_kinesis_destinations && p.options.copy_resource_policy);
        assert!(p.options.wait && p.options.verify && p.options.deletion_protection == Some(true));
        let p = restore(json!({"source_table": "orders", "latest_restorable": true}));
        assert_eq!(p.source, RestoreSource::LatestRestorable);
    }

    #[test]
    fn a_console_test_restores_the_newest_backup_and_waits() {
        let p = restore(json!({}));
        assert_eq!(
            (p.source_table.as_str(), &p.source),
            ("orders", &RestoreSource::LatestBackup)
        );
        assert!(p.options.wait && p.options.verify);
        let err = parse_restore_request(json!({}), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SOURCE_TABLE"), "{err}");
    }

    #[test]
    fn finish_requests() {
        let r = parse_restore_request(
            json!({"action": "finish", "target_table": "orders-copy"}),
            None,
        )
        .unwrap();
        let RestoreRequest::Finish(f) = r else {
            panic!()
        };
        assert_eq!(
            (f.target_table.as_str(), f.source_table),
            ("orders-copy", None)
        );
        // No options named: the finish uses the ones recorded with the restore.
        assert_eq!(f.options, FinishOptions::default());
        let r = parse_restore_request(
            json!({"action": "finish", "target_table": "orders-copy", "ttl": true}),
            None,
        )
        .unwrap();
        let RestoreRequest::Finish(f) = r else {
            panic!()
        };
        let recorded = RestoreOptions {
            deletion_protection: Some(true),
            copy_resource_policy: true,
            kms_key_arn: Some("arn:aws:kms:eu-west-1:1:key/k".into()),
            ..RestoreOptions::default()
        };
        let merged = f.options.over(&recorded);
        assert!(merged.copy_ttl, "named by the finish");
        assert_eq!(
            merged.deletion_protection,
            Some(true),
            "kept from the restore"
        );
        assert!(merged.copy_resource_policy);
        assert_eq!(merged.kms_key_arn, recorded.kms_key_arn);
    }

    #[test]
    fn bad_or_ambiguous_requests_say_what_is_wrong() {
        for (payload, expect) in [
            (json!([]), "got an array"),
            (json!({"backup_arn": "arn:b"}), "source_table is required"),
            (json!({"source_table": "orders"}), "got 0"),
            (
                json!({"source_table": "orders", "backup_arn": "a", "latest_backup": true}),
                "got 2",
            ),
            (
                json!({"source_table": "orders", "point_in_time": "yesterday"}),
                "not RFC 3339",
            ),
            (
                json!({"source_table": "orders", "latest_backup": false}),
                "can only be true",
            ),
            (
                json!({"source_table": "or ders", "latest_backup": true}),
                "not a table name",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true, "target_table": "x"}),
                "not a table name",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true, "target_table": "orders"}),
                "new table",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true, "billing_mode": "FREE"}),
                "billing_mode",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true, "kms_key_arn": "alias/x"}),
                "not an ARN",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true,
                       "billing_mode": "PROVISIONED"}),
                "needs read_capacity and write_capacity",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true,
                       "billing_mode": "PROVISIONED", "read_capacity": 0, "write_capacity": 5}),
                "each 1 or more",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true, "read_capacity": 5}),
                "go with billing_mode PROVISIONED",
            ),
            (
                json!({"source_table": "orders", "recovery_point_arn": "arn:rp",
                       "billing_mode": "PAY_PER_REQUEST"}),
                "cannot be chosen for a recovery point",
            ),
            (
                json!({"source_table": "orders", "latest_backup": true, "colour": "red"}),
                "unknown field `colour`",
            ),
            (json!({"action": "finish"}), "needs target_table"),
            (json!({"action": "promote"}), "needs target_table"),
            (
                json!({"action": "finish", "target_table": "abc", "kms_key_arn": "arn:k"}),
                "keeps the key and billing mode",
            ),
            (
                json!({"action": "finish", "target_table": "abc", "latest_backup": true}),
                "no restore source",
            ),
            (json!({"action": "undo"}), "action \"undo\""),
        ] {
            let err = parse_restore_request(payload.clone(), Some("orders"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{payload}: {err}");
        }
    }

    #[test]
    fn default_targets_are_valid_names() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 0).unwrap();
        assert_eq!(
            default_target_name("orders", now),
            "orders-restored-20261125T050000Z"
        );
        let long = default_target_name(&"t".repeat(255), now);
        assert_eq!(long.len(), 255);
        assert!(check_table_name(&long).is_ok());
    }
}
