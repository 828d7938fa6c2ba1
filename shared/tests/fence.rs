//! The fence a load asks before every write, against the local AWS: it fails closed.

use local_aws::{LocalAws, unique_name};
use shared::load::plan::fence::Fence;
use shared::load::write::gate::WriteGate;
use shared::state::StateStore;

#[tokio::test]
async fn a_load_whose_holder_record_is_gone_may_not_write() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let table = unique_name("state");
    local_aws::create_state_table(&dynamodb, &table)
        .await
        .unwrap();
    let fence = Fence::new(StateStore::new(dynamodb, table), "b", "k.csv", "load-1");
    assert_eq!(fence.holds().await, Ok(false));
    let holder = fence.holder().unwrap();
    assert!(holder.contains("holder record is gone"), "{holder}");
}

#[tokio::test]
async fn a_holder_record_that_cannot_be_read_is_an_error_after_a_few_attempts() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let table = unique_name("no-such-state");
    let fence = Fence::new(StateStore::new(dynamodb, &table), "b", "k.csv", "load-1");
    let err = fence.holds().await.unwrap_err();
    assert!(err.contains(&table) && err.contains("3 attempts"), "{err}");
}
