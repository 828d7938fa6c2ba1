//! The alert wing: AWS Backup job events and the missing-backup watchdog turned into alerts on the
//! topic.

pub mod backup_sources;
pub mod config;
pub mod events;
pub mod message;
pub mod news;
pub mod notifier;
pub mod policy;
pub mod request;
pub mod subscribers;
pub mod watchdog;
