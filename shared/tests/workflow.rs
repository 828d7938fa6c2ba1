//! Executions of a state machine in the local AWS: started once per name, stopped, refused loudly;
//! and a load's step input fits Step Functions' payload limit.

use local_aws::{LocalAws, RecordingStateMachine};
use serde_json::json;
use shared::load::checkpoint::{Checkpoint, Redo};
use shared::load::read::source::{Compression, ObjectVersion, ResumePoint};
use shared::load::summary::Counts;
use shared::workflow::{HandOver, Workflow};

/// Step Functions' limit on an execution's input and a state's output.
const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

async fn workflow() -> (Workflow, RecordingStateMachine) {
    let recording = RecordingStateMachine::start(LocalAws::shared()).await;
    let workflow = Workflow {
        sfn: recording.sfn.clone(),
        state_machine: recording.arn.clone(),
    };
    (workflow, recording)
}

#[tokio::test]
async fn an_execution_starts_once_per_name_and_a_second_start_finds_it() {
    let (workflow, recording) = workflow().await;
    let first = workflow
        .start("load-a-1", &json!({"job": 1}))
        .await
        .unwrap();
    assert!(first.new);
    assert_eq!(first.arn, workflow.execution_arn("load-a-1"));
    assert!(first.console.ends_with(&first.arn));
    let again = workflow
        .start("load-a-1", &json!({"job": 1}))
        .await
        .unwrap();
    assert!(!again.new, "the same name finds the first execution");
    assert_eq!(recording.inputs().await, [json!({"job": 1})]);
    // Stopping it, or one that never ran, is no error.
    workflow.stop("load-a-1", "superseded").await.unwrap();
    workflow.stop("never-started", "superseded").await.unwrap();
}

#[tokio::test]
async fn a_hand_over_from_outside_is_named_after_its_request_so_retries_find_it() {
    let (workflow, recording) = workflow().await;
    let hand_over = HandOver::Execution {
        workflow: Some(workflow),
        request_id: "request-1".into(),
    };
    for _ in 0..2 {
        let to = hand_over
            .send("finish", "orders-restored-1", json!({"a": 1}))
            .await;
        assert!(
            to.unwrap()
                .starts_with("execution finish-orders-restored-1-")
        );
    }
    assert_eq!(recording.inputs().await, [json!({"step": {"a": 1}})]);
}

#[tokio::test]
async fn a_start_the_local_aws_refuses_names_the_state_machine() {
    let (mut workflow, _) = workflow().await;
    workflow.state_machine.push_str("-gone");
    let err = workflow.start("x", &json!({})).await.unwrap_err();
    assert!(err.contains(&workflow.state_machine), "{err}");
}

#[test]
fn a_step_input_fits_the_payload_limit_with_every_batch_in_flight_to_redo() {
    // 32 calls in flight of 25 items each, all to load again; a 500-column header.
    let lines: Vec<u64> = (1_000_000..1_000_800).collect();
    let job = Checkpoint {
        pin: ObjectVersion {
            version_id: Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY".into()),
            etag: Some("\"abc\"".into()),
        },
        load_id: "c0ffee00-1111-2222-3333-444455556666".into(),
        resume: Some(ResumePoint {
            offset: 123_456_789_012,
            line: 1_000_000,
            etag: Some("\"abc\"".into()),
            compression: Compression::Gzip,
        }),
        header: (0..500).map(|i| format!("column_number_{i}")).collect(),
        counts: Counts {
            rows_read: 999_999,
            ..Counts::default()
        },
        redo: Some(Redo {
            until_line: 1_000_800,
            lines,
        }),
        reports: (1..=20)
            .map(|i| format!("s3://b/rejected/k.rejects.part{i:03}.csv"))
            .collect(),
        ..Checkpoint::start("b", "incoming/".to_string() + &"k".repeat(1000))
    };
    let input = json!({ "job": job }).to_string();
    assert!(input.len() < MAX_PAYLOAD_BYTES / 4, "{} bytes", input.len());
}
