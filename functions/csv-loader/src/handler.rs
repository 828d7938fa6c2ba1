use aws_config::SdkConfig;
use lambda_runtime::LambdaEvent;
use serde_json::Value;
use shared::env::{ConfigError, from_env};
use shared::function_error::FunctionError;
use shared::load::config::{LoaderConfig, LoaderEnv};
use shared::load::plan::failure_memo::FailureMemo;
use shared::load::plan::request::plan_request;
use shared::load::plan::route::Loaders;
use shared::load::plan::run::{LoadResponse, RunError, run_plan};
use shared::self_invoke::SelfInvoke;
use shared::state::StateStore;

/// Clients and configuration, built once at cold start.
pub struct State {
    /// One loader per table, and the rule that picks one for a file.
    pub loaders: Loaders,
    pub config: LoaderConfig,
    pub lambda: aws_sdk_lambda::Client,
    /// Failures no retry fixes, by request ID (when the state table is configured).
    pub failures: Option<FailureMemo>,
}

impl State {
    /// Reads the environment and every table's key schema (DescribeTable).
    pub async fn from_env(aws: &SdkConfig) -> Result<State, ConfigError> {
        let config = from_env::<LoaderEnv>()?.validate()?;
        State::new(aws, config).await
    }

    pub async fn new(aws: &SdkConfig, config: LoaderConfig) -> Result<State, ConfigError> {
        let dynamodb = aws_sdk_dynamodb::Client::new(aws);
        let store =
            (config.state_table.clone()).map(|table| StateStore::new(dynamodb.clone(), table));
        let s3 = aws_sdk_s3::Client::new(aws);
        let loaders = config.loaders(&s3, &dynamodb, store.clone()).await?;
        Ok(State {
            failures: store.map(|store| FailureMemo { store }),
            loaders,
            config,
            lambda: aws_sdk_lambda::Client::new(aws),
        })
    }
}

/// A refused request, or a load that failed (`RunError` says which file and how).
pub type HandlerError = FunctionError<RunError>;

/// Decodes the request, loads every file it names into its table, and hands unfinished work to a
/// new invocation.
pub async fn function_handler(
    state: &State,
    event: LambdaEvent<Value>,
) -> Result<LoadResponse, HandlerError> {
    let (payload, context) = event.into_parts();
    let plan = plan_request(
        payload,
        &state.config.filter,
        state.config.default_object.as_ref(),
    )
    .inspect_err(|e| tracing::error!(error = %e, "request refused"))?;
    let continuation = SelfInvoke {
        lambda: state.lambda.clone(),
        function: context.invoked_function_arn.clone(),
    };
    let deadline = shared::deadline::deadline_instant(context.deadline);
    if let Some(memo) = &state.failures
        && let Some(failed) = memo.recall(&context.request_id).await
    {
        tracing::error!(error = %failed, "failed before: not read again");
        return Err(FunctionError::Failed(failed));
    }
    let result = run_plan(
        &state.loaders,
        state.config.fan_out,
        plan,
        deadline,
        &continuation,
        &context.request_id,
    )
    .await;
    if let (Err(e), Some(memo)) = (&result, &state.failures) {
        memo.remember(&context.request_id, e).await;
    }
    result.map_err(FunctionError::Failed)
}
