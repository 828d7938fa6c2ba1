//! The common crate of the toolkit's Lambda functions: pure logic, plus the thin SDK edges it needs.

pub mod aws_error;
pub mod batch;
pub mod batch_writer;
pub mod config;
pub mod continuation;
pub mod csv_schema;
pub mod csv_source;
pub mod item_size;
pub mod json_cell;
pub mod loader;
pub mod loader_request;
pub mod number;
pub mod rejects_report;
pub mod retry;
pub mod s3_key;
pub mod telemetry;

/// The Lambda deadline (epoch milliseconds, from the invocation context) as an `Instant`.
pub fn deadline_instant(deadline_epoch_ms: u64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    tokio::time::Instant::now()
        + std::time::Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
}
