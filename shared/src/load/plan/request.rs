//! What the csv-loader is asked to do: an S3 event, `{}`, `{"bucket","key"}` or a continuation.

use aws_lambda_events::event::s3::S3Event;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::file::Checkpoint;
use crate::load::plan::s3_key::decode_event_key;
use crate::request::RequestError;
use crate::request::kind_of;

/// Which object keys the S3 trigger loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFilter {
    pub prefix: String,
    pub suffixes: Vec<String>,
    /// Reports are written here; never loaded, whatever the other settings say.
    pub rejects_prefix: String,
}

impl SourceFilter {
    /// Refuses settings under which the loader's own reports would trigger it again.
    pub fn validate(&self) -> Result<(), String> {
        if self.rejects_prefix.is_empty() {
            return Err("REJECTS_PREFIX must not be empty".into());
        }
        if self.rejects_prefix.starts_with(&self.prefix) {
            return Err(format!(
                "REJECTS_PREFIX {:?} is inside SOURCE_PREFIX {:?}: every report would trigger \
                 the loader again",
                self.rejects_prefix, self.prefix
            ));
        }
        if self.suffixes.is_empty() {
            return Err("SOURCE_SUFFIXES must name at least one suffix".into());
        }
        Ok(())
    }

    /// `Err(reason)` for a key the trigger should not load.
    pub fn check(&self, key: &str) -> Result<(), String> {
        if key.starts_with(&self.rejects_prefix) {
            return Err(format!(
                "under the rejects prefix {:?}",
                self.rejects_prefix
            ));
        }
        if !key.starts_with(&self.prefix) {
            return Err(format!("outside the source prefix {:?}", self.prefix));
        }
        let lower = key.to_ascii_lowercase();
        if !self
            .suffixes
            .iter()
            .any(|s| lower.ends_with(&s.to_ascii_lowercase()))
        {
            return Err(format!("not one of the suffixes {:?}", self.suffixes));
        }
        Ok(())
    }
}

/// An S3 record the loader left alone, and why (also logged).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ignored {
    pub bucket: String,
    pub key: String,
    pub reason: String,
}

/// A decoded request: the files to load and the records skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadPlan {
    pub jobs: Vec<Checkpoint>,
    pub ignored: Vec<Ignored>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplicitRequest {
    bucket: String,
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContinueRequest {
    #[serde(rename = "continue")]
    checkpoint: Checkpoint,
}

/// The default object for a console test with `{}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultObject {
    pub bucket: String,
    pub key: String,
}

const SHAPES: &str = "expected an S3 event (\"Records\"), {\"bucket\": ..., \"key\": ...}, {} \
                      (the configured default object) or a continuation ({\"continue\": ...})";

/// Decodes the invocation payload.
pub fn plan_request(
    payload: Value,
    filter: &SourceFilter,
    default_object: Option<&DefaultObject>,
) -> Result<LoadPlan, RequestError> {
    let Value::Object(fields) = &payload else {
        return Err(RequestError(format!("{SHAPES}; got {}", kind_of(&payload))));
    };
    if fields.is_empty() {
        let object = default_object.ok_or_else(|| {
            RequestError(
                "{} loads the default object, but BUCKET_NAME and DEFAULT_OBJECT_KEY are not \
                 both set"
                    .into(),
            )
        })?;
        return Ok(LoadPlan {
            jobs: vec![Checkpoint::start(&object.bucket, &object.key)],
            ignored: vec![],
        });
    }
    if fields.contains_key("Records") {
        let event: S3Event = serde_json::from_value(payload)
            .map_err(|e| RequestError(format!("not a valid S3 event: {e}")))?;
        return plan_s3_event(event, filter);
    }
    // S3 sends this once when a notification is configured.
    if fields.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        tracing::info!("ignoring the s3:TestEvent sent when the notification was configured");
        return Ok(LoadPlan::default());
    }
    if fields.contains_key("continue") {
        let request: ContinueRequest = serde_json::from_value(payload)
            .map_err(|e| RequestError(format!("not a valid continuation: {e}")))?;
        return Ok(LoadPlan {
            jobs: vec![request.checkpoint],
            ignored: vec![],
        });
    }
    if fields.contains_key("bucket") || fields.contains_key("key") {
        let request: ExplicitRequest = serde_json::from_value(payload)
            .map_err(|e| RequestError(format!("{{\"bucket\", \"key\"}} request: {e}")))?;
        if request.bucket.is_empty() || request.key.is_empty() {
            return Err(RequestError("bucket and key must not be empty".into()));
        }
        if request.key.starts_with(&filter.rejects_prefix) {
            return Err(RequestError(format!(
                "{} is a rejects report (under {:?}), not a file to load",
                request.key, filter.rejects_prefix
            )));
        }
        return Ok(LoadPlan {
            jobs: vec![Checkpoint::start(request.bucket, request.key)],
            ignored: vec![],
        });
    }
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    Err(RequestError(format!(
        "{SHAPES}; got an object with {names:?}"
    )))
}

fn plan_s3_event(event: S3Event, filter: &SourceFilter) -> Result<LoadPlan, RequestError> {
    let mut plan = LoadPlan::default();
    for record in event.records {
        let bucket = record.s3.bucket.name.clone().unwrap_or_default();
        let raw_key = record.s3.object.key.clone().unwrap_or_default();
        if bucket.is_empty() || raw_key.is_empty() {
            return Err(RequestError(
                "an S3 record has no bucket name or object key".into(),
            ));
        }
        let key = decode_event_key(&raw_key).map_err(|e| RequestError(e.to_string()))?;
        let event_name = record.event_name.as_deref().unwrap_or_default();
        let verdict = if !event_name.starts_with("ObjectCreated:") {
            Err(format!("event {event_name:?} is not an object creation"))
        } else {
            filter.check(&key)
        };
        match verdict {
            Ok(()) => plan.jobs.push(Checkpoint::start(bucket, key)),
            Err(reason) => {
                tracing::info!(%bucket, %key, %reason, "ignoring object");
                plan.ignored.push(Ignored {
                    bucket,
                    key,
                    reason,
                });
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter() -> SourceFilter {
        SourceFilter {
            prefix: "incoming/".into(),
            suffixes: vec![".csv".into(), ".csv.gz".into()],
            rejects_prefix: "rejected/".into(),
        }
    }

    fn record(event: &str, bucket: &str, key: &str) -> Value {
        json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-25T05:00:00.000Z", "eventName": event,
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.9"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "csv-loader",
                   "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
                   "object": {"key": key, "size": 10, "eTag": "e"}}
        })
    }

    #[test]
    fn s3_event_with_several_records_decodes_keys_and_filters() {
        let event = json!({"Records": [
            record("ObjectCreated:Put", "b", "incoming/my+orders+%C3%A9.csv"),
            record("ObjectCreated:CompleteMultipartUpload", "b", "incoming/big.CSV.GZ"),
            record("ObjectCreated:Put", "b", "incoming/notes.txt"),
            record("ObjectCreated:Put", "b", "elsewhere/orders.csv"),
            record("ObjectRemoved:Delete", "b", "incoming/gone.csv"),
        ]});
        let plan = plan_request(event, &filter(), None).unwrap();
        let keys: Vec<_> = plan.jobs.iter().map(|j| j.key.as_str()).collect();
        assert_eq!(keys, ["incoming/my orders é.csv", "incoming/big.CSV.GZ"]);
        let ignored: Vec<_> = plan.ignored.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            ignored,
            [
                "incoming/notes.txt",
                "elsewhere/orders.csv",
                "incoming/gone.csv"
            ]
        );
        assert!(plan.ignored[0].reason.contains("suffixes"));
        assert!(plan.ignored[1].reason.contains("source prefix"));
        assert!(plan.ignored[2].reason.contains("not an object creation"));
    }

    #[test]
    fn reports_never_trigger_a_load() {
        let f = SourceFilter {
            prefix: "".into(),
            ..filter()
        };
        assert!(f.validate().unwrap_err().contains("trigger"));
        let event = json!({"Records": [record("ObjectCreated:Put", "b", "rejected/incoming/x.csv.rejects.csv")]});
        let plan = plan_request(event, &filter(), None).unwrap();
        assert!(plan.jobs.is_empty());
        assert!(plan.ignored[0].reason.contains("rejects prefix"));
        let explicit = json!({"bucket": "b", "key": "rejected/x.csv"});
        assert!(plan_request(explicit, &filter(), None).is_err());
    }

    #[test]
    fn empty_object_loads_the_default() {
        let default = DefaultObject {
            bucket: "b".into(),
            key: "incoming/order_data.csv".into(),
        };
        let plan = plan_request(json!({}), &filter(), Some(&default)).unwrap();
        assert_eq!(
            plan.jobs,
            vec![Checkpoint::start("b", "incoming/order_data.csv")]
        );
        let err = plan_request(json!({}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("DEFAULT_OBJECT_KEY"));
    }

    #[test]
    fn explicit_request_is_loaded_as_asked() {
        let plan = plan_request(
            json!({"bucket": "b", "key": "any/where.txt"}),
            &filter(),
            None,
        )
        .unwrap();
        assert_eq!(plan.jobs, vec![Checkpoint::start("b", "any/where.txt")]);
        let err = plan_request(json!({"bucket": "b"}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("missing field `key`"), "{err}");
        let err =
            plan_request(json!({"bucket": "b", "key": "k", "x": 1}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
    }

    #[test]
    fn continuation_round_trips() {
        let mut checkpoint = Checkpoint::start("b", "incoming/a.csv");
        checkpoint.segment = 3;
        checkpoint.header = vec!["order_id".into(), "item_id".into()];
        let payload = json!({ "continue": checkpoint });
        let plan = plan_request(payload, &filter(), None).unwrap();
        assert_eq!(plan.jobs, vec![checkpoint]);
    }

    #[test]
    fn anything_else_is_refused_with_the_accepted_shapes() {
        for payload in [json!([]), json!("x"), json!(null), json!({"hello": 1})] {
            let err = plan_request(payload, &filter(), None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("expected an S3 event"), "{err}");
        }
        let err = plan_request(json!({"Records": [{"s3": {}}]}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("not a valid S3 event"));
    }

    #[test]
    fn s3_test_event_is_ignored() {
        let plan = plan_request(
            json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}),
            &filter(),
            None,
        )
        .unwrap();
        assert_eq!(plan, LoadPlan::default());
    }
}
