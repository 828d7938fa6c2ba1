//! The fence holds for a write already on its way: an older load's `BatchWriteItem` is held open
//! (by a proxy in front of the local AWS) while a newer upload takes the object over. The newer
//! load waits out `settle_time` before its first write, so the older write lands first and the
//! newer values win. Without the fence (no claim, no wait) the held write would land last and the
//! table would keep older values: this test would fail.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use local_aws::{LocalAws, unique_name};
use shared::load::checkpoint::Checkpoint;
use shared::load::file::{LoadResult, Loader, LoaderSettings};
use shared::load::plan::start::{Start, start};
use shared::load::read::columns::BlankCells;
use shared::load::read::keys::{KeyAttribute, KeyKind, KeySchema};
use shared::load::read::source::ObjectVersion;
use shared::load::read::table::TableInfo;
use shared::load::write::gate::WriteGate;
use shared::load::write::writer::WriteSettings;
use shared::state::StateStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

const KEY: &str = "incoming/orders.csv";
/// How long the proxy holds the older load's first write: past the newer load's claim, and well
/// inside the write's own call timeout.
const HOLD: Duration = Duration::from_secs(6);

fn rows(value: &str) -> String {
    let mut csv = String::from("order_id,item_id,product\n");
    for row in 1..=50 {
        csv.push_str(&format!("o{row},i,{value}\n"));
    }
    csv
}

/// A proxy to `upstream` that holds the first request carrying a `BatchWriteItem` for `HOLD`,
/// telling `held` when it starts holding it.
async fn holding_proxy(upstream: SocketAddr, held: Arc<Notify>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let once = Arc::new(AtomicBool::new(false));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (held, once) = (Arc::clone(&held), Arc::clone(&once));
            tokio::spawn(pipe(client, upstream, held, once));
        }
    });
    endpoint
}

async fn pipe(client: TcpStream, upstream: SocketAddr, held: Arc<Notify>, once: Arc<AtomicBool>) {
    let server = TcpStream::connect(upstream).await.unwrap();
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut from_server, &mut to_client).await });
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(n) = from_client.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let write = buffer[..n].windows(14).any(|w| w == b"BatchWriteItem");
        if write && !once.swap(true, Ordering::SeqCst) {
            held.notify_one();
            tokio::time::sleep(HOLD).await;
        }
        if to_server.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
}

fn keys() -> KeySchema {
    let string = |name: &str| KeyAttribute {
        name: name.into(),
        kind: KeyKind::S,
    };
    KeySchema {
        partition: string("order_id"),
        sort: Some(string("item_id")),
        indexes: Vec::new(),
    }
}

fn loader(
    aws: &LocalAws,
    s3: &aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    tables: (&str, &str),
) -> Loader {
    let (table, state_table) = tables;
    let state = direct_state(aws, state_table);
    Loader {
        s3: s3.clone(),
        dynamodb,
        table: TableInfo {
            name: table.into(),
            keys: keys(),
            write_units: None,
        },
        settings: LoaderSettings {
            column_types: Default::default(),
            blanks: BlankCells::Omit,
            rejects_prefix: "rejected/".into(),
            // One call at a time and small batches' pace: the held call is the load's first.
            write: WriteSettings {
                max_in_flight: 1,
                ..WriteSettings::default()
            },
            checkpoint_margin: Duration::ZERO,
            progress_every: Duration::from_secs(30),
            stall_after: Duration::from_secs(900),
        },
        state: Some(state),
    }
}

/// The state table, reached directly (never through the proxy).
fn direct_state(aws: &LocalAws, table: &str) -> StateStore {
    let config = aws_sdk_dynamodb::config::Builder::new()
        .endpoint_url(aws.endpoint())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "local",
        ))
        .behavior_version_latest()
        .build();
    StateStore::new(aws_sdk_dynamodb::Client::from_conf(config), table)
}

async fn put(s3: &aws_sdk_s3::Client, bucket: &str, body: String) -> String {
    let put = (s3
        .put_object()
        .bucket(bucket)
        .key(KEY)
        .body(body.into_bytes().into()))
    .send()
    .await
    .unwrap();
    put.version_id().unwrap().to_string()
}

async fn started(
    loader: &Loader,
    bucket: &str,
    version: &str,
    request: &str,
) -> (Checkpoint, Option<Arc<dyn WriteGate>>) {
    let job = Checkpoint {
        pin: ObjectVersion {
            version_id: Some(version.into()),
            etag: None,
        },
        ..Checkpoint::start(bucket, KEY)
    };
    match start(loader, job, (request, 0), None).await.unwrap() {
        Start::Load(ready) => (ready.job, ready.fence.map(|f| f as Arc<dyn WriteGate>)),
        Start::Skip(ignored) => panic!("{ignored:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_in_flight_when_a_newer_load_takes_over_lands_before_the_newer_values() {
    let aws = LocalAws::shared();
    let (s3, dynamodb) = (aws.s3().await, aws.dynamodb().await);
    let bucket = unique_name("in-flight");
    local_aws::create_bucket(&s3, &bucket).await.unwrap();
    (s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        ))
    .send()
    .await
    .unwrap();
    let (table, state_table) = (unique_name("orders"), unique_name("state"));
    local_aws::create_seed_table(&dynamodb, &table)
        .await
        .unwrap();
    local_aws::create_state_table(&dynamodb, &state_table)
        .await
        .unwrap();

    let upstream: SocketAddr = aws
        .endpoint()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let held = Arc::new(Notify::new());
    let proxy = holding_proxy(upstream, Arc::clone(&held)).await;
    let through_proxy = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&aws.sdk_config().await)
            .endpoint_url(proxy)
            .build(),
    );
    let older_loader = loader(aws, &s3, through_proxy, (&table, &state_table));
    let newer_loader = loader(aws, &s3, dynamodb.clone(), (&table, &state_table));
    let deadline = Instant::now() + Duration::from_secs(120);

    let first = put(&s3, &bucket, rows("old")).await;
    let (job, gate) = started(&older_loader, &bucket, &first, "older").await;
    let older = older_loader.load_fenced(job, deadline, gate);
    let newer = async {
        held.notified().await;
        // The older load's first write is on its way; the newer upload takes the object over.
        let second = put(&s3, &bucket, rows("new")).await;
        let (job, gate) = started(&newer_loader, &bucket, &second, "newer").await;
        newer_loader.load_fenced(job, deadline, gate).await
    };
    let (older, newer) = tokio::join!(older, newer);
    assert!(matches!(newer.unwrap(), LoadResult::Done(_)));
    let older = older.unwrap();
    let LoadResult::Superseded(stopped) = older else {
        panic!("the older load goes on no further than its write in flight");
    };
    assert!(stopped.counts.items_superseded > 0, "{stopped:?}");

    let items = local_aws::scan_all(&dynamodb, &table).await.unwrap();
    assert_eq!(items.len(), 50);
    let old: Vec<&AttributeValue> = (items.iter())
        .filter(|i| i["product"] != AttributeValue::S("new".into()))
        .map(|i| &i["order_id"])
        .collect();
    assert!(old.is_empty(), "older values landed last: {old:?}");
}
