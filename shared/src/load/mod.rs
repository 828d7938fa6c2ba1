//! The load wing: CSV objects from S3 into a DynamoDB table, every row accounted for.
//!
//! Layers, each using only those listed before it: `read` (bytes to typed rows), `write` (batches
//! to DynamoDB), `summary`, `checkpoint`, `repeats`, `report` and `progress` (what a segment counts,
//! carries on, and says), `file` (one file or one part of it, start to pause or end), `plan` (what a
//! request asks for, once per version, and what goes on as an execution).

pub mod checkpoint;
pub mod config;
pub mod file;
pub mod plan;
pub mod progress;
pub mod read;
pub mod repeats;
pub mod report;
pub mod summary;
pub mod write;
