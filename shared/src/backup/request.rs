//! What the backup-trigger is asked to do: an EventBridge schedule (the full envelope), a schedule's
//! custom input (only that JSON arrives), or a console test with `{}`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::{RequestError, kind_of};
use crate::table_selection::check_table_name;

/// Which service takes the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Engine {
    /// DynamoDB's own `CreateBackup`; retention is this toolkit's.
    #[serde(rename = "dynamodb")]
    DynamoDb,
    /// AWS Backup's `StartBackupJob`; the vault's lifecycle handles retention.
    #[serde(rename = "aws-backup")]
    AwsBackup,
}

impl FromStr for Engine {
    type Err = String;
    fn from_str(s: &str) -> Result<Engine, String> {
        match s.trim() {
            "dynamodb" => Ok(Engine::DynamoDb),
            "aws-backup" => Ok(Engine::AwsBackup),
            other => Err(format!(
                "engine {other:?} is not \"dynamodb\" or \"aws-backup\""
            )),
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::DynamoDb => "dynamodb",
            Engine::AwsBackup => "aws-backup",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Schedule,
    CustomInput,
    Console,
}

/// A decoded request; `None` fields fall back to the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRequest {
    pub trigger: Trigger,
    pub tables: Option<Vec<String>>,
    pub engine: Option<Engine>,
    pub dry_run: Option<bool>,
    /// The schedule's time: it names the backups and keys AWS Backup's idempotency, so a retried
    /// invocation makes no second backup.
    pub scheduled_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomInput {
    tables: Option<Vec<String>>,
    engine: Option<Engine>,
    dry_run: Option<bool>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    source: String,
    time: Option<String>,
}

const SHAPES: &str = "expected an EventBridge \"Scheduled Event\", a schedule's input such as \
                      {\"tables\": [\"orders\"], \"engine\": \"dynamodb\"}, or {}";

pub fn parse_backup_request(payload: Value) -> Result<BackupRequest, RequestError> {
    let Value::Object(fields) = &payload else {
        return Err(RequestError(format!("{SHAPES}; got {}", kind_of(&payload))));
    };
    if fields.is_empty() {
        return Ok(BackupRequest {
            trigger: Trigger::Console,
            tables: None,
            engine: None,
            dry_run: None,
            scheduled_at: None,
        });
    }
    if fields.contains_key("detail-type") {
        let envelope: Envelope = serde_json::from_value(payload)
            .map_err(|e| RequestError(format!("not a valid EventBridge event: {e}")))?;
        if envelope.detail_type != "Scheduled Event" {
            return Err(RequestError(format!(
                "a {:?} event from {:?} is not a schedule; {SHAPES}",
                envelope.detail_type, envelope.source
            )));
        }
        let scheduled_at = envelope
            .time
            .map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        RequestError(format!("the event's time {t:?} is not RFC 3339: {e}"))
                    })
            })
            .transpose()?;
        return Ok(BackupRequest {
            trigger: Trigger::Schedule,
            tables: None,
            engine: None,
            dry_run: None,
            scheduled_at,
        });
    }
    let input: CustomInput =
        serde_json::from_value(payload).map_err(|e| RequestError(format!("{SHAPES}: {e}")))?;
    if let Some(tables) = &input.tables {
        if tables.is_empty() {
            return Err(RequestError("\"tables\" is empty".into()));
        }
        for table in tables {
            check_table_name(table).map_err(RequestError)?;
        }
    }
    Ok(BackupRequest {
        trigger: Trigger::CustomInput,
        tables: input.tables,
        engine: input.engine,
        dry_run: input.dry_run,
        scheduled_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_console_test_uses_the_configuration() {
        let r = parse_backup_request(json!({})).unwrap();
        assert_eq!(r.trigger, Trigger::Console);
        assert_eq!((r.tables, r.engine, r.scheduled_at), (None, None, None));
    }

    #[test]
    fn a_scheduled_event_carries_its_time() {
        let r = parse_backup_request(json!({
            "version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-25T05:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/daily"], "detail": {}
        }))
        .unwrap();
        assert_eq!(r.trigger, Trigger::Schedule);
        assert_eq!(
            r.scheduled_at.unwrap().to_rfc3339(),
            "2026-11-25T05:00:00+00:00"
        );
    }

    #[test]
    fn a_custom_input_names_tables_and_engine() {
        let r = parse_backup_request(
            json!({"tables": ["orders"], "engine": "aws-backup", "dry_run": true}),
        )
        .unwrap();
        assert_eq!(r.trigger, Trigger::CustomInput);
        assert_eq!(r.tables.unwrap(), ["orders"]);
        assert_eq!(r.engine, Some(Engine::AwsBackup));
        assert_eq!(r.dry_run, Some(true));
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        for (payload, expect) in [
            (json!("orders"), "got a string"),
            (json!({"tables": []}), "\"tables\" is empty"),
            (
                json!({"tables": ["no spaces allowed"]}),
                "is not a table name",
            ),
            (json!({"engine": "s3"}), "unknown variant `s3`"),
            (json!({"table": ["orders"]}), "unknown field `table`"),
            (
                json!({"detail-type": "Object Created", "source": "aws.s3"}),
                "is not a schedule",
            ),
            (
                json!({"detail-type": "Scheduled Event", "time": "yesterday"}),
                "not RFC 3339",
            ),
        ] {
            let err = parse_backup_request(payload.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{payload}: {err}");
        }
    }
}
