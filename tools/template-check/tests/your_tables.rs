//! The stack protects the tables the user names and nothing else: the tables are parameters, and
//! every table variable, IAM statement, backup selection, drill, watchdog and restore test is
//! derived from them. Proved on the template SAM deploys (transformed), with two existing tables,
//! a tag and a load table, and with nothing named (the demo table).

use std::collections::BTreeSet;

use serde_json::{Value, json};
use template_check::{ACCOUNT, REGION, Template, arn_matches, strings};

const TAG: (&str, &str) = ("ddb-guard-trial", "protected");
const ROLES: [&str; 4] = [
    "CsvLoaderFunctionRole",
    "BackupTriggerFunctionRole",
    "RestoreHandlerFunctionRole",
    "BackupNotifierFunctionRole",
];
/// Reading a table's description and tags, which finding the tables that carry a tag needs.
const DISCOVERY: [&str; 2] = ["dynamodb:DescribeTable", "dynamodb:ListTagsOfResource"];

fn named(with_tag: bool) -> Template {
    let tag = format!("{}={}", TAG.0, TAG.1);
    let mut parameters = vec![
        ("ProtectedTables", "orders,users"),
        ("LoadTables", "loads"),
        ("RestoreChecks", "both"),
        ("AlertEmail", "oncall@example.com"),
    ];
    if with_tag {
        parameters.push(("ProtectedTag", tag.as_str()));
    }
    Template::with(&parameters).transformed()
}

fn table(name: &str) -> String {
    format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}")
}

fn backup(name: &str) -> String {
    format!("{}/backup/01700000000000-abcdef12", table(name))
}

/// Whether a statement's condition holds for a resource carrying `tags`. Tag conditions are
/// evaluated; a condition on anything else (the KMS service, the role passed) restricts how,
/// not which table, and holds here.
fn condition_holds(condition: &Value, tags: &[(&str, &str)]) -> bool {
    let Some(condition) = condition.as_object() else {
        return true;
    };
    condition.iter().all(|(operator, keys)| {
        keys.as_object().unwrap().iter().all(|(key, value)| {
            let Some(tag) = key.strip_prefix("aws:ResourceTag/") else {
                return true;
            };
            let carried = tags.iter().find(|(k, _)| *k == tag).map(|(_, v)| *v);
            match operator.as_str() {
                "StringEquals" => carried == value.as_str(),
                "Null" => carried.is_some() == (value == "false"),
                other => panic!("condition {other} on {key}"),
            }
        })
    })
}

/// The actions `statements` allow on `arn`, for a resource carrying `tags`. Actions IAM cannot
/// scope to a resource (`"Resource": "*"`, such as ListTables and ListBackups) are left out:
/// they list, and act on nothing.
fn allowed_on(statements: &[Value], arn: &str, tags: &[(&str, &str)]) -> BTreeSet<String> {
    let mut actions = BTreeSet::new();
    let scoped = |s: &&Value| s["Effect"] == "Allow" && s["Resource"] != "*";
    for statement in statements.iter().filter(scoped) {
        let resources = strings(&statement["Resource"]);
        if resources.iter().any(|r| arn_matches(r, arn))
            && condition_holds(&statement["Condition"], tags)
        {
            actions.extend(strings(&statement["Action"]));
        }
    }
    actions
}

fn without_discovery(actions: BTreeSet<String>) -> BTreeSet<String> {
    actions
        .into_iter()
        .filter(|a| !DISCOVERY.contains(&a.as_str()))
        .collect()
}

#[test]
fn named_tables_and_a_load_table_are_all_the_stack_touches() {
    let template = named(false);
    let payments = table("payments");
    for role in ROLES {
        let statements = template.role_statements(role);
        // The blog's own tag on a table nobody named changes nothing.
        let blog = [("backup", "daily")];
        assert_eq!(
            allowed_on(&statements, &payments, &blog),
            BTreeSet::new(),
            "{role}"
        );
        assert_eq!(
            allowed_on(&statements, &backup("payments"), &blog),
            BTreeSet::new(),
            "{role}"
        );
        // Each named table is treated alike (the load table is protected too).
        let orders = allowed_on(&statements, &table("orders"), &[]);
        let loads = allowed_on(&statements, &table("loads"), &[]);
        if role == "CsvLoaderFunctionRole" {
            assert_eq!(orders, BTreeSet::new(), "{role} writes only the load table");
            assert!(loads.contains("dynamodb:BatchWriteItem"), "{loads:?}");
            continue;
        }
        assert!(!orders.is_empty(), "{role}");
        assert_eq!(
            orders,
            allowed_on(&statements, &table("users"), &[]),
            "{role}"
        );
        let expected: BTreeSet<String> = orders.clone();
        assert_eq!(loads, expected, "{role}");
    }
    let trigger = template.role_statements("BackupTriggerFunctionRole");
    assert!(allowed_on(&trigger, &table("users"), &[]).contains("dynamodb:CreateBackup"));
    assert!(allowed_on(&trigger, &backup("users"), &[]).contains("dynamodb:DeleteBackup"));
    let restore = template.role_statements("RestoreHandlerFunctionRole");
    for action in ["dynamodb:RestoreTableToPointInTime", "dynamodb:Scan"] {
        assert!(
            allowed_on(&restore, &table("orders"), &[]).contains(action),
            "{action}"
        );
    }
    // No tag, no policy for tagged tables.
    assert!(
        template
            .of_type("AWS::IAM::Policy")
            .values()
            .all(|p| !template.exists(p))
    );
}

#[test]
fn a_tagged_table_is_protected_like_a_named_one_and_an_untagged_one_only_looked_at() {
    let template = named(true);
    let tag = [TAG];
    for role in ROLES {
        let statements = template.role_statements(role);
        let tagged = allowed_on(&statements, &table("tagged"), &tag);
        let payments = allowed_on(&statements, &table("payments"), &[("backup", "daily")]);
        // Finding the tagged tables reads every table's description and tags, and no more.
        assert!(
            payments.iter().all(|a| DISCOVERY.contains(&a.as_str())),
            "{role}: {payments:?}"
        );
        if role == "CsvLoaderFunctionRole" {
            assert_eq!(tagged, BTreeSet::new(), "the loader writes only LoadTables");
            continue;
        }
        let orders = allowed_on(&statements, &table("orders"), &[]);
        assert_eq!(
            without_discovery(tagged),
            without_discovery(orders),
            "{role}"
        );
        // A backup carries no tag: IAM cannot tell a tagged table's backups from another's,
        // and the code touches only the backups it took (the README's deploy section says so).
        let backups = allowed_on(&statements, &backup("payments"), &[]);
        let allowed: BTreeSet<String> = [
            "dynamodb:DeleteBackup",
            "dynamodb:DescribeBackup",
            "dynamodb:RestoreTableFromBackup",
            "backup:DescribeRecoveryPoint",
            DISCOVERY[0],
            DISCOVERY[1],
        ]
        .map(String::from)
        .into();
        assert!(backups.is_subset(&allowed), "{role}: {backups:?}");
    }
}

#[test]
fn every_table_variable_names_the_protected_tables() {
    for with_tag in [false, true] {
        let template = named(with_tag);
        let env = |function: &str| {
            let function = &template.resources()[function]["Properties"];
            template.expand(&function["Environment"]["Variables"])
        };
        let tag = if with_tag {
            format!("{}={}", TAG.0, TAG.1)
        } else {
            String::new()
        };
        assert_eq!(env("CsvLoaderFunction")["TABLE_NAMES"], "loads");
        let trigger = env("BackupTriggerFunction");
        assert_eq!(trigger["TABLE_NAMES"], "orders,users,loads");
        assert_eq!(trigger["BACKUP_TAG"], json!(tag));
        let notifier = env("BackupNotifierFunction");
        assert_eq!(notifier["WATCH_TABLE_NAMES"], "orders,users,loads");
        assert_eq!(notifier["WATCH_TABLE_TAG"], json!(tag));
        let restore = env("RestoreHandlerFunction");
        assert_eq!(restore["DRILL_TABLES"], "orders,users,loads");
        assert_eq!(restore["DRILL_TAG"], json!(tag));
        // A request names its source: no table is a default one.
        assert_eq!(restore["SOURCE_TABLE"], "");
        // A restored copy does not carry the tag that would make it protected.
        let skip = if with_tag { TAG.0 } else { "" };
        assert_eq!(restore["SKIP_TAGS"], skip);
        assert!(!template.exists(&template.resources()["DemoTable"]));
    }
}

/// The patterns of the deployed selections of one type, and their tag conditions.
fn selections(template: &Template, kind: &str) -> (Vec<String>, Vec<Value>) {
    let mut patterns = Vec::new();
    let mut conditions = Vec::new();
    for selection in template
        .of_type(kind)
        .values()
        .filter(|s| template.exists(s))
    {
        let properties = template.expand(&selection["Properties"]);
        let body = properties.get("BackupSelection").unwrap_or(&properties);
        let arns = body.get("Resources").or(body.get("ProtectedResourceArns"));
        let condition = body
            .get("Conditions")
            .or(body.get("ProtectedResourceConditions"));
        assert!(
            body.get("ListOfTags").is_none(),
            "OR-ed with Resources: {body}"
        );
        if let Some(condition) = condition {
            conditions.push(condition.clone());
        }
        patterns.extend(strings(arns.expect("resources")));
    }
    (patterns, conditions)
}

#[test]
fn the_backup_plan_selects_exactly_the_protected_tables() {
    // Restore testing takes what the stack's vault holds (tests/drills.rs).
    for kind in ["AWS::Backup::BackupSelection"] {
        let (patterns, conditions) = selections(&named(false), kind);
        for name in ["orders", "users", "loads"] {
            assert!(
                patterns.iter().any(|p| arn_matches(p, &table(name))),
                "{kind} {name}"
            );
        }
        assert!(
            !patterns.iter().any(|p| arn_matches(p, &table("payments"))),
            "{kind}"
        );
        assert!(conditions.is_empty(), "{kind}: {conditions:?}");

        // With the tag: every table AND the tag, in a selection of its own.
        let (_, conditions) = selections(&named(true), kind);
        assert_eq!(conditions.len(), 1, "{kind}");
        let text = conditions[0].to_string();
        assert!(
            text.contains(&format!("aws:ResourceTag/{}", TAG.0)),
            "{text}"
        );
        assert!(text.contains(TAG.1), "{text}");
    }
}

#[test]
fn with_nothing_named_the_stack_makes_a_demo_table_and_protects_only_it() {
    let template = Template::load().transformed();
    assert!(template.exists(&template.resources()["DemoTable"]));
    let demo = template.resolve(&json!({"Ref": "DemoTable"}));
    let env = |function: &str| {
        let function = &template.resources()[function]["Properties"];
        template.expand(&function["Environment"]["Variables"])
    };
    assert_eq!(env("CsvLoaderFunction")["TABLE_NAMES"], json!(demo));
    assert_eq!(env("BackupTriggerFunction")["TABLE_NAMES"], json!(demo));
    assert_eq!(env("BackupTriggerFunction")["BACKUP_TAG"], "");
    assert_eq!(
        env("BackupNotifierFunction")["WATCH_TABLE_NAMES"],
        json!(demo)
    );
    assert_eq!(env("RestoreHandlerFunction")["SOURCE_TABLE"], json!(demo));
    for role in ROLES {
        let statements = template.role_statements(role);
        let other = allowed_on(&statements, &table("orders"), &[("backup", "daily")]);
        assert_eq!(other, BTreeSet::new(), "{role}");
    }
    let (patterns, conditions) = selections(&template, "AWS::Backup::BackupSelection");
    assert!(conditions.is_empty(), "no selection by tag: {conditions:?}");
    assert!(
        patterns.iter().all(|p| arn_matches(p, &table(&demo))),
        "{patterns:?}"
    );

    // Any table named: no demo table.
    for parameter in ["ProtectedTables", "LoadTables"] {
        let template = Template::with(&[(parameter, "orders")]);
        assert!(
            !template.exists(&template.resources()["DemoTable"]),
            "{parameter}"
        );
    }
    let template = Template::with(&[("ProtectedTag", "team=data")]);
    assert!(!template.exists(&template.resources()["DemoTable"]));
}

#[test]
fn what_sam_delete_leaves_is_named_for_the_stack_instance_so_a_redeploy_works() {
    let template = Template::load();
    let id = template_check::STACK_UUID.split('-').next().unwrap();
    for (resource, property) in [
        ("DataBucket", "BucketName"),
        ("BackupVault", "BackupVaultName"),
        ("DemoTable", "TableName"),
    ] {
        let r = &template.resources()[resource];
        assert_eq!(r["DeletionPolicy"], "Retain", "{resource}");
        let name = template.resolve(&r["Properties"][property]);
        assert!(
            name.ends_with(id),
            "{resource} {name}: a second stack of the name collides"
        );
    }
    // Every other resource with a fixed name is deleted with the stack.
    for (id, resource) in template.resources() {
        if resource["DeletionPolicy"] == "Retain" {
            assert!(
                ["DataBucket", "BackupVault", "DemoTable"].contains(&id.as_str()),
                "{id}"
            );
        }
    }
    // The loader reads and writes the bucket by that name (no cycle with its notification).
    let loader = template.environment(template.function("csv-loader").1);
    assert_eq!(
        loader["BUCKET_NAME"],
        template.resolve(&json!({"Ref": "DataBucket"}))
    );
}

#[test]
fn every_grant_on_a_list_of_names_is_held_to_the_stacks_region() {
    // IAM takes `*` for the region and account of the names (CloudFormation cannot map a list):
    // a condition keeps each such grant in the stack's region.
    let template = named(true);
    let operator = &template.resources()["OperatorPolicy"]["Properties"]["PolicyDocument"];
    let operator = template.statements(operator);
    let mut checked = 0;
    for statements in ROLES
        .iter()
        .map(|r| template.role_statements(r))
        .chain([operator])
    {
        // Denials are checked in tests/promoted.rs: a deny's exemptions may name any region.
        for statement in statements.into_iter().filter(|s| s["Effect"] == "Allow") {
            if strings(&statement["Resource"])
                .iter()
                .any(|r| r.contains(":*:*:table/"))
            {
                let region = &statement["Condition"]["StringEquals"]["aws:RequestedRegion"];
                assert_eq!(region, REGION, "{statement}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 8, "the statements on named tables");
}
