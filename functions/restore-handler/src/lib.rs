//! restore-handler: restores into a new table and brings back what a restore drops.
pub mod handler;

/// Every AWS action this function's code calls: its IAM policy in `template.yaml` grants exactly
/// these (checked by `tools/template-check`).
pub const AWS_ACTIONS: &[&str] = &[
    "dynamodb:DescribeTable",
    "dynamodb:DescribeBackup",
    "dynamodb:ListBackups",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:RestoreTableFromBackup",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:ListTagsOfResource",
    "dynamodb:TagResource",
    "dynamodb:UpdateTable",
    "dynamodb:Scan",
    // A restore writes the items into the new table under the caller's permissions.
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    "backup:StartRestoreJob",
    // StartRestoreJob passes AWS Backup its role.
    "iam:PassRole",
    // A restore still running at the deadline is handed to a new invocation of itself.
    "lambda:InvokeFunction",
];
