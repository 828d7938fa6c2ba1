//! What a promotion is asked: `{"action": "promote", "target_table": ...}`, the restored copy to
//! make production, and nothing else (how the copy was made and finished is done by then).

use serde::Deserialize;
use serde_json::Value;

use crate::request::RequestError;
use crate::table_selection::check_table_name;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(rename = "action")]
    _action: String,
    target_table: Option<String>,
}

/// The table to promote.
pub fn parse_promote_request(payload: Value) -> Result<String, RequestError> {
    let raw: Raw = serde_json::from_value(payload).map_err(|e| RequestError(e.to_string()))?;
    let table =
        (raw.target_table).ok_or_else(|| RequestError("\"promote\" needs target_table".into()))?;
    check_table_name(&table).map_err(RequestError)?;
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_promotion_names_its_table_and_nothing_else() {
        let table = json!({"action": "promote", "target_table": "orders-restored-1"});
        assert_eq!(parse_promote_request(table).unwrap(), "orders-restored-1");
        for (payload, expect) in [
            (json!({"action": "promote"}), "needs target_table"),
            (
                json!({"action": "promote", "target_table": "orders-restored-1", "ttl": true}),
                "unknown field `ttl`",
            ),
            (
                json!({"action": "promote", "target_table": "a b"}),
                "not a table name",
            ),
        ] {
            let err = parse_promote_request(payload.clone())
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{payload}: {err}");
        }
    }
}
