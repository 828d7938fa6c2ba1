use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::env::{ConfigError, from_env};
use shared::function_error::{ErrorType, FunctionError};
use shared::restore::config::{RestoreEnv, RestoreSettings};
use shared::restore::drill::report::DrillReport;
use shared::restore::drill::request::DrillRequest;
use shared::restore::drill::run::DrillResponse;
use shared::restore::request::{RestoreRequest, parse_restore_request};
use shared::restore::service::{RestoreError, RestoreReport, RestoreService};
use shared::restore::waiting::Relay;
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
                s3: aws_sdk_s3::Client::new(aws),
                sns: aws_sdk_sns::Client::new(aws),
                settings,
            },
            lambda: aws_sdk_lambda::Client::new(aws),
        }
    }
}

/// A refused request, or a restore refused or failed (`RestoreError` says which).
pub type HandlerError = FunctionError<RestoreError>;

/// What the handler answers, by request.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// A restore or a finish.
    Restore(Box<RestoreReport>),
    /// A drill started (and, where its restores were quick, done).
    Drill(DrillResponse),
    /// A restore testing job's table checked.
    Validated(Box<DrillReport>),
    /// A drill's scratch table deleted.
    Deleted { deleted: String },
}

impl Response {
    /// The restore's report, when this answers a restore or a finish.
    pub fn restore_report(self) -> Option<RestoreReport> {
        match self {
            Response::Restore(report) => Some(*report),
            _ => None,
        }
    }
}

/// Restores, finishes, drills or validates as the request says.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<Response, HandlerError> {
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
    let service = &state.service;
    let result = match request {
        RestoreRequest::Restore(plan) => {
            (service.restore(plan, &context.request_id, deadline, &hand_over))
                .await
                .map(|r| Response::Restore(Box::new(r)))
        }
        RestoreRequest::Finish(finish) => (service.finish(finish, deadline, &hand_over))
            .await
            .map(|r| Response::Restore(Box::new(r))),
        RestoreRequest::Drill(DrillRequest::Run { tables, source }) => {
            let relay = Relay {
                hand_over: &hand_over,
                handovers: 0,
            };
            (service.drill(tables, source, &context.request_id, deadline, relay))
                .await
                .map(Response::Drill)
        }
        RestoreRequest::Drill(DrillRequest::Cleanup { table }) => (service.delete_scratch(&table))
            .await
            .map(|()| Response::Deleted { deleted: table }),
        RestoreRequest::Drill(DrillRequest::Validate { restore_job_id }) => (service
            .validate(&restore_job_id, deadline))
        .await
        .map(|r| Response::Validated(Box::new(r))),
    };
    result
        .inspect_err(|e| tracing::error!(error = %e, error_type = e.error_type(), "restore failed"))
        .map_err(FunctionError::Failed)
}
