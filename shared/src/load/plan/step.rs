//! The requests the load's state machine sends: one segment of a load (`{"segment": ...}`), and the
//! summary of a fanned-out load's parts (`{"summarize": [...]}`); anything else is a request for
//! files (`request`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::checkpoint::Checkpoint;
use crate::load::plan::request::{DefaultObject, LoadPlan, SourceFilter, plan_request};
use crate::load::summary::FileSummary;
use crate::request::RequestError;

/// A request: files to load, or a step of a load's execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoaderRequest {
    Plan(LoadPlan),
    /// One segment of a load (or of one part of it), from the state machine.
    Segment(Box<Checkpoint>),
    /// The parts of a load, all finished: one summary of them.
    Summarize(Vec<PartOutcome>),
}

/// What the state machine kept of a part's last step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOutcome {
    pub summary: Option<FileSummary>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
enum StepRequest {
    #[serde(rename = "segment")]
    Segment(Box<Checkpoint>),
    #[serde(rename = "summarize")]
    Summarize(Vec<PartOutcome>),
}

/// Decodes the invocation payload.
pub fn parse_request(
    payload: Value,
    filter: &SourceFilter,
    default_object: Option<&DefaultObject>,
) -> Result<LoaderRequest, RequestError> {
    let is_step = (payload.as_object())
        .is_some_and(|f| f.contains_key("segment") || f.contains_key("summarize"));
    if !is_step {
        return plan_request(payload, filter, default_object).map(LoaderRequest::Plan);
    }
    let step: StepRequest = serde_json::from_value(payload)
        .map_err(|e| RequestError(format!("not a valid step of the load: {e}")))?;
    Ok(match step {
        StepRequest::Segment(job) => LoaderRequest::Segment(job),
        StepRequest::Summarize(parts) => LoaderRequest::Summarize(parts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filter() -> SourceFilter {
        SourceFilter {
            prefix: "incoming/".into(),
            suffixes: vec![".csv".into()],
            rejects_prefix: "rejected/".into(),
        }
    }

    #[test]
    fn a_segment_step_round_trips() {
        let mut checkpoint = Checkpoint::start("b", "incoming/a.csv");
        checkpoint.segment = 3;
        checkpoint.header = vec!["order_id".into(), "item_id".into()];
        let payload = json!({ "segment": checkpoint });
        let request = parse_request(payload, &filter(), None).unwrap();
        assert_eq!(request, LoaderRequest::Segment(Box::new(checkpoint)));
        let err = parse_request(json!({"segment": 1}), &filter(), None).unwrap_err();
        assert!(err.to_string().contains("not a valid step"), "{err}");
    }

    #[test]
    fn anything_else_is_a_request_for_files() {
        let request = parse_request(json!({"bucket": "b", "key": "k"}), &filter(), None).unwrap();
        assert!(matches!(request, LoaderRequest::Plan(_)));
    }
}
