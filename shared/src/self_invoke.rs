//! Handing work to a new invocation of the same function: an asynchronous `Invoke`
//! (`InvocationType=Event`) of the function's own ARN. Needs `lambda:InvokeFunction` on itself.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::Value;

use crate::aws_error::describe;

/// Invokes this same function asynchronously.
pub struct SelfInvoke {
    pub lambda: aws_sdk_lambda::Client,
    /// The invoked function's ARN (from the invocation context, so aliases and versions hold).
    pub function: String,
}

impl SelfInvoke {
    /// Sends `payload` to a new invocation; `what` says why, in the error.
    pub async fn send(&self, payload: &Value, what: &str) -> Result<(), String> {
        self.lambda
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload.to_string()))
            .send()
            .await
            .map_err(|e| format!("invoking {} to {what}: {}", self.function, describe(&e)))?;
        Ok(())
    }
}
