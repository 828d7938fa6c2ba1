//! csv-loader: loads CSV objects from S3 into a DynamoDB table.
pub mod handler;
