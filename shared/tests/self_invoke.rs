//! The hand-over to the next invocation: an asynchronous invoke of this same function carrying the
//! checkpoint. The local AWS cannot run Lambda functions, so the Lambda API is mocked.

use aws_sdk_lambda::Client;
use aws_sdk_lambda::operation::invoke::InvokeOutput;
use aws_sdk_lambda::types::InvocationType;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use serde_json::Value;
use shared::load::file::{Checkpoint, Counts, Redo};
use shared::load::plan::continuation::Continuation;
use shared::load::read::source::{Compression, ObjectVersion, ResumePoint};
use shared::self_invoke::SelfInvoke;

const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:csv-loader:live";

fn checkpoint() -> Checkpoint {
    Checkpoint {
        bucket: "b".into(),
        key: "incoming/big file.csv".into(),
        pin: ObjectVersion {
            version_id: Some("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY".into()),
            etag: Some("\"abc\"".into()),
        },
        load_id: "c0ffee00-1111-2222-3333-444455556666".into(),
        resume: Some(ResumePoint {
            offset: 1_234_567,
            line: 40_001,
            etag: Some("\"abc\"".into()),
            compression: Compression::Gzip,
        }),
        header: vec!["order_id".into(), "item_id".into()],
        range: None,
        segment: 2,
        counts: Counts {
            rows_read: 40_000,
            items_written: 39_990,
            rows_rejected: 10,
            ..Counts::default()
        },
        // Two rows after the resume point to load again; the others up to line 40,100 are done.
        redo: Some(Redo {
            until_line: 40_100,
            lines: vec![40_001, 40_050],
        }),
        progress_at: Some(1_796_000_000),
        reports: vec!["s3://b/rejected/incoming/big file.csv@3HL4.rejects.csv".into()],
    }
}

#[tokio::test]
async fn continues_with_an_async_invoke_of_the_same_function() {
    let rule = mock!(Client::invoke)
        .match_requests(|input| {
            let payload: Value = serde_json::from_slice(input.payload().unwrap().as_ref()).unwrap();
            input.function_name() == Some(ARN)
                && input.invocation_type() == Some(&InvocationType::Event)
                && serde_json::from_value::<Checkpoint>(payload["continue"].clone()).ok()
                    == Some(checkpoint())
        })
        .then_output(|| InvokeOutput::builder().status_code(202).build());
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&rule]);
    let continuation = SelfInvoke {
        lambda,
        function: ARN.into(),
    };
    continuation.continue_later(&checkpoint()).await.unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn a_refused_invoke_is_an_error() {
    let rule = mock!(Client::invoke)
        .sequence()
        .http_status(
            403,
            Some(r#"{"__type":"AccessDeniedException","Type":"User","message":"not authorized to perform: lambda:InvokeFunction"}"#.into()),
        )
        .build();
    let lambda = mock_client!(aws_sdk_lambda, RuleMode::Sequential, [&rule]);
    let continuation = SelfInvoke {
        lambda,
        function: ARN.into(),
    };
    let err = continuation
        .continue_later(&checkpoint())
        .await
        .unwrap_err();
    assert!(
        err.contains(ARN) && err.contains("lambda:InvokeFunction"),
        "{err}"
    );
}
