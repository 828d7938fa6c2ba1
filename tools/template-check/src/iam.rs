//! How IAM decides one request against a set of (expanded) statements, for the parts of the policy
//! language the template uses: `Action`, `Resource` and `NotResource` patterns, and conditions on
//! the resource's tags, the request's tag keys, the principal and the region. An explicit deny
//! wins over any allow; nothing allowed is denied.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::{REGION, arn_matches, strings};

/// One request as IAM sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub action: String,
    pub resource: String,
    /// The tags the resource carries (`aws:ResourceTag/<key>`).
    pub resource_tags: BTreeMap<String, String>,
    /// The tag keys the request adds or removes (`aws:TagKeys`).
    pub tag_keys: Vec<String>,
    /// The caller's role or user (`aws:PrincipalArn`).
    pub principal: String,
}

impl Request {
    pub fn new(action: &str, resource: &str) -> Request {
        Request {
            action: action.into(),
            resource: resource.into(),
            ..Request::default()
        }
    }

    /// The resource carries `key=value`.
    pub fn tagged(mut self, key: &str, value: &str) -> Request {
        self.resource_tags.insert(key.into(), value.into());
        self
    }

    /// The request adds or removes the tag `key`.
    pub fn tag_key(mut self, key: &str) -> Request {
        self.tag_keys.push(key.into());
        self
    }

    pub fn by(mut self, principal: &str) -> Request {
        self.principal = principal.into();
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// No statement allows it.
    NotAllowed,
    /// A statement denies it, whatever allows it.
    Denied,
}

/// IAM's answer to `request` under `statements`.
pub fn decide(statements: &[Value], request: &Request) -> Decision {
    let applies = |effect: &str| {
        statements
            .iter()
            .filter(|s| s["Effect"] == effect)
            .any(|s| statement_applies(s, request))
    };
    if applies("Deny") {
        Decision::Denied
    } else if applies("Allow") {
        Decision::Allowed
    } else {
        Decision::NotAllowed
    }
}

fn statement_applies(statement: &Value, request: &Request) -> bool {
    let action = strings(&statement["Action"])
        .iter()
        .any(|a| arn_matches(a, &request.action));
    let resource = match statement.get("NotResource") {
        Some(not) => !strings(not)
            .iter()
            .any(|r| arn_matches(r, &request.resource)),
        None => strings(&statement["Resource"])
            .iter()
            .any(|r| arn_matches(r, &request.resource)),
    };
    let deny = statement["Effect"] == "Deny";
    action && resource && conditions_hold(&statement["Condition"], request, deny)
}

/// Every condition of a statement. A key the checker does not know restricts how a grant is
/// used (a KMS key's service, the role passed) and holds for an allow; on a deny it fails the
/// check, so that no denial is taken for granted.
fn conditions_hold(conditions: &Value, request: &Request, deny: bool) -> bool {
    let Some(conditions) = conditions.as_object() else {
        return true;
    };
    conditions.iter().all(|(operator, keys)| {
        (keys.as_object().expect("condition keys"))
            .iter()
            .all(|(key, wanted)| match values(key, request) {
                Some(values) => holds(operator, &values, &strings(wanted)),
                None if deny => panic!("the checker knows no condition key {key} of a deny"),
                None => true,
            })
    })
}

/// The request's values for a condition key (empty: absent); `None` for a key not modelled.
fn values(key: &str, request: &Request) -> Option<Vec<String>> {
    if let Some(tag) = key.strip_prefix("aws:ResourceTag/") {
        return Some(
            request
                .resource_tags
                .get(tag)
                .cloned()
                .into_iter()
                .collect(),
        );
    }
    match key {
        "aws:TagKeys" => Some(request.tag_keys.clone()),
        "aws:PrincipalArn" => Some(vec![request.principal.clone()]),
        // A call goes to the region of the resource it names (the stack's, for one without).
        "aws:RequestedRegion" => {
            let region = request.resource.split(':').nth(3).filter(|r| !r.is_empty());
            Some(vec![region.unwrap_or(REGION).to_string()])
        }
        _ => None,
    }
}

fn holds(operator: &str, values: &[String], wanted: &[String]) -> bool {
    let equal = |v: &String| wanted.contains(v);
    let like = |v: &String| wanted.iter().any(|w| arn_matches(w, v));
    match operator {
        "Null" => values.is_empty() == (wanted == ["true"]),
        "StringEquals" | "ArnEquals" => values.len() == 1 && equal(&values[0]),
        "StringNotEquals" | "ArnNotEquals" => values.iter().all(|v| !equal(v)),
        "StringLike" | "ArnLike" => values.len() == 1 && like(&values[0]),
        "ForAnyValue:StringEquals" => values.iter().any(equal),
        "ForAllValues:StringEquals" => values.iter().all(equal),
        other => panic!("the checker knows no condition operator {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_deny_wins_and_its_conditions_are_read() {
        let statements = [
            json!({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "table/*"}),
            json!({"Effect": "Deny", "Action": ["dynamodb:PutItem"], "NotResource": ["table/mine"],
                   "Condition": {"Null": {"aws:ResourceTag/promoted": "false"}}}),
            json!({"Effect": "Deny", "Action": "dynamodb:TagResource", "Resource": "*",
                   "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["promoted"]},
                                 "ArnNotEquals": {"aws:PrincipalArn": "role/handler"}}}),
        ];
        let put = |table: &str| Request::new("dynamodb:PutItem", table);
        assert_eq!(decide(&statements, &put("table/a")), Decision::Allowed);
        let promoted = put("table/a").tagged("promoted", "2026");
        assert_eq!(decide(&statements, &promoted), Decision::Denied);
        let mine = put("table/mine").tagged("promoted", "2026");
        assert_eq!(decide(&statements, &mine), Decision::Allowed);
        let tag = Request::new("dynamodb:TagResource", "table/a").tag_key("promoted");
        assert_eq!(
            decide(&statements, &tag.clone().by("role/other")),
            Decision::Denied
        );
        assert_eq!(
            decide(&statements, &tag.by("role/handler")),
            Decision::Allowed
        );
        let other_key = Request::new("dynamodb:TagResource", "table/a").tag_key("team");
        assert_eq!(decide(&statements, &other_key), Decision::Allowed);
        let s3 = Request::new("s3:PutObject", "bucket/key");
        assert_eq!(decide(&statements, &s3), Decision::NotAllowed);
    }
}
