//! How a function's errors reach Lambda: a stable `error_type` (for metrics, alarms and retries) and
//! a message that says what is wrong.

use lambda_runtime::Diagnostic;

use crate::request::RequestError;

/// An error with a stable type name.
pub trait ErrorType: std::error::Error {
    fn error_type(&self) -> &'static str;
}

/// What a handler fails with: a request it cannot use, or the work failing.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError<E> {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Failed(E),
}

impl ErrorType for RequestError {
    fn error_type(&self) -> &'static str {
        "InvalidRequest"
    }
}

impl<E: ErrorType> From<FunctionError<E>> for Diagnostic {
    fn from(e: FunctionError<E>) -> Diagnostic {
        let error_type = match &e {
            FunctionError::Request(request) => request.error_type(),
            FunctionError::Failed(failed) => failed.error_type(),
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the table is gone")]
    struct Gone;

    impl ErrorType for Gone {
        fn error_type(&self) -> &'static str {
            "TableGone"
        }
    }

    #[test]
    fn diagnostics_carry_the_type_and_the_message() {
        let d = Diagnostic::from(FunctionError::Failed(Gone));
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("TableGone", "the table is gone")
        );
        let d = Diagnostic::from(FunctionError::<Gone>::Request(RequestError("no".into())));
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("InvalidRequest", "invalid request: no")
        );
    }
}
