//! Publishing to an SNS topic: the message every wing that tells people something sends, within
//! SNS's limits.

use std::collections::BTreeMap;

use aws_sdk_sns::types::MessageAttributeValue;
use serde::Serialize;

use crate::aws_error::describe;
use crate::metrics;

/// SNS subjects must be ASCII, one line, under 100 characters.
pub const MAX_SUBJECT: usize = 99;

/// A message for the SNS topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub subject: String,
    pub body: String,
    /// SNS message attributes (strings), so subscribers can filter.
    pub attributes: BTreeMap<String, String>,
}

/// One line, ASCII only, cut to SNS's limit.
pub fn subject(text: &str) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() > MAX_SUBJECT {
        clean.truncate(MAX_SUBJECT - 3);
        clean.push_str("...");
    }
    clean
}

/// Publishes `alert` to `topic_arn` (and counts it in `AlertsPublished`); returns the message id.
pub async fn publish(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    alert: &Alert,
) -> Result<String, String> {
    let attributes = alert
        .attributes
        .iter()
        .map(|(k, v)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map(|value| (k.clone(), value))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let out = sns
        .publish()
        .topic_arn(topic_arn)
        .subject(&alert.subject)
        .message(&alert.body)
        .set_message_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| describe(&e))?;
    metrics::emit(&metrics::ALERTS, &[&metrics::function_name()], &[1.0]);
    Ok(out.message_id.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_within_sns_limits() {
        let long = subject(&format!(
            "[ddb-guard] FAILED: backup of table {}",
            "t".repeat(255)
        ));
        assert_eq!(long.len(), MAX_SUBJECT);
        assert!(long.ends_with("..."));
        assert_eq!(subject("café\nau lait"), "caf??au lait");
    }
}
