//! What the backup-trigger is asked to do: an EventBridge schedule (the full envelope), a schedule's
//! custom input (only that JSON arrives), or a console test with `{}`.

use std::fmt;
use std::str::FromStr;

use std::collections::BTreeMap;

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
    /// The tables an earlier invocation had no time for, as a step of the backup state machine.
    HandOver,
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
    /// Tables that failed in the run's earlier steps, and why: the run's last step reports them.
    pub failed_before: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomInput {
    tables: Option<Vec<String>>,
    engine: Option<Engine>,
    dry_run: Option<bool>,
    /// Set by a hand-over: the run's time, so names and tokens stay those of the first invocation.
    scheduled_at: Option<DateTime<Utc>>,
    /// Set by a hand-over: the request id of the invocation that handed the tables over.
    handed_over_by: Option<String>,
    /// Set by a hand-over: the tables that failed before it.
    #[serde(default)]
    failed_before: BTreeMap<String, String>,
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
            failed_before: BTreeMap::new(),
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
            failed_before: BTreeMap::new(),
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
        trigger: match input.handed_over_by {
            Some(_) => Trigger::HandOver,
            None => Trigger::CustomInput,
        },
        tables: input.tables,
        engine: input.engine,
        dry_run: input.dry_run,
        scheduled_at: input.scheduled_at,
        failed_before: input.failed_before,
    })
}

/// What a run hands on: the tables it had no time for, its engine, dry run and time (so native
/// backup names and AWS Backup idempotency tokens are those of the first invocation), and the
/// tables that failed so far (when its last step is to report them).
pub struct HandOverRequest<'a> {
    pub tables: &'a [String],
    pub engine: Engine,
    pub dry_run: bool,
    pub at: DateTime<Utc>,
    pub request_id: &'a str,
    pub failed_before: BTreeMap<String, String>,
}

impl HandOverRequest<'_> {
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "tables": self.tables,
            "engine": self.engine.to_string(),
            "dry_run": self.dry_run,
            "scheduled_at": self.at.to_rfc3339(),
            "handed_over_by": self.request_id,
            "failed_before": self.failed_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_hand_over_round_trips() {
        let at = DateTime::parse_from_rfc3339("2026-11-25T05:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let tables = ["b".repeat(3), "c".repeat(3)];
        let payload = HandOverRequest {
            tables: &tables,
            engine: Engine::AwsBackup,
            dry_run: true,
            at,
            request_id: "req-1",
            failed_before: BTreeMap::from([("a".repeat(3), "throttled".into())]),
        }
        .to_json();
        let r = parse_backup_request(payload).unwrap();
        assert_eq!(r.failed_before["aaa"], "throttled");
        assert_eq!(r.trigger, Trigger::HandOver);
        assert_eq!(r.tables.unwrap(), ["bbb", "ccc"]);
        assert_eq!(
            (r.engine, r.dry_run, r.scheduled_at),
            (Some(Engine::AwsBackup), Some(true), Some(at))
        );
    }

    #[test]
    fn the_scheduler_event_is_a_schedule() {
        let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("run by cargo test");
        let path =
            std::path::Path::new(&manifest).join("../events/backup-trigger/backup-scheduler.json");
        let event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        assert_eq!(event["source"], "aws.scheduler");
        assert!(
            event["detail"].is_string(),
            "Scheduler sends detail as a string"
        );
        let r = parse_backup_request(event).unwrap();
        assert_eq!(r.trigger, Trigger::Schedule);
        assert!(r.scheduled_at.is_some());
    }

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
