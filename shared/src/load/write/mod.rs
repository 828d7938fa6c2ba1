//! Writing items: batches of at most 25 distinct keys, `BatchWriteItem` with retries of what
//! DynamoDB leaves unprocessed, and how many calls run at once.

pub mod batch;
pub mod concurrency;
pub mod gate;
pub mod writer;
