//! How S3 refusals read: the role has no `s3:ListBucket`, so S3 answers a missing key with 403
//! AccessDenied, which the local AWS never does. Played with `aws-smithy-mocks`.

use aws_sdk_s3::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use shared::load::read::source::{SourceError, open_object};

fn s3_error(status: u16, code: &str) -> HttpResponse {
    let body = format!("<Error><Code>{code}</Code><Message>{code}</Message></Error>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

async fn open_answered(status: u16, code: &'static str) -> String {
    let rule = mock!(Client::get_object).then_http_response(move || s3_error(status, code));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
    match open_object(&s3, "b", "incoming/orders.csv", &Default::default(), None).await {
        Err(e @ SourceError::NotFound { .. }) => e.to_string(),
        Err(e) => panic!("{code} read as {e:?}"),
        Ok(_) => panic!("{code} opened"),
    }
}

#[tokio::test]
async fn a_missing_key_and_a_forbidden_one_read_as_what_they_may_be() {
    assert_eq!(
        open_answered(404, "NoSuchKey").await,
        "s3://b/incoming/orders.csv does not exist"
    );
    assert_eq!(
        open_answered(403, "AccessDenied").await,
        "s3://b/incoming/orders.csv does not exist, or the function may not read it (S3 answered \
         AccessDenied, as it does for a missing key when the reader has no s3:ListBucket)"
    );
}
