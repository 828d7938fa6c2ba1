//! A table's settings as one comparable value, what a finish wants the restored table to have, and
//! the differences between two tables: the one pure comparison the finish report and the tests
//! share.
//!
//! A finish wants the source's settings, except those it leaves off on purpose (each with its
//! reason) and those no API brings back (global table replicas). After a finish, every difference
//! between source and copy is one the report lists.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Where a capacity setting applies.
pub const TABLE: &str = "table";

/// The scope of a global secondary index's settings.
pub fn index_scope(index: &str) -> String {
    format!("index {index}")
}

/// Read and write capacity (provisioned units, or on-demand maximum request units; -1: no maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub read: i64,
    pub write: i64,
}

/// One target-tracking policy of Application Auto Scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalingPolicy {
    pub name: String,
    /// The predefined metric, such as `DynamoDBReadCapacityUtilization`.
    pub metric: String,
    pub target_value: f64,
    pub scale_in_cooldown: Option<i32>,
    pub scale_out_cooldown: Option<i32>,
    pub disable_scale_in: Option<bool>,
}

/// A scalable target (one scope, one of read or write) and its policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    pub min: i32,
    pub max: i32,
    pub policies: Vec<ScalingPolicy>,
}

/// `read` or `write` capacity of a scope.
pub type Dimension = &'static str;
pub const READ: Dimension = "read";
pub const WRITE: Dimension = "write";

/// Everything about a table that a restore may drop, in comparable form.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSettings {
    /// `PAY_PER_REQUEST` or `PROVISIONED`.
    pub billing_mode: String,
    /// By scope (`table`, `index <name>`); compared only when provisioned and not auto scaled.
    pub provisioned: BTreeMap<String, Capacity>,
    pub on_demand_maximum: BTreeMap<String, Capacity>,
    /// `STANDARD` or `STANDARD_INFREQUENT_ACCESS`.
    pub table_class: String,
    /// `None`: the AWS owned key; otherwise the KMS key's ARN.
    pub encryption_key: Option<String>,
    /// The stream's view type when a stream is on.
    pub stream: Option<String>,
    /// The TTL attribute when TTL is on.
    pub time_to_live: Option<String>,
    /// The recovery period in days when point-in-time recovery is on.
    pub point_in_time_recovery: Option<i32>,
    pub deletion_protection: bool,
    /// Without `aws:` tags (nobody may set them) and without the restore's provenance tags.
    pub tags: BTreeMap<String, String>,
    /// Scopes with Contributor Insights on.
    pub contributor_insights: BTreeSet<String>,
    /// Kinesis streams the table's changes go to.
    pub kinesis_destinations: BTreeSet<String>,
    /// The resource-based policy, with the table's own ARN written as `{table}`.
    pub resource_policy: Option<String>,
    pub auto_scaling: BTreeMap<(String, Dimension), Scaling>,
    /// Regions of global table replicas.
    pub replicas: BTreeSet<String>,
}

impl Default for TableSettings {
    fn default() -> Self {
        TableSettings {
            billing_mode: "PAY_PER_REQUEST".into(),
            provisioned: BTreeMap::new(),
            on_demand_maximum: BTreeMap::new(),
            table_class: "STANDARD".into(),
            encryption_key: None,
            stream: None,
            time_to_live: None,
            point_in_time_recovery: None,
            deletion_protection: false,
            tags: BTreeMap::new(),
            contributor_insights: BTreeSet::new(),
            kinesis_destinations: BTreeSet::new(),
            resource_policy: None,
            auto_scaling: BTreeMap::new(),
            replicas: BTreeSet::new(),
        }
    }
}

/// One setting that differs between two tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub setting: String,
    pub source: String,
    pub target: String,
}

const OFF: &str = "off";

/// Each setting by name, as a person reads it; absent means off.
pub fn described(settings: &TableSettings) -> BTreeMap<String, String> {
    let mut all = BTreeMap::new();
    let mut put = |name: String, value: String| {
        all.insert(name, value);
    };
    put("billing mode".into(), settings.billing_mode.clone());
    if settings.billing_mode == "PROVISIONED" {
        for (scope, capacity) in &settings.provisioned {
            // Auto scaling moves capacity: its target and policies are compared instead.
            if [READ, WRITE]
                .iter()
                .any(|d| settings.auto_scaling.contains_key(&(scope.clone(), *d)))
            {
                continue;
            }
            put(
                format!("provisioned throughput ({scope})"),
                capacity_text(capacity),
            );
        }
    }
    for (scope, capacity) in &settings.on_demand_maximum {
        put(
            format!("on-demand maximum throughput ({scope})"),
            capacity_text(capacity),
        );
    }
    put("table class".into(), settings.table_class.clone());
    put(
        "encryption".into(),
        settings
            .encryption_key
            .as_ref()
            .map_or("AWS owned key".to_string(), |k| format!("KMS key {k}")),
    );
    if let Some(view) = &settings.stream {
        put("stream".into(), view.clone());
    }
    if let Some(attribute) = &settings.time_to_live {
        put("time to live".into(), format!("on {attribute}"));
    }
    if let Some(days) = settings.point_in_time_recovery {
        put("point-in-time recovery".into(), format!("on, {days} days"));
    }
    if settings.deletion_protection {
        put("deletion protection".into(), "on".into());
    }
    for (key, value) in &settings.tags {
        put(format!("tag {key}"), value.clone());
    }
    for scope in &settings.contributor_insights {
        put(format!("contributor insights ({scope})"), "on".into());
    }
    for stream in &settings.kinesis_destinations {
        put(format!("kinesis destination {stream}"), "on".into());
    }
    if let Some(policy) = &settings.resource_policy {
        put("resource policy".into(), policy.clone());
    }
    for ((scope, dimension), scaling) in &settings.auto_scaling {
        put(
            format!("auto scaling ({scope}, {dimension})"),
            scaling_text(scaling),
        );
    }
    for region in &settings.replicas {
        put(format!("replica {region}"), "on".into());
    }
    all
}

fn capacity_text(c: &Capacity) -> String {
    let units = |n: i64| match n {
        n if n < 0 => "no maximum".to_string(),
        n => n.to_string(),
    };
    format!("read {}, write {}", units(c.read), units(c.write))
}

fn scaling_text(s: &Scaling) -> String {
    let policies: Vec<String> = s
        .policies
        .iter()
        .map(|p| {
            format!(
                "{} {}% of {} (in {:?}s, out {:?}s, scale-in {})",
                p.name,
                p.target_value,
                p.metric,
                p.scale_in_cooldown,
                p.scale_out_cooldown,
                if p.disable_scale_in == Some(true) {
                    "off"
                } else {
                    "on"
                }
            )
        })
        .collect();
    format!("{}..{}; {}", s.min, s.max, policies.join("; "))
}

/// Every setting whose value differs between `source` and `target`.
pub fn differences(source: &TableSettings, target: &TableSettings) -> Vec<Difference> {
    let (source, target) = (described(source), described(target));
    let names: BTreeSet<&String> = source.keys().chain(target.keys()).collect();
    names
        .into_iter()
        .filter_map(|name| {
            let (s, t) = (source.get(name), target.get(name));
            (s != t).then(|| Difference {
                setting: name.clone(),
                source: s.map_or(OFF.to_string(), String::clone),
                target: t.map_or(OFF.to_string(), String::clone),
            })
        })
        .collect()
}

/// What the request chose about the settings that would change or connect a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    pub copy_ttl: bool,
    /// `None`: as the restore made the copy (off).
    pub deletion_protection: Option<bool>,
    pub copy_kinesis_destinations: bool,
    pub copy_resource_policy: bool,
    /// The request named the copy's key.
    pub kms_key_chosen: bool,
    /// The request named the copy's billing mode (and capacity).
    pub billing_mode_chosen: bool,
    /// Tag keys never copied.
    pub skip_tags: Vec<String>,
}

/// A setting the finish leaves as the restore made it, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LeftOff {
    pub setting: String,
    pub reason: String,
}

/// What the finish wants the restored table to have: the source's settings, except what it leaves
/// off (kept as the restore made it), each listed with why.
pub fn wanted(
    source: &TableSettings,
    restored: &TableSettings,
    choices: &Choices,
) -> (TableSettings, Vec<LeftOff>) {
    let mut want = source.clone();
    let mut reasons: Vec<(&str, String)> = Vec::new();
    if !choices.copy_ttl {
        want.time_to_live = restored.time_to_live.clone();
        reasons.push((
            "time to live",
            "off unless asked (\"ttl\": true): after a restore to a past time, TTL would purge \
             the items that expired since, under whoever checks the copy"
                .into(),
        ));
    }
    want.deletion_protection =
        (choices.deletion_protection).unwrap_or(restored.deletion_protection);
    reasons.push((
        "deletion protection",
        "as the request says, off by default (\"deletion_protection\": true): a restored copy is \
         most often checked and then deleted"
            .into(),
    ));
    if !choices.copy_kinesis_destinations {
        want.kinesis_destinations = restored.kinesis_destinations.clone();
        reasons.push((
            "kinesis destination",
            "copied only when asked (\"kinesis_destinations\": true): the copy's writes would reach \
             the consumers of the source's stream"
                .into(),
        ));
    }
    if !choices.copy_resource_policy {
        want.resource_policy = restored.resource_policy.clone();
        reasons.push((
            "resource policy",
            "copied only when asked (\"resource_policy\": true): its principals would reach the copy"
                .into(),
        ));
    }
    if choices.kms_key_chosen {
        want.encryption_key = restored.encryption_key.clone();
        reasons.push(("encryption", "the request named the copy's key".into()));
    }
    if choices.billing_mode_chosen {
        want.billing_mode = restored.billing_mode.clone();
        want.provisioned = restored.provisioned.clone();
        reasons.push((
            "billing mode",
            "the request chose the copy's billing mode".into(),
        ));
        reasons.push((
            "provisioned throughput",
            "the request chose the copy's capacity".into(),
        ));
    }
    if want.billing_mode != "PROVISIONED" {
        want.auto_scaling = restored.auto_scaling.clone();
        reasons.push((
            "auto scaling",
            "auto scaling moves provisioned capacity, and the copy is on-demand".into(),
        ));
    } else {
        want.on_demand_maximum = restored.on_demand_maximum.clone();
        reasons.push((
            "on-demand maximum throughput",
            "the copy has provisioned capacity".into(),
        ));
    }
    for key in &choices.skip_tags {
        match restored.tags.get(key) {
            Some(value) => want.tags.insert(key.clone(), value.clone()),
            None => want.tags.remove(key),
        };
    }
    reasons.push((
        "tag",
        "in SKIP_TAGS: the backup plan's selection tag would enrol the copy in the plan".into(),
    ));
    want.replicas = restored.replicas.clone();
    reasons.push((
        "replica",
        "not handled: add the global table's replicas (UpdateTable ReplicaUpdates) once the copy \
         is checked and meant to stay"
            .into(),
    ));
    let left_off = differences(source, &want)
        .into_iter()
        .map(|d| LeftOff {
            reason: reasons
                .iter()
                .find(|(prefix, _)| d.setting.starts_with(prefix))
                .map_or("left as restored".to_string(), |(_, why)| why.clone()),
            setting: d.setting,
        })
        .collect();
    (want, left_off)
}

/// What no finish brings back, for a person to do.
pub const NOT_HANDLED: &[&str] = &[
    "global table replicas: add them with UpdateTable (ReplicaUpdates) once the copy is checked",
    "CloudWatch alarms on the source table: create them for the copy if it stays",
    "IAM policies that name the source table: grant the copy where it replaces the source",
    "stream consumers (Lambda event source mappings, pipes): point them at the copy's stream",
];
