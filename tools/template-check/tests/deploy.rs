//! What a person deploying the stack meets: the questions `sam deploy --guided` asks (it shows
//! only each parameter's name and default, in template order), and the trial and production
//! environments of samconfig.toml.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use template_check::Template;

/// The prompts, in the order a user decides them: tables, the alert address, backups, the rest,
/// the irreversible ones last.
const PROMPTS: [&str; 15] = [
    "ProtectedTables",
    "AlertEmail",
    "ProtectedTag",
    "LoadTables",
    "LoadColumnTypes",
    "BackupEngine",
    "BackupSchedule",
    "MaxBackupAgeHours",
    "BackupRetentionDays",
    "RestoreChecks",
    "FallbackEmail",
    "RestoreKmsKeyArns",
    "DenyBackupDeletion",
    "IrreversibleVaultKmsKeyArn",
    "IrreversibleVaultLock",
];

/// The parameters in the order the template declares them (the order `--guided` asks).
fn declared() -> Vec<String> {
    let text = std::fs::read_to_string(local_aws::workspace_root().join("template.yaml")).unwrap();
    let section = text.split("\nParameters:\n").nth(1).expect("Parameters");
    section
        .lines()
        .take_while(|line| line.is_empty() || line.starts_with(' ') || line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("  "))
        .filter(|line| !line.starts_with(' ') && !line.starts_with('#'))
        .map(|line| line.trim_end_matches(':').to_string())
        .collect()
}

#[test]
fn the_guided_deploy_asks_fifteen_questions_at_most_in_the_order_a_user_decides_them() {
    assert_eq!(declared(), PROMPTS);
    let template = Template::load();
    let parameters = template.json["Parameters"].as_object().unwrap();
    assert_eq!(parameters.len(), PROMPTS.len());
    assert_eq!(
        PROMPTS[1], "AlertEmail",
        "the alert address is the second question"
    );
    for (name, spec) in parameters {
        let description = spec["Description"].as_str().unwrap_or_default();
        assert!(
            description.len() > 20,
            "{name} has no Description the console can show"
        );
    }
    // Irreversible choices come last and say so in their names.
    let irreversible: Vec<&str> = PROMPTS
        .iter()
        .copied()
        .filter(|p| p.starts_with("Irreversible"))
        .collect();
    assert_eq!(irreversible, PROMPTS[PROMPTS.len() - 2..]);
    // The console groups them in the same order.
    let groups = &template.json["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"];
    let grouped: Vec<&str> = groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["Parameters"].as_array().unwrap())
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(grouped, PROMPTS);
}

/// An environment's `parameter_overrides` in samconfig.toml.
fn overrides(environment: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(local_aws::workspace_root().join("samconfig.toml")).unwrap();
    let header = format!("[{environment}.deploy.parameters]");
    let section = text
        .split(&header)
        .nth(1)
        .unwrap_or_else(|| panic!("no {header}"));
    let line = section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("parameter_overrides = "))
        .expect("parameter_overrides");
    line.trim_matches('"')
        .split_whitespace()
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn deployed(environment: &str, extra: &[(&str, &str)]) -> Template {
    let overrides = overrides(environment);
    let mut parameters: Vec<(&str, &str)> = overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    parameters.extend_from_slice(extra);
    Template::with(&parameters)
}

#[test]
fn the_default_environment_is_a_trial_that_locks_nothing_and_selects_no_tag() {
    let trial = deployed("default", &[]);
    let vault = trial.expand(&trial.resources()["BackupVault"]["Properties"]);
    assert!(vault.get("LockConfiguration").is_none(), "{vault}");
    // No deny-delete: the vault's one statement keeps other accounts from copying in.
    let statements = vault["AccessPolicy"]["Statement"].as_array().unwrap();
    let sids: Vec<&Value> = statements.iter().map(|s| &s["Sid"]).collect();
    assert_eq!(sids, [&json!("OnlyThisAccountCopiesIn")], "{vault}");
    assert_eq!(trial.number("BackupRetentionDays"), 7);
    assert!(!trial.condition("DrillsAreEnabled"));
    assert!(!trial.condition("UseRestoreTesting"));
    // No selection of every table carrying some tag: only the demo table, by name.
    assert!(!trial.condition("HasProtectedTag"));
    assert!(trial.condition("CreatesDemoTable"));
    // The template's own defaults are the same trial (a first `sam deploy` with no config).
    let defaults = Template::load();
    for (name, value) in overrides("default") {
        assert_eq!(defaults.parameter(&name), value, "{name}");
    }
}

#[test]
fn production_protects_and_cannot_be_deployed_without_an_alert_address() {
    let production = overrides("production");
    assert!(
        !production.contains_key("AlertEmail"),
        "asked, never defaulted"
    );
    let template = deployed("production", &[("AlertEmail", "oncall@example.com")]);
    let vault = template.expand(&template.resources()["BackupVault"]["Properties"]);
    let statements = vault["AccessPolicy"]["Statement"].as_array().unwrap();
    assert!(
        statements
            .iter()
            .any(|s| s["Sid"] == "NobodyDeletesRecoveryPoints"),
        "{vault}"
    );
    // Governance unless asked: compliance is the one lock nobody can lift.
    assert!(vault["LockConfiguration"].is_object(), "{vault}");
    assert!(
        vault["LockConfiguration"]
            .get("ChangeableForDays")
            .is_none()
    );
    assert!(template.number("BackupRetentionDays") >= 35);
    assert!(template.condition("DrillsAreEnabled"));

    // The template refuses the protective settings without someone to tell.
    let rule = &template.json["Rules"]["ProtectionNeedsAnAlertAddress"];
    let asserted = json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]});
    assert_eq!(rule["Assertions"][0]["Assert"], asserted);
    let applies = |parameters: &[(&str, &str)]| {
        let template = Template::with(parameters);
        let condition = &template.json["Rules"]["ProtectionNeedsAnAlertAddress"]["RuleCondition"];
        rule_holds(&template, condition)
    };
    assert!(applies(&[("DenyBackupDeletion", "true")]));
    assert!(applies(&[("IrreversibleVaultLock", "governance")]));
    assert!(!applies(&[]), "a trial deploys without an address");
    // Without one, the stack says so where it is deployed.
    let silent = Template::load();
    let output = &silent.json["Outputs"]["AlertEmailMissing"];
    assert_eq!(output["Condition"], "LacksAlertEmail");
    assert!(silent.condition("LacksAlertEmail"));
}

/// A rule's condition (`Fn::Or`/`Fn::Equals`/`Fn::Not` over parameters).
fn rule_holds(template: &Template, condition: &Value) -> bool {
    let o = condition.as_object().unwrap();
    if let Some(args) = o.get("Fn::Or") {
        return args
            .as_array()
            .unwrap()
            .iter()
            .any(|c| rule_holds(template, c));
    }
    if let Some(args) = o.get("Fn::Not") {
        return !rule_holds(template, &args[0]);
    }
    let args = &o["Fn::Equals"];
    template.resolve(&args[0]) == template.resolve(&args[1])
}
