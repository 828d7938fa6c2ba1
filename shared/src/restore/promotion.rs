//! A restored copy promoted to production. DynamoDB cannot rename a table, so a disaster recovery
//! leaves production named `<source>-restored-<time>`, where every restore-target grant reaches
//! it. Promoting makes that a state IAM sees: the copy is tagged `ddb-guard:promoted` (every role
//! of the stack and the operators' policy are denied writes and setting changes on tables carrying
//! it, unless the user names the table) and with the stack's protection tag (so the stack backs it
//! up, watches and drills it like the tables it protects). From then on this handler never
//! changes it: every finish, retry and clean-up refuses a promoted table.

use aws_sdk_dynamodb::types::Tag;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;

use crate::aws_error::describe;
use crate::restore::service::{ACTIVE, RestoreError, RestoreService};

/// The tag that makes a table production to IAM (its value: when it was promoted).
pub const PROMOTED_TAG: &str = "ddb-guard:promoted";

/// What a promotion did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Promotion {
    pub promoted: String,
    pub source_table: String,
    pub promoted_at: String,
    /// The stack's protection tag it now carries (`key=value`), when the stack has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected_by_tag: Option<String>,
    /// What the stack now does with it, and what is left for a person.
    pub next_step: String,
}

impl RestoreService {
    /// Promotes `table`: only a copy this handler restored (and the very table it restored),
    /// `ACTIVE`, not a drill's scratch table, not promoted already.
    pub async fn promote(&self, table: &str) -> Result<Promotion, RestoreError> {
        let (started, described) = self.restored_here(table, None).await?;
        if started.options.drill.is_some() {
            return Err(RestoreError::Refused(format!(
                "{table} is a drill's scratch table, checked and deleted by its drill: it is \
                 never promoted"
            )));
        }
        let status = described.table_status().map(|s| s.as_str().to_string());
        if status.as_deref() != Some(ACTIVE) {
            return Err(RestoreError::Refused(format!(
                "{table} is {}, not ACTIVE: finish it, then promote it",
                status.unwrap_or_else(|| "UNKNOWN".into())
            )));
        }
        let at = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut tags = vec![tag(PROMOTED_TAG, &at)?];
        if let Some((key, value)) = &self.settings.protected_tag {
            tags.push(tag(key, value)?);
        }
        let arn = described.table_arn().unwrap_or_default();
        (self
            .dynamodb
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags)))
        .send()
        .await
        .map_err(|e| RestoreError::Failed(format!("TagResource {table}: {}", describe(&e))))?;
        tracing::info!(%table, source = %started.source, "promoted to production");
        let protected_by_tag =
            (self.settings.protected_tag.as_ref()).map(|(k, v)| format!("{k}={v}"));
        Ok(Promotion {
            promoted: table.to_string(),
            source_table: started.source,
            promoted_at: at,
            next_step: next_step(table, protected_by_tag.as_deref()),
            protected_by_tag,
        })
    }

    /// When `table` (by ARN) was promoted, if it was.
    pub(super) async fn promoted_at(&self, arn: &str) -> Result<Option<String>, RestoreError> {
        let mut next = None;
        loop {
            let page = (self.dynamodb.list_tags_of_resource())
                .resource_arn(arn)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| {
                    RestoreError::Failed(format!("ListTagsOfResource {arn}: {}", describe(&e)))
                })?;
            if let Some(promoted) = page.tags().iter().find(|t| t.key() == PROMOTED_TAG) {
                return Ok(Some(promoted.value().to_string()));
            }
            match page.next_token {
                Some(token) => next = Some(token),
                None => return Ok(None),
            }
        }
    }
}

fn tag(key: &str, value: &str) -> Result<Tag, RestoreError> {
    (Tag::builder().key(key).value(value).build())
        .map_err(|e| RestoreError::Failed(format!("tag {key}: {e}")))
}

fn next_step(table: &str, protected_by_tag: Option<&str>) -> String {
    let denied = "no role of this stack and no operator may write to it, change its settings or \
                  delete it (name it in ProtectedTables or LoadTables to make it yours, like any \
                  named table)";
    match protected_by_tag {
        Some(tag) => format!(
            "{table} carries {tag}: it is backed up, watched and drilled like the stack's other \
             tables; {denied}"
        ),
        None => format!(
            "this stack selects no table by tag (ProtectedTag is empty), so {table} is not backed \
             up or watched yet: add it to ProtectedTables; {denied}"
        ),
    }
}
