//! Restore drills and AWS Backup restore testing: what the restore-handler may delete and write
//! for a drill, where its alerts go, the schedule that runs drills, and the optional restore
//! testing plan whose restores the notifier forwards to the restore-handler to validate.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use shared::alert::config::NotifierEnv;
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use template_check::{ACCOUNT, REGION, STACK, Template, strings};

fn table(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

fn arn(template: &Template, id: &str, attribute: &str) -> String {
    template.resolve(&json!({"Fn::GetAtt": [id, attribute]}))
}

const DRILL_TABLE: &str = "order_transaction-ddb-guard-restored-drill-20261129T100000Z";
/// What a drill's scratch table must carry for the restore-handler to delete it.
const DRILL_TAG_CONDITION: &str = "aws:ResourceTag/ddb-guard:drill";

/// The restore-handler's statements that allow `action`.
fn statements_allowing(template: &Template, action: &str) -> Vec<Value> {
    template
        .function_statements(template.function("restore-handler").1)
        .into_iter()
        .filter(|s| s["Effect"] == "Allow")
        .filter(|s| strings(&s["Action"]).iter().any(|a| a == action))
        .collect()
}

#[test]
fn the_restore_handler_deletes_only_tagged_drill_tables() {
    let template = Template::load();
    let tagged = json!({"Null": {DRILL_TAG_CONDITION: "false"}});
    let deleting = statements_allowing(&template, "dynamodb:DeleteTable");
    let [statement] = &deleting[..] else {
        panic!("one statement allows DeleteTable: {deleting:?}")
    };
    // DeleteTable alone, on drill tables alone, and only when the table carries the drill's tag.
    assert_eq!(strings(&statement["Action"]), ["dynamodb:DeleteTable"]);
    assert_eq!(
        strings(&statement["Resource"]),
        [table("*-restored-drill-*")]
    );
    assert_eq!(statement["Condition"], tagged);

    let grants = template.grants(template.function("restore-handler").1);
    let can_delete = |arn: &str| template_check::allows(&grants, "dynamodb:DeleteTable", arn);
    assert!(can_delete(&table(DRILL_TABLE)));
    for other in [
        arn(&template, "DemoTable", "Arn"),
        arn(&template, "StateTable", "Arn"),
        table("customers"),
        // A restored copy someone is checking, and restore testing's table.
        table("order_transaction-ddb-guard-restored-20261125T050000Z"),
        table("awsbackup-restore-test-0f1e2d3c"),
    ] {
        assert!(!can_delete(&other), "DeleteTable on {other}");
    }

    // What SAM deploys keeps the condition.
    let deployed = template.transformed();
    let role = &deployed.resources()["RestoreHandlerFunctionRole"];
    let deployed_deleting: Vec<Value> = role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| deployed.statements(&p["PolicyDocument"]))
        .filter(|s| {
            strings(&s["Action"])
                .iter()
                .any(|a| a == "dynamodb:DeleteTable")
        })
        .collect();
    assert_eq!(deployed_deleting.len(), 1, "{deployed_deleting:?}");
    assert_eq!(deployed_deleting[0]["Condition"], tagged);
}

#[test]
fn the_restore_handler_writes_drill_reports_only_under_drills() {
    let template = Template::load();
    let (_, handler) = template.function("restore-handler");
    let env = template.environment(handler);
    let bucket = template.resolve(&json!({"Ref": "DataBucket"}));
    assert_eq!(env["DRILL_BUCKET"], bucket);
    assert_eq!(env["DRILL_PREFIX"], "drills/");

    let grants = template.grants(handler);
    let s3: Vec<&String> = grants.keys().filter(|a| a.starts_with("s3:")).collect();
    assert_eq!(s3, ["s3:PutObject"], "a report is written, nothing read");
    assert_eq!(
        grants["s3:PutObject"],
        BTreeSet::from([format!("arn:aws:s3:::{bucket}/{}*", env["DRILL_PREFIX"])])
    );
    let object = |key: &str| format!("arn:aws:s3:::{bucket}/{key}");
    let can_put = |arn: &str| template_check::allows(&grants, "s3:PutObject", arn);
    assert!(can_put(&object(
        "drills/20261129T100000Z/order_transaction-ddb-guard.json"
    )));
    let source = template.parameter("SourcePrefix");
    let rejects = template.parameter("RejectsPrefix");
    for key in [
        format!("{source}order_data.csv"),
        format!("{rejects}order_data.csv.json"),
        "drills".to_string(),
    ] {
        assert!(!can_put(&object(&key)), "PutObject on {key}");
    }
    assert!(!can_put(&format!(
        "arn:aws:s3:::other-bucket/{}x.json",
        env["DRILL_PREFIX"]
    )));
    // A report never lands where an upload triggers the loader, nor among its rejects.
    for prefix in [&source, &rejects] {
        assert!(
            !env["DRILL_PREFIX"].starts_with(prefix.as_str())
                && !prefix.starts_with(env["DRILL_PREFIX"].as_str()),
            "{prefix}"
        );
    }
}

#[test]
fn drills_alert_on_the_alert_topic_as_the_notifier_does() {
    let template = Template::load();
    let (_, handler) = template.function("restore-handler");
    let env = template.environment(handler);
    let notifier = template.environment(template.function("backup-notifier").1);
    let topic = template.resolve(&json!({"Ref": "AlertTopic"}));
    assert_eq!(env["ALERT_TOPIC_ARN"], topic);
    assert_eq!(notifier["TOPIC_ARN"], topic);
    // Subjects start alike, whichever function alerts.
    assert_eq!(env["SUBJECT_PREFIX"], notifier["SUBJECT_PREFIX"]);
    let prefix = from_vars::<NotifierEnv>(notifier.clone())
        .and_then(NotifierEnv::validate)
        .unwrap()
        .subject_prefix;
    assert_eq!(env["SUBJECT_PREFIX"], prefix);

    let grants = template.grants(handler);
    assert_eq!(grants["sns:Publish"], BTreeSet::from([topic]));
    let key = arn(&template, "AlertKey", "Arn");
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        assert_eq!(grants[action], BTreeSet::from([key.clone()]), "{action}");
    }
}

#[test]
fn the_drill_settings_reach_the_restore_handler() {
    let template = Template::load();
    let env = template.environment(template.function("restore-handler").1);
    // The target is also the dashboard's limit on the drill's time: one setting for both.
    assert_eq!(
        env["DRILL_TARGET_MINUTES"],
        template.setting("DrillTargetMinutes")
    );
    // Rarely changed: the function's documented defaults, no prompt.
    for variable in [
        "DRILL_SAMPLE_SIZE",
        "DRILL_MAX_GB",
        "DRILL_ALERT_ON_PASS",
        "DRILL_COUNT_TOLERANCE_PERCENT",
    ] {
        assert!(!env.contains_key(variable), "{variable}");
    }
    // The demo table, from what the backup-trigger takes.
    assert_eq!(
        env["DRILL_TABLES"],
        template.resolve(&json!({"Ref": "DemoTable"}))
    );
    assert_eq!(env["DRILL_SOURCE"], "backup");
    // With AWS Backup taking the backups, drills restore the vault's newest recovery point.
    let vault = Template::with(&[("BackupEngine", "aws-backup")]);
    let env = vault.environment(vault.function("restore-handler").1);
    assert_eq!(env["DRILL_SOURCE"], "recovery_point");
}

#[test]
fn a_schedule_drills_through_the_restore_handler_and_is_off_in_a_trial() {
    let template = Template::load();
    let (id, handler) = template.function("restore-handler");
    let events = handler["Properties"]["Events"].as_object().unwrap();
    let [(name, event)] = events.iter().collect::<Vec<_>>()[..] else {
        panic!("one event: {events:?}")
    };
    assert_eq!(event["Type"], "ScheduleV2");
    let properties = &event["Properties"];
    let input: Value = serde_json::from_str(properties["Input"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"action": "drill"}));
    assert_eq!(
        template.resolve(&properties["ScheduleExpression"]),
        "rate(7 days)"
    );
    // Its own dead-letter queue, which pages and is in the outputs (tests/failures.rs checks
    // every schedule's queue, retries and alarm).
    assert_eq!(
        properties["DeadLetterConfig"]["Arn"],
        json!({"Fn::GetAtt": ["DrillScheduleDeadLetterQueue", "Arn"]})
    );
    assert_eq!(
        template.json["Outputs"]["DrillScheduleDeadLetterQueueUrl"]["Value"],
        json!({"Ref": "DrillScheduleDeadLetterQueue"})
    );

    // What SAM deploys: a schedule named for the stack that invokes the restore-handler, off in
    // a trial, on with RestoreChecks=drills or both.
    for (checks, state) in [
        ("none", "DISABLED"),
        ("restore-testing", "DISABLED"),
        ("drills", "ENABLED"),
        ("both", "ENABLED"),
    ] {
        let deployed = Template::with(&[("RestoreChecks", checks)]).transformed();
        let schedule = &deployed.resources()[&format!("{id}{name}")];
        assert_eq!(schedule["Type"], "AWS::Scheduler::Schedule");
        let properties = deployed.expand(&schedule["Properties"]);
        assert_eq!(properties["State"], state, "RestoreChecks={checks}");
        assert_eq!(properties["Name"], format!("{STACK}-drill-schedule"));
        assert_eq!(properties["Target"]["Arn"], arn(&deployed, id, "Arn"));
        let input: Value =
            serde_json::from_str(properties["Target"]["Input"].as_str().unwrap()).unwrap();
        assert_eq!(input, json!({"action": "drill"}));
    }
    assert_eq!(template.parameter("RestoreChecks"), "none");
}

/// The restore testing resources, by type.
fn restore_testing(template: &Template) -> Vec<(&str, &Value)> {
    template
        .resources()
        .iter()
        .filter(|(_, r)| {
            r["Type"]
                .as_str()
                .unwrap()
                .starts_with("AWS::Backup::RestoreTesting")
        })
        .map(|(id, r)| (id.as_str(), r))
        .collect()
}

/// A name AWS Backup accepts for a restore testing plan or selection.
fn valid_restore_testing_name(name: &str) -> bool {
    (1..=50).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[test]
fn restore_testing_is_off_by_default_and_tests_the_stacks_vault_and_protected_tables() {
    let template = Template::load();
    assert_eq!(template.parameter("RestoreChecks"), "none");
    let resources = restore_testing(&template);
    let types: BTreeSet<&str> = resources
        .iter()
        .map(|(_, r)| r["Type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from([
            "AWS::Backup::RestoreTestingPlan",
            "AWS::Backup::RestoreTestingSelection"
        ])
    );
    // Each exists only with restore testing on, in the template and in what SAM deploys.
    for (checks, expected) in [
        ("none", false),
        ("drills", false),
        ("restore-testing", true),
    ] {
        let chosen = Template::with(&[("RestoreChecks", checks)]);
        let deployed = chosen.transformed();
        for (id, resource) in &resources {
            let condition = resource["Condition"].as_str().unwrap();
            assert_eq!(chosen.condition(condition), expected, "{id}");
            assert_eq!(deployed.resources()[*id]["Condition"], condition, "{id}");
            assert_eq!(deployed.condition(condition), expected, "{id}");
        }
    }

    let template = Template::with(&[("RestoreChecks", "restore-testing")]);
    let plan = template.expand(&template.resources()["RestoreTestingPlan"]["Properties"]);
    let selection = template.expand(&template.resources()["RestoreTestingSelection"]["Properties"]);
    let plan_name = plan["RestoreTestingPlanName"].as_str().unwrap();
    assert_eq!(plan_name, "ddb_guard_weekly");
    assert!(valid_restore_testing_name(plan_name), "{plan_name}");
    assert_eq!(selection["RestoreTestingPlanName"], plan_name);
    let selection_name = selection["RestoreTestingSelectionName"].as_str().unwrap();
    assert!(
        valid_restore_testing_name(selection_name),
        "{selection_name}"
    );

    // Weekly, the newest recovery point of the last week, from this stack's vault only.
    let schedule = plan["ScheduleExpression"].as_str().unwrap();
    let fields: Vec<&str> = schedule
        .strip_prefix("cron(")
        .and_then(|s| s.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{schedule} is not a cron expression"))
        .split(' ')
        .collect();
    assert_eq!(fields.len(), 6, "{schedule}");
    assert_eq!(
        (fields[2], fields[3], fields[5]),
        ("?", "*", "*"),
        "{schedule}"
    );
    assert!(
        fields[4].chars().all(|c| c.is_ascii_alphabetic()),
        "one day a week: {schedule}"
    );
    let points = &plan["RecoveryPointSelection"];
    assert_eq!(points["Algorithm"], "LATEST_WITHIN_WINDOW");
    assert_eq!(
        points["IncludeVaults"],
        json!([arn(&template, "BackupVault", "BackupVaultArn")])
    );
    assert_eq!(points["RecoveryPointTypes"], json!(["SNAPSHOT"]));
    let window = points["SelectionWindowDays"].as_i64().unwrap();
    assert!((7..=365).contains(&window), "{window} days");

    // Every DynamoDB recovery point of the stack's vault (IncludeVaults above), which holds the
    // protected tables' only; restored by the restore role (DynamoDB restores only).
    assert_eq!(selection["ProtectedResourceType"], "DynamoDB");
    assert_eq!(selection["ProtectedResourceArns"], json!(["*"]));
    assert!(selection.get("ProtectedResourceConditions").is_none());
    assert_eq!(
        selection["IamRoleArn"],
        arn(&template, "RestoreServiceRole", "Arn")
    );
    let hours = selection["ValidationWindowHours"].as_i64().unwrap();
    assert!((1..=168).contains(&hours), "{hours} hours to validate");
}

#[test]
fn the_notifier_forwards_restore_tests_only_when_restore_testing_is_on() {
    for (checks, expected) in [("none", false), ("drills", false), ("both", true)] {
        let template = Template::with(&[("RestoreChecks", checks)]);
        let env = template.environment(template.function("backup-notifier").1);
        assert_eq!(env["VALIDATE_RESTORE_TESTS"], expected.to_string());
        let settings = from_vars::<NotifierEnv>(env)
            .and_then(NotifierEnv::validate)
            .unwrap();
        assert_eq!(settings.validate_restore_tests, expected, "{checks}");
        // To the restore-handler, the function it asks to finish restores.
        assert_eq!(
            settings.finish_function.as_deref(),
            Some(
                template
                    .resolve(&json!({"Ref": "RestoreHandlerFunction"}))
                    .as_str()
            )
        );
    }
}

#[test]
fn validating_a_restore_test_only_reads_its_table() {
    let template = Template::with(&[("RestoreChecks", "restore-testing")]);
    let grants = template.grants(template.function("restore-handler").1);
    let tested = table("awsbackup-restore-test-0f1e2d3c");
    for action in [
        "dynamodb:DescribeTable",
        "dynamodb:Scan",
        "dynamodb:GetItem",
    ] {
        assert!(template_check::allows(&grants, action, &tested), "{action}");
    }
    for action in [
        "dynamodb:DeleteTable",
        "dynamodb:UpdateTable",
        "dynamodb:TagResource",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:UpdateContinuousBackups",
    ] {
        assert!(
            !template_check::allows(&grants, action, &tested),
            "{action}"
        );
    }
    for action in [
        "backup:DescribeRestoreJob",
        "backup:PutRestoreValidationResult",
    ] {
        assert_eq!(
            grants[action],
            BTreeSet::from(["*".to_string()]),
            "{action}"
        );
    }
}

#[test]
fn the_validator_is_told_which_restore_testing_plan_is_this_stacks() {
    // With restore testing on, the plan's ARN; off, nothing (then no restore test is ours).
    for (checks, on) in [
        ("none", false),
        ("drills", false),
        ("restore-testing", true),
        ("both", true),
    ] {
        let template = Template::with(&[("RestoreChecks", checks)]);
        let env = template.environment(template.function("restore-handler").1);
        let expected = match on {
            true => arn(&template, "RestoreTestingPlan", "RestoreTestingPlanArn"),
            false => String::new(),
        };
        assert_eq!(env["RESTORE_TESTING_PLAN_ARN"], expected, "{checks}");
        // And the restore-handler reads it as its plan.
        let settings = from_vars::<RestoreEnv>(env)
            .and_then(RestoreEnv::validate)
            .unwrap();
        let plan = settings.drill.restore_testing_plan;
        assert_eq!(plan, on.then_some(expected), "{checks}");
    }
}
