//! csv-loader: loads CSV objects from S3 into DynamoDB, each into the table its folder names.
pub mod handler;

/// Every cell becomes a small allocation, made and freed on different threads; under glibc's
/// malloc that was a third of a load's CPU time (perf, `tools/bench.sh`), under mimalloc a fraction.
/// Declared here so that everything built on this crate, the benchmark included, runs with it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every AWS action this function's code calls: its IAM policy in `template.yaml` grants exactly
/// these (checked by `tools/template-check`).
pub const AWS_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:PutObject",
    "dynamodb:DescribeTable",
    "dynamodb:BatchWriteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    // What outlasts an invocation goes on as an execution of the load's state machine; a newer
    // upload stops the older file's execution.
    "states:StartExecution",
    "states:StopExecution",
    // Its own reserved concurrency, at cold start: a file never fans out into more parts.
    "lambda:GetFunctionConcurrency",
];
