//! Every failure is heard: what Lambda, the scheduler or EventBridge could not process or deliver is
//! kept in a queue; every function's errors and every waiting message page; a watchdog that stops
//! running pages; and an alert topic that cannot deliver is reported somewhere else.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use template_check::{ACCOUNT, Template, strings};

const FOURTEEN_DAYS: i64 = 14 * 24 * 3600;

/// The queue that `{"Fn::GetAtt": [queue, "Arn"]}` names, checked to keep messages 14 days,
/// encrypted.
fn kept_queue<'a>(template: &Template, arn: &'a Value) -> &'a str {
    let [id, attribute] = arn["Fn::GetAtt"]
        .as_array()
        .map(|a| [a[0].as_str().unwrap(), a[1].as_str().unwrap()])
        .unwrap_or_else(|| panic!("{arn} does not name a queue of this template"));
    assert_eq!(attribute, "Arn");
    let queue = &template.resources()[id];
    assert_eq!(queue["Type"], "AWS::SQS::Queue", "{id}");
    assert_eq!(queue["Properties"]["SqsManagedSseEnabled"], true, "{id}");
    assert_eq!(
        queue["Properties"]["MessageRetentionPeriod"].as_i64(),
        Some(FOURTEEN_DAYS),
        "{id}"
    );
    id
}

fn alarms(template: &Template) -> BTreeMap<&str, &Value> {
    template.of_type("AWS::CloudWatch::Alarm")
}

/// The alarms on one metric, with these dimensions.
fn alarms_on<'a>(
    template: &'a Template,
    namespace: &str,
    metric: &str,
    dimensions: Value,
) -> Vec<&'a Value> {
    alarms(template)
        .into_values()
        .map(|a| &a["Properties"])
        .filter(|p| p["Namespace"] == namespace && p["MetricName"] == metric)
        .filter(|p| p["Dimensions"] == dimensions)
        .collect()
}

/// An alarm that goes off when the metric is above zero in any one 5-minute period.
fn fires_on_any(alarm: &Value) {
    assert_eq!(
        alarm["ComparisonOperator"], "GreaterThanThreshold",
        "{alarm}"
    );
    assert_eq!(alarm["Threshold"].as_f64(), Some(0.0), "{alarm}");
    assert_eq!(alarm["Period"].as_i64(), Some(300), "{alarm}");
    assert_eq!(alarm["EvaluationPeriods"].as_i64(), Some(1), "{alarm}");
    // Sum of errors, or the most messages seen waiting.
    assert!(
        alarm["Statistic"] == "Sum" || alarm["Statistic"] == "Maximum",
        "{alarm}"
    );
}

#[test]
fn every_function_retries_twice_then_keeps_the_failed_event() {
    let template = Template::load();
    let deployed = template.transformed();
    let mut queues = BTreeSet::new();
    for (id, function) in template.functions() {
        // All four are invoked asynchronously: by S3, a schedule, EventBridge, or each other.
        let config = &function["Properties"]["EventInvokeConfig"];
        assert_eq!(config["MaximumRetryAttempts"].as_i64(), Some(2), "{id}");
        let on_failure = &config["DestinationConfig"]["OnFailure"];
        assert_eq!(on_failure["Type"], "SQS", "{id}");
        let queue = kept_queue(&template, &on_failure["Destination"]);
        assert!(queues.insert(queue), "{id} shares {queue}");

        // SAM lets the function's role send there; without it the event would be dropped.
        let role = &deployed.resources()[&format!("{id}Role")];
        let sends = role["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
            .any(|s| {
                s["Action"] == "sqs:SendMessage" && s["Resource"] == on_failure["Destination"]
            });
        assert!(sends, "{id}'s role may not send to {queue}");
    }
    assert_eq!(queues.len(), 4);
}

#[test]
fn what_a_schedule_or_rule_cannot_deliver_goes_to_its_own_queue_within_the_hour() {
    let template = Template::load();
    let mut queues = BTreeSet::new();
    let mut checked = BTreeSet::new();
    for (id, function) in template.functions() {
        let events = function["Properties"]["Events"].as_object();
        for (name, event) in events.into_iter().flatten() {
            if !["ScheduleV2", "EventBridgeRule"].contains(&event["Type"].as_str().unwrap()) {
                continue;
            }
            let properties = &event["Properties"];
            // A queue of ours (SAM's `Type: SQS` would make one without retention or an alarm).
            let queue = kept_queue(&template, &properties["DeadLetterConfig"]["Arn"]);
            assert!(queues.insert(queue), "{id}.{name} shares {queue}");
            // Retries stop within the hour, so the queue's alarm pages the same hour.
            let retry = &properties["RetryPolicy"];
            let max_age = retry["MaximumEventAgeInSeconds"].as_i64().unwrap();
            assert!((60..=3600).contains(&max_age), "{id}.{name}: {max_age} s");
            assert!(retry["MaximumRetryAttempts"].as_i64().unwrap() >= 1);
            checked.insert(format!("{id}.{name}"));
        }
    }
    assert!(
        checked.is_superset(&BTreeSet::from([
            "BackupTriggerFunction.Schedule".to_string(),
            "BackupNotifierFunction.BackupJobEvents".to_string(),
            "BackupNotifierFunction.Watchdog".to_string(),
            "RestoreHandlerFunction.DrillSchedule".to_string(),
        ])),
        "{checked:?}"
    );

    // The senders may send. A schedule sends with its role, which SAM writes...
    let deployed = template.transformed();
    for (id, schedule) in deployed.of_type("AWS::Scheduler::Schedule") {
        let target = &schedule["Properties"]["Target"];
        let dlq = &target["DeadLetterConfig"]["Arn"];
        let role = target["RoleArn"]["Fn::GetAtt"][0].as_str().unwrap();
        let statements: Vec<&Value> = deployed.resources()[role]["Properties"]["Policies"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap())
            .collect();
        assert!(
            statements
                .iter()
                .any(|s| s["Action"] == "sqs:SendMessage" && &s["Resource"] == dlq),
            "{id}: its role may not send to {dlq}"
        );
    }
    // ...and a rule as EventBridge itself, which the queue's policy must allow, for that rule only.
    let rules = deployed.of_type("AWS::Events::Rule");
    assert!(!rules.is_empty());
    for (id, rule) in rules {
        for target in rule["Properties"]["Targets"].as_array().unwrap() {
            let queue = kept_queue(&template, &target["DeadLetterConfig"]["Arn"]);
            let queue_arn = deployed.resolve(&target["DeadLetterConfig"]["Arn"]);
            let allowed = deployed
                .of_type("AWS::SQS::QueuePolicy")
                .into_values()
                .map(|p| deployed.expand(&p["Properties"]))
                .filter(|p| {
                    strings(&p["Queues"]).contains(&deployed.resolve(&json!({"Ref": queue})))
                })
                .flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone())
                .any(|s| {
                    s["Effect"] == "Allow"
                        && s["Principal"] == json!({"Service": "events.amazonaws.com"})
                        && strings(&s["Action"]) == ["sqs:SendMessage"]
                        && strings(&s["Resource"]) == [queue_arn.clone()]
                        && s["Condition"]["ArnEquals"]["aws:SourceArn"]
                            == deployed.resolve(&json!({"Fn::GetAtt": [id, "Arn"]}))
                });
            assert!(allowed, "{queue}'s policy does not let rule {id} send");
        }
    }
}

#[test]
fn every_function_error_and_every_waiting_message_pages() {
    let template = Template::load();
    for (id, _) in template.functions() {
        let dimensions = json!([{"Name": "FunctionName", "Value": {"Ref": id}}]);
        let found = alarms_on(&template, "AWS/Lambda", "Errors", dimensions);
        assert_eq!(found.len(), 1, "{id}: alarms on its Errors");
        assert_eq!(found[0]["Statistic"], "Sum");
        fires_on_any(found[0]);
    }
    // Each queue holds only what failed or could not be delivered.
    let queues = template.of_type("AWS::SQS::Queue");
    assert_eq!(
        queues.len(),
        8,
        "four failure queues, four dead-letter queues"
    );
    for id in queues.keys() {
        let dimensions = json!([{"Name": "QueueName", "Value": {"Fn::GetAtt": [id, "QueueName"]}}]);
        let found = alarms_on(
            &template,
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            dimensions,
        );
        assert_eq!(found.len(), 1, "{id}: alarms on its waiting messages");
        fires_on_any(found[0]);
    }
}

#[test]
fn each_alarm_pages_one_topic_and_the_alert_topics_own_failures_page_the_fallback() {
    let template = Template::load();
    let alert = json!({"Ref": "AlertTopic"});
    let fallback = json!({"Ref": "FallbackTopic"});
    let delivery_failed = alarms_on(
        &template,
        "AWS/SNS",
        "NumberOfNotificationsFailed",
        json!([{"Name": "TopicName", "Value": {"Fn::GetAtt": ["AlertTopic", "TopicName"]}}]),
    );
    assert_eq!(delivery_failed.len(), 1);
    fires_on_any(delivery_failed[0]);

    for (id, alarm) in alarms(&template) {
        let properties = &alarm["Properties"];
        // One condition pages once, in one place.
        assert_eq!(
            properties["AlarmActions"].as_array().map(Vec::len),
            Some(1),
            "{id}"
        );
        for other in ["OKActions", "InsufficientDataActions"] {
            assert!(properties.get(other).is_none(), "{id}: {other}");
        }
        // A broken alert topic cannot report its own failures: only that alarm goes elsewhere.
        let expected = if std::ptr::eq(properties, delivery_failed[0]) {
            &fallback
        } else {
            &alert
        };
        assert_eq!(&properties["AlarmActions"][0], expected, "{id}");
    }

    // The fallback's subscriber is optional, and it is the fallback topic's.
    let subscription = &template.resources()["FallbackEmailSubscription"];
    assert_eq!(subscription["Properties"]["TopicArn"], fallback);
    let condition = subscription["Condition"].as_str().unwrap();
    assert!(!template.condition(condition), "no email by default");
    let chosen = Template::with(&[("FallbackEmail", "oncall@example.com")]);
    assert!(chosen.condition(condition));
    assert_eq!(
        chosen.resolve(&subscription["Properties"]["Endpoint"]),
        "oncall@example.com"
    );
}

#[test]
fn alarms_can_publish_to_the_encrypted_topics_for_this_account_only() {
    let template = Template::load();
    let mut keys = BTreeSet::new();
    for topic in ["AlertTopic", "FallbackTopic"] {
        let key = template.resources()[topic]["Properties"]["KmsMasterKeyId"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{topic} is not encrypted with a key of this template"));
        // A key problem on the alert topic must not silence the fallback too.
        assert!(keys.insert(key), "{topic} shares {key}");
        let policy = template.expand(&template.resources()[key]["Properties"]["KeyPolicy"]);
        let statements = policy["Statement"].as_array().unwrap();
        let cloudwatch = statements.iter().find(|s| {
            s["Effect"] == "Allow"
                && s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
                && strings(&s["Action"]).contains(&"kms:GenerateDataKey*".to_string())
                && strings(&s["Action"]).contains(&"kms:Decrypt".to_string())
        });
        assert!(
            cloudwatch.is_some(),
            "{key}: CloudWatch cannot publish to {topic}"
        );
        // A service principal acts for every account: each service statement names ours.
        for statement in statements
            .iter()
            .filter(|s| !s["Principal"]["Service"].is_null())
        {
            assert_eq!(
                statement["Condition"]["StringEquals"]["aws:SourceAccount"], ACCOUNT,
                "{key}: {statement}"
            );
        }
    }
    let alert_key = template.expand(&template.resources()["AlertKey"]["Properties"]["KeyPolicy"]);
    assert!(
        alert_key["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Principal"]["Service"] == "events.amazonaws.com"),
        "EventBridge keeps its statement"
    );
}

/// Whether a CloudWatch Logs JSON filter of the one form `{ $.a.b = "text" }` selects a log line.
fn selects(pattern: &str, line: &str) -> bool {
    let inner = pattern
        .trim()
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or_else(|| panic!("{pattern} is not a JSON filter"));
    let (selector, value) = inner.split_once(" = ").expect("one equality");
    let path = selector.trim().strip_prefix("$.").expect("a $. selector");
    let value = value
        .trim()
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'));
    let value = value.expect("a quoted string");
    assert!(
        !value.contains('*'),
        "a wildcard needs a matcher of its own"
    );
    let event: Value = serde_json::from_str(line).unwrap();
    path.split('.').try_fold(&event, |v, key| v.get(key)) == Some(&json!(value))
}

#[test]
fn a_watchdog_that_stops_running_pages() {
    let template = Template::load();
    let (_, notifier) = template.function("backup-notifier");
    let filters = template.of_type("AWS::Logs::MetricFilter");
    let (_, filter) = filters
        .iter()
        .find(|(_, f)| f["Properties"]["MetricTransformations"][0]["MetricName"] == "WatchdogRuns")
        .expect("a metric filter counts watchdog runs");
    let filter = &filter["Properties"];
    // It reads the group the notifier logs to.
    assert_eq!(
        filter["LogGroupName"],
        notifier["Properties"]["LoggingConfig"]["LogGroup"]
    );
    // It counts the one line a run ends with (Lambda's JSON format, tracing's JSON layout)...
    let pattern = filter["FilterPattern"].as_str().unwrap();
    let finished = r#"{"timestamp":"2025-01-01T06:00:01.5Z","level":"INFO","fields":{"message":"watchdog finished","stack":"ddb-guard","tables":1,"alerted":false},"target":"backup_notifier"}"#;
    assert!(selects(pattern, finished), "{pattern}");
    // ...and nothing else the notifier says.
    for other in [
        r#"{"level":"INFO","fields":{"message":"backup job event","state":"COMPLETED"}}"#,
        r#"{"level":"ERROR","fields":{"message":"watchdog failed"}}"#,
        r#"{"level":"INFO","message":"watchdog finished"}"#,
    ] {
        assert!(!selects(pattern, other), "{other}");
    }
    let metric = &filter["MetricTransformations"][0];
    assert_eq!(
        (&metric["MetricNamespace"], &metric["MetricValue"]),
        (&json!("ddb-guard"), &json!("1"))
    );

    // Counted per stack: the line's `stack` field (the notifier logs its BACKUP_OWNER, which is
    // the stack's name) is the metric's dimension, so another stack's runs hide nothing.
    assert_eq!(
        metric["Dimensions"],
        json!([{"Key": "Stack", "Value": "$.fields.stack"}])
    );
    assert_eq!(
        template.environment(notifier)["BACKUP_OWNER"],
        template.resolve(&json!({"Ref": "AWS::StackName"}))
    );
    let alarm = &template.resources()["WatchdogSilentAlarm"]["Properties"];
    let silent = SilenceAlarm::of(&template, alarm);
    assert_eq!(
        alarm["AlarmActions"],
        json!([{"Ref": "AlertTopic"}]),
        "it pages the alert topic"
    );
    // The watchdog really runs on the schedule the alarm is built for.
    let schedule =
        &notifier["Properties"]["Events"]["Watchdog"]["Properties"]["ScheduleExpression"];
    let schedule = template.resolve(schedule);
    let every_hours = rate_seconds(&schedule) / 3600;

    // Runs on schedule, for three days: never a page, whatever hour it is.
    let on_schedule: Vec<i64> = (0..72).step_by(every_hours as usize).collect();
    for now in 0..72 {
        assert_eq!(silent.state(&on_schedule, now), State::Quiet, "hour {now}");
    }
    // A run late by hours, or two runs lost in a row, pages nobody either.
    for runs in [vec![0, 3, 6, 9, 14, 15, 18, 21], vec![0, 3, 12, 15, 18, 21]] {
        for now in 0..24 {
            assert_eq!(
                silent.state(&runs, now),
                State::Quiet,
                "{runs:?} hour {now}"
            );
        }
    }
    // The watchdog stops after its run at hour 30: a page 12 hours of silence later, plus at most
    // the hour CloudWatch takes to close a period, never later.
    let stopped: Vec<i64> = on_schedule.iter().copied().filter(|h| *h <= 30).collect();
    let paged = (30..72).find(|now| silent.state(&stopped, *now) == State::Paging);
    let paged = paged.expect("a dead watchdog pages");
    assert!(
        paged <= 30 + 12 + 1,
        "paged at hour {paged}, 12 h after 30 is 42"
    );
    assert!(
        paged >= 30 + 12,
        "paged at hour {paged}: before 12 silent hours"
    );
    // A fresh stack has no run yet: quiet until the first run is due, and after it.
    for now in 0..every_hours {
        assert_eq!(silent.state(&[], now), State::Quiet, "fresh, hour {now}");
    }
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Quiet,
    Paging,
}

/// The watchdog-silent alarm as CloudWatch evaluates it: hourly sums of WatchdogRuns made dense
/// by `FILL(runs, 0)` over the hours the query sees (the evaluated hours), 1 before the first run
/// among them (`RUNNING_SUM` still 0); `DatapointsToAlarm` of them below the threshold pages; a
/// query with no data at all leaves the state as it was.
struct SilenceAlarm {
    periods: i64,
    to_alarm: i64,
    threshold: f64,
}

impl SilenceAlarm {
    fn of(template: &Template, alarm: &Value) -> SilenceAlarm {
        let metrics = alarm["Metrics"].as_array().expect("metric math");
        let runs = metrics
            .iter()
            .find(|m| m["MetricStat"].is_object())
            .expect("the runs metric");
        let stat = &runs["MetricStat"];
        assert_eq!(
            (
                &stat["Metric"]["Namespace"],
                &stat["Metric"]["MetricName"],
                &stat["Stat"],
                &stat["Period"]
            ),
            (
                &json!("ddb-guard"),
                &json!("WatchdogRuns"),
                &json!("Sum"),
                &json!(3600)
            ),
            "hourly sums of the runs"
        );
        assert_eq!(
            template.expand(&stat["Metric"]["Dimensions"]),
            json!([{"Name": "Stack", "Value": template_check::STACK}])
        );
        let returned: Vec<&Value> = metrics.iter().filter(|m| m["ReturnData"] == true).collect();
        assert_eq!(returned.len(), 1);
        let id = runs["Id"].as_str().unwrap();
        let filled = format!("FILL({id}, 0)");
        assert_eq!(
            returned[0]["Expression"],
            format!("IF(RUNNING_SUM({filled}) > 0, {filled}, 1)")
        );
        assert_eq!(alarm["ComparisonOperator"], "LessThanThreshold");
        assert_eq!(alarm["TreatMissingData"], "ignore");
        SilenceAlarm {
            periods: alarm["EvaluationPeriods"].as_i64().unwrap(),
            to_alarm: alarm["DatapointsToAlarm"].as_i64().unwrap(),
            threshold: alarm["Threshold"].as_f64().unwrap(),
        }
    }

    /// The alarm's state at the end of hour `now` (periods `now - periods + 1 ..= now`), runs
    /// having finished in the hours `runs`; it keeps its state while the query has no data.
    fn state(&self, runs: &[i64], now: i64) -> State {
        let mut state = State::Quiet;
        for hour in 0..=now {
            let window = hour - self.periods + 1..=hour;
            if !runs.iter().any(|r| window.contains(r)) {
                continue; // FILL has nothing to fill: no data, the state is kept.
            }
            let first = window.clone().find(|h| runs.contains(h)).unwrap();
            let value = |h: i64| {
                if h < first {
                    1.0
                } else {
                    runs.iter().filter(|r| **r == h).count() as f64
                }
            };
            let silent = window.filter(|h| value(*h) < self.threshold).count() as i64;
            state = if silent >= self.to_alarm {
                State::Paging
            } else {
                State::Quiet
            };
        }
        state
    }
}

/// Seconds between runs of a `rate(n unit)` schedule.
fn rate_seconds(expression: &str) -> i64 {
    let inner = expression
        .strip_prefix("rate(")
        .and_then(|e| e.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{expression} is not a rate"));
    let (n, unit) = inner.split_once(' ').unwrap();
    let n: i64 = n.parse().unwrap();
    n * match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86400,
        other => panic!("unit {other}"),
    }
}

#[test]
fn the_outputs_say_where_failures_wait_and_where_the_fallback_is() {
    let template = Template::load();
    let outputs: Vec<&Value> = template.json["Outputs"]
        .as_object()
        .unwrap()
        .values()
        .map(|o| &o["Value"])
        .collect();
    let ids = template
        .of_type("AWS::SQS::Queue")
        .into_keys()
        .chain(["FallbackTopic", "AlertTopic"]);
    for id in ids {
        assert!(
            outputs.contains(&&json!({"Ref": id})),
            "{id} is not in the outputs"
        );
    }
}
