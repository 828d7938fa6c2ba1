//! A drill's report sent out: kept in the data bucket, told on the alert topic, and counted in
//! the drill metrics. Apart from the report itself (`report`), which the restore's own report
//! carries: the report stays plain data, below the service that sends it.

use crate::aws_error::describe;
use crate::metrics::{DRILL, emit, function_name};
use crate::restore::drill::report::{DrillReport, drill_alert, report_key};
use crate::restore::service::RestoreService;
use crate::topic::publish;

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
