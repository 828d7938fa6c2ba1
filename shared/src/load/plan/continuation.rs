//! Handing the rest of the work to a new invocation.
//!
//! When the deadline nears, the loader pauses at a row boundary after every earlier row is written,
//! and the rest of the file is sent to this same function as an asynchronous invocation
//! (`InvocationType=Event`) carrying a checkpoint: byte offset, line, header, ETag and running
//! totals. Fan-out hands each byte range over the same way (`crate::self_invoke`).

use std::future::Future;

use serde_json::json;

use crate::load::file::Checkpoint;
use crate::self_invoke::SelfInvoke;

/// Somewhere to send the rest of the work.
pub trait Continuation {
    fn continue_later(&self, next: &Checkpoint) -> impl Future<Output = Result<(), String>> + Send;
}

impl Continuation for SelfInvoke {
    async fn continue_later(&self, next: &Checkpoint) -> Result<(), String> {
        self.send(&json!({ "continue": next }), "continue").await
    }
}
