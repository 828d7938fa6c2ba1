//! A copy promoted to production, against the local AWS: `{"action": "promote"}` tags the
//! handler's own restored copy as promoted and with the stack's protection tag (so the tables the
//! stack protects by tag include it), and from then on no finish or retry changes it. Nothing
//! else is promoted.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_runtime::{Diagnostic, LambdaEvent};
use local_aws::{LocalAws, unique_name};
use restore_handler::handler::{HandlerError, State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::restore::config::RestoreEnv;
use shared::retry::{Backoff, Retry};
use shared::table_selection::{TableSelection, select_tables};

const PROMOTED: &str = "ddb-guard:promoted";

struct Fixture {
    dynamodb: Client,
    state: State,
    source: String,
    /// The stack's protection tag, unique to this test.
    tag: (String, String),
}

impl Fixture {
    async fn new() -> Fixture {
        let aws = LocalAws::shared();
        let dynamodb = aws.dynamodb().await;
        let state_table = unique_name("state");
        local_aws::create_state_table(&dynamodb, &state_table)
            .await
            .unwrap();
        let source = unique_name("orders");
        local_aws::create_seed_table(&dynamodb, &source)
            .await
            .unwrap();
        (dynamodb.put_item().table_name(&source))
            .item("order_id", AttributeValue::S("o1".into()))
            .item("item_id", AttributeValue::S("1".into()))
            .send()
            .await
            .unwrap();
        let tag = (unique_name("ddb-guard-test"), "protected".to_string());
        let protected = format!("{}={}", tag.0, tag.1);
        let vars = [
            ("POLL_SECONDS", "0.1"),
            ("STATE_TABLE", state_table.as_str()),
            ("PROTECTED_TAG", protected.as_str()),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let settings = from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap();
        Fixture {
            state: State::new(&aws.sdk_config().await, settings, None),
            dynamodb,
            source,
            tag,
        }
    }

    async fn invoke(&self, payload: Value) -> Result<Value, HandlerError> {
        let event = LambdaEvent::new(payload, local_aws::lambda_context());
        let response = function_handler(&self.state, event).await?;
        Ok(serde_json::to_value(response).unwrap())
    }

    async fn refused(&self, payload: Value) -> Diagnostic {
        let result = self.invoke(payload.clone()).await;
        Diagnostic::from(result.expect_err(&format!("{payload} must be refused")))
    }

    /// A copy this handler restored from the source's backup.
    async fn restored_copy(&self, key: &str) -> (String, Value) {
        let d = &self.dynamodb;
        let backup = (d.create_backup().table_name(&self.source).backup_name("b"))
            .send()
            .await
            .unwrap()
            .backup_details
            .unwrap()
            .backup_arn;
        let request = json!({"source_table": self.source, "backup_arn": backup,
                             "idempotency_key": key, "wait": true});
        let report = self.invoke(request.clone()).await.unwrap();
        (
            report["target_table"].as_str().unwrap().to_string(),
            request,
        )
    }

    async fn tags(&self, table: &str) -> Vec<(String, String)> {
        let arn = local_aws::table_arn(&self.dynamodb, table).await.unwrap();
        let listed = self.dynamodb.list_tags_of_resource().resource_arn(arn);
        (listed.send().await.unwrap().tags())
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect()
    }
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

#[tokio::test]
async fn a_promoted_copy_is_protected_by_tag_and_never_changed_again() {
    let f = Fixture::new().await;
    let (copy, request) = f.restored_copy(&unique_name("ticket")).await;

    let promoted = f
        .invoke(json!({"action": "promote", "target_table": copy}))
        .await
        .unwrap();
    assert_eq!(promoted["promoted"], copy, "{promoted}");
    assert_eq!(promoted["source_table"], f.source, "{promoted}");
    let tags = f.tags(&copy).await;
    assert!(tags.iter().any(|(k, _)| k == PROMOTED), "{tags:?}");
    assert!(tags.contains(&f.tag), "{tags:?}");

    // The backup-trigger, the watchdog and the drills select the stack's tables this way.
    let selection = TableSelection {
        names: vec![],
        tag: Some(f.tag.clone()),
    };
    let retry = Retry {
        backoff: Backoff::default(),
        max_attempts: 3,
        deadline: tokio::time::Instant::now() + std::time::Duration::from_secs(60),
    };
    let selected = select_tables(&f.dynamodb, &selection, &retry)
        .await
        .unwrap();
    assert_eq!(selected, std::slice::from_ref(&copy));

    // From now on it is production: no finish, no retry of its restore, no second promotion.
    for payload in [
        json!({"action": "finish", "target_table": copy, "ttl": true}),
        request,
        json!({"action": "promote", "target_table": copy}),
    ] {
        let diagnostic = f.refused(payload).await;
        assert_refused(&diagnostic, &[&copy, "promoted"]);
    }
}

#[tokio::test]
async fn only_the_handlers_own_restored_copies_are_promoted() {
    let f = Fixture::new().await;
    // Someone's table named like a restore target, and production itself.
    let stranger = unique_name("orders-restored-by-hand");
    local_aws::create_seed_table(&f.dynamodb, &stranger)
        .await
        .unwrap();
    for (table, expect) in [
        (&stranger, "not restored by this handler"),
        (&f.source, "must contain \"-restored-\""),
    ] {
        let diagnostic = f
            .refused(json!({"action": "promote", "target_table": table}))
            .await;
        assert_refused(&diagnostic, &[expect]);
        assert!(f.tags(table).await.is_empty(), "{table} was tagged");
    }
    let diagnostic = f
        .invoke(json!({"action": "promote", "target_table": stranger, "ttl": true}))
        .await
        .map(|_| ())
        .unwrap_err();
    let diagnostic = Diagnostic::from(diagnostic);
    assert_eq!(diagnostic.error_type, "InvalidRequest", "{diagnostic:?}");
}
