//! Which tables a run covers: names given, plus every table carrying a tag; and the check every
//! table name a user writes goes through.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;

use crate::aws_error::describe;
use crate::retry::Retry;

/// Which tables a run covers when the request does not name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSelection {
    pub names: Vec<String>,
    /// Every table carrying this tag (key, value), like the blog's `backup=daily` assignment.
    pub tag: Option<(String, String)>,
}

impl TableSelection {
    /// Why a run found no table, naming the settings that would give it some (`names` and `tag`
    /// are the variables that set this selection).
    pub fn nothing_selected(&self, what: &str, names: &str, tag: &str) -> String {
        match &self.tag {
            Some((key, value)) => format!(
                "no tables to {what}: no table carries the tag {key}={value} and {names} names \
                 none (tag the tables to protect, or name them)"
            ),
            None => format!("no tables to {what}: set {names} or {tag}"),
        }
    }
}

/// The selection's tables in their order, then every other table carrying its tag. Each call is
/// retried when throttled (an account with many tables makes many calls), and a table deleted
/// while the selection runs is left out.
pub async fn select_tables(
    dynamodb: &aws_sdk_dynamodb::Client,
    selection: &TableSelection,
    retry: &Retry,
) -> Result<Vec<String>, String> {
    let mut tables = selection.names.clone();
    let Some((key, value)) = &selection.tag else {
        return Ok(tables);
    };
    let mut tagged = BTreeSet::new();
    let mut start: Option<String> = None;
    loop {
        let page = retry
            .call(|| {
                dynamodb
                    .list_tables()
                    .set_exclusive_start_table_name(start.clone())
                    .send()
            })
            .await
            .map_err(|e| format!("ListTables: {}", describe(&e)))?;
        for name in page.table_names() {
            if tables.contains(name) {
                continue;
            }
            let described = retry
                .call(|| dynamodb.describe_table().table_name(name).send())
                .await;
            let arn = match described {
                Ok(out) => out
                    .table()
                    .and_then(|t| t.table_arn())
                    .unwrap_or_default()
                    .to_string(),
                Err(e) if e.code() == Some("ResourceNotFoundException") => continue,
                Err(e) => return Err(format!("DescribeTable {name}: {}", describe(&e))),
            };
            if has_tag(dynamodb, retry, &arn, key, value).await? {
                tagged.insert(name.clone());
            }
        }
        match page.last_evaluated_table_name {
            Some(last) => start = Some(last),
            None => break,
        }
    }
    tables.extend(tagged);
    Ok(tables)
}

async fn has_tag(
    dynamodb: &aws_sdk_dynamodb::Client,
    retry: &Retry,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<bool, String> {
    let mut next = None;
    loop {
        let page = retry
            .call(|| {
                dynamodb
                    .list_tags_of_resource()
                    .resource_arn(arn)
                    .set_next_token(next.clone())
                    .send()
            })
            .await
            .map_err(|e| format!("ListTagsOfResource {arn}: {}", describe(&e)))?;
        if page
            .tags()
            .iter()
            .any(|t| t.key() == key && t.value() == value)
        {
            return Ok(true);
        }
        match page.next_token {
            Some(token) => next = Some(token),
            None => return Ok(false),
        }
    }
}

/// DynamoDB table names: 3-255 characters of `[A-Za-z0-9_.-]`.
pub fn check_table_name(name: &str) -> Result<(), String> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if (3..=255).contains(&name.len()) && valid_chars {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a table name (3-255 characters: letters, digits, '_', '-', '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_selection_says_which_setting_found_nothing() {
        let tagged = super::TableSelection {
            names: vec![],
            tag: Some(("team".into(), "data".into())),
        };
        let why = tagged.nothing_selected("watch", "WATCH_TABLE_NAMES", "WATCH_TABLE_TAG");
        assert!(why.contains("no table carries the tag team=data"), "{why}");
        let unset = super::TableSelection::default();
        let why = unset.nothing_selected("back up", "TABLE_NAMES", "BACKUP_TAG");
        assert_eq!(why, "no tables to back up: set TABLE_NAMES or BACKUP_TAG");
    }
}
