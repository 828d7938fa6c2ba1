//! A drill's result: one JSON report per table and drill in the data bucket, and an alert when it
//! failed (or always, when asked).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::aws_error::describe;
use crate::metrics::{DRILL, emit, function_name};
use crate::restore::drill::checks::{Check, duration};
use crate::restore::drill::sample::SampleReport;
use crate::restore::parity::Difference;
use crate::restore::service::RestoreService;
use crate::restore::verify::Verification;
use crate::topic::{Alert, publish, subject};

/// What a drill (or the restore-testing validator) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillReport {
    pub drill_id: String,
    /// `drill`, or `restore testing` for a job AWS Backup's restore testing made.
    pub kind: &'static str,
    pub source_table: String,
    /// The table restored into (`None` when the drill could not run).
    pub scratch_table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<String>,
    pub requested_at: DateTime<Utc>,
    /// From the request to the table being `ACTIVE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_to_active: Option<i64>,
    /// From the request to the checks being done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_to_checked: Option<i64>,
    pub target_minutes: u32,
    pub passed: bool,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<SampleReport>,
    /// The settings the copy does not share with the source, all documented (left off).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub settings_differences: Vec<Difference>,
    pub scratch_table_deleted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_message_id: Option<String>,
}

impl DrillReport {
    /// The checks that failed, one per line.
    fn failures(&self) -> Vec<String> {
        (self.checks.iter())
            .filter(|c| !c.passed)
            .map(|c| format!("- {}: {}", c.name, c.detail))
            .collect()
    }
}

/// The report's S3 key: `<prefix><table>/<drill id>.json`.
pub fn report_key(prefix: &str, table: &str, drill_id: &str) -> String {
    format!("{prefix}{table}/{drill_id}.json")
}

/// The alert for a drill's report.
pub fn drill_alert(subject_prefix: &str, report: &DrillReport) -> Alert {
    let verdict = match report.passed {
        true => "passed",
        false => "FAILED",
    };
    let what = match report.kind {
        "drill" => "Restore drill",
        _ => "Restore test",
    };
    let mut body = vec![format!(
        "{what} of {} {verdict} (drill {}).",
        report.source_table, report.drill_id
    )];
    if let Some(table) = &report.scratch_table {
        body.push(format!("Restored into: {table}"));
    }
    if let Some(from) = &report.restored_from {
        body.push(format!("From: {from}"));
    }
    if let Some(seconds) = report.seconds_to_active {
        body.push(format!(
            "Restore time: {} (target {} min)",
            duration(seconds),
            report.target_minutes
        ));
    }
    let failures = report.failures();
    if !failures.is_empty() {
        body.push("Failed checks:".into());
        body.extend(failures);
    }
    if let Some(location) = &report.report_location {
        body.push(format!("Report: {location}"));
    }
    if report.scratch_table.is_some() && !report.scratch_table_deleted && report.kind == "drill" {
        body.push(
            "The scratch table is still there: delete it with {\"action\": \"drill_cleanup\", \
             \"table\": \"...\"} once you have looked."
                .into(),
        );
    }
    Alert {
        subject: subject(&format!(
            "{subject_prefix} {what} {verdict}: {}",
            report.source_table
        )),
        body: body.join("\n"),
        attributes: BTreeMap::from([
            ("kind".to_string(), "restore-drill".to_string()),
            ("verdict".to_string(), verdict.to_string()),
            ("table".to_string(), report.source_table.clone()),
        ]),
    }
}

/// The drill's verdict per table: its restore time, whether a check other than the restore time
/// failed, and whether the restore was over its target (each its own alarm: one page per
/// condition).
fn emit_drill_metrics(report: &DrillReport) {
    let failed = |restore_time: bool| {
        (report.checks.iter()).any(|c| !c.passed && (c.name == "restore time") == restore_time)
    };
    emit(
        &DRILL,
        &[&function_name(), &report.source_table],
        &[
            report.seconds_to_active.unwrap_or_default() as f64,
            f64::from(failed(false) as u8),
            f64::from(failed(true) as u8),
        ],
    );
}

impl RestoreService {
    /// Writes the report to the drills prefix (when a bucket is configured) and alerts when it
    /// failed (unless an alarm on `DrillFailed` pages instead) or passing drills are heard too. A
    /// report or alert that cannot be sent is returned as an error after the other is tried, so a
    /// failed drill is never silent.
    pub(crate) async fn keep_and_tell(&self, report: &mut DrillReport) -> Result<(), String> {
        let drill = &self.settings.drill;
        let mut problems = Vec::new();
        if let Some(bucket) = &drill.bucket {
            let key = report_key(&drill.prefix, &report.source_table, &report.drill_id);
            report.report_location = Some(format!("s3://{bucket}/{key}"));
            let body = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
            let put = self
                .s3
                .put_object()
                .bucket(bucket)
                .key(&key)
                .content_type("application/json")
                .body(body.into())
                .send()
                .await;
            if let Err(e) = put {
                report.report_location = None;
                problems.push(format!("the report could not be written: {}", describe(&e)));
            }
        }
        let told = match report.passed {
            true => drill.alert_on_pass,
            false => drill.alert_failures,
        };
        if told || !problems.is_empty() {
            let mut alert = drill_alert(&drill.subject_prefix, report);
            for problem in &problems {
                alert.body.push_str(&format!("\n{problem}"));
            }
            match &drill.alert_topic {
                Some(topic) => match publish(&self.sns, topic, &alert).await {
                    Ok(id) => report.alert_message_id = Some(id),
                    Err(e) => problems.push(format!("the alert could not be published: {e}")),
                },
                None if !report.passed && drill.alert_failures => {
                    problems.push("ALERT_TOPIC_ARN is not set: nobody was told".into());
                }
                None => {}
            }
        }
        emit_drill_metrics(report);
        tracing::info!(
            drill = %report.drill_id,
            table = %report.source_table,
            passed = report.passed,
            seconds_to_active = report.seconds_to_active,
            location = report.report_location.as_deref().unwrap_or_default(),
            "drill finished"
        );
        match problems.is_empty() {
            true => Ok(()),
            false => Err(problems.join("; ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(passed: bool) -> DrillReport {
        DrillReport {
            drill_id: "20261129T100000Z-abc".into(),
            kind: "drill",
            source_table: "orders".into(),
            scratch_table: Some("orders-restored-drill-20261129T100000Z".into()),
            restored_from: Some("backup arn:b".into()),
            requested_at: Utc::now(),
            seconds_to_active: Some(125),
            seconds_to_checked: Some(140),
            target_minutes: 1,
            passed,
            checks: vec![Check {
                name: "restore time",
                passed,
                detail: "ACTIVE 2m 05s after it was asked for; the target is 1 min".into(),
            }],
            verification: None,
            sample: None,
            settings_differences: vec![],
            scratch_table_deleted: true,
            report_location: Some("s3://data/drills/orders/20261129T100000Z-abc.json".into()),
            alert_message_id: None,
        }
    }

    #[test]
    fn a_failed_drill_says_which_check_failed_and_where_the_report_is() {
        let alert = drill_alert("[ddb-guard]", &report(false));
        assert_eq!(alert.subject, "[ddb-guard] Restore drill FAILED: orders");
        assert!(
            alert.body.contains("- restore time: ACTIVE 2m 05s"),
            "{}",
            alert.body
        );
        assert!(alert.body.contains("Restore time: 2m 05s (target 1 min)"));
        assert!(alert.body.contains("Report: s3://data/drills/orders/"));
        assert_eq!(alert.attributes["verdict"], "FAILED");
        let passed = drill_alert("[ddb-guard]", &report(true));
        assert!(!passed.body.contains("Failed checks"));
        assert_eq!(
            report_key("drills/", "orders", "d1"),
            "drills/orders/d1.json"
        );
    }
}
