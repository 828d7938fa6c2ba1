use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use shared::env::{ConfigError, from_env};
use shared::function_error::FunctionError;
use shared::load::config::{LoaderConfig, LoaderEnv};
use shared::load::plan::fan_out::reserved_concurrency;
use shared::load::plan::route::Loaders;
use shared::load::plan::run::{
    LoadResponse, Run, RunError, SegmentResponse, SplitSummary, summarize,
};
use shared::load::plan::step::{LoaderRequest, parse_request};
use shared::state::StateStore;
use shared::workflow::Workflow;
use tokio::time::Instant;

/// Clients and configuration, built once at cold start.
pub struct State {
    /// One loader per table, and the rule that picks one for a file.
    pub loaders: Loaders,
    pub config: LoaderConfig,
    /// The load's state machine (`STATE_MACHINE_ARN`), where work that outlasts an invocation goes.
    pub workflow: Option<Workflow>,
}

impl State {
    /// Reads the environment and every table's key schema (DescribeTable).
    pub async fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        let mut config = from_env::<LoaderEnv>()?.validate()?;
        config.fan_out = config.fan_out.within(reserved_concurrency(aws).await);
        State::new(aws, config, Workflow::from_env(aws)).await
    }

    pub async fn new(
        aws: &SdkConfig,
        config: LoaderConfig,
        workflow: Option<Workflow>,
    ) -> Result<State, ConfigError> {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let store =
            (config.state_table.clone()).map(|table| StateStore::new(dynamodb.clone(), table));
        let s3 = aws_sdk_s3::Client::new(aws);
        let loaders = config.loaders(&s3, &dynamodb, store).await?;
        Ok(State {
            loaders,
            config,
            workflow,
        })
    }
}

/// A refused request, or a load that failed (`RunError` says which file and how).
pub type HandlerError = FunctionError<RunError>;

/// What the handler answers, by request.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// Files loaded, handed on or ignored.
    Load(LoadResponse),
    /// A step of a load's execution.
    Segment(Box<SegmentResponse>),
    /// The last step of a fanned-out load.
    Summary(Box<SplitSummary>),
}

/// Decodes the request and loads what it names: files, or one step of a load's execution.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<Response, HandlerError> {
    let (payload, context) = event.into_parts();
    let config = &state.config;
    let request = parse_request(payload, &config.filter, config.default_object.as_ref())
        .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let deadline = shared::deadline::deadline_instant(context.deadline);
    let run = Run {
        fan_out: config.fan_out,
        deadline: (config.max_segment).map_or(deadline, |most| deadline.min(Instant::now() + most)),
        workflow: state.workflow.as_ref(),
        request_id: &context.request_id,
    };
    let response = match request {
        LoaderRequest::Plan(plan) => run.plan(&state.loaders, plan).await.map(Response::Load),
        LoaderRequest::Segment(job) => {
            (run.segment(&state.loaders, *job).await).map(|step| Response::Segment(Box::new(step)))
        }
        LoaderRequest::Summarize(parts) => {
            let summary = summarize(&state.loaders, parts).await;
            Ok(Response::Summary(Box::new(summary)))
        }
    };
    response.map_err(FunctionError::Failed)
}
