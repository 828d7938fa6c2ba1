use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::alert::config::{NotifierEnv, NotifierSettings};
use shared::alert::notifier::{Notifier, NotifierError, NotifierResponse};
use shared::alert::request::parse_notifier_request;
use shared::env::{ConfigError, from_env};
use shared::function_error::{ErrorType, FunctionError};

/// Clients and configuration, built once at cold start.
pub struct State {
    pub notifier: Notifier,
}

impl State {
    pub fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        Ok(State::new(aws, from_env::<NotifierEnv>()?.validate()?))
    }

    pub fn new(aws: &SdkConfig, settings: NotifierSettings) -> State {
        State {
            notifier: Notifier {
                sns: aws_sdk_sns::Client::new(aws),
                lambda: aws_sdk_lambda::Client::new(aws),
                dynamodb: aws_sdk_dynamodb::Client::new(aws),
                backup: aws_sdk_backup::Client::new(aws),
                settings,
            },
        }
    }
}

/// A refused request, or an alert that could not be sent.
pub type HandlerError = FunctionError<NotifierError>;

/// Alerts on a job event, runs the watchdog on a schedule, or sends a test alert for `{}`. A publish
/// that fails fails the invocation, so Lambda retries it.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<NotifierResponse, HandlerError> {
    let request = parse_notifier_request(&event.payload)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    state
        .notifier
        .handle(request)
        .await
        .inspect_err(|e| tracing::error!(error = %e, error_type = e.error_type(), "notify failed"))
        .map_err(FunctionError::Failed)
}
