//! backup-notifier: alerts for AWS Backup jobs, and a watchdog for missing backups.
pub mod handler;
