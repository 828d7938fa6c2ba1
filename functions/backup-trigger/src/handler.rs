use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::backup::config::{BackupEnv, BackupSettings};
use shared::backup::request::parse_backup_request;
use shared::backup::service::{BackupFailures, BackupReport, BackupService};
use shared::env::{ConfigError, from_env};
use shared::function_error::FunctionError;
use shared::self_invoke::SelfInvoke;

/// Clients and configuration, built once at cold start.
pub struct State {
    pub service: BackupService,
    pub lambda: aws_sdk_lambda::Client,
}

impl State {
    pub fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        Ok(State::new(aws, from_env::<BackupEnv>()?.validate()?))
    }

    pub fn new(aws: &SdkConfig, settings: BackupSettings) -> State {
        State {
            service: BackupService {
                dynamodb: aws_sdk_dynamodb::Client::new(aws),
                backup: aws_sdk_backup::Client::new(aws),
                settings,
            },
            lambda: aws_sdk_lambda::Client::new(aws),
        }
    }
}

/// A refused request, or tables that were not backed up.
pub type HandlerError = FunctionError<BackupFailures>;

/// Backs up every table the event or the configuration names; fails (after doing all the others)
/// if any table was not backed up, so Lambda's error metrics and alarms see it.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<BackupReport, HandlerError> {
    let (payload, context) = event.into_parts();
    let request = parse_backup_request(payload)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline::deadline_instant(context.deadline);
    let hand_over = SelfInvoke {
        lambda: state.lambda.clone(),
        function: context.invoked_function_arn.clone(),
    };
    let report = state
        .service
        .run(request, &context.request_id, deadline, &hand_over)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    report.emit_metrics();
    if report.failures().next().is_some() {
        return Err(FunctionError::Failed(BackupFailures(Box::new(report))));
    }
    Ok(report)
}
