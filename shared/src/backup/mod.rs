//! The backup wing: on-demand backups through DynamoDB or AWS Backup, and retention of this
//! toolkit's own native backups.

pub mod config;
pub mod metrics;
pub mod request;
pub mod retention;
pub mod service;
pub mod vault;
