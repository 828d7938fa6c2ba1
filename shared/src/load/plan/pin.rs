//! Which version of an object a load reads. An event names the version it is about (its version
//! ID, or ETag); a request without one reads the version that is current when the load begins.
//! Either way every read of that load, its later steps and parts included, names it.

use crate::aws_error::describe;
use crate::load::read::source::ObjectVersion;

/// What is under a key now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    Version(ObjectVersion),
    /// Nothing: deleted (a delete marker is current) or never written (S3 said 404).
    Gone,
    /// S3 would not say (403: a missing key looks so without `s3:ListBucket`, and so does a policy
    /// that denies the read).
    Unknown,
}

/// The object's current version, if S3 says.
pub async fn current(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Result<Current, String> {
    match s3.head_object().bucket(bucket).key(key).send().await {
        Ok(head) => Ok(Current::Version(ObjectVersion {
            // A bucket that never had versioning on says "null".
            version_id: head
                .version_id()
                .filter(|v| *v != "null")
                .map(str::to_string),
            etag: head.e_tag().map(str::to_string),
        })),
        // HEAD has no body to say why: the status does.
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(Current::Gone),
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
            Ok(Current::Unknown)
        }
        Err(e) => Err(format!(
            "could not tell which version of s3://{bucket}/{key} is current: {}",
            describe(&e)
        )),
    }
}

/// Why loading `asked` would load something older than `current`; `None` when it is current.
pub fn superseded(asked: &ObjectVersion, current: &ObjectVersion) -> Option<String> {
    if let (Some(asked), Some(now)) = (&asked.version_id, &current.version_id) {
        return (asked != now)
            .then(|| format!("version {asked} is no longer the current one ({now} is)"));
    }
    let unquoted = |etag: &String| etag.trim_matches('"').to_string();
    if let (Some(asked), Some(now)) = (&asked.etag, &current.etag) {
        let (asked, now) = (unquoted(asked), unquoted(now));
        return (asked != now)
            .then(|| format!("ETag {asked} is no longer the current one ({now} is)"));
    }
    None
}

/// An ETag as S3 returns it in a header: quoted (events carry it bare).
pub fn quoted(etag: &str) -> String {
    format!("\"{}\"", etag.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(version: Option<&str>, etag: Option<&str>) -> ObjectVersion {
        ObjectVersion {
            version_id: version.map(str::to_string),
            etag: etag.map(str::to_string),
        }
    }

    #[test]
    fn a_version_is_superseded_by_another_current_one() {
        let now = pin(Some("v2"), Some("\"e2\""));
        assert_eq!(superseded(&pin(Some("v2"), None), &now), None);
        let why = superseded(&pin(Some("v1"), Some("e1")), &now).unwrap();
        assert!(why.contains("v1") && why.contains("v2"), "{why}");
        // Without version IDs (an unversioned bucket) the ETag tells, quoted or not.
        assert_eq!(superseded(&pin(None, Some("e2")), &now), None);
        assert!(superseded(&pin(None, Some("e1")), &pin(None, Some("\"e2\""))).is_some());
        // Nothing named: whatever is current is what loads.
        assert_eq!(superseded(&ObjectVersion::default(), &now), None);
        assert_eq!(quoted("e1"), "\"e1\"");
        assert_eq!(quoted("\"e1\""), "\"e1\"");
    }
}
