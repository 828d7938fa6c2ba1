//! Who hears the alerts: the alert topic's confirmed subscriptions. A topic nobody confirmed a
//! subscription to takes every alert and tells no one, and AWS says nothing about it: the watchdog
//! says so on each run.

use crate::aws_error::describe;

/// The subscriptions of `topic_arn` that deliver, every page followed (SNS lists 100 a page).
pub async fn confirmed_subscriptions(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
) -> Result<usize, String> {
    let mut arns: Vec<Option<String>> = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = sns
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| format!("ListSubscriptionsByTopic {topic_arn}: {}", describe(&e)))?;
        arns.extend(
            page.subscriptions()
                .iter()
                .map(|s| s.subscription_arn().map(str::to_string)),
        );
        match page.next_token.filter(|t| !t.is_empty()) {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok(confirmed(arns.iter().map(Option::as_deref)))
}

/// How many of a topic's subscriptions are confirmed: those whose `SubscriptionArn` is an ARN. SNS
/// lists an unconfirmed one (an email whose link nobody followed) as `PendingConfirmation`, and
/// one being removed as `Deleted`: neither delivers.
pub fn confirmed<'a>(subscription_arns: impl IntoIterator<Item = Option<&'a str>>) -> usize {
    subscription_arns
        .into_iter()
        .filter(|arn| arn.is_some_and(|a| a.starts_with("arn:")))
        .count()
}

/// The warning a run logs when no one hears the alerts of `topic_arn`.
pub fn unheard_warning(topic_arn: &str, confirmed: usize) -> Option<String> {
    (confirmed == 0).then(|| {
        format!(
            "nobody hears this stack's alerts: the alert topic {topic_arn} has no confirmed \
             subscription (deploy with AlertEmail, or confirm the email AWS sent)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBSCRIPTION: &str = "arn:aws:sns:us-east-1:123456789012:alerts:6b0e71bd-7e97-4d97-80ce";

    #[test]
    fn only_confirmed_subscriptions_hear_alerts() {
        assert_eq!(confirmed([]), 0);
        assert_eq!(confirmed([Some("PendingConfirmation")]), 0);
        assert_eq!(confirmed([Some("Deleted"), None, Some("")]), 0);
        assert_eq!(confirmed([Some(SUBSCRIPTION)]), 1);
        assert_eq!(
            confirmed([
                Some("PendingConfirmation"),
                Some(SUBSCRIPTION),
                Some(SUBSCRIPTION),
            ]),
            2
        );
    }

    #[test]
    fn a_topic_nobody_hears_is_named_with_what_to_do() {
        let topic = "arn:aws:sns:us-east-1:123456789012:ddb-guard-alerts";
        let warning = unheard_warning(topic, 0).unwrap();
        assert!(
            warning.starts_with("nobody hears this stack's alerts"),
            "{warning}"
        );
        assert!(
            warning.contains(topic) && warning.contains("AlertEmail"),
            "{warning}"
        );
        assert_eq!(unheard_warning(topic, 1), None);
    }
}
