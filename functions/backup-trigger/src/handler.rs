use aws_config::SdkConfig;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use shared::backup::{BackupReport, BackupService, BackupSettings};
use shared::backup_request::parse_backup_request;
use shared::config::{BackupEnv, ConfigError, from_env};
use shared::request::RequestError;

/// Clients and configuration, built once at cold start.
pub struct State {
    pub service: BackupService,
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Some tables were not backed up; the others were.
    #[error("{}", describe_failures(.0))]
    Failed(Box<BackupReport>),
}

fn describe_failures(report: &BackupReport) -> String {
    let failed: Vec<String> = report
        .failures()
        .map(|t| format!("{}: {}", t.table, t.error.as_deref().unwrap_or_default()))
        .collect();
    format!(
        "{} of {} tables not backed up: {}",
        failed.len(),
        report.tables.len(),
        failed.join("; ")
    )
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        let error_type = match &e {
            HandlerError::Request(_) => "InvalidRequest",
            HandlerError::Failed(_) => "BackupsFailed",
        };
        Diagnostic {
            error_type: error_type.to_string(),
            error_message: e.to_string(),
        }
    }
}

/// Backs up every table the event or the configuration names; fails (after doing all the others)
/// if any table was not backed up, so Lambda's error metrics and alarms see it.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<BackupReport, HandlerError> {
    let (payload, context) = event.into_parts();
    let request = parse_backup_request(payload)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline_instant(context.deadline);
    let report = state
        .service
        .run(request, &context.request_id, deadline)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    if report.failures().next().is_some() {
        return Err(HandlerError::Failed(Box::new(report)));
    }
    Ok(report)
}
