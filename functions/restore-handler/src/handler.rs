use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::env::{ConfigError, from_env};
use shared::function_error::{ErrorType, FunctionError};
use shared::restore::config::{RestoreEnv, RestoreSettings};
use shared::restore::request::{RestoreRequest, parse_restore_request};
use shared::restore::service::{RestoreError, RestoreReport, RestoreService};
use shared::self_invoke::SelfInvoke;

/// Clients and configuration, built once at cold start.
pub struct State {
    pub service: RestoreService,
    pub lambda: aws_sdk_lambda::Client,
}

impl State {
    pub fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        Ok(State::new(aws, from_env::<RestoreEnv>()?.validate()?))
    }

    pub fn new(aws: &SdkConfig, settings: RestoreSettings) -> State {
        State {
            service: RestoreService {
                dynamodb: aws_sdk_dynamodb::Client::new(aws),
                backup: aws_sdk_backup::Client::new(aws),
                autoscaling: aws_sdk_applicationautoscaling::Client::new(aws),
                settings,
            },
            lambda: aws_sdk_lambda::Client::new(aws),
        }
    }
}

/// A refused request, or a restore refused or failed (`RestoreError` says which).
pub type HandlerError = FunctionError<RestoreError>;

/// Restores (or finishes a restore) as the request says.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<RestoreReport, HandlerError> {
    let (payload, context) = event.into_parts();
    let default_source = state.service.settings.source_table.as_deref();
    let request = parse_restore_request(payload, default_source)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline::deadline_instant(context.deadline);
    // A restore still running when this invocation ends is finished by a new one.
    let hand_over = SelfInvoke {
        lambda: state.lambda.clone(),
        function: context.invoked_function_arn.clone(),
    };
    let result = match request {
        RestoreRequest::Restore(plan) => {
            (state.service)
                .restore(plan, &context.request_id, deadline, &hand_over)
                .await
        }
        RestoreRequest::Finish(finish) => {
            (state.service).finish(finish, deadline, &hand_over).await
        }
    };
    result
        .inspect_err(|e| tracing::error!(error = %e, error_type = e.error_type(), "restore failed"))
        .map_err(FunctionError::Failed)
}
