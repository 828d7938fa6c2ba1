//! backup-trigger: on-demand and scheduled backups of DynamoDB tables.
pub mod handler;
