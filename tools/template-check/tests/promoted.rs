//! A restored copy promoted to production (the restore-handler's `{"action": "promote"}`) is
//! protected like production: every role of the stack and the operators' policy are denied every
//! write and settings change on a table carrying the promoted tag, unless the user names it; none
//! of them removes that tag, and only the restore-handler adds it. Proved on the template SAM
//! deploys, with a named table, a tag and every restore check on.

use serde_json::{Value, json};
use template_check::iam::{Decision, Request, decide};
use template_check::{ACCOUNT, REGION, Template};

const PROMOTED: &str = "ddb-guard:promoted";
const PROTECTED_TAG: (&str, &str) = ("ddb-guard-trial", "protected");

/// Every action that writes items to a table or changes what it is.
const WRITES_AND_SETTINGS: &[&str] = &[
    "dynamodb:PutItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
    "dynamodb:UpdateTable",
    "dynamodb:DeleteTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:UpdateContinuousBackups",
    "dynamodb:UpdateContributorInsights",
    "dynamodb:EnableKinesisStreamingDestination",
    "dynamodb:DisableKinesisStreamingDestination",
    "dynamodb:UpdateKinesisStreamingDestination",
    "dynamodb:PutResourcePolicy",
    "dynamodb:DeleteResourcePolicy",
    "dynamodb:UpdateTableReplicaAutoScaling",
    "dynamodb:CreateTableReplica",
    "dynamodb:DeleteTableReplica",
    "dynamodb:TagResource",
    "dynamodb:UntagResource",
];

fn deployed() -> Template {
    let tag = format!("{}={}", PROTECTED_TAG.0, PROTECTED_TAG.1);
    let parameters = [
        ("ProtectedTables", "orders,orders-restored-20260101T000000Z"),
        ("ProtectedTag", tag.as_str()),
        ("RestoreChecks", "both"),
        ("AlertEmail", "oncall@example.com"),
    ];
    Template::with(&parameters).transformed()
}

fn table(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

/// The production copy a disaster recovery left: restored, then promoted.
fn promoted_copy() -> String {
    table("orders-restored-20261125T050000Z")
}

/// Every role the deployed stack makes, by logical id.
fn roles(template: &Template) -> Vec<String> {
    let roles: Vec<String> = (template.of_type("AWS::IAM::Role").into_keys())
        .map(str::to_string)
        .collect();
    assert!(roles.len() >= 11, "{roles:?}");
    roles
}

fn role_arn(template: &Template, role: &str) -> String {
    template.resolve(&json!({"Fn::GetAtt": [role, "Arn"]}))
}

fn operator_statements(template: &Template) -> Vec<Value> {
    let policy = &template.resources()["OperatorPolicy"];
    template.statements(&policy["Properties"]["PolicyDocument"])
}

/// Who is checked: each role of the stack (with its ARN), and the operators' policy.
fn principals(template: &Template) -> Vec<(String, String, Vec<Value>)> {
    let mut all: Vec<(String, String, Vec<Value>)> = roles(template)
        .into_iter()
        .map(|role| {
            let arn = role_arn(template, &role);
            let statements = template.role_statements(&role);
            (role, arn, statements)
        })
        .collect();
    let operator = format!("arn:aws:iam::{ACCOUNT}:user/operator");
    all.push((
        "OperatorPolicy".into(),
        operator,
        operator_statements(template),
    ));
    all
}

#[test]
fn no_role_and_no_operator_writes_to_or_changes_a_promoted_table() {
    let template = deployed();
    for (who, arn, statements) in principals(&template) {
        for action in WRITES_AND_SETTINGS {
            let request = Request::new(action, &promoted_copy())
                .tagged(PROMOTED, "2026-11-25T06:00:00Z")
                .tagged(PROTECTED_TAG.0, PROTECTED_TAG.1)
                .by(&arn);
            assert_eq!(
                decide(&statements, &request),
                Decision::Denied,
                "{who}: {action} on a promoted table"
            );
        }
    }
}

/// A promoted copy the user names in ProtectedTables is theirs, like any named table: the roles'
/// denial steps aside (what the stack may do to it is what it may do to any named one), and
/// operators may do to it what they may do to any named table: no write, no setting change.
#[test]
fn a_promoted_table_the_user_names_is_theirs() {
    let template = deployed();
    let named = table("orders-restored-20260101T000000Z");
    for (who, arn, statements) in principals(&template) {
        for action in WRITES_AND_SETTINGS {
            let request = Request::new(action, &named)
                .tagged(PROMOTED, "2026-01-01T06:00:00Z")
                .by(&arn);
            let decision = decide(&statements, &request);
            if who == "OperatorPolicy" {
                let production = Request::new(action, &table("orders")).by(&arn);
                assert_ne!(
                    decide(&statements, &production),
                    Decision::Allowed,
                    "{action}"
                );
                assert_ne!(decision, Decision::Allowed, "{who}: {action}");
            } else if !action.ends_with("UntagResource") {
                assert_ne!(
                    decision,
                    Decision::Denied,
                    "{who}: {action} on a named table"
                );
            }
        }
    }
}

#[test]
fn nobody_removes_the_promoted_tag_and_only_the_restore_handler_adds_it() {
    let template = deployed();
    let handler = role_arn(&template, "RestoreHandlerFunctionRole");
    let restored = table("orders-restored-20261126T050000Z");
    for (who, arn, statements) in principals(&template) {
        for resource in [promoted_copy(), restored.clone(), table("orders")] {
            let untag = Request::new("dynamodb:UntagResource", &resource)
                .tagged(PROMOTED, "2026-11-25T06:00:00Z")
                .tag_key(PROMOTED)
                .by(&arn);
            assert_eq!(
                decide(&statements, &untag),
                Decision::Denied,
                "{who}: untag on {resource}"
            );
        }
        // Promoting: the tag added to a restored copy not promoted yet.
        let promote = Request::new("dynamodb:TagResource", &restored)
            .tag_key(PROMOTED)
            .tag_key(PROTECTED_TAG.0)
            .by(&arn);
        let expected = if arn == handler {
            Decision::Allowed
        } else {
            Decision::Denied
        };
        assert_eq!(decide(&statements, &promote), expected, "{who}: promote");
    }
}

/// A promoted copy carries the stack's protection tag: the restore-handler is told which, and it
/// is the tag the backup-trigger, the watchdog, the drills and the backup plan select by.
#[test]
fn the_restore_handler_promotes_with_the_tag_the_stack_protects() {
    let template = deployed();
    let env = |function: &str| {
        let properties = &template.resources()[function]["Properties"];
        template.expand(&properties["Environment"]["Variables"])
    };
    let tag = json!(format!("{}={}", PROTECTED_TAG.0, PROTECTED_TAG.1));
    assert_eq!(env("RestoreHandlerFunction")["PROTECTED_TAG"], tag);
    assert_eq!(env("RestoreHandlerFunction")["DRILL_TAG"], tag);
    assert_eq!(env("BackupTriggerFunction")["BACKUP_TAG"], tag);
    assert_eq!(env("BackupNotifierFunction")["WATCH_TABLE_TAG"], tag);
}

/// The operators' policy carries the very denial every role gets (on every table: they write to
/// no named one anyway), so the two never drift.
#[test]
fn the_operators_are_denied_what_the_roles_are() {
    let template = deployed();
    let guard = &template.resources()["PromotedTablesPolicy"]["Properties"]["PolicyDocument"];
    let guard = template.statements(guard);
    let operators = operator_statements(&template);
    let denial = |statements: &[Value]| {
        let found: Vec<Value> = (statements.iter())
            .filter(|s| s["Sid"] == "NoChangesToPromotedTables")
            .cloned()
            .collect();
        assert_eq!(found.len(), 1, "{found:?}");
        let mut denial = found[0].clone();
        let object = denial.as_object_mut().unwrap();
        let scope = object.remove("Resource").or(object.remove("NotResource"));
        (denial, scope.unwrap())
    };
    let (roles, roles_scope) = denial(&guard);
    let (theirs, their_scope) = denial(&operators);
    assert_eq!(roles, theirs);
    assert_eq!(their_scope, "*");
    assert_eq!(
        roles_scope,
        json!([
            "arn:aws:dynamodb:*:*:table/orders",
            "arn:aws:dynamodb:*:*:table/orders-restored-20260101T000000Z"
        ])
    );
}

/// IAM refuses a managed policy over 6,144 characters (whitespace not counted): the operators'
/// policy, which names each protected table twice, and the promoted tables' policy stay under it
/// with fifteen tables of thirty characters (the README says so; more select by ProtectedTag).
#[test]
fn the_policies_that_name_the_tables_fit_iams_size_limit() {
    let names: Vec<String> = (0..15)
        .map(|i| format!("customer-orders-by-region-{i:04}"))
        .collect();
    let names = names.join(",");
    let template = Template::with(&[("ProtectedTables", &names), ("ProtectedTag", "team=data")]);
    for policy in ["OperatorPolicy", "PromotedTablesPolicy"] {
        let document = &template.resources()[policy]["Properties"]["PolicyDocument"];
        let statements = template.statements(document);
        let text = json!({"Version": "2012-10-17", "Statement": statements}).to_string();
        assert!(text.len() <= 6144, "{policy}: {} characters", text.len());
    }
}
