//! Who may restore, into what, with which keys: the restore-handler's customer managed keys.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use template_check::{ACCOUNT, REGION, Template, strings};

fn restore_handler(template: &Template) -> &Value {
    template.function("restore-handler").1
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn the_restore_handler_uses_only_the_kms_keys_it_is_given_and_only_through_dynamodb() {
    // By default: no key, no KMS grant at all.
    let template = Template::load();
    assert!(!template.condition("HasRestoreKmsKeys"));
    let allowed = template.allowed_actions(restore_handler(&template));
    assert_eq!(allowed, set(restore_handler::AWS_ACTIONS));
    assert!(
        allowed.iter().all(|a| !a.starts_with("kms:")),
        "{allowed:?}"
    );

    // Two keys: what DynamoDB needs, on those two keys only, through DynamoDB in this region only.
    let keys = [
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/0987dcba-09fe-87dc-65ba-ab0987654321"),
    ];
    let value = keys.join(", ");
    let template = Template::with(&[("RestoreKmsKeyArns", &value)]);
    assert!(template.condition("HasRestoreKmsKeys"));
    let handler = restore_handler(&template);
    let mut expected = set(restore_handler::AWS_ACTIONS);
    expected.extend(set(restore_handler::KMS_ACTIONS));
    assert_eq!(template.allowed_actions(handler), expected);

    let via_dynamodb = json!({"kms:ViaService": format!("dynamodb.{REGION}.amazonaws.com")});
    let mut granted = BTreeSet::new();
    for statement in template.function_statements(handler) {
        let actions = strings(&statement["Action"]);
        if !actions.iter().any(|a| a.starts_with("kms:")) {
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
        .collect();
    assert_eq!(statements.len(), 2, "{statements:?}");
    for statement in &statements {
        assert_eq!(strings(&statement["Resource"]), keys);
        assert_eq!(statement["Condition"]["StringEquals"], via_dynamodb);
    }
}
