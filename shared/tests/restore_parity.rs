//! The settings comparison the finish report and the tests share: what differs, what a finish wants
//! for the copy, and what it leaves off and why.

use std::collections::{BTreeMap, BTreeSet};

use shared::restore::parity::{
    Capacity, Choices, Difference, READ, Scaling, ScalingPolicy, TABLE, TableSettings, differences,
    index_scope, wanted,
};

fn provisioned() -> TableSettings {
    TableSettings {
        billing_mode: "PROVISIONED".into(),
        provisioned: BTreeMap::from([
            (TABLE.to_string(), Capacity { read: 5, write: 5 }),
            (index_scope("by-customer"), Capacity { read: 3, write: 3 }),
        ]),
        ..TableSettings::default()
    }
}

fn scaling() -> Scaling {
    Scaling {
        min: 5,
        max: 50,
        policies: vec![ScalingPolicy {
            name: "reads".into(),
            metric: "DynamoDBReadCapacityUtilization".into(),
            target_value: 70.0,
            scale_in_cooldown: Some(60),
            scale_out_cooldown: Some(60),
            disable_scale_in: None,
        }],
    }
}

/// A source with every handled setting on.
fn everything_on() -> TableSettings {
    let mut s = provisioned();
    s.table_class = "STANDARD_INFREQUENT_ACCESS".into();
    s.encryption_key = Some("arn:aws:kms:eu-west-1:1:key/k".into());
    s.stream = Some("NEW_AND_OLD_IMAGES".into());
    s.time_to_live = Some("expires".into());
    s.point_in_time_recovery = Some(35);
    s.deletion_protection = true;
    s.tags = BTreeMap::from([
        ("team".into(), "orders".into()),
        ("backup".into(), "daily".into()),
    ]);
    s.contributor_insights = BTreeSet::from([TABLE.to_string(), index_scope("by-customer")]);
    s.kinesis_destinations = BTreeSet::from(["arn:aws:kinesis:eu-west-1:1:stream/s".into()]);
    s.resource_policy = Some("{\"Resource\":\"{table}\"}".into());
    s.auto_scaling = BTreeMap::from([((TABLE.to_string(), READ), scaling())]);
    s.replicas = BTreeSet::from(["us-east-1".into()]);
    s
}

fn names(differences: &[Difference]) -> Vec<&str> {
    differences.iter().map(|d| d.setting.as_str()).collect()
}

#[test]
fn the_same_settings_have_no_differences() {
    assert!(differences(&everything_on(), &everything_on()).is_empty());
}

#[test]
fn each_setting_is_named_with_both_values() {
    let restored = provisioned();
    let found = differences(&everything_on(), &restored);
    let found_names = names(&found);
    for expected in [
        "table class",
        "encryption",
        "stream",
        "time to live",
        "point-in-time recovery",
        "deletion protection",
        "tag team",
        "tag backup",
        "contributor insights (table)",
        "contributor insights (index by-customer)",
        "kinesis destination arn:aws:kinesis:eu-west-1:1:stream/s",
        "resource policy",
        "auto scaling (table, read)",
        "replica us-east-1",
    ] {
        assert!(
            found_names.contains(&expected),
            "{expected} missing from {found_names:?}"
        );
    }
    let ttl = found.iter().find(|d| d.setting == "time to live").unwrap();
    assert_eq!(
        (ttl.source.as_str(), ttl.target.as_str()),
        ("on expires", "off")
    );
    // Auto scaled capacity is compared by its scaling, not by today's units.
    let mut scaled_up = everything_on();
    scaled_up
        .provisioned
        .insert(TABLE.into(), Capacity { read: 40, write: 5 });
    assert!(differences(&everything_on(), &scaled_up).is_empty());
}

#[test]
fn capacity_counts_only_where_it_applies() {
    let mut on_demand = TableSettings::default();
    on_demand
        .provisioned
        .insert(TABLE.into(), Capacity { read: 0, write: 0 });
    assert!(differences(&on_demand, &TableSettings::default()).is_empty());
    let mut more = provisioned();
    more.provisioned
        .insert(TABLE.into(), Capacity { read: 9, write: 5 });
    let found = differences(&more, &provisioned());
    assert_eq!(names(&found), ["provisioned throughput (table)"]);
    assert_eq!(found[0].source, "read 9, write 5");
    let mut capped = TableSettings::default();
    capped.on_demand_maximum.insert(
        TABLE.into(),
        Capacity {
            read: 100,
            write: -1,
        },
    );
    let found = differences(&capped, &TableSettings::default());
    assert_eq!(found[0].source, "read 100, write no maximum");
}

#[test]
fn by_default_a_finish_wants_everything_but_what_would_harm_or_connect_the_copy() {
    let source = everything_on();
    let restored = provisioned();
    let choices = Choices {
        skip_tags: vec!["backup".into()],
        ..Choices::default()
    };
    let (want, left_off) = wanted(&source, &restored, &choices);
    let left: Vec<&str> = left_off.iter().map(|l| l.setting.as_str()).collect();
    assert_eq!(
        left,
        [
            "deletion protection",
            "kinesis destination arn:aws:kinesis:eu-west-1:1:stream/s",
            "replica us-east-1",
            "resource policy",
            "tag backup",
            "time to live",
        ]
    );
    assert!(
        left_off.iter().all(|l| l.reason != "left as restored"),
        "{left_off:?}"
    );
    // Everything else is wanted as the source has it.
    assert_eq!(want.contributor_insights, source.contributor_insights);
    assert_eq!(want.auto_scaling, source.auto_scaling);
    assert_eq!(want.encryption_key, source.encryption_key);
    assert_eq!(want.table_class, source.table_class);
    assert_eq!(want.point_in_time_recovery, Some(35));
    assert_eq!(want.tags.get("team").map(String::as_str), Some("orders"));
    // The source's differences from what is wanted are exactly what is left off.
    assert_eq!(names(&differences(&source, &want)), left);
}

#[test]
fn what_the_request_asks_for_is_wanted() {
    let source = everything_on();
    let choices = Choices {
        copy_ttl: true,
        deletion_protection: Some(true),
        copy_kinesis_destinations: true,
        copy_resource_policy: true,
        skip_tags: vec![],
        ..Choices::default()
    };
    let (want, left_off) = wanted(&source, &provisioned(), &choices);
    assert_eq!(names(&differences(&source, &want)), ["replica us-east-1"]);
    assert_eq!(left_off.len(), 1);
}

#[test]
fn a_copy_made_on_demand_or_with_its_own_key_keeps_them() {
    let source = everything_on();
    let restored = TableSettings {
        encryption_key: Some("arn:aws:kms:eu-west-1:1:key/other".into()),
        ..TableSettings::default()
    };
    let choices = Choices {
        kms_key_chosen: true,
        billing_mode_chosen: true,
        ..Choices::default()
    };
    let (want, left_off) = wanted(&source, &restored, &choices);
    assert_eq!(want.billing_mode, "PAY_PER_REQUEST");
    assert_eq!(want.encryption_key, restored.encryption_key);
    assert!(want.auto_scaling.is_empty());
    let reason = |name: &str| {
        left_off
            .iter()
            .find(|l| l.setting == name)
            .map(|l| l.reason.as_str())
            .unwrap_or_default()
    };
    assert_eq!(
        reason("billing mode"),
        "the request chose the copy's billing mode"
    );
    assert_eq!(reason("encryption"), "the request named the copy's key");
    assert!(reason("auto scaling (table, read)").contains("on-demand"));
}
