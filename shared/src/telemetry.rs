//! Logging through the Lambda runtime's subscriber: honours AWS_LAMBDA_LOG_FORMAT (JSON in the
//! template) and AWS_LAMBDA_LOG_LEVEL.

pub fn init() {
    lambda_runtime::tracing::init_default_subscriber();
}
