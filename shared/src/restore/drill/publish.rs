//! A drill's report sent out: kept in the data bucket, told on the alert topic, and counted in
//! the drill metrics. Apart from the report itself (`report`), which the restore's own report
//! carries: the report stays plain data, below the service that sends it.

use crate::aws_error::describe;
use crate::metrics::{DRILL, DRILL_TIME, emit, function_name};
use crate::problems::{Problem, ProblemMemory, sort};
use crate::restore::drill::report::{DrillReport, drill_alert, report_key};
use crate::restore::service::RestoreService;
use crate::topic::publish;

/// The drill's verdict per table: whether a check other than the restore time failed, and whether
/// the restore was over its target; and its restore time, when it has one (a drill that could not
/// run has none: no 0 drawn as the fastest drill).
fn emit_drill_metrics(report: &DrillReport) {
    let failed = |restore_time: bool| {
        (report.checks.iter()).any(|c| !c.passed && (c.name == "restore time") == restore_time)
    };
    let function = function_name();
    let dimensions = [function.as_str(), report.source_table.as_str()];
    let verdict = [failed(false), failed(true)].map(|f| f64::from(u8::from(f)));
    emit(&DRILL, &dimensions, &verdict);
    if let Some(seconds) = report.seconds_to_active {
        emit(&DRILL_TIME, &dimensions, &[seconds as f64]);
    }
}

/// A failed drill's problem (its failed checks, by name: the same checks failing again is the same
/// problem), or none when it passed.
fn drill_problem(report: &DrillReport) -> Vec<Problem> {
    let failed: Vec<&str> = (report.checks.iter())
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    if failed.is_empty() {
        return Vec::new();
    }
    vec![Problem {
        aspect: "restore checks".into(),
        kind: failed.join(", "),
        line: format!("{}: {} failed", report.source_table, failed.join(", ")),
    }]
}

impl RestoreService {
    /// Writes the report to the drills prefix (when a bucket is configured) and alerts when it
    /// failed in a way not told in the last day (unless failures are not to be told), or passing
    /// drills are heard too. A report or alert that cannot be sent is returned as an error after
    /// the other is tried, so a failed drill is never silent.
    pub(crate) async fn keep_and_tell(&self, report: &mut DrillReport) -> Result<(), String> {
        let mut problems = Vec::new();
        if let Err(e) = self.keep(report).await {
            problems.push(e);
        }
        // Per source table: a drill and a restore test failing alike the same day are one problem.
        let now = chrono::Utc::now();
        let memory = ProblemMemory::new(self.state());
        let subject = format!("drill#{}", report.source_table);
        let recalled = memory.recall(&subject, now).await;
        let found = drill_problem(report);
        let sorted = sort(&recalled.told, &found, now);
        let drill = &self.settings.drill;
        let told = match report.passed {
            true => drill.alert_on_pass,
            false => drill.alert_failures && !sorted.tell.is_empty(),
        };
        if told || !problems.is_empty() {
            match self.tell(report, &problems).await {
                Ok(()) => {
                    memory
                        .remember(&subject, &recalled, &sorted.remember, now)
                        .await
                }
                Err(e) => problems.push(e),
            }
        } else if !report.passed {
            tracing::info!(table = %report.source_table, "the same drill failure was told within a day");
        } else {
            memory
                .remember(&subject, &recalled, &sorted.remember, now)
                .await;
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

    /// Writes the report under the drills prefix, when a bucket is configured.
    async fn keep(&self, report: &mut DrillReport) -> Result<(), String> {
        let drill = &self.settings.drill;
        let Some(bucket) = &drill.bucket else {
            return Ok(());
        };
        let key = report_key(&drill.prefix, &report.source_table, &report.drill_id);
        report.report_location = Some(format!("s3://{bucket}/{key}"));
        let body = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
        let put = (self.s3.put_object())
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await;
        put.map(|_| ()).map_err(|e| {
            report.report_location = None;
            format!("the report could not be written: {}", describe(&e))
        })
    }

    /// Publishes the drill's alert, with what went wrong keeping its report.
    async fn tell(&self, report: &mut DrillReport, problems: &[String]) -> Result<(), String> {
        let drill = &self.settings.drill;
        let mut alert = drill_alert(&drill.subject_prefix, report);
        for problem in problems {
            alert.body.push_str(&format!("\n{problem}"));
        }
        match &drill.alert_topic {
            Some(topic) => match publish(&self.sns, topic, &alert).await {
                Ok(id) => {
                    report.alert_message_id = Some(id);
                    Ok(())
                }
                Err(e) => Err(format!("the alert could not be published: {e}")),
            },
            None if !report.passed && drill.alert_failures => {
                Err("ALERT_TOPIC_ARN is not set: nobody was told".into())
            }
            None => Ok(()),
        }
    }
}
