//! The state table on a load's write path. Before every write the load reads its holder record;
//! when that read is throttled or fails (played with `aws-smithy-mocks`, as the local AWS never
//! does either) or hangs (a server that takes the connection and never answers), the rows are
//! handed back to the load's next step like throttled items, and nothing is written or lost. A
//! holder record that is gone stops the load with a reason. S3 and the loaded table are the local
//! AWS.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use local_aws::{LocalAws, unique_name};
use shared::load::checkpoint::Checkpoint;
use shared::load::file::{LoadResult, Loader, LoaderSettings};
use shared::load::plan::fence::Fence;
use shared::load::read::columns::BlankCells;
use shared::load::read::keys::{KeyAttribute, KeyKind, KeySchema};
use shared::load::read::table::TableInfo;
use shared::load::summary::FileError;
use shared::load::write::writer::WriteSettings;
use shared::state::StateStore;
use tokio::time::Instant;

const CSV: &str = "order_id,item_id,amount\no1,1,10\no2,1,20\no3,1,30\n";
const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"slow down"}"#;

/// A bucket holding `CSV`, an empty table to load it into, and a loader for them whose fence
/// reads its holder record through `state`.
struct Setup {
    loader: Loader,
    bucket: String,
    table: String,
}

async fn setup(state: Client) -> Setup {
    let aws = LocalAws::shared();
    let (s3, dynamodb) = (aws.s3().await, aws.dynamodb().await);
    let bucket = unique_name("fence-reads");
    local_aws::create_bucket(&s3, &bucket).await.unwrap();
    local_aws::put_object(&s3, &bucket, "orders.csv", CSV.as_bytes().to_vec())
        .await
        .unwrap();
    let table = unique_name("orders");
    local_aws::create_seed_table(&dynamodb, &table)
        .await
        .unwrap();
    let loader = Loader {
        s3,
        dynamodb,
        table: TableInfo {
            name: table.clone(),
            keys: keys(),
            write_units: None,
        },
        settings: LoaderSettings {
            column_types: "amount:N".parse().unwrap(),
            blanks: BlankCells::Omit,
            rejects_prefix: "rejected/".into(),
            write: WriteSettings::default(),
            checkpoint_margin: Duration::ZERO,
            progress_every: Duration::from_secs(30),
            stall_after: Duration::from_secs(900),
        },
        state: Some(StateStore::new(state, "state")),
    };
    Setup {
        loader,
        bucket,
        table,
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

impl Setup {
    /// Loads the file as load `load-1`, fenced by its holder record.
    async fn load(&self) -> Result<LoadResult, FileError> {
        let store = self.loader.state.clone().unwrap();
        let fence = Fence::new(store, &self.bucket, "orders.csv", "load-1");
        let mut job = Checkpoint::start(&self.bucket, "orders.csv");
        job.load_id = "load-1".into();
        let deadline = Instant::now() + Duration::from_secs(120);
        self.loader
            .load_fenced(job, deadline, Some(Arc::new(fence)))
            .await
    }

    async fn items_in_table(&self) -> usize {
        let dynamodb = LocalAws::shared().dynamodb().await;
        (local_aws::scan_all(&dynamodb, &self.table).await)
            .unwrap()
            .len()
    }

    /// The load wrote nothing, lost nothing, and handed every row to its next step, saying why.
    async fn assert_handed_back(&self) {
        let result = self.load().await.expect("handed back, not failed");
        let LoadResult::Paused(summary, next) = result else {
            panic!("expected the rows to be handed over");
        };
        assert_eq!(summary.counts.items_written, 0);
        assert_eq!(
            summary.counts.rows_read, 0,
            "handed-back rows are read again"
        );
        assert!(!summary.complete);
        let resume = next.resume.expect("a resume point");
        assert_eq!(resume.line, 2, "the next step starts at the first row");
        assert_eq!(self.items_in_table().await, 0);
        assert_eq!((next.load_id.as_str(), next.segment), ("load-1", 2));
    }
}

#[tokio::test]
async fn a_throttled_read_of_the_holder_record_hands_the_rows_back() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_status(400, Some(THROTTLED.to_string()))
        .times(1000)
        .build();
    // The segment's end notes in the state table that its rows were counted: throttled too.
    let note = mock!(Client::put_item)
        .sequence()
        .http_status(400, Some(THROTTLED.to_string()))
        .times(1000)
        .build();
    let state = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule, &note]);
    let setup = setup(state).await;
    setup.assert_handed_back().await;
    assert!(rule.num_calls() >= 3, "each read is tried a few times");
}

#[tokio::test]
async fn a_failing_read_of_the_holder_record_hands_the_rows_back() {
    let rule = mock!(Client::get_item)
        .sequence()
        .http_status(500, None)
        .times(1000)
        .build();
    let note = mock!(Client::put_item)
        .sequence()
        .http_status(500, None)
        .times(1000)
        .build();
    let state = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule, &note]);
    let setup = setup(state).await;
    setup.assert_handed_back().await;
}

#[tokio::test]
async fn a_hung_read_of_the_holder_record_hands_the_rows_back_in_bounded_time() {
    // Takes connections and never answers: every read of the holder record hangs.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            open.push(socket);
        }
    });
    let config = LocalAws::shared().sdk_config().await;
    let state = Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .endpoint_url(endpoint)
            .build(),
    );
    let setup = setup(state).await;
    let started = Instant::now();
    setup.assert_handed_back().await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "three bounded reads, not a hang: {:?}",
        started.elapsed()
    );
    held.abort();
}

#[tokio::test]
async fn a_missing_holder_record_stops_the_load_with_its_reason() {
    let aws = LocalAws::shared();
    let state = aws.dynamodb().await;
    let state_table = unique_name("state");
    local_aws::create_state_table(&state, &state_table)
        .await
        .unwrap();
    let mut setup = setup(state.clone()).await;
    setup.loader.state = Some(StateStore::new(state, state_table));
    let err = match setup.load().await {
        Err(e) => e,
        Ok(_) => panic!("a load without its holder record must not go on"),
    };
    assert_eq!(err.error_type(), "LoadAborted");
    let message = err.to_string();
    assert!(message.contains("holder record"), "{message}");
    assert!(message.contains("is gone"), "{message}");
    assert!(message.contains("\"reload\": true"), "{message}");
    assert_eq!(setup.items_in_table().await, 0);
}
