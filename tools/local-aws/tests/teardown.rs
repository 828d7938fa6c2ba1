//! `tools/teardown.sh` against the local AWS: what `sam delete` leaves of a stack goes (the
//! versioned bucket, the demo table, the stack's native backups when asked), everything else
//! stays, and a vault whose recovery points cannot be listed is kept and said so.

use std::process::Command;

use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use local_aws::{LocalAws, workspace_root};

const STACK: &str = "teardown-stack";
const ACCOUNT: &str = "123456789012";

async fn table(dynamodb: &aws_sdk_dynamodb::Client, name: &str, protected: bool) {
    local_aws::create_hash_keyed_table(dynamodb, name, "pk", "S")
        .await
        .unwrap();
    dynamodb
        .update_table()
        .table_name(name)
        .deletion_protection_enabled(protected)
        .send()
        .await
        .unwrap();
}

async fn versioned_bucket(s3: &aws_sdk_s3::Client, name: &str) {
    local_aws::create_bucket(s3, name).await.unwrap();
    let versioning = VersioningConfiguration::builder()
        .status(BucketVersioningStatus::Enabled)
        .build();
    s3.put_bucket_versioning()
        .bucket(name)
        .versioning_configuration(versioning)
        .send()
        .await
        .unwrap();
    for body in ["v1", "v2"] {
        local_aws::put_object(
            s3,
            name,
            "incoming/order_data.csv",
            body.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    }
    s3.delete_object()
        .bucket(name)
        .key("incoming/order_data.csv")
        .send()
        .await
        .unwrap();
}

async fn backup_names(dynamodb: &aws_sdk_dynamodb::Client) -> Vec<String> {
    let out = dynamodb.list_backups().send().await.unwrap();
    out.backup_summaries()
        .iter()
        .filter_map(|b| b.backup_name().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn teardown_removes_only_what_the_stack_left() {
    let aws = LocalAws::start().unwrap();
    let config = aws.sdk_config().await;
    let (s3, dynamodb) = (aws.s3().await, aws.dynamodb().await);
    let backup = aws_sdk_backup::Client::new(&config);
    let ours = format!("{STACK}-data-{ACCOUNT}-0a1b2c3d");
    let theirs = format!("other-stack-data-{ACCOUNT}-0a1b2c3d");
    versioned_bucket(&s3, &ours).await;
    versioned_bucket(&s3, &theirs).await;
    let demo = format!("order_transaction-{STACK}-0a1b2c3d");
    table(&dynamodb, &demo, true).await;
    table(&dynamodb, "orders", true).await;
    for name in [
        format!("orders.ddb-guard-{STACK}.20260101T000000Z"),
        "orders.manual".to_string(),
        "orders.ddb-guard-other-stack.20260101T000000Z".to_string(),
    ] {
        dynamodb
            .create_backup()
            .table_name("orders")
            .backup_name(name)
            .send()
            .await
            .unwrap();
    }
    let vault = format!("{STACK}-vault-0a1b2c3d");
    backup
        .create_backup_vault()
        .backup_vault_name(&vault)
        .send()
        .await
        .unwrap();

    let out = Command::new(local_aws::venv_bin().join("python"))
        .arg(workspace_root().join("tools/teardown.py"))
        .args([STACK, "--delete-native-backups"])
        .envs(aws.env())
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let buckets: Vec<String> = s3
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert!(!buckets.contains(&ours), "{printed}");
    assert!(buckets.contains(&theirs), "another stack's bucket stays");
    let tables = dynamodb
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .to_vec();
    assert_eq!(
        tables,
        ["orders"],
        "the demo table goes, the user's table stays"
    );
    let mut left = backup_names(&dynamodb).await;
    left.sort();
    assert_eq!(
        left,
        [
            "orders.ddb-guard-other-stack.20260101T000000Z",
            "orders.manual"
        ]
    );
    // The local AWS cannot list recovery points: the vault is kept, and the output says why.
    let vaults = backup.list_backup_vaults().send().await.unwrap();
    assert!(
        vaults
            .backup_vault_list()
            .iter()
            .any(|v| v.backup_vault_name() == Some(vault.as_str()))
    );
    assert!(
        printed.contains(&format!("kept vault {vault}")),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("deleted bucket {ours}")),
        "{printed}"
    );
}
