//! template.yaml against the code: every function's binary, environment, permissions and triggers.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use shared::alert::config::NotifierEnv;
use shared::backup::config::BackupEnv;
use shared::env::from_vars;
use shared::load::config::LoaderEnv;
use shared::restore::config::{RestoreEnv, RestoreSettings};
use template_check::{Grants, STACK, Template};

/// The workspace's function packages (the `functions/*` crates).
fn function_packages() -> BTreeSet<String> {
    let dir = local_aws::workspace_root().join("functions");
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let manifest =
                std::fs::read_to_string(entry.unwrap().path().join("Cargo.toml")).unwrap();
            let name = manifest
                .lines()
                .find_map(|l| l.strip_prefix("name = "))
                .unwrap();
            name.trim_matches('"').to_string()
        })
        .collect()
}

fn binary(function: &Value) -> &str {
    assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda");
    function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap()
}

/// The template's function for `package`.
fn function<'a>(template: &'a Template, package: &str) -> &'a Value {
    template.function(package).1
}

fn actions(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|a| a.to_string()).collect()
}

#[test]
fn every_function_builds_a_workspace_package_for_arm64() {
    let template = Template::load();
    let binaries: BTreeSet<String> = template
        .functions()
        .values()
        .map(|f| binary(f).to_string())
        .collect();
    assert_eq!(binaries, function_packages());
    let globals = &template.json["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Architectures"], serde_json::json!(["arm64"]));
    assert_eq!(globals["CodeUri"], "./");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    assert!(Path::new(&local_aws::workspace_root().join("samconfig.toml")).exists());
}

#[test]
fn every_function_gets_the_configuration_its_code_requires() {
    let template = Template::load();
    let env = |package: &str| {
        template
            .environment(function(&template, package))
            .into_iter()
    };
    let loader = from_vars::<LoaderEnv>(env("csv-loader")).and_then(LoaderEnv::validate);
    loader.unwrap_or_else(|e| panic!("csv-loader: {e}"));
    let trigger = from_vars::<BackupEnv>(env("backup-trigger")).and_then(BackupEnv::validate);
    let trigger = trigger.unwrap_or_else(|e| panic!("backup-trigger: {e}"));
    let demo = template.resolve(&serde_json::json!({"Ref": "DemoTable"}));
    assert_eq!(trigger.tables.names, std::slice::from_ref(&demo));
    assert!(trigger.aws_backup.is_some(), "the vault and role are wired");
    let restore = from_vars::<RestoreEnv>(env("restore-handler")).and_then(RestoreEnv::validate);
    let restore = restore.unwrap_or_else(|e| panic!("restore-handler: {e}"));
    assert_eq!(restore.source_table.as_deref(), Some(demo.as_str()));
    assert!(restore.restore_role_arn.is_some());
    assert!(
        restore.backup_vault_name.is_some(),
        "recovery points come from the stack's vault"
    );
    let notifier = from_vars::<NotifierEnv>(env("backup-notifier")).and_then(NotifierEnv::validate);
    let notifier = notifier.unwrap_or_else(|e| panic!("backup-notifier: {e}"));
    assert_eq!(
        notifier.finish_function.as_deref(),
        Some("ddb-guard-restore-handler")
    );
}

#[test]
fn each_policy_allows_what_its_code_calls_and_no_more() {
    // Every code path on (a tag, drills and restore testing), no customer managed key for
    // restores (tests/restores.rs sets RestoreKmsKeyArns and checks restore_handler::KMS_ACTIONS).
    let template = Template::with(&[
        ("ProtectedTables", "orders"),
        ("LoadTables", "loads"),
        ("ProtectedTag", "team=data"),
        ("RestoreChecks", "both"),
    ]);
    for (package, called) in [
        ("csv-loader", csv_loader::AWS_ACTIONS),
        ("backup-trigger", backup_trigger::AWS_ACTIONS),
        ("restore-handler", restore_handler::AWS_ACTIONS),
        ("backup-notifier", backup_notifier::AWS_ACTIONS),
    ] {
        let allowed = template.allowed_actions(function(&template, package));
        assert_eq!(
            allowed,
            actions(called),
            "{package}: the template allows, the code calls"
        );
    }
}

#[test]
fn the_upload_trigger_matches_the_loaders_filter_and_never_its_reports() {
    let template = Template::load();
    let loader = function(&template, "csv-loader");
    let config = from_vars::<LoaderEnv>(template.environment(loader))
        .and_then(LoaderEnv::validate)
        .unwrap();
    // One notification, by prefix only: the loader's own filter picks the suffixes, whatever
    // their case, so every upload the code would load invokes it.
    let events = loader["Properties"]["Events"].as_object().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = events.values().next().unwrap();
    assert_eq!(event["Type"], "S3");
    assert_eq!(
        event["Properties"]["Bucket"],
        serde_json::json!({"Ref": "DataBucket"})
    );
    assert_eq!(event["Properties"]["Events"], "s3:ObjectCreated:*");
    let rules = event["Properties"]["Filter"]["S3Key"]["Rules"]
        .as_array()
        .unwrap();
    let [rule] = &rules[..] else {
        panic!("a suffix rule would be case-sensitive: {rules:?}")
    };
    assert_eq!(rule["Name"], "prefix");
    let prefix = template.resolve(&rule["Value"]);
    assert_eq!(prefix, config.filter.prefix);
    for key in [
        "incoming/order_data.csv",
        "incoming/ORDERS.CSV",
        "incoming/data.Csv.gz",
        "incoming/2026/11/big.csv.GZ",
    ] {
        assert!(config.filter.check(key).is_ok(), "{key}");
        assert!(
            key.starts_with(&prefix),
            "{key} would never reach the loader"
        );
    }
    assert!(config.filter.check("incoming/notes.txt").is_err());
    // A report never lands where it would trigger a load.
    let report = shared::load::report::report_key(
        &config.settings.rejects_prefix,
        "incoming/orders.csv",
        Some("3HL4kqtJlcpXroDTDmJ"),
        Some(2),
        1,
    );
    assert!(!report.starts_with(&config.filter.prefix), "{report}");
    assert!(config.filter.check(&report).is_err());
    // The failed-load destination exists.
    let destination = &loader["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(destination["Type"], "SQS");
}

#[test]
fn schedules_and_backup_events_reach_the_right_functions() {
    let template = Template::load();
    let events = |package: &str| function(&template, package)["Properties"]["Events"].clone();
    let trigger = events("backup-trigger");
    assert_eq!(trigger["Schedule"]["Type"], "ScheduleV2");
    let notifier = events("backup-notifier");
    let pattern = &notifier["BackupJobEvents"]["Properties"]["Pattern"];
    assert_eq!(pattern["source"], serde_json::json!(["aws.backup"]));
    // Jobs of other resource types (EBS, RDS...) in the same account are not ours to report.
    assert_eq!(
        pattern["detail"]["resourceType"],
        serde_json::json!(["DynamoDB"])
    );
    for detail_type in pattern["detail-type"].as_array().unwrap() {
        let detail_type = detail_type.as_str().unwrap();
        assert!(
            shared::alert::events::JobType::from_detail_type(detail_type).is_some(),
            "{detail_type}"
        );
    }
    let input: Value = serde_json::from_str(
        notifier["Watchdog"]["Properties"]["Input"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        shared::alert::request::parse_notifier_request(&input).unwrap(),
        shared::alert::request::NotifierRequest::Watchdog
    );
}

#[test]
fn schedules_are_named_for_their_stack() {
    // Schedule names are unique per account and region: a second stack must not collide.
    let template = Template::load().transformed();
    let schedules = template.of_type("AWS::Scheduler::Schedule");
    assert!(!schedules.is_empty());
    for (id, schedule) in schedules {
        let name = template.resolve(&schedule["Properties"]["Name"]);
        assert!(name.starts_with(&format!("{STACK}-")), "{id}: {name}");
    }
}

/// The log group sizes CloudWatch Logs accepts for `RetentionInDays`.
const LOG_RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

/// The retention periods CloudWatch Logs accepts.
const CLOUDWATCH_RETENTION_DAYS: [i64; 22] = [
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];

#[test]
fn every_function_logs_json_to_its_own_group_with_retention() {
    let template = Template::load();
    assert_eq!(template.number("LogRetentionDays"), 90);
    let allowed: Vec<i64> = serde_json::json!(CLOUDWATCH_RETENTION_DAYS)
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(
        allowed, LOG_RETENTION_DAYS,
        "only what CloudWatch Logs accepts"
    );

    let mut groups = BTreeSet::new();
    for function in template.functions().values() {
        let package = binary(function);
        let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{package}: LoggingConfig.LogGroup is not a Ref"));
        let resource = &template.resources()[group];
        assert_eq!(resource["Type"], "AWS::Logs::LogGroup", "{package}");
        let name = template.resolve(&resource["Properties"]["LogGroupName"]);
        // /aws/lambda/<name> exists already on a deployed stack: declaring it would fail.
        assert_eq!(name, format!("/ddb-guard/{STACK}/{package}"));
        assert_eq!(
            resource["Properties"]["RetentionInDays"],
            serde_json::json!({"Fn::FindInMap": ["Settings", "Logs", "LogRetentionDays"]}),
            "{package}"
        );
        assert!(groups.insert(group), "{package} shares {group}");
    }

    // What SAM deploys: the function's group merged with the global JSON format, not replacing it.
    let deployed = template.transformed();
    for (id, function) in template.functions() {
        let logging = &deployed.resources()[id]["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{id}");
        assert_eq!(
            logging["LogGroup"], function["Properties"]["LoggingConfig"]["LogGroup"],
            "{id}"
        );
    }
}

#[test]
fn the_notifier_expects_the_backups_its_engine_takes_from_the_same_owner() {
    let template = Template::load();
    let engines = template.json["Parameters"]["BackupEngine"]["AllowedValues"]
        .as_array()
        .unwrap();
    for engine in engines {
        let engine = engine.as_str().unwrap();
        let template = Template::with(&[("BackupEngine", engine)]);
        let trigger = template.environment(function(&template, "backup-trigger"));
        let notifier = template.environment(function(&template, "backup-notifier"));
        assert_eq!(trigger["BACKUP_ENGINE"], engine);
        // The trigger's on-demand backups by engine, and the AWS Backup plan's, which always runs.
        let on_demand = match engine {
            "dynamodb" => "native",
            "aws-backup" => "on-demand",
            other => panic!("the notifier expects nothing of engine {other}"),
        };
        assert_eq!(notifier["EXPECTED_BACKUPS"], format!("{on_demand},plan"));
        // The notifier looks for the backups this stack's trigger makes, in this stack's vault.
        assert_eq!(trigger["BACKUP_OWNER"], notifier["BACKUP_OWNER"]);
        assert_eq!(trigger["BACKUP_OWNER"], STACK);
        assert_eq!(trigger["BACKUP_VAULT_NAME"], notifier["BACKUP_VAULT_NAME"]);
    }

    let notifier = function(&template, "backup-notifier");
    let vars = &notifier["Properties"]["Environment"]["Variables"];
    assert_eq!(
        vars["BACKUP_VAULT_NAME"],
        serde_json::json!({"Ref": "BackupVault"})
    );
    assert_eq!(
        vars["BACKUP_PLAN_ID"],
        serde_json::json!({"Fn::GetAtt": ["BackupPlan", "BackupPlanId"]})
    );
    let env = template.environment(notifier);
    assert_eq!(env["WATCH_PITR"], "true");
    assert_eq!(env["MAX_PITR_LAG_MINUTES"], "60");
    // DynamoDB's latest restorable time trails by about five minutes even when all is well.
    assert!(template.number("MaxPitrLagMinutes") >= 5);
    assert_eq!(env["STATE_TABLE"], format!("{STACK}-state"));
}

#[test]
fn the_state_table_is_what_the_state_store_expects_and_the_notifier_touches_no_other_items() {
    use shared::state::{EXPIRES_AT, PK, SK};
    let template = Template::load();
    let table = &template.resources()["StateTable"];
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let properties = template.expand(&table["Properties"]);
    assert_eq!(properties["TableName"], format!("{STACK}-state"));
    assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        properties["KeySchema"],
        serde_json::json!([
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"}
        ])
    );
    assert_eq!(
        properties["AttributeDefinitions"],
        serde_json::json!([
            {"AttributeName": PK, "AttributeType": "S"},
            {"AttributeName": SK, "AttributeType": "S"}
        ])
    );
    assert_eq!(
        properties["TimeToLiveSpecification"],
        serde_json::json!({"AttributeName": EXPIRES_AT, "Enabled": true})
    );
    assert_eq!(properties["SSESpecification"]["SSEEnabled"], true);

    let state_arn = template.resolve(&serde_json::json!({"Fn::GetAtt": ["StateTable", "Arn"]}));
    let grants = template.grants(function(&template, "backup-notifier"));
    for action in ["dynamodb:GetItem", "dynamodb:PutItem"] {
        assert_eq!(
            grants[action],
            BTreeSet::from([state_arn.clone()]),
            "{action}"
        );
    }
}

#[test]
fn the_notifier_reads_only_what_it_watches() {
    let template = Template::load();
    let grants = template.grants(function(&template, "backup-notifier"));
    let arn = |id: &str, attribute: &str| {
        template.resolve(&serde_json::json!({"Fn::GetAtt": [id, attribute]}))
    };
    let orders = arn("DemoTable", "Arn");
    assert!(
        grants["dynamodb:DescribeContinuousBackups"]
            .iter()
            .any(|p| template_check::arn_matches(p, &orders)),
        "the watched table's PITR"
    );
    assert_eq!(
        grants["backup:ListRecoveryPointsByBackupVault"],
        BTreeSet::from([arn("BackupVault", "BackupVaultArn")])
    );
}

/// What the restore-handler may do to any table: read it, restore it to a point in time (the
/// source side of a restore; the items are written under the target's grants), and what IAM
/// cannot scope by table (said beside each grant in the template and in the README).
const REACHES_ANY_TABLE: &[&str] = &[
    "dynamodb:DescribeTable",
    // A drill's sample, read from the source by key.
    "dynamodb:GetItem",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:DescribeContributorInsights",
    "dynamodb:DescribeKinesisStreamingDestination",
    "dynamodb:GetResourcePolicy",
    "dynamodb:ListTagsOfResource",
    "dynamodb:Scan",
    "dynamodb:RestoreTableToPointInTime",
    "dynamodb:ListBackups",
    "backup:StartRestoreJob",
    // A restore job has no ARN: these take "*" only.
    "backup:DescribeRestoreJob",
    "backup:PutRestoreValidationResult",
    "kinesis:ListStreams",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
];

/// The restore-handler in the template as written: its settings, its grants, and the tables the
/// checks below ask about.
struct RestoreHandler {
    template: Template,
    settings: RestoreSettings,
    grants: Grants,
    /// `us-east-1:123456789012`
    account: String,
    /// A table named as the restore-handler names its restores.
    restore_target: String,
    production: String,
    /// Tables that are not restore targets: production's and another.
    others: [String; 2],
    /// The stack's state table.
    state: String,
}

impl RestoreHandler {
    fn new() -> RestoreHandler {
        let template = Template::load();
        let handler = function(&template, "restore-handler");
        let settings = from_vars::<RestoreEnv>(template.environment(handler))
            .and_then(RestoreEnv::validate)
            .unwrap();
        let grants = template.grants(handler);
        let account = format!("{}:{}", template_check::REGION, template_check::ACCOUNT);
        let table = |name: &str| format!("arn:aws:dynamodb:{account}:table/{name}");
        let restore_target = table(&format!(
            "order_transaction-ddb-guard{}20261125T050000Z",
            settings.target_marker
        ));
        let production = table("order_transaction-ddb-guard");
        let others = [production.clone(), table("customers")];
        let state = template.resolve(&serde_json::json!({"Fn::GetAtt": ["StateTable", "Arn"]}));
        RestoreHandler {
            template,
            settings,
            grants,
            account,
            restore_target,
            production,
            others,
            state,
        }
    }

    fn table(&self, name: &str) -> String {
        format!("arn:aws:dynamodb:{}:table/{name}", self.account)
    }

    fn allows(&self, action: &str, arn: &str) -> bool {
        template_check::allows(&self.grants, action, arn)
    }
}

#[test]
fn the_restore_handler_writes_only_to_restore_targets() {
    let handler = RestoreHandler::new();
    for action in [
        "dynamodb:UpdateTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:UpdateContributorInsights",
        "dynamodb:EnableKinesisStreamingDestination",
        "dynamodb:PutResourcePolicy",
        "dynamodb:TagResource",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:RestoreTableFromBackup",
    ] {
        assert!(
            handler.allows(action, &handler.restore_target),
            "{action} on a restore target"
        );
        for other in &handler.others {
            assert!(
                !handler.allows(action, other),
                "{action} must not reach {other}"
            );
        }
    }
    // Whatever else reaches another table reads it, starts a restore from it, or is one of the
    // grants IAM cannot scope by table.
    for (action, resources) in &handler.grants {
        for other in &handler.others {
            if resources
                .iter()
                .any(|r| template_check::arn_matches(r, other))
            {
                assert!(
                    REACHES_ANY_TABLE.contains(&action.as_str()),
                    "{action} reaches {other} through {resources:?}"
                );
            }
        }
    }
}

/// Deleting: a drill's scratch table only (named *-restored-drill-*, and tagged: tests/drills.rs),
/// never a restored copy someone is checking, a source, or the state table.
#[test]
fn the_restore_handler_deletes_only_drill_scratch_tables() {
    let handler = RestoreHandler::new();
    let drill = handler.table("order_transaction-ddb-guard-restored-drill-20261129T100000Z");
    assert!(handler.allows("dynamodb:DeleteTable", &drill));
    for other in (handler.others.iter()).chain([&handler.restore_target, &handler.state]) {
        assert!(
            !handler.allows("dynamodb:DeleteTable", other),
            "DeleteTable on {other}"
        );
    }
}

/// Contributor Insights of a restored table's global secondary index, and of no other's; the
/// alarms of auto scaling only on restore targets.
#[test]
fn the_restore_handler_changes_index_insights_and_scaling_alarms_of_restore_targets_only() {
    let handler = RestoreHandler::new();
    let index = |table: &str| format!("{table}/index/by-customer");
    assert!(handler.allows(
        "dynamodb:UpdateContributorInsights",
        &index(&handler.restore_target)
    ));
    assert!(!handler.allows(
        "dynamodb:UpdateContributorInsights",
        &index(&handler.production)
    ));
    let alarm = |table: &str| {
        format!(
            "arn:aws:cloudwatch:{}:alarm:TargetTracking-table/{table}-AlarmHigh-0f1e2d3c",
            handler.account
        )
    };
    let target_name = handler.restore_target.rsplit('/').next().unwrap();
    for action in [
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:DeleteAlarms",
    ] {
        assert!(handler.allows(action, &alarm(target_name)), "{action}");
        assert!(
            handler.allows(action, &alarm(&format!("{target_name}/index/by-customer"))),
            "{action} on an index's alarm"
        );
        assert!(
            !handler.allows(action, &alarm("order_transaction-ddb-guard")),
            "{action} on production's alarm"
        );
    }
}

/// Roles: AWS Backup's restore role passed to AWS Backup only, and only Application Auto Scaling's
/// service-linked role for DynamoDB created.
#[test]
fn the_restore_handler_passes_and_creates_only_the_roles_it_needs() {
    let handler = RestoreHandler::new();
    let template = &handler.template;
    let mut checked = BTreeSet::new();
    for statement in template.function_statements(function(template, "restore-handler")) {
        let actions = template_check::strings(&statement["Action"]);
        if actions.iter().any(|a| a == "iam:PassRole") {
            checked.insert("iam:PassRole");
            assert_eq!(
                statement["Resource"],
                template.resolve(&serde_json::json!({"Fn::GetAtt": ["RestoreServiceRole", "Arn"]}))
            );
            assert_eq!(
                statement["Condition"],
                serde_json::json!({"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}})
            );
        }
        if actions.iter().any(|a| a == "iam:CreateServiceLinkedRole") {
            checked.insert("iam:CreateServiceLinkedRole");
            let service = "dynamodb.application-autoscaling.amazonaws.com";
            assert_eq!(
                statement["Condition"],
                serde_json::json!({"StringEquals": {"iam:AWSServiceName": service}})
            );
            assert!(
                template_check::strings(&statement["Resource"])
                    .iter()
                    .all(|r| r.contains(&format!("aws-service-role/{service}/"))),
                "{statement}"
            );
        }
    }
    assert_eq!(
        checked,
        BTreeSet::from(["iam:PassRole", "iam:CreateServiceLinkedRole"]),
        "each role grant was found and checked"
    );
}

/// Its record of the restores it started, in the stack's state table, and the lease that lets
/// only one finish run at a time (released by deleting it); nothing else there.
#[test]
fn the_restore_handler_keeps_its_records_in_the_state_table_and_nothing_else_there() {
    let handler = RestoreHandler::new();
    let state = &handler.state;
    for action in [
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:DeleteItem",
    ] {
        assert!(handler.allows(action, state), "{action} on the state table");
    }
    for (action, resources) in &handler.grants {
        if resources.contains(state) {
            assert!(
                [
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:DeleteItem"
                ]
                .contains(&action.as_str()),
                "{action} on the state table"
            );
        }
    }
    assert_eq!(
        handler.settings.state_table.as_deref(),
        Some(
            handler
                .template
                .resolve(&serde_json::json!({"Ref": "StateTable"}))
                .as_str()
        )
    );
}

/// Every default target name carries the marker the grants above are scoped by.
#[test]
fn every_default_restore_target_carries_the_marker() {
    let handler = RestoreHandler::new();
    // The tag that makes a table protected is never copied onto a restored table (which would be
    // protected, backed up and drilled in turn): tests/your_tables.rs checks SKIP_TAGS with a tag.
    let marker = &handler.settings.target_marker;
    let default = shared::restore::request::default_target_name(
        "order_transaction-ddb-guard",
        chrono::Utc::now(),
    );
    assert!(default.contains(marker.as_str()), "{default}");
}
