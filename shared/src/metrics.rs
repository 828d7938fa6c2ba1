//! CloudWatch metrics in the embedded metric format: each record is one raw JSON line on stdout,
//! which CloudWatch Logs turns into metrics (no API call, no permission). Every metric the toolkit
//! emits is declared in a `Family` here, the one list the dashboard and alarms are checked against.

use serde_json::{Map, Value, json};

/// The namespace of every metric.
pub const NAMESPACE: &str = "ddb-guard";

/// CloudWatch's units used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Seconds,
    CountPerSecond,
    Percent,
    /// For hours and minutes, which CloudWatch has no unit for (the name says which).
    None,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Seconds => "Seconds",
            Unit::CountPerSecond => "Count/Second",
            Unit::Percent => "Percent",
            Unit::None => "None",
        }
    }
}

/// Metrics that are always written together, with the same dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Family {
    pub dimensions: &'static [&'static str],
    pub metrics: &'static [(&'static str, Unit)],
}

/// A load's summary, per file (dimensions: never the file, which would bill a metric per file).
pub const LOAD: Family = Family {
    dimensions: &["Function", "Table"],
    metrics: &[
        ("RowsRead", Unit::Count),
        ("RowsWritten", Unit::Count),
        ("RowsRejected", Unit::Count),
        ("RowsFailed", Unit::Count),
        ("DuplicateRows", Unit::Count),
        ("RowsPerSecond", Unit::CountPerSecond),
        ("RejectedPercent", Unit::Percent),
        ("RowsSuperseded", Unit::Count),
    ],
};

/// A long load's progress, at a steady interval.
pub const LOAD_PROGRESS: Family = Family {
    dimensions: &["Function", "Table"],
    metrics: &[
        ("ProgressRowsPerSecond", Unit::CountPerSecond),
        ("ProgressPercent", Unit::Percent),
        ("WritesInFlight", Unit::Count),
    ],
};

/// What a backup run did, per table and engine.
pub const BACKUP: Family = Family {
    dimensions: &["Function", "Table", "Engine"],
    metrics: &[
        ("BackupsTaken", Unit::Count),
        ("BackupsFailed", Unit::Count),
        ("BackupsDeleted", Unit::Count),
    ],
};

/// The age of a watched table's newest backup, per source of backups.
pub const BACKUP_AGE: Family = Family {
    dimensions: &["Function", "Table", "Source"],
    metrics: &[("NewestBackupAgeHours", Unit::None)],
};

/// A watched table's point-in-time recovery.
pub const PITR: Family = Family {
    dimensions: &["Function", "Table"],
    metrics: &[
        ("PitrLagMinutes", Unit::None),
        ("PitrDisabled", Unit::Count),
    ],
};

/// A restore finished.
pub const RESTORE: Family = Family {
    dimensions: &["Function", "Table"],
    metrics: &[("RestoreSeconds", Unit::Seconds)],
};

/// A drill's (or restore test's) verdict.
pub const DRILL: Family = Family {
    dimensions: &["Function", "Table"],
    metrics: &[
        ("DrillFailed", Unit::Count),
        ("DrillOverTarget", Unit::Count),
    ],
};

/// A drill's (or restore test's) restore time: only for one whose restore became `ACTIVE` (a drill
/// that could not run has no time, not a time of 0).
pub const DRILL_TIME: Family = Family {
    dimensions: &["Function", "Table"],
    metrics: &[("DrillSeconds", Unit::Seconds)],
};

/// Alerts published to the topic.
pub const ALERTS: Family = Family {
    dimensions: &["Function"],
    metrics: &[("AlertsPublished", Unit::Count)],
};

/// Every family, for checks against the dashboard and alarms.
pub const ALL: &[Family] = &[
    LOAD,
    LOAD_PROGRESS,
    BACKUP,
    BACKUP_AGE,
    PITR,
    RESTORE,
    DRILL,
    DRILL_TIME,
    ALERTS,
];

/// This function's name, the `Function` dimension (Lambda sets it).
pub fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into())
}

/// The log level of every metric line. Lambda's log-level filter drops a JSON line below the
/// function's application log level, reading a missing level as INFO: an operator raising it to
/// WARN would silence every metric (and the alarms and dashboard on them).
pub const LEVEL: &str = "WARN";

/// One record of `family`: its dimension values in order and a value per metric, in order.
/// Values are finite numbers (a non-finite one is written as 0).
pub fn record(family: &Family, dimensions: &[&str], values: &[f64], timestamp_ms: i64) -> Value {
    let mut line = Map::new();
    line.insert("level".into(), json!(LEVEL));
    // Lambda takes the level only from a line with a valid RFC 3339 timestamp.
    let at = chrono::DateTime::from_timestamp_millis(timestamp_ms).unwrap_or_default();
    line.insert(
        "timestamp".into(),
        json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
    );
    line.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [family.dimensions],
                "Metrics": family.metrics.iter()
                    .map(|(name, unit)| json!({"Name": name, "Unit": unit.as_str()}))
                    .collect::<Vec<_>>(),
            }],
        }),
    );
    for (name, value) in family.dimensions.iter().zip(dimensions) {
        line.insert((*name).into(), json!(value));
    }
    for ((name, _), value) in family.metrics.iter().zip(values) {
        let value = if value.is_finite() { *value } else { 0.0 };
        line.insert((*name).into(), json!(value));
    }
    Value::Object(line)
}

/// Writes one record as a raw line on stdout, beside (never inside) the tracing records.
pub fn emit(family: &Family, dimensions: &[&str], values: &[f64]) {
    debug_assert_eq!(dimensions.len(), family.dimensions.len());
    debug_assert_eq!(values.len(), family.metrics.len());
    let now = chrono::Utc::now().timestamp_millis();
    println!("{}", record(family, dimensions, values, now));
}

/// Reads a record of `family` back, checking what CloudWatch requires of it (a millisecond
/// `Timestamp`, one directive with this namespace, these dimensions, these metrics and units, and a
/// top-level value for each): its dimension values and metric values, or what is wrong.
pub fn read(family: &Family, record: &Value) -> Result<Read, String> {
    let aws = &record["_aws"];
    if !aws["Timestamp"].is_i64() {
        return Err(format!("no millisecond Timestamp: {record}"));
    }
    let directives = aws["CloudWatchMetrics"]
        .as_array()
        .ok_or("no CloudWatchMetrics")?;
    let [directive] = directives.as_slice() else {
        return Err(format!("expected one directive: {record}"));
    };
    if directive["Namespace"] != NAMESPACE {
        return Err(format!(
            "namespace {} is not {NAMESPACE}",
            directive["Namespace"]
        ));
    }
    if directive["Dimensions"] != json!([family.dimensions]) {
        return Err(format!(
            "dimensions {} are not {:?}",
            directive["Dimensions"], family.dimensions
        ));
    }
    let declared: Vec<Value> = (family.metrics.iter())
        .map(|(name, unit)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    if directive["Metrics"] != json!(declared) {
        return Err(format!(
            "metrics {} are not {declared:?}",
            directive["Metrics"]
        ));
    }
    let dimensions = (family.dimensions.iter())
        .map(|d| {
            record[*d]
                .as_str()
                .map(str::to_string)
                .ok_or(format!("no {d} value"))
        })
        .collect::<Result<_, _>>()?;
    let values = (family.metrics.iter())
        .map(|(m, _)| record[*m].as_f64().ok_or(format!("no {m} value")))
        .collect::<Result<_, _>>()?;
    Ok((dimensions, values))
}

/// The records among `records` that are of `family` (by their first metric's name), read back.
pub type Read = (Vec<String>, Vec<f64>);
pub fn of_family(family: &Family, records: &[Value]) -> Result<Vec<Read>, String> {
    let first = family.metrics[0].0;
    (records.iter())
        .filter(|r| r.get(first).is_some() && r.get("_aws").is_some())
        .map(|r| read(family, r).map_err(|e| format!("a {first} record: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_what_cloudwatch_extracts() {
        let line = record(
            &BACKUP,
            &["ddb-guard-backup-trigger", "orders", "dynamodb"],
            &[1.0, 0.0, 2.0],
            1_795_000_000_000,
        );
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(line["_aws"]["Timestamp"], 1_795_000_000_000_i64);
        assert_eq!(directive["Namespace"], "ddb-guard");
        assert_eq!(
            directive["Dimensions"],
            json!([["Function", "Table", "Engine"]])
        );
        assert_eq!(
            directive["Metrics"][0],
            json!({"Name": "BackupsTaken", "Unit": "Count"})
        );
        assert_eq!(
            (line["Table"].as_str(), line["BackupsDeleted"].as_f64()),
            (Some("orders"), Some(2.0))
        );
        let odd = record(&ALERTS, &["f"], &[f64::NAN], 0);
        assert_eq!(odd["AlertsPublished"], 0.0);
        let back = read(&BACKUP, &line).unwrap();
        assert_eq!(back.1, [1.0, 0.0, 2.0]);
        assert!(read(&ALERTS, &line).unwrap_err().contains("dimensions"));
    }

    #[test]
    fn a_record_carries_a_level_an_operator_raising_the_log_level_to_warn_keeps() {
        // Lambda's log-level filter reads a JSON line's "level" (INFO when missing or when the
        // line has no valid RFC 3339 "timestamp"): at WARN it would drop a metric line without one.
        let line = record(&ALERTS, &["f"], &[1.0], 1_795_000_000_000);
        assert_eq!(line["level"], "WARN");
        let at = line["timestamp"].as_str().expect("a timestamp");
        let parsed = chrono::DateTime::parse_from_rfc3339(at).expect("RFC 3339");
        assert_eq!(parsed.timestamp_millis(), 1_795_000_000_000);
        // Neither is a dimension or a metric: CloudWatch extracts the same metric.
        assert_eq!(read(&ALERTS, &line).unwrap(), (vec!["f".into()], vec![1.0]));
    }

    #[test]
    fn metric_names_are_unique_across_families() {
        let mut names: Vec<&str> = ALL
            .iter()
            .flat_map(|f| f.metrics.iter().map(|(n, _)| *n))
            .collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count);
    }
}
