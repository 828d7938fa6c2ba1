use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::backup::config::{BackupEnv, BackupSettings};
use shared::backup::request::parse_backup_request;
use shared::backup::service::{BackupFailures, BackupReport, BackupService};
use shared::env::{ConfigError, from_env};
use shared::function_error::FunctionError;
use shared::workflow::{HandOver, StepResponse, Workflow};

/// Clients and configuration, built once at cold start.
pub struct State {
    pub service: BackupService,
    /// The backup state machine (`STATE_MACHINE_ARN`): tables a run has no time for go on there.
    pub workflow: Option<Workflow>,
}

impl State {
    pub fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        let settings = from_env::<BackupEnv>()?.validate()?;
        Ok(State::new(aws, settings, Workflow::from_env(aws)))
    }

    pub fn new(aws: &SdkConfig, settings: BackupSettings, workflow: Option<Workflow>) -> State {
        State {
            service: BackupService {
                dynamodb: aws_sdk_dynamodb::Client::new(aws),
                backup: aws_sdk_backup::Client::new(aws),
                settings,
            },
            workflow,
        }
    }
}

/// A refused request, or tables that were not backed up.
pub type HandlerError = FunctionError<BackupFailures>;

/// What the handler answers: a run's report, or a step of the backup state machine.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    Report(BackupReport),
    Step(StepResponse<BackupReport>),
}

/// Backs up every table the event or the configuration names; fails (after doing all the others)
/// if any table was not backed up, so Lambda's error metrics and alarms see it. A step of the
/// backup state machine fails only at the run's end, so the tables after a failed one are reached.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<Response, HandlerError> {
    let (payload, context) = event.into_parts();
    let workflow = state.workflow.as_ref();
    let (payload, hand_over) = HandOver::for_payload(payload, workflow, &context.request_id);
    let request = parse_backup_request(payload)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline::deadline_instant(context.deadline);
    let report = state
        .service
        .run(request, &context.request_id, deadline, &hand_over)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    report.emit_metrics();
    let in_step = hand_over.in_step();
    let next = hand_over.next();
    if next.is_none() && report.failures().next().is_some() {
        return Err(FunctionError::Failed(BackupFailures(Box::new(report))));
    }
    Ok(if in_step {
        Response::Step(StepResponse {
            next,
            result: report,
        })
    } else {
        Response::Report(report)
    })
}
