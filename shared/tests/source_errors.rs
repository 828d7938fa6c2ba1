//! How S3 refusals read: a missing key is "not found" (permanent), and AccessDenied (how a missing
//! key looks to a role without `s3:ListBucket`, and how a policy being changed looks) is its own
//! error, retried like a passing fault. The local AWS never answers 403, so these are played with
//! `aws-smithy-mocks`; each mock answers only a request for the pinned version and ETag.

use aws_sdk_s3::Client;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use shared::load::read::source::{ObjectVersion, SourceError, open_object};
use shared::load::summary::FileError;

fn s3_error(status: u16, code: &str) -> HttpResponse {
    let body = format!("<Error><Code>{code}</Code><Message>{code}</Message></Error>");
    HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
}

/// What opening version `v1` (ETag `e1`) reads as when S3 answers `status` and `code`.
async fn open_answered(status: u16, code: &'static str) -> SourceError {
    let rule = mock!(Client::get_object)
        .match_requests(|req| {
            req.version_id() == Some("v1")
                && req.if_match() == Some("\"e1\"")
                && req.key() == Some("incoming/orders.csv")
        })
        .then_http_response(move || s3_error(status, code));
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&rule]);
    let pin = ObjectVersion {
        version_id: Some("v1".into()),
        etag: Some("\"e1\"".into()),
    };
    let opened = open_object(&s3, "b", "incoming/orders.csv", &pin, None).await;
    assert_eq!(rule.num_calls(), 1, "asked for the pinned version and ETag");
    match opened {
        Err(e) => e,
        Ok(_) => panic!("{code} opened"),
    }
}

#[tokio::test]
async fn a_missing_key_is_not_found_and_a_forbidden_one_is_not_called_missing() {
    let missing = FileError::Source(open_answered(404, "NoSuchKey").await);
    assert_eq!(
        missing.to_string(),
        "s3://b/incoming/orders.csv does not exist"
    );
    assert_eq!(missing.error_type(), "ObjectNotFound");
    let denied = FileError::Source(open_answered(403, "AccessDenied").await);
    assert_eq!(
        denied.to_string(),
        "S3 refused to let this function read s3://b/incoming/orders.csv (AccessDenied: the object \
         is missing, or a bucket or KMS key policy denies it)"
    );
    assert_eq!(denied.error_type(), "ObjectAccessDenied");
}
