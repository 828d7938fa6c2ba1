//! A drill's result: the JSON report kept per table and drill in the data bucket, and the alert
//! that tells it when it failed (or always, when asked). Sending them is `publish`'s.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::restore::drill::checks::{Check, duration};
use crate::restore::drill::tally::SampleReport;
use crate::restore::parity::Difference;
use crate::restore::verification::Verification;
use crate::topic::{Alert, subject};

/// What a drill (or the restore-testing validator) found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillReport {
    pub drill_id: String,
    /// `drill`, or `restore testing` for a job AWS Backup's restore testing made.
    pub kind: String,
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
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
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
        false if report.checks.iter().any(Check::failed) => "FAILED",
        // A check that could not be done: nothing found wrong, nothing proven either.
        false => "NOT VERIFIED",
    };
    let what = match report.kind.as_str() {
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
    if let Some(table) = (report.scratch_table.as_ref())
        .filter(|_| !report.scratch_table_deleted && report.kind == "drill")
    {
        body.push(format!(
            "The scratch table is still there: delete it with {{\"action\": \"drill_cleanup\", \
             \"table\": \"{table}\"}} once you have looked."
        ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn report(passed: bool) -> DrillReport {
        DrillReport {
            drill_id: "20261129T100000Z-abc".into(),
            kind: "drill".into(),
            source_table: "orders".into(),
            scratch_table: Some("orders-restored-drill-20261129T100000Z".into()),
            restored_from: Some("backup arn:b".into()),
            requested_at: Utc::now(),
            seconds_to_active: Some(125),
            seconds_to_checked: Some(140),
            target_minutes: 1,
            passed,
            checks: vec![Check::new(
                "restore time",
                passed,
                "ACTIVE 2m 05s after it was asked for; the target is 1 min".into(),
            )],
            verification: None,
            sample: None,
            settings_differences: vec![],
            scratch_table_deleted: true,
            report_location: Some("s3://data/drills/orders/20261129T100000Z-abc.json".into()),
            alert_message_id: None,
        }
    }

    #[test]
    fn a_report_reads_back_as_it_was_written() {
        let report = report(true);
        let written = serde_json::to_value(&report).unwrap();
        let read: DrillReport = serde_json::from_value(written).unwrap();
        assert_eq!(read, report);
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
