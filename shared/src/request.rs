//! What every function answers to a payload it cannot use.

use serde_json::Value;

/// A payload that is not one of the shapes a function accepts; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid request: {0}")]
pub struct RequestError(pub String);

/// "an array", "a string", ...: for messages about what arrived instead.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The request inside `{"step": request}`, what a state machine sends a function as one step of
/// its execution; any other payload back as it came.
pub fn step_of(payload: Value) -> Result<Value, Value> {
    match payload {
        Value::Object(mut fields) if fields.len() == 1 && fields.contains_key("step") => {
            Ok(fields.remove("step").unwrap_or_default())
        }
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_step_is_its_request_and_anything_else_is_left_alone() {
        assert_eq!(step_of(json!({"step": {"a": 1}})), Ok(json!({"a": 1})));
        let other = json!({"step": 1, "more": 2});
        assert_eq!(step_of(other.clone()), Err(other));
    }
}
