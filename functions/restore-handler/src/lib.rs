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
    "dynamodb:DescribeContributorInsights",
    "dynamodb:UpdateContributorInsights",
    "dynamodb:DescribeKinesisStreamingDestination",
    "dynamodb:EnableKinesisStreamingDestination",
    "dynamodb:GetResourcePolicy",
    "dynamodb:PutResourcePolicy",
    // A restore writes the items into the new table under the caller's permissions; GetItem,
    // PutItem and DeleteItem also keep the state table's records and leases.
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:Query",
    // DynamoDB checks the caller's own rights on the stream when it describes or enables a
    // Kinesis streaming destination (writing: `KINESIS_ACTIONS`).
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:ListStreams",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    // A target tracking policy's caller must be allowed the alarms Application Auto Scaling makes.
    "cloudwatch:PutMetricAlarm",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:DeleteAlarms",
    // The first scalable target of an account creates Application Auto Scaling's role for DynamoDB.
    "iam:CreateServiceLinkedRole",
    "backup:DescribeRecoveryPoint",
    "backup:ListRecoveryPointsByBackupVault",
    "backup:StartRestoreJob",
    // StartRestoreJob passes AWS Backup its role.
    "iam:PassRole",
    // A restore still running at the deadline goes on as an execution of the restore state machine.
    "states:StartExecution",
    // Restore drills: the scratch table deleted once checked (IAM: `*-restored-drill-*` tables
    // carrying the `ddb-guard:drill` tag only), the report written under `drills/` of the data
    // bucket, the alert published to the topic (encrypted with a customer managed key).
    // Their sample reads the source's items with `dynamodb:GetItem`, listed above.
    "dynamodb:DeleteTable",
    // Drills of the tables carrying DRILL_TAG: each table listed, described and its tags read.
    "dynamodb:ListTables",
    "s3:PutObject",
    "sns:Publish",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    // Validating AWS Backup restore tests: the job read, the verdict reported.
    "backup:DescribeRestoreJob",
    "backup:PutRestoreValidationResult",
];

/// What DynamoDB needs of the caller to send a copy's changes to a Kinesis stream: granted on the
/// streams of the template's `KinesisStreamArns` setting, and only when it names some (the opt-in).
pub const KINESIS_ACTIONS: &[&str] = &["kinesis:PutRecords"];

/// What DynamoDB needs of the caller to restore into a table under a customer managed KMS key:
/// granted, through DynamoDB only, on the keys of the template's `RestoreKmsKeyArns` and only when
/// it names some (the code calls none of them itself). `kms:GenerateDataKey` and `kms:Decrypt` are
/// also in [`AWS_ACTIONS`], for the alert topic's own key only.
pub const KMS_ACTIONS: &[&str] = &[
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
];
