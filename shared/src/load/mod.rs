//! The load wing: CSV objects from S3 into a DynamoDB table, every row accounted for.
//!
//! Layers, each using only those listed before it: `read` (bytes to typed rows), `write` (batches
//! to DynamoDB), `file` and `report` (one file or one byte range of it, start to pause or end),
//! `plan` (what a request asks for, fan-out, continuations: everything across invocations).

pub mod config;
pub mod file;
pub mod plan;
pub mod progress;
pub mod read;
pub mod report;
pub mod write;
