//! Running a load across invocations: the request read into a plan, large files split into byte
//! ranges (fan-out), and the rest of the work handed to a new invocation (continuations).

pub mod continuation;
pub mod fan_out;
pub mod request;
pub mod run;
pub mod s3_key;
