use aws_config::SdkConfig;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use shared::config::{ConfigError, RestoreEnv, from_env};
use shared::request::RequestError;
use shared::restore::{RestoreError, RestoreReport, RestoreService, RestoreSettings};
use shared::restore_request::{RestoreRequest, parse_restore_request};

/// Clients and configuration, built once at cold start.
pub struct State {
    pub service: RestoreService,
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
                settings,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match &e {
            HandlerError::Request(_) => "InvalidRequest",
            HandlerError::Restore(restore) => restore.error_type(),
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Restores (or finishes a restore) as the request says.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<RestoreReport, HandlerError> {
    let (payload, context) = event.into_parts();
    let default_source = state.service.settings.source_table.as_deref();
    let request = parse_restore_request(payload, default_source)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline_instant(context.deadline);
    let result = match request {
        RestoreRequest::Restore(plan) => state.service.restore(plan, deadline).await,
        RestoreRequest::Finish(finish) => state.service.finish(finish, deadline).await,
    };
    Ok(result.inspect_err(
        |e| tracing::error!(error = %e, error_type = e.error_type(), "restore failed"),
    )?)
}
