//! A table with secondary indexes: their key columns are typed as the table says, a blank one is
//! left out, and what DynamoDB would refuse (a wrong index key type, an over-long key) is a reject.

mod common;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType,
};
use common::{Fixture, load_in_segments, n, s};
use csv_loader::handler::State;
use local_aws::{LocalAws, unique_name};
use shared::env::from_vars;
use shared::load::config::LoaderEnv;

const HEADER: &str =
    "order_id,item_id,customer_id,product,amount,currency,time_stamp,transaction_date";

/// The seed's keys, a global index on `customer_id` (N) and a local one on `time_stamp` (S).
async fn create_indexed_table(dynamodb: &aws_sdk_dynamodb::Client, name: &str) {
    let attr = |name: &str, t: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(t)
            .build()
            .unwrap()
    };
    let key = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .unwrap()
    };
    let all = Projection::builder()
        .projection_type(ProjectionType::All)
        .build();
    dynamodb
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("order_id", ScalarAttributeType::S))
        .attribute_definitions(attr("item_id", ScalarAttributeType::S))
        .attribute_definitions(attr("customer_id", ScalarAttributeType::N))
        .attribute_definitions(attr("time_stamp", ScalarAttributeType::S))
        .key_schema(key("order_id", KeyType::Hash))
        .key_schema(key("item_id", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("by_customer")
                .key_schema(key("customer_id", KeyType::Hash))
                .projection(all.clone())
                .build()
                .unwrap(),
        )
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("by_time")
                .key_schema(key("order_id", KeyType::Hash))
                .key_schema(key("time_stamp", KeyType::Range))
                .projection(all)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

async fn state(table: &str, bucket: &str, column_types: &str) -> Result<State, String> {
    let vars = [
        ("TABLE_NAMES", table),
        ("BUCKET_NAME", bucket),
        ("COLUMN_TYPES", column_types),
        // Blank cells become "": never for an index key, which DynamoDB would refuse.
        ("BLANK_CELLS", "empty"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let config = from_vars::<LoaderEnv>(vars).unwrap().validate().unwrap();
    let aws = LocalAws::shared();
    let workflow = common::recording_state_machine(aws).await;
    (State::new(&aws.sdk_config().await, config, Some(workflow)).await).map_err(|e| e.to_string())
}

async fn indexed_fixture(column_types: &str) -> Result<Fixture, String> {
    let aws = LocalAws::shared();
    let (s3, dynamodb) = (aws.s3().await, aws.dynamodb().await);
    let bucket = common::versioned_bucket(&s3, "indexed").await;
    let table = unique_name("indexed");
    create_indexed_table(&dynamodb, &table).await;
    Ok(Fixture {
        state: state(&table, &bucket, column_types).await?,
        bucket,
        table,
        // Without one: these loads are not fenced.
        state_table: String::new(),
        s3,
        dynamodb,
    })
}

#[tokio::test]
async fn index_keys_are_typed_as_the_table_says_and_never_blank() {
    // `customer_id` is left undeclared: the global index makes it a number.
    let f = indexed_fixture("amount:N").await.unwrap();
    let long_sort_key = "x".repeat(1025);
    let csv = format!(
        "{HEADER}\n\
         o1,1,403,Tuna,10,JPY,2020-09-03T06:02:05Z,9-3-2020\n\
         o2,1,,Tuna,11,JPY,2020-09-03T06:02:06Z,9-3-2020\n\
         o3,1,abc,Tuna,12,JPY,2020-09-03T06:02:07Z,9-3-2020\n\
         o4,{long_sort_key},404,Tuna,13,JPY,2020-09-03T06:02:08Z,9-3-2020\n\
         o5,1,405,Tuna,14,JPY,,9-3-2020\n"
    );
    f.put("incoming/indexed.csv", csv).await;
    let response = f
        .invoke(f.s3_event(&["incoming/indexed.csv"]))
        .await
        .unwrap();
    let [summary] = &response.files[..] else {
        panic!("{response:?}")
    };
    assert_eq!(
        (
            summary.counts.rows_read,
            summary.counts.items_written,
            summary.counts.rows_rejected
        ),
        (5, 3, 2)
    );
    let o1 = f.item("o1", "1").await.unwrap();
    assert_eq!(o1["customer_id"], n("403"));
    assert_eq!(o1["currency"], s("JPY"));
    let o2 = f.item("o2", "1").await.unwrap();
    assert!(
        !o2.contains_key("customer_id"),
        "a blank index key is left out: {o2:?}"
    );
    let o5 = f.item("o5", "1").await.unwrap();
    assert!(!o5.contains_key("time_stamp"), "{o5:?}");

    // The summary names why rows were rejected; the report has each row.
    assert_eq!(
        summary.first_reasons.len(),
        2,
        "{:?}",
        summary.first_reasons
    );
    assert!(summary.first_reasons[0].contains("a key of index by_customer"));
    assert!(summary.first_reasons[1].contains("over DynamoDB's 1024-byte limit"));
    let report = f.report(&summary.report).await;
    let reasons: Vec<&str> = report.lines().skip(1).collect();
    assert_eq!(reasons.len(), 2, "{report}");
    assert!(
        reasons[0]
            .starts_with("4,\"column \"\"customer_id\"\", a key of index by_customer: \"\"abc\"\""),
        "{}",
        reasons[0]
    );
    assert!(
        reasons[1].starts_with(
            "5,\"key column \"\"item_id\"\" is 1025 bytes, over DynamoDB's 1024-byte limit for \
             the table's sort key\""
        ),
        "{}",
        reasons[1]
    );
}

#[tokio::test]
async fn index_key_rejects_leave_the_good_rows_loaded_across_segments() {
    let f = indexed_fixture("amount:N").await.unwrap();
    let mut csv = format!("{HEADER}\n");
    for row in 0..60 {
        let customer = if row == 10 {
            "abc".to_string()
        } else {
            (400 + row).to_string()
        };
        let item = if row == 50 {
            "y".repeat(1100)
        } else {
            "1".to_string()
        };
        csv.push_str(&format!(
            "o{row},{item},{customer},Tuna,{row},JPY,2020-09-03T06:02:05Z,9-3-2020\n"
        ));
    }
    f.put("incoming/indexed.csv", csv).await;
    let summaries = load_in_segments(&f, "incoming/indexed.csv").await;
    assert!(summaries.len() >= 2, "{} segments", summaries.len());
    let last = summaries.last().unwrap();
    assert_eq!(
        (
            last.counts.rows_read,
            last.counts.items_written,
            last.counts.rows_rejected
        ),
        (60, 58, 2)
    );
    assert_eq!(f.items().await.len(), 58);
    let mut rejected = Vec::new();
    // A segment that rejected nothing wrote no report.
    for summary in summaries.iter().filter(|s| !s.report.is_empty()) {
        let url = &summary.report;
        let key = url.strip_prefix(&format!("s3://{}/", f.bucket)).unwrap();
        let report = f.text(key).await;
        rejected.extend(
            report
                .lines()
                .skip(1)
                .map(|l| l.split(',').next().unwrap().to_string()),
        );
    }
    assert_eq!(
        rejected,
        ["12", "52"],
        "the lines of the index-key and key-length rejects"
    );
}

#[tokio::test]
async fn column_types_that_contradict_an_index_key_are_refused_at_cold_start() {
    let err = match indexed_fixture("customer_id:S,amount:N").await {
        Err(e) => e,
        Ok(_) => panic!("a declared type contradicting an index key must be refused"),
    };
    assert!(
        err.contains("column \"customer_id\" is a key of type N of index by_customer"),
        "{err}"
    );
}
