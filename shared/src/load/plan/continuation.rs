//! Handing the rest of the work to a new invocation.
//!
//! When the deadline nears, the loader pauses at a row boundary after every earlier row is written,
//! and the rest of the file is sent to this same function as an asynchronous invocation
//! (`InvocationType=Event`) carrying a checkpoint: byte offset, line, header, ETag and running
//! totals. Fan-out hands each byte range over the same way. Needs `lambda:InvokeFunction` on the
//! function itself.

use std::future::Future;

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::json;

use crate::aws_error::describe;
use crate::load::file::Checkpoint;

/// Somewhere to send the rest of the work.
pub trait Continuation {
    fn continue_later(&self, next: &Checkpoint) -> impl Future<Output = Result<(), String>> + Send;
}

/// Invokes this same function asynchronously with `{"continue": checkpoint}`.
pub struct SelfInvoke {
    pub lambda: aws_sdk_lambda::Client,
    /// The invoked function's ARN (from the invocation context, so aliases and versions hold).
    pub function: String,
}

impl Continuation for SelfInvoke {
    async fn continue_later(&self, next: &Checkpoint) -> Result<(), String> {
        let payload =
            serde_json::to_vec(&json!({ "continue": next })).map_err(|e| e.to_string())?;
        self.lambda
            .invoke()
            .function_name(&self.function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(payload))
            .send()
            .await
            .map_err(|e| format!("invoking {} to continue: {}", self.function, describe(&e)))?;
        Ok(())
    }
}
