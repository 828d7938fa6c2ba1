//! Reading AWS SDK errors: a one-line description, and whether trying again can help.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// `Code: message`, the way the AWS console shows an error.
pub fn describe<E: ProvideErrorMetadata>(err: &E) -> String {
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        (None, Some(message)) => message.to_string(),
        (None, None) => "the request failed without an error code (network or timeout)".to_string(),
    }
}

/// AWS error codes that mean "slow down or try again", not "this request is wrong".
pub fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "Throttling"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "InternalServerError"
            | "InternalFailure"
            | "ServiceUnavailable"
            | "LimitExceededException"
            | "BackupInUseException"
            | "TransactionInProgressException"
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Throttling, 5xx, timeouts: the same request may succeed later.
    Retryable,
    /// The request itself is wrong (validation, an item collection over its size limit): retrying
    /// it unchanged cannot help.
    Invalid,
    /// Anything else (missing resource, access denied): stop.
    Fatal,
}

pub fn classify<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> ErrorClass {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorClass::Retryable
        }
        SdkError::ServiceError(service) => match err.code() {
            Some(code) if is_retryable_code(code) => ErrorClass::Retryable,
            // Refusals of the request's content: for a batch, of one of its items.
            Some("ValidationException") | Some("ItemCollectionSizeLimitExceededException") => {
                ErrorClass::Invalid
            }
            _ => match service.raw().status().as_u16() {
                status if status >= 500 || status == 429 => ErrorClass::Retryable,
                _ => ErrorClass::Fatal,
            },
        },
        _ => ErrorClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_retryable_validation_is_not() {
        assert!(is_retryable_code("ProvisionedThroughputExceededException"));
        assert!(is_retryable_code("ThrottlingException"));
        assert!(!is_retryable_code("ValidationException"));
        assert!(!is_retryable_code("AccessDeniedException"));
    }
}
