//! The newest file loaded into each table, so that an explicit request to load an older file again
//! (a redrive, typed by hand) does not silently overwrite newer values with older ones.
//!
//! Between different files the last one loaded wins: S3 events load in the order they arrive, and
//! are never refused for this. A `{"bucket", "key"}` request for an object older than the newest
//! one loaded (or loading) into the same table is refused unless it says `"force": true`.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use crate::aws_error::describe;
use crate::state::{StateKey, StateStore};

/// How long the record lasts without a new load.
const KEPT_DAYS: i64 = 90;
/// Attempts at replacing the record while other loads keep changing it.
const ATTEMPTS: u32 = 5;

/// One object's version as loaded, and when S3 says it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub url: String,
    pub last_modified: DateTime<Utc>,
}

fn record_key(table: &str) -> StateKey {
    StateKey::new(format!("load-table#{table}"), "newest")
}

/// When S3 says the object's `version` (or its current version) was written; `None` when there is
/// no such object (the load itself then says so: `ObjectNotFound`).
pub async fn last_modified(
    s3: &aws_sdk_s3::Client,
    (bucket, key): (&str, &str),
    version: Option<&str>,
) -> Result<Option<DateTime<Utc>>, String> {
    let head = (s3.head_object().bucket(bucket).key(key))
        .set_version_id(version.map(str::to_string))
        .send()
        .await;
    let head = match head {
        Ok(head) => head,
        // HEAD has no body to say why: the status does.
        Err(e) if (e.raw_response()).is_some_and(|r| matches!(r.status().as_u16(), 403 | 404)) => {
            return Ok(None);
        }
        Err(e) => {
            let why = describe(&e);
            return Err(format!(
                "could not tell when s3://{bucket}/{key} was written: {why}"
            ));
        }
    };
    let written = head
        .last_modified()
        .ok_or_else(|| format!("S3 did not say when s3://{bucket}/{key} was written"))?;
    DateTime::from_timestamp(written.secs(), written.subsec_nanos())
        .map(Some)
        .ok_or_else(|| format!("s3://{bucket}/{key} has an impossible write time"))
}

/// The newest object loaded into `table`, if one is recorded.
pub async fn newest(store: &StateStore, table: &str) -> Result<Option<Loaded>, String> {
    let record = (store.get(&record_key(table), Utc::now()).await).map_err(|e| e.to_string())?;
    Ok(record.and_then(|r| {
        let url = r.body["url"].as_str()?.to_string();
        let at = r.body["last_modified"].as_str()?;
        let last_modified = DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&Utc);
        Some(Loaded { url, last_modified })
    }))
}

/// Why loading `asked` into `table` would overwrite a newer file's values; `None` when it would not.
pub fn older_than(asked: &Loaded, newest: Option<&Loaded>) -> Option<String> {
    let newest = newest.filter(|n| n.url != asked.url && n.last_modified > asked.last_modified)?;
    Some(format!(
        "{} (written {}) is older than {} (written {}), already loaded into this table: loading it \
         now would put older values over newer ones. Send the same request with \"force\": true to \
         load it anyway",
        asked.url,
        asked.last_modified.to_rfc3339(),
        newest.url,
        newest.last_modified.to_rfc3339()
    ))
}

/// Records `loaded` as the newest object loaded into `table`, unless a newer one is recorded.
pub async fn record(store: &StateStore, table: &str, loaded: &Loaded) -> Result<(), String> {
    let key = record_key(table);
    let body = json!({"url": loaded.url, "last_modified": loaded.last_modified.to_rfc3339()});
    let expires = Utc::now() + Duration::days(KEPT_DAYS);
    for _ in 0..ATTEMPTS {
        let held = (store.get(&key, Utc::now()).await).map_err(|e| e.to_string())?;
        let written = match held {
            None => store.create(&key, &body, expires, Utc::now()).await,
            Some(record) => {
                let recorded = record.body["last_modified"].as_str().unwrap_or_default();
                let newer = DateTime::parse_from_rfc3339(recorded)
                    .is_ok_and(|at| at.with_timezone(&Utc) > loaded.last_modified);
                if newer {
                    return Ok(());
                }
                store.replace(&key, record.version, &body, expires).await
            }
        };
        if written.map_err(|e| e.to_string())? {
            return Ok(());
        }
    }
    Err(format!(
        "other loads kept changing it; {ATTEMPTS} attempts failed"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(url: &str, second: i64) -> Loaded {
        Loaded {
            url: url.into(),
            last_modified: DateTime::from_timestamp(second, 0).unwrap(),
        }
    }

    #[test]
    fn only_an_older_other_file_is_refused() {
        let b = loaded("s3://x/b.csv", 200);
        let why = older_than(&loaded("s3://x/a.csv", 100), Some(&b)).unwrap();
        assert!(why.contains("a.csv") && why.contains("b.csv"), "{why}");
        assert!(why.contains("\"force\": true"), "{why}");
        assert_eq!(older_than(&loaded("s3://x/c.csv", 300), Some(&b)), None);
        assert_eq!(older_than(&loaded("s3://x/b.csv", 100), Some(&b)), None);
        assert_eq!(older_than(&loaded("s3://x/a.csv", 200), Some(&b)), None);
        assert_eq!(older_than(&loaded("s3://x/a.csv", 100), None), None);
    }
}
