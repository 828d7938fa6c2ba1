//! Who may restore, into what, with which keys: the restore-handler's customer managed keys, and
//! what the operators' policy lets people do.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use template_check::{ACCOUNT, Grants, REGION, Template, allowed, allows, arn_matches, strings};

fn restore_handler(template: &Template) -> &Value {
    template.function("restore-handler").1
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_restore_handler_uses_only_the_kms_keys_it_is_given_and_only_through_dynamodb() {
    // No restore key: no KMS grant but what publishing to the alert topic needs, on the topic's
    // own key (with a tag, so that every call the code makes is granted).
    let template = Template::with(&[("ProtectedTag", "team=data")]);
    assert!(!template.condition("HasRestoreKmsKeys"));
    let alert_key = template.resolve(&json!({"Fn::GetAtt": ["AlertKey", "Arn"]}));
    let grants = template.grants(restore_handler(&template));
    assert_eq!(
        grants.keys().cloned().collect::<BTreeSet<_>>(),
        set(restore_handler::AWS_ACTIONS)
    );
    let kms: BTreeSet<String> = grants
        .iter()
        .filter(|(action, _)| action.starts_with("kms:"))
        .inspect(|(action, resources)| {
            assert_eq!(
                *resources,
                &BTreeSet::from([alert_key.clone()]),
                "{action}: the alert topic's key only"
            );
        })
        .map(|(action, _)| action.clone())
        .collect();
    assert_eq!(kms, set(&["kms:GenerateDataKey", "kms:Decrypt"]));

    // Two keys: what DynamoDB needs, on those two keys only, through DynamoDB in this region only.
    let keys = [
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"),
    ];
    let value = keys.join(", ");
    let template = Template::with(&[("RestoreKmsKeyArns", &value), ("ProtectedTag", "team=data")]);
    assert!(template.condition("HasRestoreKmsKeys"));
    let handler = restore_handler(&template);
    let mut expected = set(restore_handler::AWS_ACTIONS);
    expected.extend(set(restore_handler::KMS_ACTIONS));
    assert_eq!(template.allowed_actions(handler), expected);

    let via_dynamodb = json!({"kms:ViaService": format!("dynamodb.{REGION}.amazonaws.com")});
    let mut granted = BTreeSet::new();
    for statement in template.function_statements(handler) {
        let actions = strings(&statement["Action"]);
        // The alert topic's key, checked above.
        if !actions.iter().any(|a| a.starts_with("kms:"))
            || strings(&statement["Resource"]) == [alert_key.clone()]
        {
            continue;
        }
        assert!(actions.iter().all(|a| a.starts_with("kms:")), "{statement}");
        assert_eq!(strings(&statement["Resource"]), keys, "{statement}");
        assert_eq!(
            statement["Condition"]["StringEquals"], via_dynamodb,
            "{statement}"
        );
        if actions.iter().any(|a| a == "kms:CreateGrant") {
            // Grants only for AWS resources (DynamoDB's own grant on the key).
            assert_eq!(actions, ["kms:CreateGrant"]);
            assert_eq!(
                statement["Condition"]["Bool"],
                json!({"kms:GrantIsForAWSResource": "true"})
            );
        }
        granted.extend(actions);
    }
    assert_eq!(granted, set(restore_handler::KMS_ACTIONS));

    // What SAM deploys keeps them, conditions and all.
    let deployed = template.transformed();
    let role = &deployed.resources()["RestoreHandlerFunctionRole"];
    let statements: Vec<Value> = role["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| deployed.statements(&p["PolicyDocument"]))
        .filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("kms:")))
        .filter(|s| strings(&s["Resource"]) != [alert_key.clone()])
        .collect();
    assert_eq!(statements.len(), 2, "{statements:?}");
    for statement in &statements {
        assert_eq!(strings(&statement["Resource"]), keys);
        assert_eq!(statement["Condition"]["StringEquals"], via_dynamodb);
    }
}

/// What the operators' policy may do to any table: look at it, back it up, and restore from it
/// (the source side of a restore; the new table is written under the restore-target grants).
const OPERATOR_REACHES_ANY_TABLE: &[&str] = &[
    "dynamodb:ListTables",
    "dynamodb:ListBackups",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:CreateBackup",
    "dynamodb:RestoreTableToPointInTime",
    // Recovery points and jobs, which IAM cannot tie to a table.
    "backup:ListBackupVaults",
    "backup:ListRecoveryPointsByBackupVault",
    "backup:DescribeRecoveryPoint",
    "backup:DescribeBackupJob",
    "backup:DescribeRestoreJob",
    "backup:StartRestoreJob",
];

/// The operators' policy, deployed with `orders` protected.
struct Operators {
    template: Template,
    statements: Vec<Value>,
    grants: Grants,
}

impl Operators {
    fn new() -> Operators {
        let template = Template::with(&[("ProtectedTables", "orders")]);
        let policy = &template.resources()["OperatorPolicy"];
        assert_eq!(policy["Type"], "AWS::IAM::ManagedPolicy");
        let statements = template.statements(&policy["Properties"]["PolicyDocument"]);
        let grants = allowed(&statements);
        Operators {
            template,
            statements,
            grants,
        }
    }

    fn can(&self, action: &str, arn: &str) -> bool {
        allows(&self.grants, action, arn)
    }

    /// The ARN of a resource of the stack.
    fn arn(&self, id: &str, attribute: &str) -> String {
        (self.template).resolve(&json!({"Fn::GetAtt": [id, attribute]}))
    }
}

fn table(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

/// The protected table.
fn production() -> String {
    table("orders")
}

/// A table named as the restore-handler names its restores.
fn restore_target() -> String {
    table("order_transaction-ddb-guard-restored-20261125T050000Z")
}

#[test]
fn operators_back_up_and_restore_into_restore_targets() {
    let operators = Operators::new();
    let can = |action: &str, arn: &str| operators.can(action, arn);
    let (production, target) = (production(), restore_target());
    let backup = format!("{production}/backup/01795582693594-73eaf208");

    // No wildcard actions: each grant says what it is.
    for action in operators.grants.keys() {
        assert!(!action.contains('*'), "{action}");
    }

    // Backups of the protected tables; restores from a backup, to a point in time and from a
    // recovery point, into restore targets.
    assert!(can("dynamodb:CreateBackup", &production));
    assert!(can("dynamodb:RestoreTableFromBackup", &backup));
    assert!(can("dynamodb:RestoreTableToPointInTime", &production));
    assert!(can("dynamodb:DescribeContinuousBackups", &production));
    for action in [
        "dynamodb:RestoreTableFromBackup",
        "dynamodb:PutItem",
        "dynamodb:BatchWriteItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateTable",
    ] {
        assert!(can(action, &target), "{action} on a restore target");
    }
    assert!(can(
        "backup:StartRestoreJob",
        "arn:aws:backup:us-east-1:123456789012:recovery-point:1"
    ));
    assert!(can(
        "backup:StartBackupJob",
        &operators.arn("BackupVault", "BackupVaultArn")
    ));
    assert!(!can(
        "backup:StartBackupJob",
        "arn:aws:backup:us-east-1:123456789012:backup-vault:other"
    ));
}

/// Every write lands on a restore target: whatever reaches another table only looks at it,
/// backs it up or restores from it. No table is created but by a restore, and only a restored
/// copy can be deleted.
#[test]
fn operators_write_only_to_restore_targets() {
    let operators = Operators::new();
    let others = [production(), table("customers")];
    for (action, resources) in &operators.grants {
        for other in &others {
            if resources.iter().any(|r| arn_matches(r, other)) {
                assert!(
                    OPERATOR_REACHES_ANY_TABLE.contains(&action.as_str()),
                    "{action} reaches {other} through {resources:?}"
                );
            }
        }
    }
    assert!(!operators.grants.contains_key("dynamodb:CreateTable"));
    assert!(operators.can("dynamodb:DeleteTable", &restore_target()));
}

/// The backup role (backup jobs) and the restore role (restore jobs), passed to AWS Backup only;
/// no other role.
#[test]
fn operators_pass_only_the_backup_roles_and_only_to_aws_backup() {
    let operators = Operators::new();
    let passing: Vec<&Value> = (operators.statements.iter())
        .filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("iam:")))
        .collect();
    assert_eq!(passing.len(), 1, "{passing:?}");
    let pass = passing[0];
    assert_eq!(pass["Effect"], "Allow");
    assert_eq!(strings(&pass["Action"]), ["iam:PassRole"]);
    assert_eq!(
        strings(&pass["Resource"]),
        [
            operators.arn("BackupServiceRole", "Arn"),
            operators.arn("RestoreServiceRole", "Arn")
        ]
    );
    assert_eq!(
        pass["Condition"],
        json!({"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}})
    );
}

/// The restore-handler, and no other function (nor another stack's whose name starts alike).
#[test]
fn operators_invoke_only_the_restore_handler() {
    let operators = Operators::new();
    let restore_handler = operators.arn("RestoreHandlerFunction", "Arn");
    for (id, _) in operators.template.functions() {
        let function = operators.arn(id, "Arn");
        let expected = function == restore_handler;
        assert_eq!(
            operators.can("lambda:InvokeFunction", &function),
            expected,
            "{function}"
        );
        assert_eq!(
            operators.can("lambda:InvokeFunction", &format!("{function}:$LATEST")),
            expected,
            "{function}"
        );
    }
    assert!(!operators.can("lambda:InvokeFunction", &format!("{restore_handler}-2")));
}

/// Never a backup or a recovery point deleted, whatever else people are allowed.
#[test]
fn operators_never_delete_a_backup() {
    let operators = Operators::new();
    // The one denial of everything (others hold for promoted tables and drill tables only:
    // tests/promoted.rs, tests/least_privilege.rs).
    let denied: BTreeSet<String> = (operators.statements.iter())
        .filter(|s| s["Sid"] == "NeverDeleteBackups")
        .inspect(|s| {
            assert_eq!(
                (&s["Effect"], &s["Resource"]),
                (&json!("Deny"), &json!("*"))
            );
            assert!(s.get("Condition").is_none(), "no exceptions: {s}");
        })
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    assert_eq!(
        denied,
        set(&[
            "dynamodb:DeleteBackup",
            "backup:DeleteRecoveryPoint",
            "backup:DeleteBackupSelection",
            "backup:UpdateRecoveryPointLifecycle",
        ])
    );
    for action in &denied {
        assert!(
            !operators.grants.contains_key(action),
            "{action} allowed and denied"
        );
    }
}
