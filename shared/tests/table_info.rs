//! What the loader reads of its table at cold start, from the local AWS's `DescribeTable`.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType,
};
use local_aws::{LocalAws, unique_name};
use shared::load::plan::fan_out::FanOut;
use shared::load::read::table::TableInfo;
use shared::load::write::writer::WriteSettings;

#[tokio::test]
async fn a_small_provisioned_table_is_loaded_by_one_writer_and_an_on_demand_one_by_parts() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let on_demand = unique_name("on-demand");
    local_aws::create_seed_table(&dynamodb, &on_demand)
        .await
        .unwrap();
    let provisioned = unique_name("provisioned");
    (dynamodb.create_table().table_name(&provisioned))
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(5)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let write = WriteSettings::default();
    let on_demand = TableInfo::describe(&dynamodb, &on_demand).await.unwrap();
    assert_eq!(on_demand.write_units, None);
    assert!(FanOut::default().helps(on_demand.write_units, &write));
    let provisioned = TableInfo::describe(&dynamodb, &provisioned).await.unwrap();
    assert_eq!(provisioned.write_units, Some(5));
    assert!(!FanOut::default().helps(provisioned.write_units, &write));
}
