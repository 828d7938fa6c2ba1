//! Backups that nobody deletes and that a table is never left without: the vault's policy and lock,
//! the retention parameters (CloudFormation cannot compare numbers, so their relations are checked
//! here, at the defaults), the plan and what it selects.

use std::collections::BTreeSet;

use serde_json::json;
use template_check::{Template, arn_matches, strings};

/// What the vault's access policy denies to everyone.
fn denied_by_vault(template: &Template) -> BTreeSet<String> {
    let vault = &template.resources()["BackupVault"]["Properties"];
    let policy = template.expand(&vault["AccessPolicy"]);
    let mut denied = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        assert_eq!(
            (
                &statement["Effect"],
                &statement["Principal"],
                &statement["Resource"]
            ),
            (&json!("Deny"), &json!("*"), &json!("*")),
            "{statement}"
        );
        assert!(
            statement.get("Condition").is_none(),
            "no exceptions: {statement}"
        );
        denied.extend(strings(&statement["Action"]));
    }
    denied
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn nobody_deletes_a_recovery_point_or_the_vault_and_freezing_the_policy_is_a_choice() {
    let deletions = [
        "backup:DeleteRecoveryPoint",
        "backup:UpdateRecoveryPointLifecycle",
        "backup:DeleteBackupVaultAccessPolicy",
        "backup:DeleteBackupVault",
    ];
    // By default CloudFormation can still update (and roll back) the policy.
    assert_eq!(denied_by_vault(&Template::load()), set(&deletions));
    // Frozen: what AWS Config's backup-recovery-point-manual-deletion-disabled looks for.
    let frozen = Template::with(&[("FreezeVaultPolicy", "true")]);
    let mut all = set(&deletions);
    all.insert("backup:PutBackupVaultAccessPolicy".into());
    assert_eq!(denied_by_vault(&frozen), all);
    assert_eq!(frozen.parameter("FreezeVaultPolicy"), "true");
    assert_eq!(Template::load().parameter("FreezeVaultPolicy"), "false");

    // People: the operators' policy never deletes a backup either.
    let template = Template::load();
    let operator = template.expand(&template.resources()["OperatorPolicy"]["Properties"]);
    let denied: BTreeSet<String> = operator["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Deny")
        .flat_map(|s| strings(&s["Action"]))
        .collect();
    for action in [
        "dynamodb:DeleteBackup",
        "backup:DeleteRecoveryPoint",
        "backup:DeleteBackupSelection",
        "backup:UpdateRecoveryPointLifecycle",
    ] {
        assert!(denied.contains(action), "{action}");
    }
}

#[test]
fn the_vault_lock_follows_its_mode_and_the_trigger_knows_its_bounds() {
    let template = Template::load();
    let modes = &template.json["Parameters"]["VaultLockMode"];
    assert_eq!(
        modes["AllowedValues"],
        json!(["none", "governance", "compliance"])
    );
    assert_eq!(modes["Default"], "none");
    for mode in ["none", "governance", "compliance"] {
        let template = Template::with(&[("VaultLockMode", mode)]);
        let vault = template.expand(&template.resources()["BackupVault"]["Properties"]);
        let lock = &vault["LockConfiguration"];
        let trigger = template.environment(template.function("backup-trigger").1);
        let bounds = (
            trigger["VAULT_LOCK_MIN_RETENTION_DAYS"].as_str(),
            trigger["VAULT_LOCK_MAX_RETENTION_DAYS"].as_str(),
        );
        if mode == "none" {
            assert!(lock.is_null(), "{mode}: {lock}");
            assert_eq!(bounds, ("", ""), "{mode}");
            continue;
        }
        let min = template.parameter("VaultLockMinRetentionDays");
        let max = template.parameter("VaultLockMaxRetentionDays");
        assert_eq!(
            (&lock["MinRetentionDays"], &lock["MaxRetentionDays"]),
            (&json!(min), &json!(max))
        );
        // The trigger checks its lifecycle against the lock at cold start.
        assert_eq!(bounds, (min.as_str(), max.as_str()), "{mode}");
        // Without ChangeableForDays the lock is governance mode; with it, compliance.
        let changeable = &lock["ChangeableForDays"];
        match mode {
            "governance" => assert!(changeable.is_null(), "{lock}"),
            _ => assert_eq!(
                changeable,
                &json!(template.parameter("VaultLockChangeableForDays"))
            ),
        }
    }
}

#[test]
fn retention_at_the_defaults_fits_the_lock_and_cold_storage_and_keeps_a_backup() {
    let template = Template::load();
    let parameters = &template.json["Parameters"];
    let delete = template.number("DeleteAfterDays");
    let cold = template.number("ColdStorageAfterDays");
    // Both the plan and the trigger's AWS Backup jobs use this lifecycle.
    let rule = &template.resources()["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0];
    let lifecycle = template.expand(&rule["Lifecycle"]);
    assert_eq!(lifecycle["DeleteAfterDays"], json!(delete.to_string()));
    let trigger = template.environment(template.function("backup-trigger").1);
    assert_eq!(trigger["DELETE_AFTER_DAYS"], delete.to_string());

    // A lock refuses every job whose retention is outside its bounds.
    let (min, max) = (
        template.number("VaultLockMinRetentionDays"),
        template.number("VaultLockMaxRetentionDays"),
    );
    assert!(
        (min..=max).contains(&delete),
        "DeleteAfterDays {delete} outside the lock's [{min}, {max}]"
    );
    // Cold storage keeps a recovery point 90 days at least.
    if template.condition("UseColdStorage") {
        assert!(
            delete >= cold + 90,
            "DeleteAfterDays {delete}, cold after {cold}"
        );
        assert_eq!(
            lifecycle["MoveToColdStorageAfterDays"],
            json!(cold.to_string())
        );
    } else {
        assert!(lifecycle.get("MoveToColdStorageAfterDays").is_none());
        assert_eq!(trigger["COLD_STORAGE_AFTER_DAYS"], "");
    }
    // AWS refuses a compliance lock with less than 3 days of cooling-off.
    let changeable = &parameters["VaultLockChangeableForDays"];
    assert!(template.number("VaultLockChangeableForDays") >= 3);
    assert!(
        changeable["MinValue"].as_i64().unwrap() >= 3,
        "{changeable}"
    );
    // Pruning never takes a table's last native backup.
    let keep_last = &parameters["NativeKeepLast"];
    assert!(keep_last["MinValue"].as_i64().unwrap() >= 1, "{keep_last}");
    assert!(template.number("NativeKeepLast") >= 1);
}

#[test]
fn legacy_backups_are_pruned_only_when_adopted() {
    let template = Template::load();
    let adopt = &template.json["Parameters"]["AdoptLegacyBackups"];
    assert_eq!(adopt["AllowedValues"], json!(["true", "false"]));
    for (value, expected) in [
        (None, "false"),
        (Some("true"), "true"),
        (Some("false"), "false"),
    ] {
        let template = match value {
            Some(v) => Template::with(&[("AdoptLegacyBackups", v)]),
            None => Template::load(),
        };
        let trigger = template.environment(template.function("backup-trigger").1);
        assert_eq!(trigger["ADOPT_LEGACY_BACKUPS"], expected, "{value:?}");
    }
}

#[test]
fn the_plan_backs_up_only_dynamodb_tables_tagged_for_it() {
    let template = Template::load();
    let resources = template.resources();
    // The blog's plan: 05:00 UTC daily, 60/120 minute windows, deleted after 366 days.
    let rule = &resources["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0];
    assert_eq!(rule["ScheduleExpression"], "cron(0 5 ? * * *)");
    assert_eq!(
        (
            rule["StartWindowMinutes"].as_i64(),
            rule["CompletionWindowMinutes"].as_i64()
        ),
        (Some(60), Some(120))
    );
    assert_eq!(
        template.resolve(&rule["Lifecycle"]["DeleteAfterDays"]),
        "366"
    );

    let selection = template.expand(&resources["BackupSelection"]["Properties"]["BackupSelection"]);
    // ListOfTags would be OR-ed with Resources: anything tagged, of any service.
    assert!(selection.get("ListOfTags").is_none(), "{selection}");
    let patterns = strings(&selection["Resources"]);
    for pattern in &patterns {
        assert!(
            !arn_matches(pattern, "arn:aws:s3:::order_transaction-ddb-guard"),
            "{pattern}"
        );
        assert!(!arn_matches(
            pattern,
            "arn:aws:ec2:us-east-1:123456789012:volume/vol-1"
        ));
    }
    let orders = template.resolve(&json!({"Fn::GetAtt": ["OrdersTable", "Arn"]}));
    assert!(
        patterns.iter().any(|p| arn_matches(p, &orders)),
        "{patterns:?}"
    );

    // AND the tag, which the stack's table carries.
    let conditions = &selection["Conditions"];
    assert_eq!(
        conditions.as_object().map(|c| c.len()),
        Some(1),
        "{conditions}"
    );
    let equals = conditions["StringEquals"].as_array().unwrap();
    assert_eq!(equals.len(), 1);
    let key = equals[0]["ConditionKey"].as_str().unwrap();
    let tag = key
        .strip_prefix("aws:ResourceTag/")
        .expect("a resource tag");
    let value = &equals[0]["ConditionValue"];
    assert_eq!((tag, value), ("backup", &json!("daily")));
    let tags = resources["OrdersTable"]["Properties"]["Tags"]
        .as_array()
        .unwrap();
    assert!(
        tags.iter().any(|t| t["Key"] == tag && &t["Value"] == value),
        "the stack's table is not selected: {tags:?}"
    );
}
