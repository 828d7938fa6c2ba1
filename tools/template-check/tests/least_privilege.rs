//! IAM no broader than the work: the trigger deletes only the protected tables' backups; the
//! restore-handler may write to a Kinesis stream only when the user opts in, and only to the
//! streams named; AWS Backup restores with a role that can do nothing but restore DynamoDB tables
//! into restore targets, the only role the restore-handler passes; and the drill tag, on which a
//! drill's delete depends, can be put on drill tables only, by the restore-handler only, and
//! removed by nobody. Proved on the template SAM deploys.

use serde_json::{Value, json};
use template_check::iam::{Decision, Request, decide};
use template_check::{ACCOUNT, REGION, Template, allows, strings};

const DRILL_TAG: &str = "ddb-guard:drill";

fn table(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

fn backup_of(name: &str) -> String {
    format!("{}/backup/01700000000000-abcdef12", table(name))
}

fn deployed(parameters: &[(&str, &str)]) -> Template {
    let mut all = vec![("ProtectedTables", "orders"), ("RestoreChecks", "both")];
    all.extend_from_slice(parameters);
    Template::with(&all).transformed()
}

fn arn(template: &Template, id: &str) -> String {
    template.resolve(&json!({"Fn::GetAtt": [id, "Arn"]}))
}

/// Named tables: the trigger deletes the backups of those names and no other table's, not even
/// one whose name starts alike. (With ProtectedTag, a tagged table's backups cannot be told from
/// another's by IAM: a backup carries no tag. tests/your_tables.rs keeps that to the account and
/// region, and the code deletes only the backups named for this stack.)
#[test]
fn the_trigger_deletes_only_the_named_tables_backups() {
    let template = deployed(&[]);
    let statements = template.role_statements("BackupTriggerFunctionRole");
    let delete = |table: &str| decide(&statements, &Request::new("dynamodb:DeleteBackup", table));
    assert_eq!(delete(&backup_of("orders")), Decision::Allowed);
    for other in [
        "payments",
        "orders-archive",
        "orders-restored-20261125T050000Z",
    ] {
        assert_ne!(delete(&backup_of(other)), Decision::Allowed, "{other}");
    }
    let elsewhere = backup_of("orders").replace(REGION, "eu-west-1");
    assert_ne!(delete(&elsewhere), Decision::Allowed, "another region");
}

/// Kinesis: no stream is written to unless the user lists the streams restored copies may send
/// their changes to (the `KinesisStreamArns` setting: a rare need, not a prompt), and only those.
#[test]
fn the_restore_handler_writes_to_a_kinesis_stream_only_when_asked_and_only_to_those_named() {
    let stream = |name: &str| format!("arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{name}");
    let handler = |template: &Template| {
        let (_, function) = template.function("restore-handler");
        template.grants(function)
    };

    let off = Template::with(&[("ProtectedTables", "orders")]);
    assert!(!off.condition("HasRestoreKinesisStreams"));
    let grants = handler(&off);
    assert!(!grants.contains_key("kinesis:PutRecords"), "{grants:?}");
    let env = off.environment(off.function("restore-handler").1);
    assert_eq!(env["KINESIS_STREAM_ARNS"], "");

    let named = stream("orders-changes");
    let on = Template::with(&[("ProtectedTables", "orders"), ("KinesisStreamArns", &named)]);
    let grants = handler(&on);
    for action in restore_handler::KINESIS_ACTIONS {
        assert_eq!(grants[*action], [named.clone()].into(), "{action}");
    }
    assert!(!allows(
        &grants,
        "kinesis:PutRecords",
        &stream("payments-changes")
    ));
    let env = on.environment(on.function("restore-handler").1);
    assert_eq!(env["KINESIS_STREAM_ARNS"], named);
}

/// AWS Backup restores with a role of its own that restores DynamoDB tables and nothing else,
/// into restore targets (and restore testing's tables) only; the restore-handler passes that
/// role and no other, and the backup role can no longer restore.
#[test]
fn aws_backup_restores_with_a_dynamodb_only_role_the_handler_alone_passes() {
    let template = deployed(&[]);
    let role = &template.resources()["RestoreServiceRole"];
    assert_eq!(role["Type"], "AWS::IAM::Role");
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"],
        json!({"Service": "backup.amazonaws.com"})
    );
    assert!(
        role["Properties"].get("ManagedPolicyArns").is_none(),
        "no AWS managed policy: they restore every service"
    );
    let statements = template.role_statements("RestoreServiceRole");
    for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
        for action in strings(&statement["Action"]) {
            assert!(
                action.starts_with("dynamodb:") || action.starts_with("kms:"),
                "{action}"
            );
        }
    }
    let restore = |action: &str, target: &str| decide(&statements, &Request::new(action, target));
    for action in [
        "dynamodb:RestoreTableFromAwsBackup",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
    ] {
        let copy = table("orders-restored-20261125T050000Z");
        assert_eq!(restore(action, &copy), Decision::Allowed, "{action}");
        let tested = table("awsbackup-restore-test-0f1e2d3c");
        assert_eq!(restore(action, &tested), Decision::Allowed, "{action}");
        for other in ["orders", "payments"] {
            assert_ne!(
                restore(action, &table(other)),
                Decision::Allowed,
                "{action}"
            );
        }
    }
    // The backup role backs up: AWS's policy for restores (every service's) is not on it.
    let backup_role = &template.resources()["BackupServiceRole"]["Properties"];
    let managed = template.expand(&backup_role["ManagedPolicyArns"]);
    let managed = strings(&managed);
    assert!(
        managed.iter().all(|p| !p.ends_with("ForRestores")),
        "{managed:?}"
    );

    // The restore-handler passes the restore role, to AWS Backup, and nothing else.
    let restore_role = arn(&template, "RestoreServiceRole");
    let handler = template.role_statements("RestoreHandlerFunctionRole");
    let passed: Vec<Value> = (handler.iter())
        .filter(|s| s["Effect"] == "Allow")
        .filter(|s| strings(&s["Action"]).iter().any(|a| a == "iam:PassRole"))
        .cloned()
        .collect();
    assert_eq!(passed.len(), 1, "{passed:?}");
    assert_eq!(
        strings(&passed[0]["Resource"]),
        std::slice::from_ref(&restore_role)
    );
    let env = template.expand(
        &template.resources()["RestoreHandlerFunction"]["Properties"]["Environment"]["Variables"],
    );
    assert_eq!(env["RESTORE_ROLE_ARN"], restore_role);
    let selection = &template.resources()["RestoreTestingSelection"]["Properties"];
    assert_eq!(template.resolve(&selection["IamRoleArn"]), restore_role);
}

/// A drill deletes a `*-restored-drill-*` table only when it carries the drill tag: a tag the
/// restore-handler may put on drill tables alone, no other principal of the stack may put on any
/// table, and nobody removes. Operators cannot make a drill-named table either.
#[test]
fn the_drill_tag_goes_only_on_drill_tables_and_only_from_the_restore_handler() {
    let template = deployed(&[]);
    let handler = arn(&template, "RestoreHandlerFunctionRole");
    let drill_table = table("orders-restored-drill-20261129-ab12cd34");
    let copy = table("orders-restored-20261125T050000Z");
    let roles: Vec<String> = (template.of_type("AWS::IAM::Role").into_keys())
        .map(str::to_string)
        .collect();
    for role in &roles {
        let statements = template.role_statements(role);
        let me = arn(&template, role);
        let tag = |table: &str| {
            let request = Request::new("dynamodb:TagResource", table)
                .tag_key(DRILL_TAG)
                .by(&me);
            decide(&statements, &request)
        };
        let expected = if me == handler {
            Decision::Allowed
        } else {
            Decision::Denied
        };
        assert_eq!(tag(&drill_table), expected, "{role} marks a drill table");
        // Not on a restored copy someone is checking, even the handler's own.
        assert_eq!(tag(&copy), Decision::Denied, "{role} marks a copy");
        let untag = Request::new("dynamodb:UntagResource", &drill_table)
            .tag_key(DRILL_TAG)
            .by(&me);
        assert_eq!(decide(&statements, &untag), Decision::Denied, "{role}");
    }

    let policy = &template.resources()["OperatorPolicy"]["Properties"]["PolicyDocument"];
    let operators = template.statements(policy);
    for action in [
        "dynamodb:RestoreTableFromBackup",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:TagResource",
        "dynamodb:UntagResource",
    ] {
        let request = Request::new(action, &drill_table).tag_key(DRILL_TAG);
        assert_eq!(decide(&operators, &request), Decision::Denied, "{action}");
    }
    // Their restores into other restore targets stay allowed.
    let restore = Request::new("dynamodb:PutItem", &copy);
    assert_eq!(decide(&operators, &restore), Decision::Allowed);
}
