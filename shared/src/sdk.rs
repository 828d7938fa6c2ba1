//! How every function loads its AWS configuration: with timeouts on every operation, so that a call
//! to a service that hangs ends in an error the code handles (retried, handed over, or said),
//! never in the Lambda timeout with nothing said. Calls that must answer sooner (a write batch, a
//! read of a load's holder record) bound themselves more tightly.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// One attempt of a call, from connecting to the last byte of its answer (a streamed body such as
/// an S3 object being read is not part of it): long enough to upload a full rejects report.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// A call with its retries.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(150);
/// Opening a connection (the SDK's own default).
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

pub fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(OPERATION_TIMEOUT)
        .build()
}

/// The configuration from the environment (region, credentials, endpoint), with `timeouts`.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .load()
        .await
}
