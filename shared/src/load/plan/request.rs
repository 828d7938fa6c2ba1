//! Which files the csv-loader is asked to load: an S3 event (from S3's notification or through
//! EventBridge), a schedule or `{}` (the default object), or `{"bucket","key"}` (with
//! `"reload": true` to load a version again). The steps of its state machine are `step`'s.
//!
//! S3 events are read for the fields the loader uses and nothing else, so an event that lacks the
//! others (`userIdentity`, `requestParameters`, ...) still loads. An event's version ID (or ETag)
//! pins the load to the version the event is about. Which keys load is decided here,
//! case-insensitively, not by the notification's filter (S3's suffix filters are case-sensitive:
//! `ORDERS.CSV` would never arrive).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::checkpoint::Checkpoint;
use crate::load::plan::s3_event::{
    EventBridgeS3Detail, S3Notification, decode_event_key, event_pin,
};
use crate::load::read::source::ObjectVersion;
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
        if self.prefix.starts_with(&self.rejects_prefix) {
            return Err(format!(
                "SOURCE_PREFIX {:?} is inside REJECTS_PREFIX {:?}: nothing would ever be loaded",
                self.prefix, self.rejects_prefix
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
    /// The job is the default object of `{}` or a schedule: when nothing was uploaded there yet,
    /// the response says what to upload where instead of failing.
    pub default_object: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplicitRequest {
    bucket: String,
    key: String,
    /// Load the version again even if it was loaded before.
    #[serde(default)]
    reload: bool,
    /// Load it even if it is older than the newest file loaded into the table.
    #[serde(default)]
    force: bool,
}

/// The default object for a console test with `{}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultObject {
    pub bucket: String,
    pub key: String,
}

pub(crate) const SHAPES: &str = "expected an S3 event (\"Records\", or an EventBridge \"Object Created\" from \
                      aws.s3), {\"bucket\": ..., \"key\": ...}, {} or a \"Scheduled Event\" (the \
                      configured default object), or a step of the load's state machine \
                      ({\"segment\": ...} or {\"summarize\": [...]})";

/// Decodes a request for files to load.
pub fn plan_request(
    payload: Value,
    filter: &SourceFilter,
    default_object: Option<&DefaultObject>,
) -> Result<LoadPlan, RequestError> {
    let Value::Object(fields) = &payload else {
        return Err(RequestError(format!("{SHAPES}; got {}", kind_of(&payload))));
    };
    let detail_type = fields.get("detail-type").and_then(Value::as_str);
    if fields.is_empty() || detail_type == Some("Scheduled Event") {
        let object = default_object.ok_or_else(|| {
            RequestError(
                "{} or a schedule loads the default object, but BUCKET_NAME is not set".into(),
            )
        })?;
        return Ok(LoadPlan {
            jobs: vec![Checkpoint::start(&object.bucket, &object.key)],
            ignored: vec![],
            default_object: true,
        });
    }
    if fields.contains_key("Records") {
        let event: S3Notification = serde_json::from_value(payload)
            .map_err(|e| RequestError(format!("not a valid S3 event: {e}")))?;
        return plan_s3_event(event, filter);
    }
    if let Some(detail_type) = detail_type {
        let source = fields
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if (source, detail_type) != ("aws.s3", "Object Created") {
            return Err(RequestError(format!(
                "a {detail_type:?} event from {source:?}: {SHAPES}"
            )));
        }
        let detail: EventBridgeS3Detail = serde_json::from_value(
            payload.get("detail").cloned().unwrap_or_default(),
        )
        .map_err(|e| RequestError(format!("not a valid S3 \"Object Created\" event: {e}")))?;
        let mut plan = LoadPlan::default();
        let object = detail.object;
        let verdict = filter.check(&object.key);
        let pin = event_pin(object.version_id, object.etag);
        plan.add(detail.bucket.name, object.key, pin, verdict);
        return Ok(plan);
    }
    // S3 sends this once when a notification is configured.
    if fields.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        tracing::info!("ignoring the s3:TestEvent sent when the notification was configured");
        return Ok(LoadPlan::default());
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
            jobs: vec![Checkpoint {
                reload: request.reload,
                older_refused: !request.force,
                ..Checkpoint::start(request.bucket, request.key)
            }],
            ..LoadPlan::default()
        });
    }
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    Err(RequestError(format!(
        "{SHAPES}; got an object with {names:?}"
    )))
}

impl LoadPlan {
    /// The object as a job when `verdict` is `Ok`, or as ignored with the reason (also logged).
    fn add(
        &mut self,
        bucket: String,
        key: String,
        pin: ObjectVersion,
        verdict: Result<(), String>,
    ) {
        match verdict {
            Ok(()) => self.jobs.push(Checkpoint {
                pin,
                ..Checkpoint::start(bucket, key)
            }),
            Err(reason) => {
                tracing::info!(%bucket, %key, %reason, "ignoring object");
                self.ignored.push(Ignored {
                    bucket,
                    key,
                    reason,
                });
            }
        }
    }
}

fn plan_s3_event(event: S3Notification, filter: &SourceFilter) -> Result<LoadPlan, RequestError> {
    let mut plan = LoadPlan::default();
    for record in event.records {
        let object = record.s3.object;
        let (bucket, raw_key) = (record.s3.bucket.name, object.key);
        if bucket.is_empty() || raw_key.is_empty() {
            return Err(RequestError(
                "an S3 record has no bucket name or object key".into(),
            ));
        }
        let key = decode_event_key(&raw_key).map_err(|e| RequestError(e.to_string()))?;
        let verdict = match record.event_name.as_deref() {
            Some(name) if !name.starts_with("ObjectCreated:") => {
                Err(format!("event {name:?} is not an object creation"))
            }
            _ => filter.check(&key),
        };
        plan.add(
            bucket,
            key,
            event_pin(object.version_id, object.etag),
            verdict,
        );
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
                   "object": {"key": key, "size": 10, "sequencer": "0A1B2C3D4E5F678901"}}
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
        assert!(plan.default_object);
        let err = plan_request(json!({}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("BUCKET_NAME"));
    }

    #[test]
    fn only_the_default_object_is_marked_so() {
        let s3_event = json!({"Records": [record("ObjectCreated:Put", "b", "incoming/a.csv")]});
        let explicit = json!({"bucket": "b", "key": "incoming/a.csv"});
        for payload in [s3_event, explicit] {
            let plan = plan_request(payload.clone(), &filter(), None).unwrap();
            assert!(!plan.default_object, "{payload}");
        }
    }

    #[test]
    fn explicit_request_is_loaded_as_asked() {
        let plan = plan_request(
            json!({"bucket": "b", "key": "any/where.txt"}),
            &filter(),
            None,
        )
        .unwrap();
        let by_name = Checkpoint {
            older_refused: true,
            ..Checkpoint::start("b", "any/where.txt")
        };
        assert_eq!(plan.jobs, vec![by_name]);
        let forced = json!({"bucket": "b", "key": "any/where.txt", "force": true});
        let plan = plan_request(forced, &filter(), None).unwrap();
        assert!(
            !plan.jobs[0].older_refused,
            "\"force\": true loads it whatever its age"
        );
        let err = plan_request(json!({"bucket": "b"}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("missing field `key`"), "{err}");
        let err =
            plan_request(json!({"bucket": "b", "key": "k", "x": 1}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("unknown field `x`"), "{err}");
    }

    #[test]
    fn a_reload_is_asked_for_by_name() {
        let plan = plan_request(
            json!({"bucket": "b", "key": "incoming/a.csv", "reload": true}),
            &filter(),
            None,
        )
        .unwrap();
        assert!(plan.jobs[0].reload);
        let plan = plan_request(json!({"bucket": "b", "key": "k"}), &filter(), None).unwrap();
        assert!(!plan.jobs[0].reload);
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
    fn suffixes_match_whatever_their_case() {
        let event = json!({"Records": [
            record("ObjectCreated:Put", "b", "incoming/ORDERS.CSV"),
            record("ObjectCreated:Put", "b", "incoming/data.Csv.gz"),
        ]});
        let plan = plan_request(event, &filter(), None).unwrap();
        let keys: Vec<_> = plan.jobs.iter().map(|j| j.key.as_str()).collect();
        assert_eq!(keys, ["incoming/ORDERS.CSV", "incoming/data.Csv.gz"]);
    }

    #[test]
    fn a_minimal_s3_event_loads() {
        let event = json!({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "incoming/a+b.csv"}}}]});
        let plan = plan_request(event, &filter(), None).unwrap();
        assert_eq!(plan.jobs, vec![Checkpoint::start("b", "incoming/a b.csv")]);
    }

    #[test]
    fn s3_events_through_eventbridge_load_with_their_key_as_is() {
        let event = |key: &str| {
            json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3",
                   "detail": {"version": "0", "bucket": {"name": "b"},
                              "object": {"key": key, "size": 10, "etag": "e", "version-id": "v1"},
                              "reason": "PutObject"}})
        };
        // Not URL-encoded: a `+` is a plus. The version and ETag pin the load.
        let plan = plan_request(event("incoming/a+b.csv"), &filter(), None).unwrap();
        let pin = ObjectVersion {
            version_id: Some("v1".into()),
            etag: Some("\"e\"".into()),
        };
        assert_eq!(
            plan.jobs,
            vec![Checkpoint {
                pin,
                ..Checkpoint::start("b", "incoming/a+b.csv")
            }]
        );
        let plan = plan_request(event("incoming/notes.txt"), &filter(), None).unwrap();
        assert!(plan.jobs.is_empty() && plan.ignored[0].reason.contains("suffixes"));
        let other = json!({"detail-type": "Object Deleted", "source": "aws.s3", "detail": {}});
        let err = plan_request(other, &filter(), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"Object Deleted\""), "{err}");
    }

    #[test]
    fn a_schedule_loads_the_default_object() {
        let default = DefaultObject {
            bucket: "b".into(),
            key: "incoming/order_data.csv".into(),
        };
        for event in [
            json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
            json!({"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": "{}"}),
        ] {
            let plan = plan_request(event, &filter(), Some(&default)).unwrap();
            assert_eq!(
                plan.jobs,
                vec![Checkpoint::start("b", "incoming/order_data.csv")]
            );
            assert!(plan.default_object);
        }
    }

    #[test]
    fn an_s3_event_pins_its_version() {
        let mut event = json!({"Records": [record("ObjectCreated:Put", "b", "incoming/a.csv")]});
        event["Records"][0]["s3"]["object"]["versionId"] = json!("3HL4kqtJlcpXroDTDmJ");
        event["Records"][0]["s3"]["object"]["eTag"] = json!("d41d8cd98f00b204e9800998ecf8427e");
        let plan = plan_request(event.clone(), &filter(), None).unwrap();
        assert_eq!(
            plan.jobs[0].pin,
            ObjectVersion {
                version_id: Some("3HL4kqtJlcpXroDTDmJ".into()),
                etag: Some("\"d41d8cd98f00b204e9800998ecf8427e\"".into()),
            }
        );
        // An unversioned bucket's events say "null": the ETag alone pins the load.
        event["Records"][0]["s3"]["object"]["versionId"] = json!("null");
        let plan = plan_request(event, &filter(), None).unwrap();
        assert_eq!(plan.jobs[0].pin.version_id, None);
        assert!(plan.jobs[0].pin.etag.is_some());
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
