//! Backups that nobody deletes once the user asks for it, and that a table is never left without:
//! the vault's policy and lock, the retention (CloudFormation cannot compare numbers, so its
//! relations are checked here), the plan and what it selects.

use std::collections::BTreeSet;

use serde_json::json;
use template_check::{Template, arn_matches, strings};

/// What the vault's access policy denies to everyone, without exception. The one conditional
/// statement keeps other accounts from copying into the vault.
fn denied_by_vault(template: &Template) -> BTreeSet<String> {
    let vault = &template.resources()["BackupVault"]["Properties"];
    let policy = template.expand(&vault["AccessPolicy"]);
    let mut denied = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        if statement["Sid"] == "OnlyThisAccountCopiesIn" {
            assert_eq!(statement["Action"], "backup:CopyIntoBackupVault");
            let other = &statement["Condition"]["StringNotEquals"]["aws:PrincipalAccount"];
            assert_eq!(other, template_check::ACCOUNT);
            continue;
        }
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
fn nobody_deletes_a_recovery_point_once_asked_and_cloudformation_can_always_update_the_policy() {
    // A trial's recovery points can be deleted: nothing stays behind for a year. The policy is
    // there all the same, so that turning the deny on and off replaces it (removing it would
    // need DeleteBackupVaultAccessPolicy, which the deny refuses).
    assert_eq!(denied_by_vault(&Template::load()), BTreeSet::new());
    let denying = Template::with(&[
        ("DenyBackupDeletion", "true"),
        ("AlertEmail", "oncall@example.com"),
    ]);
    // Never PutBackupVaultAccessPolicy: that would stop every later update and rollback.
    assert_eq!(
        denied_by_vault(&denying),
        set(&[
            "backup:DeleteRecoveryPoint",
            "backup:UpdateRecoveryPointLifecycle",
            "backup:DeleteBackupVaultAccessPolicy",
            "backup:DeleteBackupVault",
        ])
    );

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
    let modes = &template.json["Parameters"]["IrreversibleVaultLock"];
    assert_eq!(
        modes["AllowedValues"],
        json!(["none", "governance", "compliance"])
    );
    assert_eq!(modes["Default"], "none");
    let setting = |key: &str| template.setting(key);
    for mode in ["none", "governance", "compliance"] {
        let template = Template::with(&[
            ("IrreversibleVaultLock", mode),
            ("AlertEmail", "oncall@example.com"),
        ]);
        let vault = template.expand(&template.resources()["BackupVault"]["Properties"]);
        let lock = &vault["LockConfiguration"];
        let trigger = template.environment(template.function("backup-trigger").1);
        let bounds = (
            trigger["VAULT_LOCK_MIN_RETENTION_DAYS"].clone(),
            trigger["VAULT_LOCK_MAX_RETENTION_DAYS"].clone(),
        );
        if mode == "none" {
            assert!(lock.is_null(), "{mode}: {lock}");
            assert_eq!(bounds, (String::new(), String::new()), "{mode}");
            continue;
        }
        let (min, max) = (setting("MinRetentionDays"), setting("MaxRetentionDays"));
        assert_eq!(
            (
                lock["MinRetentionDays"].to_string(),
                lock["MaxRetentionDays"].to_string()
            ),
            (min.clone(), max.clone())
        );
        // The trigger checks its lifecycle against the lock at cold start.
        assert_eq!(bounds, (min, max), "{mode}");
        // Without ChangeableForDays the lock is governance mode; with it, compliance.
        let changeable = &lock["ChangeableForDays"];
        match mode {
            "governance" => assert!(changeable.is_null(), "{lock}"),
            _ => {
                assert_eq!(changeable.to_string(), setting("ChangeableForDays"));
                // AWS refuses a compliance lock with less than 3 days of cooling-off.
                assert!(changeable.as_i64().unwrap() >= 3);
            }
        }
    }
}

#[test]
fn one_retention_for_every_backup_and_it_fits_the_lock() {
    for retention in ["7", "35", "366"] {
        let template = Template::with(&[
            ("BackupRetentionDays", retention),
            ("IrreversibleVaultLock", "governance"),
            ("AlertEmail", "oncall@example.com"),
        ]);
        // The plan, the trigger's AWS Backup jobs and its native backups keep the same days.
        let rule =
            &template.resources()["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0];
        let lifecycle = template.expand(&rule["Lifecycle"]);
        assert_eq!(lifecycle, json!({"DeleteAfterDays": retention}));
        let trigger = template.environment(template.function("backup-trigger").1);
        assert_eq!(trigger["DELETE_AFTER_DAYS"], retention);
        assert_eq!(trigger["RETENTION_DAYS"], retention);
        // A lock refuses every job whose retention is outside its bounds.
        let min = template.number_of(&trigger["VAULT_LOCK_MIN_RETENTION_DAYS"]);
        let max = template.number_of(&trigger["VAULT_LOCK_MAX_RETENTION_DAYS"]);
        let days: i64 = retention.parse().unwrap();
        assert!(
            (min..=max).contains(&days),
            "{days} days outside the lock's [{min}, {max}]"
        );
    }
    // Below the lock's minimum, every job would fail: the parameter's floor says so.
    let template = Template::load();
    let floor = template.json["Parameters"]["BackupRetentionDays"]["MinValue"]
        .as_i64()
        .unwrap();
    assert!(floor >= 1);
}

#[test]
fn the_plan_is_the_blogs_schedule_and_selects_no_table_by_default_beyond_the_demo() {
    let template = Template::load();
    let resources = template.resources();
    // The blog's plan: 05:00 UTC daily, 60/120 minute windows.
    let rule = &resources["BackupPlan"]["Properties"]["BackupPlan"]["BackupPlanRule"][0];
    assert_eq!(rule["ScheduleExpression"], "cron(0 5 ? * * *)");
    assert_eq!(
        (
            rule["StartWindowMinutes"].as_i64(),
            rule["CompletionWindowMinutes"].as_i64()
        ),
        (Some(60), Some(120))
    );
    let selections = template.of_type("AWS::Backup::BackupSelection");
    let deployed: Vec<_> = selections
        .iter()
        .filter(|(_, s)| template.exists(s))
        .collect();
    assert_eq!(deployed.len(), 1, "{deployed:?}");
    let selection = template.expand(&deployed[0].1["Properties"]["BackupSelection"]);
    // ListOfTags would be OR-ed with Resources: anything tagged, of any service.
    assert!(selection.get("ListOfTags").is_none(), "{selection}");
    assert!(selection.get("Conditions").is_none(), "{selection}");
    let patterns = strings(&selection["Resources"]);
    let demo = template.resolve(&json!({"Fn::GetAtt": ["DemoTable", "Arn"]}));
    assert_eq!(patterns.len(), 1, "{patterns:?}");
    assert!(arn_matches(&patterns[0], &demo), "{patterns:?} {demo}");
    for other in [
        "arn:aws:dynamodb:us-east-1:123456789012:table/orders",
        "arn:aws:s3:::order_transaction-ddb-guard",
    ] {
        assert!(!arn_matches(&patterns[0], other), "{other}");
    }
}
