//! backup-trigger: on-demand and scheduled backups of DynamoDB tables.
pub mod handler;

/// Every AWS action this function's code calls: its IAM policy in `template.yaml` grants exactly
/// these (checked by `tools/template-check`).
pub const AWS_ACTIONS: &[&str] = &[
    "dynamodb:DescribeTable",
    "dynamodb:CreateBackup",
    "dynamodb:ListBackups",
    "dynamodb:DeleteBackup",
    "dynamodb:ListTables",
    "dynamodb:ListTagsOfResource",
    "backup:StartBackupJob",
    // StartBackupJob passes AWS Backup its role.
    "iam:PassRole",
    // Tables it had no time for go on as an execution of the backup state machine.
    "states:StartExecution",
];
