//! What a drill is asked to do: run (for the configured tables, or those named), clean up a scratch
//! table a drill left behind, or validate a restore made by AWS Backup restore testing.

use serde::Deserialize;
use serde_json::Value;

use crate::request::RequestError;
use crate::restore::config::DrillSource;
use crate::table_selection::check_table_name;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DrillRequest {
    /// `{"action": "drill"}`: `None` means the configured tables and source.
    Run {
        tables: Option<Vec<String>>,
        source: Option<DrillSource>,
    },
    /// `{"action": "drill_cleanup", "table": ...}`: delete a scratch table a drill made.
    Cleanup { table: String },
    /// `{"action": "validate", "restore_job_id": ...}`: check a restore testing job's table.
    Validate { restore_job_id: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    action: String,
    tables: Option<Vec<String>>,
    source: Option<String>,
    table: Option<String>,
    restore_job_id: Option<String>,
}

/// The actions this module decodes.
pub const DRILL_ACTIONS: &[&str] = &["drill", "drill_cleanup", "validate"];

pub fn parse_drill_request(payload: Value) -> Result<DrillRequest, RequestError> {
    let raw: Raw = serde_json::from_value(payload).map_err(|e| RequestError(e.to_string()))?;
    let only = |allowed: &[&str]| {
        let given = [
            ("tables", raw.tables.is_some()),
            ("source", raw.source.is_some()),
            ("table", raw.table.is_some()),
            ("restore_job_id", raw.restore_job_id.is_some()),
        ];
        match given
            .iter()
            .find(|(name, set)| *set && !allowed.contains(name))
        {
            Some((name, _)) => Err(RequestError(format!(
                "{name} does not go with \"action\": \"{}\"",
                raw.action
            ))),
            None => Ok(()),
        }
    };
    match raw.action.as_str() {
        "drill" => {
            only(&["tables", "source"])?;
            if let Some(tables) = &raw.tables {
                if tables.is_empty() {
                    return Err(RequestError(
                        "tables is empty: name one or leave it out".into(),
                    ));
                }
                for table in tables {
                    check_table_name(table).map_err(RequestError)?;
                }
            }
            let source = raw.source.as_deref().map(DrillSource::parse);
            Ok(DrillRequest::Run {
                tables: raw.tables,
                source: source
                    .transpose()
                    .map_err(|e| RequestError(format!("source {e}")))?,
            })
        }
        "drill_cleanup" => {
            only(&["table"])?;
            let table = raw
                .table
                .ok_or_else(|| RequestError("\"drill_cleanup\" needs table".into()))?;
            check_table_name(&table).map_err(RequestError)?;
            Ok(DrillRequest::Cleanup { table })
        }
        "validate" => {
            only(&["restore_job_id"])?;
            let restore_job_id = raw
                .restore_job_id
                .filter(|id| !id.trim().is_empty())
                .ok_or_else(|| RequestError("\"validate\" needs restore_job_id".into()))?;
            Ok(DrillRequest::Validate { restore_job_id })
        }
        other => Err(RequestError(format!(
            "action {other:?} is not a drill action"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_drill_action() {
        let run = parse_drill_request(json!({"action": "drill"})).unwrap();
        assert_eq!(
            run,
            DrillRequest::Run {
                tables: None,
                source: None
            }
        );
        let run = parse_drill_request(
            json!({"action": "drill", "tables": ["orders"], "source": "point_in_time"}),
        )
        .unwrap();
        assert_eq!(
            run,
            DrillRequest::Run {
                tables: Some(vec!["orders".into()]),
                source: Some(DrillSource::PointInTime)
            }
        );
        let cleanup = parse_drill_request(
            json!({"action": "drill_cleanup", "table": "orders-restored-drill-1"}),
        );
        assert_eq!(
            cleanup.unwrap(),
            DrillRequest::Cleanup {
                table: "orders-restored-drill-1".into()
            }
        );
        let validate = parse_drill_request(json!({"action": "validate", "restore_job_id": "j-1"}));
        assert_eq!(
            validate.unwrap(),
            DrillRequest::Validate {
                restore_job_id: "j-1".into()
            }
        );
    }

    #[test]
    fn bad_drill_requests_say_what_is_wrong() {
        for (payload, expect) in [
            (json!({"action": "drill", "tables": []}), "tables is empty"),
            (
                json!({"action": "drill", "tables": ["a b"]}),
                "not a table name",
            ),
            (json!({"action": "drill", "source": "tape"}), "not backup"),
            (
                json!({"action": "drill", "table": "orders"}),
                "table does not go with",
            ),
            (json!({"action": "drill_cleanup"}), "needs table"),
            (
                json!({"action": "validate", "restore_job_id": " "}),
                "needs restore_job_id",
            ),
            (
                json!({"action": "validate", "restore_job_id": "j", "x": 1}),
                "unknown field `x`",
            ),
        ] {
            let err = parse_drill_request(payload.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{payload}: {err}");
        }
    }
}
