//! The restore-handler against the local AWS: native backups and point-in-time recovery restore real
//! data there, so restores, refusals and the settings brought back are all checked for real.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, PointInTimeRecoveryStatus, ProvisionedThroughput,
    ScalarAttributeType, StreamSpecification, StreamViewType, Tag, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use chrono::SecondsFormat;
use lambda_runtime::{Diagnostic, LambdaEvent};
use local_aws::{LocalAws, unique_name};
use restore_handler::handler::{HandlerError, State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use shared::restore::service::RestoreReport;

struct Fixture {
    dynamodb: Client,
    source: String,
    state: State,
}

impl Fixture {
    /// A source table holding `items` items, with no extra settings.
    async fn new(items: usize) -> Fixture {
        let aws = LocalAws::shared();
        let dynamodb = aws.dynamodb().await;
        let source = unique_name("orders");
        local_aws::create_seed_table(&dynamodb, &source)
            .await
            .unwrap();
        let state_table = unique_name("state");
        local_aws::create_state_table(&dynamodb, &state_table)
            .await
            .unwrap();
        let vars = [
            ("SOURCE_TABLE", source.as_str()),
            ("POLL_SECONDS", "0.1"),
            ("STATE_TABLE", state_table.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let settings = from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap();
        let f = Fixture {
            state: State::new(&aws.sdk_config().await, settings, None),
            dynamodb,
            source,
        };
        f.add_items(0..items).await;
        f
    }

    async fn add_items(&self, ids: std::ops::Range<usize>) {
        for i in ids {
            self.dynamodb
                .put_item()
                .table_name(&self.source)
                .item("order_id", AttributeValue::S(format!("o{i}")))
                .item("item_id", AttributeValue::S("1".into()))
                .item("amount", AttributeValue::N(i.to_string()))
                .send()
                .await
                .unwrap();
        }
    }

    async fn backup(&self, name: &str) -> String {
        let out = self
            .dynamodb
            .create_backup()
            .table_name(&self.source)
            .backup_name(name)
            .send()
            .await
            .unwrap();
        out.backup_details.unwrap().backup_arn
    }

    async fn enable_pitr(&self, table: &str) {
        let spec = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build()
            .unwrap();
        self.dynamodb
            .update_continuous_backups()
            .table_name(table)
            .point_in_time_recovery_specification(spec)
            .send()
            .await
            .unwrap();
    }

    /// TTL on `expires_at`, as a production table might have it.
    async fn enable_ttl(&self, table: &str) {
        let ttl = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("expires_at")
            .build()
            .unwrap();
        self.dynamodb
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .unwrap();
    }

    async fn invoke(&self, payload: Value) -> Result<RestoreReport, HandlerError> {
        function_handler(
            &self.state,
            LambdaEvent::new(payload, local_aws::lambda_context()),
        )
        .await
        .map(|r| r.restore_report().expect("a restore's report"))
    }

    async fn refused(&self, payload: Value) -> Diagnostic {
        Diagnostic::from(self.invoke(payload).await.expect_err("must be refused"))
    }

    async fn count(&self, table: &str) -> usize {
        local_aws::scan_all(&self.dynamodb, table)
            .await
            .unwrap()
            .len()
    }
}

#[tokio::test]
async fn a_backup_restores_its_items_and_the_settings_come_back() {
    let f = Fixture::new(5).await;
    give_the_source_the_settings_a_restore_drops(&f).await;
    let backup = f.backup("before-change").await;
    f.add_items(5..8).await; // after the backup: must not be restored

    let target = unique_name("orders-restored-copy");
    let report = f
        .invoke(
            json!({"source_table": f.source, "backup_arn": backup, "target_table": target,
                       "wait": true, "verify": true, "ttl": true, "deletion_protection": true}),
        )
        .await
        .unwrap();
    assert_eq!(report.restored_from, Some(format!("backup {backup}")));
    assert_eq!(report.table_status, "ACTIVE");
    assert_eq!(
        report.settings_reapplied,
        [
            // The local AWS restores a table without its billing mode: the finish sets it.
            "billing mode PAY_PER_REQUEST",
            "stream (NEW_AND_OLD_IMAGES)",
            "deletion protection on",
            "time to live on expires_at",
            "point-in-time recovery (35 days)",
            "tags team",
        ]
    );
    assert!(report.settings_not_reapplied.is_empty());
    // Every setting still different is listed as left off, with why: here only the plan's tag.
    assert_eq!(setting_names(&report), ["tag backup"]);
    assert!(report.settings_left_off[0].reason.contains("SKIP_TAGS"));
    assert!(!report.settings_not_handled.is_empty());
    let verification = report.verification.unwrap();
    assert_eq!(
        (
            verification.restored_items,
            verification.expected_items,
            verification.matches
        ),
        (5, 5, true)
    );
    assert_eq!(f.count(&target).await, 5);
    the_copy_has_the_settings_brought_back(&f, &target, &backup).await;

    // A second finish (Lambda's retry, a re-send) changes nothing and succeeds.
    let again = f
        .invoke(json!({"action": "finish", "target_table": target, "ttl": true}))
        .await
        .unwrap();
    assert!(
        again.settings_reapplied.is_empty(),
        "{:?}",
        again.settings_reapplied
    );
    assert!(again.settings_not_reapplied.is_empty());
    assert_eq!(setting_names(&again), ["tag backup"]);
}

/// TTL, point-in-time recovery, the backup plan's tag and a team's, a stream and deletion
/// protection on the source, as a production table might have them.
async fn give_the_source_the_settings_a_restore_drops(f: &Fixture) {
    let d = &f.dynamodb;
    let arn = local_aws::table_arn(d, &f.source).await.unwrap();
    f.enable_ttl(&f.source).await;
    f.enable_pitr(&f.source).await;
    for (k, v) in [("backup", "daily"), ("team", "data")] {
        d.tag_resource()
            .resource_arn(&arn)
            .tags(Tag::builder().key(k).value(v).build().unwrap())
            .send()
            .await
            .unwrap();
    }
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewAndOldImages)
        .build()
        .unwrap();
    d.update_table()
        .table_name(&f.source)
        .stream_specification(stream)
        .send()
        .await
        .unwrap();
    d.update_table()
        .table_name(&f.source)
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
}

/// What DynamoDB says of the copy restored from `backup`: the settings the finish brought back,
/// and the tags (the team's and where it came from, not the plan's).
async fn the_copy_has_the_settings_brought_back(f: &Fixture, target: &str, backup: &str) {
    let d = &f.dynamodb;
    let table = d
        .describe_table()
        .table_name(target)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    assert_eq!(table.deletion_protection_enabled, Some(true));
    assert!(table.stream_specification.unwrap().stream_enabled);
    let ttl = d
        .describe_time_to_live()
        .table_name(target)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(
        (ttl.time_to_live_status, ttl.attribute_name.as_deref()),
        (Some(TimeToLiveStatus::Enabled), Some("expires_at"))
    );
    let pitr = d
        .describe_continuous_backups()
        .table_name(target)
        .send()
        .await
        .unwrap();
    let status = pitr
        .continuous_backups_description
        .unwrap()
        .point_in_time_recovery_description
        .unwrap()
        .point_in_time_recovery_status;
    assert_eq!(status, Some(PointInTimeRecoveryStatus::Enabled));
    let tags = d
        .list_tags_of_resource()
        .resource_arn(table.table_arn.unwrap())
        .send()
        .await
        .unwrap();
    let mut tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.key().into(), t.value().into()))
        .collect();
    tags.sort();
    // Not the plan's selection tag: the copy is not enrolled in the backup plan.
    assert_eq!(
        tags,
        [
            ("ddb-guard:restored-from".into(), format!("backup {backup}")),
            ("ddb-guard:restored-from-table".into(), f.source.clone()),
            ("team".into(), "data".into())
        ]
    );
}

/// The settings still different after a finish; asserts each is one the report left off.
fn setting_names(report: &RestoreReport) -> Vec<&str> {
    let differing: Vec<&str> = (report.settings_differences.iter())
        .map(|d| d.setting.as_str())
        .collect();
    let left_off: Vec<&str> = (report.settings_left_off.iter())
        .map(|l| l.setting.as_str())
        .collect();
    assert_eq!(differing, left_off, "{report:#?}");
    differing
}

#[tokio::test]
async fn ttl_and_deletion_protection_come_back_only_when_asked() {
    let f = Fixture::new(2).await;
    f.enable_ttl(&f.source).await;
    f.dynamodb
        .update_table()
        .table_name(&f.source)
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    let backup = f.backup("b").await;
    let target = unique_name("orders-restored-plain");
    let report = f
        .invoke(json!({"source_table": f.source, "backup_arn": backup, "target_table": target, "wait": true}))
        .await
        .unwrap();
    assert!(
        !report
            .settings_reapplied
            .iter()
            .any(|s| s.contains("time to live") || s.contains("deletion")),
        "{:?}",
        report.settings_reapplied
    );
    let ttl = f
        .dynamodb
        .describe_time_to_live()
        .table_name(&target)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_ne!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
}

#[tokio::test]
async fn finish_touches_only_what_this_handler_restored() {
    let f = Fixture::new(2).await;
    f.enable_ttl(&f.source).await;
    // A table named like a restore target that this handler never restored (another team's copy),
    // and the production table itself.
    let stranger = unique_name("prod-restored-by-hand");
    local_aws::create_seed_table(&f.dynamodb, &stranger)
        .await
        .unwrap();
    for (payload, expect) in [
        (
            json!({"action": "finish", "target_table": stranger, "source_table": f.source, "ttl": true}),
            "was not restored by this handler",
        ),
        (
            json!({"action": "finish", "target_table": f.source, "ttl": true}),
            "must contain \"-restored-\"",
        ),
        // What the notifier would forward for someone else's AWS Backup restore job.
        (
            json!({"action": "finish", "target_table": stranger}),
            "was not restored by this handler",
        ),
    ] {
        let diagnostic = f.refused(payload.clone()).await;
        assert_eq!(diagnostic.error_type, "RestoreRefused", "{payload}");
        assert!(
            diagnostic.error_message.contains(expect),
            "{payload}: {}",
            diagnostic.error_message
        );
    }
    let ttl = f
        .dynamodb
        .describe_time_to_live()
        .table_name(&stranger)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_ne!(
        ttl.time_to_live_status,
        Some(TimeToLiveStatus::Enabled),
        "the table it did not restore is untouched"
    );
    let tags = f
        .dynamodb
        .list_tags_of_resource()
        .resource_arn(local_aws::table_arn(&f.dynamodb, &stranger).await.unwrap())
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_empty());
}

#[tokio::test]
async fn a_retried_or_resent_request_makes_no_second_table() {
    let f = Fixture::new(2).await;
    f.backup("b").await;
    let request = json!({"source_table": f.source, "latest_backup": true, "wait": true});
    // Lambda retries an invocation with the same request id.
    let mut context = local_aws::lambda_context();
    context.request_id = unique_name("request");
    let first = function_handler(&f.state, LambdaEvent::new(request.clone(), context.clone()))
        .await
        .unwrap()
        .restore_report()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let retry = function_handler(&f.state, LambdaEvent::new(request.clone(), context))
        .await
        .unwrap()
        .restore_report()
        .unwrap();
    assert_eq!(retry.target_table, first.target_table);
    // A re-send from a console or CLI carries its own key.
    let keyed =
        json!({"source_table": f.source, "latest_backup": true, "idempotency_key": "ticket-42"});
    let once = f.invoke(keyed.clone()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let twice = f.invoke(keyed).await.unwrap();
    assert_eq!(twice.target_table, once.target_table);
    let tables = f.dynamodb.list_tables().send().await.unwrap();
    let restored: Vec<&String> = tables
        .table_names()
        .iter()
        .filter(|t| t.starts_with(&format!("{}-restored-", f.source)))
        .collect();
    assert_eq!(restored.len(), 2, "{restored:?}");
}

#[tokio::test]
async fn point_in_time_restores_at_a_time_in_the_window_and_at_the_latest() {
    let f = Fixture::new(4).await;
    f.enable_pitr(&f.source).await;
    let pitr = f
        .dynamodb
        .describe_continuous_backups()
        .table_name(&f.source)
        .send()
        .await
        .unwrap();
    let latest = pitr
        .continuous_backups_description
        .unwrap()
        .point_in_time_recovery_description
        .unwrap()
        .latest_restorable_date_time
        .unwrap();
    let latest = chrono::DateTime::from_timestamp(latest.secs(), latest.subsec_nanos()).unwrap();
    let at = latest.to_rfc3339_opts(SecondsFormat::Nanos, true);

    let target = unique_name("orders-restored-pitr");
    let report = f
        .invoke(json!({"source_table": f.source, "point_in_time": at, "target_table": target, "wait": true, "verify": true}))
        .await
        .unwrap();
    assert_eq!(
        report.restored_from.as_deref(),
        Some(format!("point in time {}", latest.to_rfc3339()).as_str())
    );
    assert_eq!(f.count(&target).await, 4);
    let verification = report.verification.clone().unwrap();
    assert!(
        verification.matches && verification.compared_with.contains("now"),
        "{verification:?}"
    );
    assert_eq!(
        report.settings_reapplied,
        [
            "billing mode PAY_PER_REQUEST",
            "point-in-time recovery (35 days)"
        ]
    );
    assert!(setting_names(&report).is_empty());

    let latest_target = unique_name("orders-restored-latest");
    let report = f
        .invoke(json!({"source_table": f.source, "latest_restorable": true, "target_table": latest_target}))
        .await
        .unwrap();
    assert_eq!(
        report.restored_from.as_deref(),
        Some("latest restorable time")
    );
    assert_eq!(f.count(&latest_target).await, 4);
}

#[tokio::test]
async fn the_console_test_restores_the_newest_backup() {
    let f = Fixture::new(2).await;
    f.backup("first").await;
    f.add_items(2..6).await;
    let newest = f.backup("second").await;

    let report = f.invoke(json!({})).await.unwrap();
    assert_eq!(report.restored_from, Some(format!("backup {newest}")));
    assert!(
        report
            .target_table
            .starts_with(&format!("{}-restored-20", f.source)),
        "{}",
        report.target_table
    );
    assert_eq!(report.verification.unwrap().restored_items, 6);
    assert_eq!(f.count(&report.target_table).await, 6);

    let target = unique_name("orders-restored-latest");
    let report = f
        .invoke(json!({"source_table": f.source, "latest_backup": true, "target_table": target}))
        .await
        .unwrap();
    assert_eq!(report.restored_from, Some(format!("backup {newest}")));
}

#[tokio::test]
async fn an_existing_target_is_refused_and_left_untouched() {
    let f = Fixture::new(3).await;
    let backup = f.backup("b").await;
    let existing = unique_name("taken-restored");
    local_aws::create_seed_table(&f.dynamodb, &existing)
        .await
        .unwrap();
    f.dynamodb
        .put_item()
        .table_name(&existing)
        .item("order_id", AttributeValue::S("kept".into()))
        .item("item_id", AttributeValue::S("1".into()))
        .send()
        .await
        .unwrap();
    let diagnostic = f
        .refused(json!({"source_table": f.source, "backup_arn": backup, "target_table": existing}))
        .await;
    assert_eq!(diagnostic.error_type, "RestoreRefused");
    assert!(
        diagnostic.error_message.contains("already exists"),
        "{}",
        diagnostic.error_message
    );
    assert_eq!(f.count(&existing).await, 1);
    let diagnostic = f
        .refused(
            json!({"source_table": f.source, "backup_arn": backup, "target_table": "orders-copy"}),
        )
        .await;
    assert!(
        diagnostic
            .error_message
            .contains("must contain \"-restored-\""),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn what_cannot_be_restored_is_refused_before_anything_starts() {
    let f = Fixture::new(1).await;
    let other = Fixture::new(1).await;
    let others_backup = other.backup("other").await;
    let unknown = format!("{others_backup}0");
    for (payload, expect) in [
        (
            json!({"source_table": f.source, "backup_arn": unknown}),
            "does not exist",
        ),
        (
            json!({"source_table": f.source, "backup_arn": others_backup}),
            "is a backup of",
        ),
        (
            json!({"source_table": f.source, "latest_backup": true}),
            "has no available backup",
        ),
        (
            json!({"source_table": f.source, "latest_restorable": true}),
            "point-in-time recovery is not enabled",
        ),
        (
            json!({"source_table": unique_name("gone"), "latest_restorable": true}),
            "does not exist",
        ),
        (
            json!({"source_table": f.source, "recovery_point_arn": "arn:aws:backup:us-east-1:1:recovery-point:x"}),
            "RESTORE_ROLE_ARN",
        ),
    ] {
        let diagnostic = f.refused(payload.clone()).await;
        assert_eq!(diagnostic.error_type, "RestoreRefused", "{payload}");
        assert!(
            diagnostic.error_message.contains(expect),
            "{payload}: {}",
            diagnostic.error_message
        );
    }
    f.enable_pitr(&f.source).await;
    let diagnostic = f
        .refused(json!({"source_table": f.source, "point_in_time": "2020-01-01T00:00:00Z"}))
        .await;
    assert!(
        diagnostic.error_message.contains("outside")
            && diagnostic.error_message.contains("restorable window"),
        "{}",
        diagnostic.error_message
    );

    let diagnostic = f
        .refused(json!({"source_table": "no spaces please", "latest_backup": true}))
        .await;
    assert_eq!(diagnostic.error_type, "InvalidRequest");
    // Nothing was created by any of these.
    let tables = f.dynamodb.list_tables().send().await.unwrap();
    assert!(
        !tables
            .table_names()
            .iter()
            .any(|t| t.starts_with(&format!("{}-restored", f.source)))
    );
}

/// What the stack does not allow is refused before anything starts: a Kinesis destination when
/// the stack grants no stream (`KINESIS_STREAM_ARNS`, the template's `KinesisStreamArns`), and a
/// target named like a drill's scratch table, which only a drill makes (and may delete).
#[tokio::test]
async fn what_the_stack_does_not_allow_is_refused_before_anything_starts() {
    let f = Fixture::new(1).await;
    let backup = f.backup("b").await;
    let kinesis = json!({"source_table": f.source, "backup_arn": backup,
                         "target_table": unique_name("orders-restored-streams"),
                         "kinesis_destinations": true});
    let drill_named = json!({"source_table": f.source, "backup_arn": backup,
                             "target_table": unique_name("orders-restored-drill-mine")});
    for (payload, expect) in [
        (kinesis, "KinesisStreamArns"),
        (drill_named, "-restored-drill-"),
    ] {
        let diagnostic = f.refused(payload.clone()).await;
        assert_eq!(diagnostic.error_type, "RestoreRefused", "{payload}");
        assert!(
            diagnostic.error_message.contains(expect),
            "{payload}: {}",
            diagnostic.error_message
        );
        let target = payload["target_table"].as_str().unwrap();
        let described = f.dynamodb.describe_table().table_name(target).send().await;
        assert!(described.is_err(), "{target} was created");
    }
}

#[tokio::test]
async fn a_restore_not_waited_for_is_finished_once_its_table_is_ready() {
    let f = Fixture::new(3).await;
    f.enable_pitr(&f.source).await;
    let backup = f.backup("b").await;
    let target = unique_name("orders-restored-later");
    // The local AWS restores at once: the table is ready, so it is finished here already.
    let report = f
        .invoke(json!({"source_table": f.source, "backup_arn": backup, "target_table": target}))
        .await
        .unwrap();
    assert_eq!(report.table_status, "ACTIVE");
    assert_eq!(
        report.settings_reapplied,
        [
            "billing mode PAY_PER_REQUEST",
            "point-in-time recovery (35 days)"
        ]
    );
    assert!(report.next_step.is_none());

    // A finish later (a re-send) settles; the source comes from the handler's record.
    let report = f
        .invoke(json!({"action": "finish", "target_table": target, "verify": true}))
        .await
        .unwrap();
    assert_eq!(report.source_table, f.source);
    assert!(report.settings_reapplied.is_empty(), "settled already");
    assert!(setting_names(&report).is_empty());
    assert!(report.verification.unwrap().matches);

    let diagnostic = f
        .refused(json!({"action": "finish", "target_table": unique_name("nothing-restored")}))
        .await;
    assert!(
        diagnostic
            .error_message
            .contains("was not restored by this handler"),
        "{}",
        diagnostic.error_message
    );
}

#[tokio::test]
async fn two_finishes_at_once_both_succeed_and_change_the_copy_once() {
    let f = Fixture::new(2).await;
    let backup = f.backup("b").await;
    let target = unique_name("orders-restored-twice");
    f.invoke(json!({"source_table": f.source, "backup_arn": backup, "target_table": target}))
        .await
        .unwrap();
    // Something for a finish to bring: a tag added to the source since.
    let arn = local_aws::table_arn(&f.dynamodb, &f.source).await.unwrap();
    let tag = Tag::builder().key("owner").value("ops").build().unwrap();
    let tagging = f.dynamodb.tag_resource().resource_arn(&arn).tags(tag);
    tagging.send().await.unwrap();

    let finish = json!({"action": "finish", "target_table": target});
    let (first, second) = tokio::join!(f.invoke(finish.clone()), f.invoke(finish));
    let (first, second) = (first.unwrap(), second.unwrap());
    let mut reapplied = [first.settings_reapplied, second.settings_reapplied];
    reapplied.sort();
    assert_eq!(reapplied, [vec![], vec!["tags owner".to_string()]]);
    assert!(first.settings_differences.is_empty() && second.settings_differences.is_empty());
}

#[tokio::test]
async fn auto_scaling_and_a_resource_policy_come_back_to_a_provisioned_copy() {
    let f = Fixture::new(0).await;
    let aws = LocalAws::shared().sdk_config().await;
    let scaling = aws_sdk_applicationautoscaling::Client::new(&aws);
    let source = unique_name("ledger");
    provisioned_table_with_auto_scaling(&f, &scaling, &source).await;
    let arn = local_aws::table_arn(&f.dynamodb, &source).await.unwrap();
    let document = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/reader"},
        "Action": "dynamodb:GetItem", "Resource": arn}]});
    f.dynamodb
        .put_resource_policy()
        .resource_arn(&arn)
        .policy(document.to_string())
        .send()
        .await
        .unwrap();
    let backup = f
        .dynamodb
        .create_backup()
        .table_name(&source)
        .backup_name("b")
        .send()
        .await
        .unwrap()
        .backup_details
        .unwrap()
        .backup_arn;

    // Without asking, the policy is left off (its principals would reach the copy), and said so.
    let plain = unique_name("ledger-restored-plain");
    let report = f
        .invoke(json!({"source_table": source, "backup_arn": backup, "target_table": plain, "wait": true}))
        .await
        .unwrap();
    assert!(
        report
            .settings_reapplied
            .contains(&"auto scaling (table read)".to_string()),
        "{report:#?}"
    );
    assert_eq!(setting_names(&report), ["resource policy"]);

    let target = unique_name("ledger-restored-all");
    let report = f
        .invoke(
            json!({"source_table": source, "backup_arn": backup, "target_table": target,
                       "wait": true, "resource_policy": true}),
        )
        .await
        .unwrap();
    assert!(report.settings_not_reapplied.is_empty(), "{report:#?}");
    assert!(setting_names(&report).is_empty(), "nothing differs");
    the_copy_scales_as_the_source_does(&scaling, &target).await;
    let target_arn = local_aws::table_arn(&f.dynamodb, &target).await.unwrap();
    let copied = f
        .dynamodb
        .get_resource_policy()
        .resource_arn(&target_arn)
        .send()
        .await
        .unwrap()
        .policy
        .unwrap();
    assert!(
        copied.contains(&target_arn) && !copied.contains(&format!("{arn}\"")),
        "{copied}"
    );
}

/// `source`: a provisioned table (5 units each way) whose reads scale from 5 to 40 units, on a
/// target of 70% use.
async fn provisioned_table_with_auto_scaling(
    f: &Fixture,
    scaling: &aws_sdk_applicationautoscaling::Client,
    source: &str,
) {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    let capacity = |units| {
        ProvisionedThroughput::builder()
            .read_capacity_units(units)
            .write_capacity_units(units)
            .build()
            .unwrap()
    };
    f.dynamodb
        .create_table()
        .table_name(source)
        .key_schema(key("id", KeyType::Hash))
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(capacity(5))
        .send()
        .await
        .unwrap();
    let resource = format!("table/{source}");
    scaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::DynamoDbTableReadCapacityUnits)
        .min_capacity(5)
        .max_capacity(40)
        .send()
        .await
        .unwrap();
    let policy = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(70.0)
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::DynamoDbReadCapacityUtilization)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    scaling
        .put_scaling_policy()
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_id(&resource)
        .scalable_dimension(ScalableDimension::DynamoDbTableReadCapacityUnits)
        .policy_name("reads")
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(policy)
        .send()
        .await
        .unwrap();
}

/// What Application Auto Scaling now says of the copy: the source's range and policy.
async fn the_copy_scales_as_the_source_does(
    scaling: &aws_sdk_applicationautoscaling::Client,
    target: &str,
) {
    let targets = scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_ids(format!("table/{target}"))
        .send()
        .await
        .unwrap();
    let registered = &targets.scalable_targets()[0];
    assert_eq!(
        (registered.min_capacity(), registered.max_capacity()),
        (5, 40)
    );
    let policies = scaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Dynamodb)
        .resource_id(format!("table/{target}"))
        .send()
        .await
        .unwrap();
    assert_eq!(policies.scaling_policies()[0].policy_name(), "reads");
}
