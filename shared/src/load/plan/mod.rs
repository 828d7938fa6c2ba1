//! Running a load across invocations: the request read into a plan, each file routed to its table,
//! large files split into byte ranges (fan-out), the rest of the work handed to a new invocation
//! (continuations), and a failure no retry can fix remembered so that Lambda's retries do not read
//! the file again.

pub mod continuation;
pub mod failure_memo;
pub mod fan_out;
pub mod fence;
pub mod ledger;
pub mod pin;
pub mod request;
pub mod route;
pub mod run;
pub mod s3_event;
pub mod start;
