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
use shared::restore::drill::validator::Validation;
use shared::restore::promotion::Promotion;
use shared::restore::request::{RestoreRequest, parse_restore_request};
use shared::restore::service::{RestoreError, RestoreReport, RestoreService};
use shared::workflow::{HandOver, StepResponse, Workflow};

/// Clients and configuration, built once at cold start.
pub struct State {
    pub service: RestoreService,
    /// The restore state machine (`STATE_MACHINE_ARN`): restores that outlast an invocation are
    /// waited for and finished there.
    pub workflow: Option<Workflow>,
}

impl State {
    pub fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        let settings = from_env::<RestoreEnv>()?.validate()?;
        Ok(State::new(aws, settings, Workflow::from_env(aws)))
    }

    pub fn new(aws: &SdkConfig, settings: RestoreSettings, workflow: Option<Workflow>) -> State {
        State {
            service: RestoreService {
                dynamodb: aws_sdk_dynamodb::Client::new(aws),
                backup: aws_sdk_backup::Client::new(aws),
                autoscaling: aws_sdk_applicationautoscaling::Client::new(aws),
                s3: aws_sdk_s3::Client::new(aws),
                sns: aws_sdk_sns::Client::new(aws),
                settings,
            },
            workflow,
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
    /// A request that was not this function's to act on (another plan's restore test), and why.
    Ignored { ignored: String },
    /// A drill's scratch table deleted.
    Deleted { deleted: String },
    /// A restored copy promoted to production.
    Promoted(Promotion),
    /// A step of the restore state machine: a finish, and the next one if the table is not ready.
    Step(StepResponse<Box<RestoreReport>>),
}

impl Response {
    /// The restore's report, when this answers a restore or a finish (a step's included).
    pub fn restore_report(self) -> Option<RestoreReport> {
        match self {
            Response::Restore(report) => Some(*report),
            Response::Step(step) => Some(*step.result),
            _ => None,
        }
    }
}

/// Restores, finishes, promotes, drills or validates as the request says; `{"step": finish}` is a step of
/// the restore state machine.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<Response, HandlerError> {
    let (payload, context) = event.into_parts();
    let workflow = state.workflow.as_ref();
    let (payload, hand_over) = HandOver::for_payload(payload, workflow, &context.request_id);
    let default_source = state.service.settings.source_table.as_deref();
    let request = parse_restore_request(payload, default_source)
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline::deadline_instant(context.deadline);
    let service = &state.service;
    let result = match request {
        RestoreRequest::Finish(finish) if hand_over.in_step() => {
            let finished = service.finish(finish, deadline, &hand_over).await;
            finished.map(|report| {
                Response::Step(StepResponse {
                    next: hand_over.next(),
                    result: Box::new(report),
                })
            })
        }
        _ if hand_over.in_step() => {
            return Err(FunctionError::Request(shared::request::RequestError(
                "a step of the restore state machine is a finish request".into(),
            )));
        }
        RestoreRequest::Restore(plan) => {
            (service.restore(plan, &context.request_id, deadline, &hand_over))
                .await
                .map(|r| Response::Restore(Box::new(r)))
        }
        RestoreRequest::Finish(finish) => (service.finish(finish, deadline, &hand_over))
            .await
            .map(|r| Response::Restore(Box::new(r))),
        RestoreRequest::Promote(table) => service.promote(&table).await.map(Response::Promoted),
        RestoreRequest::Drill(DrillRequest::Run { tables, source }) => {
            (service.drill(tables, source, &context.request_id, deadline, &hand_over))
                .await
                .map(Response::Drill)
        }
        RestoreRequest::Drill(DrillRequest::Cleanup { table }) => (service.delete_scratch(&table))
            .await
            .map(|()| Response::Deleted { deleted: table }),
        RestoreRequest::Drill(DrillRequest::Validate { restore_job_id }) => (service
            .validate(&restore_job_id, deadline))
        .await
        .map(|validation| match validation {
            Validation::Checked(report) => Response::Validated(report),
            Validation::NotOurs(ignored) => Response::Ignored { ignored },
        }),
    };
    result
        .inspect_err(|e| tracing::error!(error = %e, error_type = e.error_type(), "restore failed"))
        .map_err(FunctionError::Failed)
}
