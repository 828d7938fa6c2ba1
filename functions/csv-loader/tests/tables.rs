//! One loader, several tables: each file loads into the table its folder names, its later steps and
//! the parts of a fanned-out file included; and `{}` on a fresh stack says what to upload where.

mod common;

use common::{Fixture, load_in_segments, n, s, seed_csv};
use csv_loader::handler::State;
use local_aws::{LocalAws, unique_name};
use serde_json::json;
use shared::env::from_vars;
use shared::load::checkpoint::Checkpoint;
use shared::load::config::LoaderEnv;
use shared::load::plan::route::{NO_TABLE, not_uploaded_yet};
use shared::load::plan::run::summarize;
use shared::load::plan::step::PartOutcome;

/// A table keyed by `customer_id` alone, a number: another key schema than the seed's.
async fn create_customers_table(name: &str) {
    let dynamodb = LocalAws::shared().dynamodb().await;
    local_aws::create_hash_keyed_table(&dynamodb, name, "customer_id", "N")
        .await
        .unwrap();
}

/// The fixture's orders table and a customers table, in that order; `amount` is a number in
/// orders only.
async fn two_tables(env: &[(&str, &str)]) -> (Fixture, String) {
    let (orders, customers) = (unique_name("orders"), unique_name("customers"));
    create_customers_table(&customers).await;
    let names = format!("{orders},{customers}");
    let types = format!("customer_id:N,{orders}/amount:N");
    let base = [
        ("TABLE_NAMES", names.as_str()),
        ("COLUMN_TYPES", types.as_str()),
    ];
    let f = Fixture::with_table(orders, &[&base[..], env].concat()).await;
    (f, customers)
}

async fn items_of(table: &str) -> Vec<local_aws::Item> {
    let dynamodb = LocalAws::shared().dynamodb().await;
    local_aws::scan_all(&dynamodb, table).await.unwrap()
}

fn customers_csv(rows: u32) -> String {
    let mut csv = String::from("customer_id,name,amount\n");
    for id in 1..=rows {
        csv.push_str(&format!("{id},name {id},{}\n", id * 10));
    }
    csv
}

#[tokio::test]
async fn each_file_loads_into_the_table_its_folder_names() {
    let (f, customers) = two_tables(&[]).await;
    let (a, b) = (
        format!("incoming/{}/x.csv", f.table),
        format!("incoming/{customers}/y.csv"),
    );
    f.put(&a, seed_csv()).await;
    f.put(&b, customers_csv(3)).await;
    f.put("incoming/unlisted/z.csv", seed_csv()).await;
    f.put("incoming/direct.csv", seed_csv()).await;
    let event = f.s3_event(&[&a, &b, "incoming/unlisted/z.csv", "incoming/direct.csv"]);
    let response = f.invoke(event).await.unwrap();

    let went: Vec<(&str, &str, u64)> = (response.files.iter())
        .map(|s| (s.key.as_str(), s.table.as_str(), s.counts.items_written))
        .collect();
    assert_eq!(went, [(&*a, &*f.table, 40), (&*b, &*customers, 3)]);
    let ignored: Vec<(&str, &str)> = (response.ignored.iter())
        .map(|i| (i.key.as_str(), i.reason.as_str()))
        .collect();
    assert_eq!(ignored.len(), 2, "{ignored:?}");
    assert!(
        ignored[0]
            .1
            .starts_with("folder \"unlisted\" names no table")
    );
    assert!(ignored[1].1.starts_with("directly under \"incoming/\""));
    for (_, reason) in &ignored {
        assert!(reason.contains(&format!("\"{}\", \"{customers}\"", f.table)));
    }

    // Each table's own types: amount is a number in orders, a string in customers.
    let order = f.item("3801", "23").await.unwrap();
    assert_eq!(order["amount"], n("2621"));
    assert_eq!(order["customer_id"], n("420"));
    let people = items_of(&customers).await;
    assert_eq!(people.len(), 3);
    let two = people.iter().find(|i| i["customer_id"] == n("2")).unwrap();
    assert_eq!(two["amount"], s("20"));
    assert_eq!(f.items().await.len(), 40, "nothing else went into orders");
}

#[tokio::test]
async fn later_steps_load_into_the_table_the_file_began_in() {
    let (f, customers) = two_tables(&[("CHECKPOINT_MARGIN_SECONDS", "0")]).await;
    let key = format!("incoming/{customers}/big.csv");
    f.put(&key, customers_csv(60)).await;
    let summaries = load_in_segments(&f, &key).await;
    assert_eq!(summaries.len(), 3, "25 rows an invocation");
    for summary in &summaries {
        assert_eq!(summary.table, customers);
    }
    assert_eq!(items_of(&customers).await.len(), 60);
    assert!(f.items().await.is_empty());
}

#[tokio::test]
async fn the_parts_of_a_fanned_out_file_load_into_its_table() {
    let (f, customers) = two_tables(&[("FAN_OUT_MIN_BYTES", "1"), ("FAN_OUT_PARTS", "3")]).await;
    let key = format!("incoming/{customers}/big.csv");
    f.put(&key, customers_csv(300)).await;
    let response = f
        .invoke(json!({"bucket": f.bucket, "key": key}))
        .await
        .unwrap();
    let input = f.execution_input(&response.executions[0].name).await;
    let parts: Vec<Checkpoint> = serde_json::from_value(input["parts"].clone()).unwrap();
    let mut outcomes = Vec::new();
    for part in &parts {
        let step = f.step(part).await.unwrap();
        assert!(step.next.is_none() && step.ignored.is_none(), "{step:?}");
        outcomes.push(PartOutcome {
            summary: step.summary,
        });
    }
    let tables: Vec<_> = (outcomes.iter())
        .map(|o| o.summary.as_ref().unwrap().table.clone())
        .collect();
    assert_eq!(tables, [customers.as_str(); 3], "each part's summary");
    let file = summarize(&f.state.loaders, outcomes).await;
    assert_eq!(
        (file.table.as_str(), file.complete),
        (customers.as_str(), true)
    );
    assert_eq!(items_of(&customers).await.len(), 300);
    assert!(f.items().await.is_empty());
}

#[tokio::test]
async fn no_table_ignores_every_upload_and_fails_nothing() {
    let f = Fixture::new(&[("TABLE_NAMES", ""), ("COLUMN_TYPES", "amount:N")]).await;
    f.put("incoming/order_data.csv", seed_csv()).await;
    let response = f
        .invoke(f.s3_event(&["incoming/order_data.csv"]))
        .await
        .unwrap();
    assert!(response.files.is_empty());
    assert_eq!(response.ignored.len(), 1);
    assert_eq!(response.ignored[0].reason, NO_TABLE);
    let response = f.invoke(json!({})).await.unwrap();
    assert_eq!(response.ignored[0].reason, NO_TABLE);
    assert!(f.items().await.is_empty());
}

async fn cold_start(env: &[(&str, &str)]) -> Result<State, String> {
    let vars = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = from_vars::<LoaderEnv>(vars).unwrap().validate().unwrap();
    State::new(&LocalAws::shared().sdk_config().await, config, None)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn a_table_that_does_not_exist_fails_the_cold_start_naming_it() {
    let customers = unique_name("customers");
    create_customers_table(&customers).await;
    let missing = unique_name("missing");
    let names = format!("{customers},{missing}");
    let err = match cold_start(&[("TABLE_NAMES", &names)]).await {
        Err(e) => e,
        Ok(_) => panic!("a missing table must fail the cold start"),
    };
    assert!(
        err.contains(&format!(
            "TABLE_NAMES: table \"{missing}\" cannot be loaded into"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn each_tables_column_types_are_checked_against_its_own_keys() {
    let customers = unique_name("customers");
    create_customers_table(&customers).await;
    let orders = unique_name("orders");
    let dynamodb = LocalAws::shared().dynamodb().await;
    local_aws::create_seed_table(&dynamodb, &orders)
        .await
        .unwrap();
    let names = format!("{orders},{customers}");
    // customer_id is no key of orders, and a number key of customers.
    let fine = format!("{orders}/customer_id:S,customer_id:N");
    assert!(
        cold_start(&[("TABLE_NAMES", &names), ("COLUMN_TYPES", &fine)])
            .await
            .is_ok()
    );
    let err = match cold_start(&[("TABLE_NAMES", &names), ("COLUMN_TYPES", "customer_id:S")]).await
    {
        Err(e) => e,
        Ok(_) => panic!("customers' key is a number"),
    };
    assert!(
        err.contains(&format!(
            "COLUMN_TYPES for table \"{customers}\": column \"customer_id\" is a key of type N"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn console_test_with_nothing_uploaded_says_what_to_upload_where() {
    let f = Fixture::new(&[]).await;
    let hint = not_uploaded_yet(&f.bucket, "incoming/order_data.csv");
    let schedule =
        json!({"detail-type": "Scheduled Event", "source": "aws.scheduler", "detail": "{}"});
    for payload in [json!({}), schedule] {
        let response = f.invoke(payload).await.unwrap();
        assert!(response.files.is_empty());
        assert_eq!(response.ignored.len(), 1);
        assert_eq!(response.ignored[0].key, "incoming/order_data.csv");
        assert_eq!(response.ignored[0].reason, hint);
    }
    // Asked for by name, or by an S3 event, a missing object still fails (each in a stack of its
    // own: the failed load of one holds the object).
    for by_name in [true, false] {
        let g = Fixture::new(&[]).await;
        let payload = match by_name {
            true => json!({"bucket": g.bucket, "key": "incoming/order_data.csv"}),
            false => g.s3_event(&["incoming/order_data.csv"]),
        };
        let err = g.invoke(payload).await.unwrap_err();
        let diagnostic = lambda_runtime::Diagnostic::from(err);
        assert_eq!(
            diagnostic.error_type, "ObjectNotFound",
            "by name: {by_name}"
        );
    }
    // Once uploaded, `{}` loads it.
    f.put("incoming/order_data.csv", seed_csv()).await;
    let response = f.invoke(json!({})).await.unwrap();
    assert_eq!(response.files[0].counts.items_written, 40);
}

#[tokio::test]
async fn with_several_tables_the_default_object_is_in_the_first_tables_folder() {
    let (f, _) = two_tables(&[("DEFAULT_OBJECT_KEY", "")]).await;
    let key = format!("incoming/{}/order_data.csv", f.table);
    let response = f.invoke(json!({})).await.unwrap();
    assert_eq!(
        response.ignored[0].reason,
        not_uploaded_yet(&f.bucket, &key)
    );
    f.put(&key, seed_csv()).await;
    let response = f.invoke(json!({})).await.unwrap();
    assert_eq!(response.files[0].table, f.table);
    assert_eq!(response.files[0].counts.items_written, 40);
}
