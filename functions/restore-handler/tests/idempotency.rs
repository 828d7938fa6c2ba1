//! An idempotency key names one restore, and trust follows the table DynamoDB created, against the
//! local AWS: a key sent again with another request is refused, a retry never finishes a table
//! this handler did not restore, and a table made again under a restored name is not trusted.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Tag, TimeToLiveSpecification, TimeToLiveStatus};
use lambda_runtime::{Diagnostic, LambdaEvent};
use local_aws::{LocalAws, unique_name};
use restore_handler::handler::{HandlerError, State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use shared::restore::service::RestoreReport;

struct Fixture {
    dynamodb: Client,
    state: State,
}

impl Fixture {
    async fn new() -> Fixture {
        let aws = LocalAws::shared();
        let dynamodb = aws.dynamodb().await;
        let state_table = unique_name("state");
        local_aws::create_state_table(&dynamodb, &state_table)
            .await
            .unwrap();
        let vars = [
            ("POLL_SECONDS", "0.1"),
            ("STATE_TABLE", state_table.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let settings = from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap();
        Fixture {
            state: State::new(&aws.sdk_config().await, settings, None),
            dynamodb,
        }
    }

    /// A source table with one item and a backup of it; TTL and a team's tag when `dressed`,
    /// settings a finish would bring to its copy.
    async fn source(&self, label: &str, dressed: bool) -> (String, String) {
        let d = &self.dynamodb;
        let name = unique_name(label);
        local_aws::create_seed_table(d, &name).await.unwrap();
        (d.put_item().table_name(&name))
            .item("order_id", AttributeValue::S("o1".into()))
            .item("item_id", AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
        if dressed {
            let ttl = d.update_time_to_live().table_name(&name);
            ttl.time_to_live_specification(self::ttl())
                .send()
                .await
                .unwrap();
            let arn = local_aws::table_arn(d, &name).await.unwrap();
            let tag = Tag::builder().key("team").value(label).build().unwrap();
            d.tag_resource()
                .resource_arn(arn)
                .tags(tag)
                .send()
                .await
                .unwrap();
        }
        let backup = (d.create_backup().table_name(&name).backup_name("b"))
            .send()
            .await
            .unwrap();
        (name, backup.backup_details.unwrap().backup_arn)
    }

    async fn invoke(&self, payload: Value) -> Result<RestoreReport, HandlerError> {
        let event = LambdaEvent::new(payload, local_aws::lambda_context());
        function_handler(&self.state, event)
            .await
            .map(|r| r.restore_report().expect("a restore's report"))
    }

    async fn refused(&self, payload: Value) -> Diagnostic {
        Diagnostic::from(self.invoke(payload).await.expect_err("must be refused"))
    }

    async fn ttl_on(&self, table: &str) -> bool {
        let described = self.dynamodb.describe_time_to_live().table_name(table);
        let ttl = described.send().await.unwrap().time_to_live_description;
        ttl.and_then(|t| t.time_to_live_status) == Some(TimeToLiveStatus::Enabled)
    }

    async fn tags(&self, table: &str) -> Vec<(String, String)> {
        let arn = local_aws::table_arn(&self.dynamodb, table).await.unwrap();
        let listed = self.dynamodb.list_tags_of_resource().resource_arn(arn);
        let mut tags: Vec<(String, String)> = (listed.send().await.unwrap().tags())
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        tags.sort();
        tags
    }
}

fn ttl() -> TimeToLiveSpecification {
    TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name("expires_at")
        .build()
        .unwrap()
}

fn assert_refused(diagnostic: &Diagnostic, expect: &[&str]) {
    assert_eq!(diagnostic.error_type, "RestoreRefused", "{diagnostic:?}");
    for words in expect {
        assert!(
            diagnostic.error_message.contains(words),
            "{words:?} in {}",
            diagnostic.error_message
        );
    }
}

/// Someone sends an earlier request's key with another source: the earlier copy must not be
/// finished with the new source's TTL and tags.
#[tokio::test]
async fn a_key_sent_again_with_another_request_is_refused_and_the_copy_left_alone() {
    let f = Fixture::new().await;
    let (orders, orders_backup) = f.source("orders", false).await;
    let (payments, payments_backup) = f.source("payments", true).await;
    let key = unique_name("ticket");
    let first = f
        .invoke(
            json!({"source_table": orders, "backup_arn": orders_backup, "idempotency_key": key}),
        )
        .await
        .unwrap();
    let copy = first.target_table;
    let before = f.tags(&copy).await;

    let other = json!({"source_table": payments, "backup_arn": payments_backup, "ttl": true,
                       "idempotency_key": key});
    let diagnostic = f.refused(other).await;
    assert_refused(
        &diagnostic,
        &["idempotency_key", &key, "another request", &orders],
    );
    assert!(
        !f.ttl_on(&copy).await,
        "the earlier copy got the other source's TTL"
    );
    assert_eq!(
        f.tags(&copy).await,
        before,
        "the earlier copy's tags changed"
    );

    // The same request with its key again is the same restore: it carries on with the copy.
    let same = json!({"source_table": orders, "backup_arn": orders_backup, "idempotency_key": key});
    assert_eq!(f.invoke(same).await.unwrap().target_table, copy);
}

/// A request whose first attempt claimed a target and was refused before restoring; meanwhile
/// someone made a table of that name. Sending the request again must not finish their table.
#[tokio::test]
async fn a_retry_never_finishes_a_table_this_handler_did_not_restore() {
    let f = Fixture::new().await;
    let (orders, _) = f.source("orders", true).await;
    let target = unique_name("orders-restored-claimed");
    let request = json!({"source_table": orders, "latest_restorable": true, "ttl": true,
                         "target_table": target, "idempotency_key": unique_name("ticket")});
    let diagnostic = f.refused(request.clone()).await;
    assert_refused(&diagnostic, &["point-in-time recovery is not enabled"]);

    local_aws::create_seed_table(&f.dynamodb, &target)
        .await
        .unwrap();
    let diagnostic = f.refused(request).await;
    assert_refused(&diagnostic, &[&target, "not restored by this handler"]);
    assert!(!f.ttl_on(&target).await, "their table got the source's TTL");
    assert!(f.tags(&target).await.is_empty(), "their table was tagged");
}

/// A restored copy deleted and restored again by hand under the same name (from the same backup,
/// so even its restore summary reads alike) is a table this handler did not create.
#[tokio::test]
async fn a_table_made_again_under_a_restored_name_is_not_trusted() {
    let f = Fixture::new().await;
    let (orders, backup) = f.source("orders", true).await;
    let target = unique_name("orders-restored-again");
    let key = unique_name("ticket");
    let request = json!({"source_table": orders, "backup_arn": backup, "target_table": target,
                         "idempotency_key": key, "wait": true});
    f.invoke(request.clone()).await.unwrap();

    f.dynamodb
        .delete_table()
        .table_name(&target)
        .send()
        .await
        .unwrap();
    let by_hand = f.dynamodb.restore_table_from_backup().backup_arn(&backup);
    by_hand.target_table_name(&target).send().await.unwrap();

    for payload in [
        json!({"action": "finish", "target_table": target, "ttl": true}),
        // The first request again (a re-send), which finds the name it claimed.
        request,
    ] {
        let diagnostic = f.refused(payload.clone()).await;
        assert_refused(
            &diagnostic,
            &[&target, "not the table this handler restored"],
        );
    }
    assert!(!f.ttl_on(&target).await, "the table made by hand got TTL");
    assert!(
        f.tags(&target).await.is_empty(),
        "the table made by hand was tagged"
    );
}
