//! The load wing: CSV objects from S3 into a DynamoDB table, every row accounted for.
//!
//! Layers, each using only those listed before it: `read` (bytes to typed rows), `write` (batches
//! to DynamoDB), `file` and `report` (one file or one part of it, start to pause or end), `plan`
//! (what a request asks for, once per version, and what goes on as an execution).

pub mod config;
pub mod file;
pub mod plan;
pub mod progress;
pub mod read;
pub mod report;
pub mod write;
