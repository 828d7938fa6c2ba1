//! What an S3 event says, read for the fields the loader uses and nothing else: the bucket, the
//! key (form-URL-encoded in a notification, plain through EventBridge) and the version.

use percent_encoding::percent_decode_str;
use serde::Deserialize;

use crate::load::plan::pin::quoted;
use crate::load::read::source::ObjectVersion;

/// An S3 notification: only what the loader reads.
#[derive(Deserialize)]
pub struct S3Notification {
    #[serde(rename = "Records")]
    pub records: Vec<S3Record>,
}

#[derive(Deserialize)]
pub struct S3Record {
    /// `ObjectCreated:Put`, ...; an event without one is taken for a creation.
    #[serde(rename = "eventName")]
    pub event_name: Option<String>,
    pub s3: S3Entity,
}

#[derive(Deserialize)]
pub struct S3Entity {
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Deserialize)]
pub struct S3Bucket {
    pub name: String,
}

#[derive(Deserialize)]
pub struct S3Object {
    /// URL-encoded in a notification.
    pub key: String,
    #[serde(rename = "versionId")]
    pub version_id: Option<String>,
    #[serde(rename = "eTag")]
    pub etag: Option<String>,
}

/// The `detail` of an EventBridge `Object Created` event from `aws.s3`.
#[derive(Deserialize)]
pub struct EventBridgeS3Detail {
    pub bucket: S3Bucket,
    pub object: EventBridgeS3Object,
}

#[derive(Deserialize)]
pub struct EventBridgeS3Object {
    /// Not URL-encoded.
    pub key: String,
    #[serde(rename = "version-id")]
    pub version_id: Option<String>,
    pub etag: Option<String>,
}

/// The version an event is about.
pub fn event_pin(version_id: Option<String>, etag: Option<String>) -> ObjectVersion {
    ObjectVersion {
        // A bucket that never had versioning on says "null".
        version_id: version_id.filter(|v| !v.is_empty() && v != "null"),
        etag: etag.filter(|e| !e.is_empty()).map(|e| quoted(&e)),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("object key {raw:?} is not valid form-URL-encoded UTF-8")]
pub struct KeyDecodeError {
    pub raw: String,
}

/// Decodes a key from an S3 event: form-URL-encoded, so `+` is a space and `%XX` is a UTF-8 byte.
pub fn decode_event_key(raw: &str) -> Result<String, KeyDecodeError> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| KeyDecodeError {
            raw: raw.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_key_is_unchanged() {
        assert_eq!(
            decode_event_key("incoming/orders.csv").unwrap(),
            "incoming/orders.csv"
        );
    }

    #[test]
    fn plus_is_a_space() {
        assert_eq!(
            decode_event_key("incoming/my+orders.csv").unwrap(),
            "incoming/my orders.csv"
        );
    }

    #[test]
    fn encoded_plus_stays_a_plus() {
        assert_eq!(
            decode_event_key("incoming/a%2Bb.csv").unwrap(),
            "incoming/a+b.csv"
        );
    }

    #[test]
    fn utf8_bytes_are_decoded() {
        assert_eq!(
            decode_event_key("incoming/caf%C3%A9+%E6%9D%B1%E4%BA%AC.csv").unwrap(),
            "incoming/café 東京.csv"
        );
    }

    #[test]
    fn percent_sign_itself() {
        assert_eq!(
            decode_event_key("incoming/100%25.csv").unwrap(),
            "incoming/100%.csv"
        );
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(decode_event_key("incoming/%FF.csv").is_err());
    }
}
