//! backup-notifier: alerts for AWS Backup jobs, and a watchdog for missing backups.
pub mod handler;

/// Every AWS action this function's code calls: its IAM policy in `template.yaml` grants exactly
/// these (checked by `tools/template-check`).
pub const AWS_ACTIONS: &[&str] = &[
    "sns:Publish",
    // Every watchdog run says when no subscription of the topic is confirmed.
    "sns:ListSubscriptionsByTopic",
    // Publishing to a topic encrypted with a customer managed key.
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "lambda:InvokeFunction",
    "dynamodb:DescribeTable",
    "dynamodb:ListBackups",
    "dynamodb:ListTables",
    "dynamodb:ListTagsOfResource",
    "backup:ListRecoveryPointsByResource",
    "dynamodb:DescribeContinuousBackups",
    "backup:ListRecoveryPointsByBackupVault",
    // The state table.
    "dynamodb:GetItem",
    "dynamodb:PutItem",
];
