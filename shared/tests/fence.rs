//! The fence a load asks before every write, against the local AWS: it fails closed.

use local_aws::{LocalAws, unique_name};
use shared::load::plan::fence::Fence;
use shared::load::write::gate::GateAnswer;
use shared::state::StateStore;

#[tokio::test]
async fn a_load_whose_holder_record_is_gone_may_not_write() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let table = unique_name("state");
    local_aws::create_state_table(&dynamodb, &table)
        .await
        .unwrap();
    let fence = Fence::new(StateStore::new(dynamodb, table), "b", "k.csv", "load-1");
    let GateAnswer::Broken(reason) = fence.holds().await else {
        panic!("a fence without its record must not let writes through");
    };
    assert!(
        reason.contains("holder record") && reason.contains("is gone"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_holder_record_that_cannot_be_read_is_unsure_after_a_few_attempts() {
    let dynamodb = LocalAws::shared().dynamodb().await;
    let table = unique_name("no-such-state");
    let fence = Fence::new(StateStore::new(dynamodb, &table), "b", "k.csv", "load-1");
    let GateAnswer::Unsure(err) = fence.holds().await else {
        panic!("an unreadable record is neither a yes nor a no");
    };
    assert!(err.contains(&table) && err.contains("3 attempts"), "{err}");
}
