//! Which tables a run covers: names given, plus every table carrying a tag; and the check every
//! table name a user writes goes through.

use std::collections::BTreeSet;

use crate::aws_error::describe;

/// Which tables a run backs up when the request does not name them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSelection {
    pub names: Vec<String>,
    /// Every table carrying this tag (key, value), like the blog's `backup=daily` assignment.
    pub tag: Option<(String, String)>,
}

/// The selection's tables in their order, then every other table carrying its tag.
pub async fn select_tables(
    dynamodb: &aws_sdk_dynamodb::Client,
    selection: &TableSelection,
) -> Result<Vec<String>, String> {
    let mut tables = selection.names.clone();
    if let Some((key, value)) = &selection.tag {
        let mut tagged = BTreeSet::new();
        let mut pages = dynamodb.list_tables().into_paginator().items().send();
        while let Some(name) = pages.next().await {
            let name = name.map_err(|e| format!("ListTables: {}", describe(&e)))?;
            if tables.contains(&name) {
                continue;
            }
            let described = dynamodb
                .describe_table()
                .table_name(&name)
                .send()
                .await
                .map_err(|e| format!("DescribeTable {name}: {}", describe(&e)))?;
            let arn = described
                .table()
                .and_then(|t| t.table_arn())
                .unwrap_or_default()
                .to_string();
            if has_tag(dynamodb, &arn, key, value).await? {
                tagged.insert(name);
            }
        }
        tables.extend(tagged);
    }
    Ok(tables)
}

async fn has_tag(
    dynamodb: &aws_sdk_dynamodb::Client,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<bool, String> {
    let mut next = None;
    loop {
        let page = dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next)
            .send()
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
