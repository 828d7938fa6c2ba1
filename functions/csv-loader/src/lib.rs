//! csv-loader: loads CSV objects from S3 into a DynamoDB table.
pub mod handler;

/// Every AWS action this function's code calls: its IAM policy in `template.yaml` grants exactly
/// these (checked by `tools/template-check`).
pub const AWS_ACTIONS: &[&str] = &[
    "s3:GetObject",
    "s3:PutObject",
    "dynamodb:DescribeTable",
    "dynamodb:BatchWriteItem",
    "lambda:InvokeFunction",
];
