//! What a drill (or the restore-testing validator) proves about a restored table, each check a pure
//! verdict with a sentence a person can act on.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{KeySchemaElement, TableDescription};
use serde::{Deserialize, Serialize};

use crate::restore::drill::tally::SampleReport;
use crate::restore::verification::Verification;

/// One check and its verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub passed: bool,
    pub detail: String,
    /// False when the check could not be done (its time ran out): it did not pass, and it did not
    /// find the copy wrong either.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub compared: bool,
}

fn is_true(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

impl Check {
    pub fn new(name: &str, passed: bool, detail: String) -> Check {
        Check {
            name: name.to_string(),
            passed,
            detail,
            compared: true,
        }
    }

    /// A check that could not be done: not passed, and not a finding against the copy.
    pub fn not_compared(name: &str, detail: String) -> Check {
        Check {
            compared: false,
            ..Check::new(name, false, detail)
        }
    }

    /// The check was done and found the copy wrong.
    pub fn failed(&self) -> bool {
        self.compared && !self.passed
    }
}

fn check(name: &str, passed: bool, detail: String) -> Check {
    Check::new(name, passed, detail)
}

/// The restored table is `ACTIVE`.
pub fn status(copy: &TableDescription) -> Check {
    let status = copy.table_status().map_or("unknown", |s| s.as_str());
    check(
        "table status",
        status == "ACTIVE",
        format!("the copy is {status}"),
    )
}

/// The copy has the source's key schema, and the same indexes with the same keys and projections.
pub fn keys_and_indexes(source: &TableDescription, copy: &TableDescription) -> Check {
    let (source_shape, copy_shape) = (shape(source), shape(copy));
    let differing: Vec<String> = source_shape
        .keys()
        .chain(copy_shape.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|name| source_shape.get(*name) != copy_shape.get(*name))
        .map(|name| {
            let show = |s: Option<&String>| s.map_or("none".to_string(), String::clone);
            format!(
                "{name}: source {}, copy {}",
                show(source_shape.get(name)),
                show(copy_shape.get(name))
            )
        })
        .collect();
    match differing.is_empty() {
        true => check(
            "keys and indexes",
            true,
            format!("same key and {} index(es)", source_shape.len() - 1),
        ),
        false => check("keys and indexes", false, differing.join("; ")),
    }
}

/// The key, and each index's keys and projection, as text.
fn shape(table: &TableDescription) -> BTreeMap<String, String> {
    let types: BTreeMap<&str, &str> = table
        .attribute_definitions()
        .iter()
        .map(|a| (a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let keys = |schema: &[KeySchemaElement]| -> String {
        let parts: Vec<String> = schema
            .iter()
            .map(|k| {
                let name = k.attribute_name();
                let kind = types.get(name).copied().unwrap_or("?");
                format!("{name} {} {kind}", k.key_type().as_str())
            })
            .collect();
        parts.join(", ")
    };
    let mut shape = BTreeMap::from([("key".to_string(), keys(table.key_schema()))]);
    for index in table.global_secondary_indexes() {
        let projection = index
            .projection()
            .and_then(|p| p.projection_type())
            .map_or("", |p| p.as_str());
        shape.insert(
            format!("global index {}", index.index_name().unwrap_or_default()),
            format!("{}; projection {projection}", keys(index.key_schema())),
        );
    }
    for index in table.local_secondary_indexes() {
        let projection = index
            .projection()
            .and_then(|p| p.projection_type())
            .map_or("", |p| p.as_str());
        shape.insert(
            format!("local index {}", index.index_name().unwrap_or_default()),
            format!("{}; projection {projection}", keys(index.key_schema())),
        );
    }
    shape
}

/// Every setting the finish should bring back came back; the differences left are the documented
/// ones (`left_off`).
pub fn settings(not_reapplied: &[String], left_off: &[String]) -> Check {
    match not_reapplied.is_empty() {
        true => check(
            "settings",
            true,
            match left_off.is_empty() {
                true => "the same as the source's".to_string(),
                false => format!(
                    "the source's, except as documented: {}",
                    left_off.join(", ")
                ),
            },
        ),
        false => check(
            "settings",
            false,
            format!("not brought back: {}", not_reapplied.join("; ")),
        ),
    }
}

/// The copy's item count against DynamoDB's approximate count (refreshed about every six hours,
/// so a growing or freshly loaded table has more items than it says, and one that shrinks fewer):
/// drift is for information, and only a copy lacking more than `fail_percent` of the count fails.
pub fn item_count(verification: &Verification, fail_percent: f64) -> Check {
    let (restored, expected) = (verification.restored_items, verification.expected_items);
    let allowed = (expected as f64 * fail_percent / 100.0).floor() as u64;
    let fewer = expected.saturating_sub(restored);
    let counted = format!(
        "{restored} items in the copy, {expected} by {}",
        verification.compared_with
    );
    let detail = match (restored.cmp(&expected), fewer > allowed) {
        (std::cmp::Ordering::Equal, _) => format!("{counted}: the same"),
        (_, true) => format!(
            "{counted}: {fewer} fewer, more than the {allowed} ({fail_percent}%) an approximate \
             count explains"
        ),
        (std::cmp::Ordering::Less, false) => format!(
            "{counted}: {fewer} fewer, for information (the count is approximate; up to \
             {allowed} allowed)"
        ),
        (std::cmp::Ordering::Greater, false) => format!(
            "{counted}: {} more, for information (the count is approximate, refreshed about \
             every six hours)",
            restored - expected
        ),
    };
    check("item count", fewer <= allowed, detail)
}

/// A side fails when more than this share of the keys sampled from it is missing on the other.
pub const MISSING_SHARE_PERCENT: u64 = 25;

/// Items sampled by key match the source. Changed items, and a few missing ones, are what a table
/// written since the backup looks like, and are reported; the check fails when, on either side,
/// more than `MISSING_SHARE_PERCENT` of the keys sampled (and more than one) are missing on the
/// other: the copy lost items, or is not a copy of this table.
pub fn sample(report: &SampleReport) -> Check {
    let lacking = |t: &crate::restore::drill::tally::Tally| {
        t.missing > 1 && t.missing * 100 > t.sampled * MISSING_SHARE_PERCENT
    };
    let failed = lacking(&report.from_copy) || lacking(&report.from_source);
    let mut detail = format!(
        "from the copy: {}; from the source: {}",
        report.from_copy.describe("in the source"),
        report.from_source.describe("in the copy")
    );
    if failed {
        detail.push_str(&format!(
            " (more than {MISSING_SHARE_PERCENT}% of a side's keys missing on the other)"
        ));
    }
    check("sample", !failed, detail)
}

/// The restore reached `ACTIVE` within the target.
pub fn restore_time(seconds_to_active: i64, target_minutes: u32) -> Check {
    let target = i64::from(target_minutes) * 60;
    check(
        "restore time",
        seconds_to_active <= target,
        format!(
            "ACTIVE {} after it was asked for; the target is {target_minutes} min",
            duration(seconds_to_active)
        ),
    )
}

/// `1h 02m 03s`, `4m 05s`, `6s`.
pub fn duration(seconds: i64) -> String {
    let s = seconds.max(0);
    match (s / 3600, s % 3600 / 60, s % 60) {
        (0, 0, sec) => format!("{sec}s"),
        (0, min, sec) => format!("{min}m {sec:02}s"),
        (h, min, sec) => format!("{h}h {min:02}m {sec:02}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::drill::tally::Tally;
    use crate::restore::verification::Baseline;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, GlobalSecondaryIndexDescription, KeyType, Projection, ProjectionType,
        ScalarAttributeType, TableStatus,
    };

    fn key(name: &str, kind: KeyType) -> KeySchemaElement {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    }

    fn table(sort_type: ScalarAttributeType, index: Option<ProjectionType>) -> TableDescription {
        let attribute = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
                .unwrap()
        };
        let mut t = TableDescription::builder()
            .table_status(TableStatus::Active)
            .key_schema(key("order_id", KeyType::Hash))
            .key_schema(key("item_id", KeyType::Range))
            .attribute_definitions(attribute("order_id", ScalarAttributeType::S))
            .attribute_definitions(attribute("item_id", sort_type))
            .attribute_definitions(attribute("customer", ScalarAttributeType::S));
        if let Some(projection) = index {
            t = t.global_secondary_indexes(
                GlobalSecondaryIndexDescription::builder()
                    .index_name("by-customer")
                    .key_schema(key("customer", KeyType::Hash))
                    .projection(Projection::builder().projection_type(projection).build())
                    .build(),
            );
        }
        t.build()
    }

    #[test]
    fn keys_and_indexes_compare_names_types_and_projections() {
        let source = table(ScalarAttributeType::S, Some(ProjectionType::All));
        let same = keys_and_indexes(&source, &source);
        assert!(same.passed, "{same:?}");
        assert_eq!(same.detail, "same key and 1 index(es)");
        let typed = keys_and_indexes(
            &source,
            &table(ScalarAttributeType::N, Some(ProjectionType::All)),
        );
        assert!(!typed.passed);
        assert!(typed.detail.contains("item_id RANGE S"), "{}", typed.detail);
        let projected = keys_and_indexes(
            &source,
            &table(ScalarAttributeType::S, Some(ProjectionType::KeysOnly)),
        );
        assert!(
            projected.detail.contains("global index by-customer"),
            "{}",
            projected.detail
        );
        let missing = keys_and_indexes(&source, &table(ScalarAttributeType::S, None));
        assert!(missing.detail.contains("copy none"), "{}", missing.detail);
        assert!(status(&source).passed);
    }

    fn verification(restored: u64, expected: u64) -> Verification {
        Verification {
            restored_items: restored,
            expected_items: expected,
            compared_with: "the backup's count".into(),
            baseline: Baseline::Approximate,
            matches: restored == expected,
        }
    }

    #[test]
    fn counts_pass_within_the_share_of_an_approximate_baseline() {
        assert!(item_count(&verification(100, 100), 0.0).passed);
        assert!(item_count(&verification(98, 100), 2.0).passed);
        assert!(!item_count(&verification(97, 100), 2.0).passed);
        assert!(
            !item_count(&verification(7, 10), 2.0).passed,
            "a small share of a small table is nothing"
        );
        assert_eq!(
            item_count(&verification(97, 100), 2.0).detail,
            "97 items in the copy, 100 by the backup's count: 3 fewer, more than the 2 (2%) an \
             approximate count explains"
        );
    }

    #[test]
    fn counts_drift_for_information_and_fail_only_when_the_copy_lacks_a_large_share() {
        // Freshly loaded: DynamoDB's count (refreshed about every six hours) still says 0.
        let fresh = item_count(&verification(1000, 0), 50.0);
        assert!(fresh.passed, "{fresh:?}");
        assert!(fresh.detail.contains("for information"), "{}", fresh.detail);
        // Growing since the count was refreshed: more items than it says is no loss.
        assert!(item_count(&verification(110, 100), 2.0).passed);
        // Shrinking a little (TTL, deletes): within the share, for information.
        let fewer = item_count(&verification(70, 100), 50.0);
        assert!(
            fewer.passed && fewer.detail.contains("for information"),
            "{fewer:?}"
        );
        // Lacking a large share: the copy is wrong.
        let lost = item_count(&verification(40, 100), 50.0);
        assert!(!lost.passed, "{lost:?}");
        assert!(lost.detail.contains("60 fewer"), "{}", lost.detail);
    }

    #[test]
    fn a_sample_fails_when_a_real_share_of_keys_is_missing_on_the_other_side() {
        let tally = |sampled, matching, changed, missing| Tally {
            sampled,
            matching,
            changed,
            missing,
        };
        // 1 of 40 keys found: not a copy of this table.
        let foreign = SampleReport {
            from_copy: tally(20, 1, 0, 19),
            from_source: tally(20, 0, 0, 20),
            examples: vec![],
        };
        assert!(!sample(&foreign).passed);
        // Nearly a third of the source's keys missing in the copy.
        let lossy = SampleReport {
            from_copy: tally(7, 7, 0, 0),
            from_source: tally(10, 7, 0, 3),
            examples: vec![],
        };
        assert!(!sample(&lossy).passed, "{:?}", sample(&lossy));
        // One key written since the backup, of a few sampled: no share to speak of.
        let one_new = SampleReport {
            from_copy: tally(2, 2, 0, 0),
            from_source: tally(3, 2, 0, 1),
            examples: vec![],
        };
        assert!(sample(&one_new).passed, "{:?}", sample(&one_new));
    }

    #[test]
    fn a_sample_fails_only_when_nothing_is_found() {
        let tally = |sampled, matching, changed, missing| Tally {
            sampled,
            matching,
            changed,
            missing,
        };
        let behind = SampleReport {
            from_copy: tally(7, 7, 0, 0),
            from_source: tally(9, 7, 0, 2),
            examples: vec![],
        };
        let verdict = sample(&behind);
        assert!(verdict.passed);
        assert!(
            verdict.detail.contains("2 missing in the copy"),
            "{}",
            verdict.detail
        );
        let foreign = SampleReport {
            from_copy: tally(5, 0, 0, 5),
            from_source: tally(5, 0, 0, 5),
            examples: vec![],
        };
        assert!(!sample(&foreign).passed);
        assert!(
            sample(&SampleReport::default()).passed,
            "an empty table has nothing to sample"
        );
    }

    #[test]
    fn restore_time_against_the_target() {
        assert!(restore_time(3599, 60).passed);
        assert!(!restore_time(3601, 60).passed);
        assert!(!restore_time(1, 0).passed);
        assert_eq!(
            restore_time(3725, 60).detail,
            "ACTIVE 1h 02m 05s after it was asked for; the target is 60 min"
        );
        assert_eq!(duration(65), "1m 05s");
    }

    #[test]
    fn settings_fail_only_on_what_was_not_brought_back() {
        assert!(settings(&[], &["tag backup".into()]).passed);
        let failed = settings(&["stream: throttled".into()], &[]);
        assert!(!failed.passed && failed.detail.contains("stream: throttled"));
    }
}
