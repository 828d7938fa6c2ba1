//! What the backup-notifier is asked: an AWS Backup job event, a watchdog run, or a test alert.

use serde_json::Value;

use crate::alert::events::JobEvent;
use crate::request::{RequestError, kind_of};

#[derive(Debug, Clone, PartialEq)]
pub enum NotifierRequest {
    Job(Box<JobEvent>),
    /// An `aws.backup` event that is not a job state change.
    Other(String),
    Watchdog,
    Test,
}

const SHAPES: &str = "expected an AWS Backup job event, an EventBridge \"Scheduled Event\" or \
                      {\"action\": \"watchdog\"} (the watchdog), or {} (a test alert)";

pub fn parse_notifier_request(payload: &Value) -> Result<NotifierRequest, RequestError> {
    let Value::Object(fields) = payload else {
        return Err(RequestError(format!("{SHAPES}; got {}", kind_of(payload))));
    };
    if fields.is_empty() {
        return Ok(NotifierRequest::Test);
    }
    if payload.get("action").and_then(Value::as_str) == Some("watchdog") && fields.len() == 1 {
        return Ok(NotifierRequest::Watchdog);
    }
    let detail_type = payload.get("detail-type").and_then(Value::as_str);
    let source = payload
        .get("source")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match detail_type {
        Some("Scheduled Event") => Ok(NotifierRequest::Watchdog),
        Some(kind) => match JobEvent::from_event(payload) {
            Some(event) => Ok(NotifierRequest::Job(Box::new(event))),
            None if source == "aws.backup" => Ok(NotifierRequest::Other(kind.to_string())),
            None => Err(RequestError(format!(
                "a {kind:?} event from {source:?}: {SHAPES}"
            ))),
        },
        None => {
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            Err(RequestError(format!(
                "{SHAPES}; got an object with {names:?}"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn request_shapes() {
        assert_eq!(
            parse_notifier_request(&json!({})).unwrap(),
            NotifierRequest::Test
        );
        assert_eq!(
            parse_notifier_request(&json!({"action": "watchdog"})).unwrap(),
            NotifierRequest::Watchdog
        );
        let schedule =
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert_eq!(
            parse_notifier_request(&schedule).unwrap(),
            NotifierRequest::Watchdog
        );
        let job = json!({"detail-type": "Backup Job State Change", "source": "aws.backup", "detail": {"state": "FAILED"}});
        assert!(matches!(
            parse_notifier_request(&job).unwrap(),
            NotifierRequest::Job(_)
        ));
        let plan = json!({"detail-type": "Backup Plan State Change", "source": "aws.backup", "detail": {}});
        assert!(matches!(
            parse_notifier_request(&plan).unwrap(),
            NotifierRequest::Other(_)
        ));
        for (payload, expect) in [
            (json!("hi"), "got a string"),
            (json!({"action": "panic"}), "[\"action\"]"),
            (
                json!({"detail-type": "Object Created", "source": "aws.s3"}),
                "\"Object Created\"",
            ),
        ] {
            let err = parse_notifier_request(&payload).unwrap_err().to_string();
            assert!(err.contains(expect), "{payload}: {err}");
        }
    }
}
