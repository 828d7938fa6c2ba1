use backup_trigger::handler::{State, function_handler};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let aws = shared::sdk::load_config().await;
    let state = State::from_env(&aws)?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        function_handler(&state, event)
    }))
    .await
}
