//! See it at a glance: the dashboard and the alarms on what the metrics measure name only metrics
//! the code writes (`shared::metrics`), with each family's exact dimensions and this stack's
//! function; each measured condition pages the alert topic once, at the threshold its parameter
//! sets, and the dashboard draws the same limits.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use shared::alert::config::NotifierEnv;
use shared::env::from_vars;
use shared::metrics::{
    ALERTS, ALL, BACKUP, BACKUP_AGE, DRILL, DRILL_TIME, Family, LOAD, LOAD_PROGRESS, NAMESPACE,
    PITR, RESTORE,
};
use shared::restore::config::RestoreEnv;
use template_check::{REGION, STACK, Template};

/// A Metrics Insights alarm can evaluate only the last 3 hours of data.
const INSIGHTS_ALARM_WINDOW: i64 = 3 * 3600;

/// The packages whose functions write a family (each function's runtime test reads its records
/// back). The `Function` dimension is the only thing that tells this stack's metrics from
/// another's in the same namespace.
fn writers(family: &Family) -> &'static [&'static str] {
    match *family {
        f if f == LOAD || f == LOAD_PROGRESS => &["csv-loader"],
        f if f == BACKUP => &["backup-trigger"],
        f if f == BACKUP_AGE || f == PITR => &["backup-notifier"],
        f if f == RESTORE || f == DRILL || f == DRILL_TIME => &["restore-handler"],
        f if f == ALERTS => &["backup-notifier", "restore-handler"],
        other => panic!("which function writes {other:?}?"),
    }
}

fn family_of(metric: &str) -> Option<&'static Family> {
    ALL.iter()
        .find(|f| f.metrics.iter().any(|(name, _)| *name == metric))
}

/// The deployed name of the function that builds `package`.
fn function_name(template: &Template, package: &str) -> String {
    let (_, function) = template.function(package);
    template.resolve(&function["Properties"]["FunctionName"])
}

// ------------------------------------------------------------------ Metrics Insights, read

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// `"..."`: a namespace, metric name or label key.
    Quoted(String),
    /// `'...'`: a label value.
    Text(String),
    Word(String),
    Symbol(char),
}

fn tokens(query: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '"' | '\'' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("unclosed {c} in {query}")),
                        Some('\\') => text.push(chars.next().ok_or("a dangling \\")?),
                        Some(q) if q == c => break,
                        Some(other) => text.push(other),
                    }
                }
                out.push(match c {
                    '"' => Token::Quoted(text),
                    _ => Token::Text(text),
                });
            }
            '(' | ')' | ',' | '=' => {
                chars.next();
                out.push(Token::Symbol(c));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let mut word = String::new();
                while let Some(&c) = chars
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
                {
                    word.push(c);
                    chars.next();
                }
                out.push(Token::Word(word));
            }
            other => return Err(format!("{other:?} is not read here: {query}")),
        }
    }
    Ok(out)
}

/// The parts of a Metrics Insights query that decide what it matches.
#[derive(Debug, Clone, PartialEq)]
struct Query {
    aggregate: String,
    metric: String,
    namespace: String,
    /// `SCHEMA("namespace", keys...)`: only metrics with exactly these dimensions. `None` for a
    /// bare namespace, which matches any dimensions.
    schema: Option<BTreeSet<String>>,
    /// `WHERE key = 'value' AND ...`
    filters: BTreeMap<String, String>,
    group_by: Vec<String>,
}

struct Cursor {
    tokens: Vec<Token>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Result<Token, String> {
        let token = self.peek().cloned().ok_or("the query ends too soon")?;
        self.at += 1;
        Ok(token)
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> Result<(), String> {
        match self.next()? {
            Token::Word(w) if w.eq_ignore_ascii_case(keyword) => Ok(()),
            other => Err(format!("expected {keyword}, found {other:?}")),
        }
    }

    fn is_symbol(&self, symbol: char) -> bool {
        self.peek() == Some(&Token::Symbol(symbol))
    }

    fn symbol(&mut self, symbol: char) -> Result<(), String> {
        match self.next()? {
            Token::Symbol(s) if s == symbol => Ok(()),
            other => Err(format!("expected {symbol}, found {other:?}")),
        }
    }

    fn aggregate(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Word(w) if ["AVG", "COUNT", "MAX", "MIN", "SUM"].contains(&w.as_str()) => Ok(w),
            other => Err(format!(
                "{other:?} is not an aggregate (AVG, COUNT, MAX, MIN, SUM)"
            )),
        }
    }

    fn identifier(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Quoted(name) | Token::Word(name) => Ok(name),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    /// A dimension name, always in double quotes: `Function`, `Table` and `Source` are reserved
    /// words in Metrics Insights, which refuses them bare.
    fn label_key(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Quoted(key) => Ok(key),
            other => Err(format!("label key {other:?} must be in double quotes")),
        }
    }

    fn label_keys(&mut self) -> Result<Vec<String>, String> {
        let mut keys = vec![self.label_key()?];
        while self.is_symbol(',') {
            self.symbol(',')?;
            keys.push(self.label_key()?);
        }
        Ok(keys)
    }
}

/// Reads `SELECT f(metric) FROM SCHEMA("ns", "key", ...) [WHERE "key" = 'value' [AND ...]]
/// [GROUP BY "key", ...] [ORDER BY f() [ASC|DESC]] [LIMIT n]`; anything else is an error, so a
/// query this check cannot read is never passed unread.
fn parse(query: &str) -> Result<Query, String> {
    let mut q = Cursor {
        tokens: tokens(query)?,
        at: 0,
    };
    q.keyword("SELECT")?;
    let aggregate = q.aggregate()?;
    q.symbol('(')?;
    let metric = q.identifier()?;
    q.symbol(')')?;
    q.keyword("FROM")?;
    let (namespace, schema) = if q.is_keyword("SCHEMA") {
        q.keyword("SCHEMA")?;
        q.symbol('(')?;
        let Token::Quoted(namespace) = q.next()? else {
            return Err(format!("the namespace must be in double quotes: {query}"));
        };
        let mut keys = BTreeSet::new();
        while q.is_symbol(',') {
            q.symbol(',')?;
            keys.insert(q.label_key()?);
        }
        q.symbol(')')?;
        (namespace, Some(keys))
    } else {
        (q.identifier()?, None)
    };
    let mut filters = BTreeMap::new();
    if q.is_keyword("WHERE") {
        q.keyword("WHERE")?;
        loop {
            let key = q.label_key()?;
            q.symbol('=')?;
            let Token::Text(value) = q.next()? else {
                return Err(format!("{key}'s value must be in single quotes: {query}"));
            };
            filters.insert(key, value);
            if !q.is_keyword("AND") {
                break;
            }
            q.keyword("AND")?;
        }
    }
    let mut group_by = Vec::new();
    if q.is_keyword("GROUP") {
        q.keyword("GROUP")?;
        q.keyword("BY")?;
        group_by = q.label_keys()?;
    }
    if q.is_keyword("ORDER") {
        q.keyword("ORDER")?;
        q.keyword("BY")?;
        q.aggregate()?;
        q.symbol('(')?;
        q.symbol(')')?;
        if q.is_keyword("ASC") || q.is_keyword("DESC") {
            q.next()?;
        }
    }
    if q.is_keyword("LIMIT") {
        q.keyword("LIMIT")?;
        q.next()?;
    }
    if let Some(rest) = q.peek() {
        return Err(format!("{rest:?} is not read here: {query}"));
    }
    // A key the schema does not have matches no metric at all.
    if let Some(keys) = &schema {
        for key in filters.keys().chain(&group_by) {
            if !keys.contains(key) {
                return Err(format!("{key} is not among SCHEMA's keys: {query}"));
            }
        }
    }
    Ok(Query {
        aggregate,
        metric,
        namespace,
        schema,
        filters,
        group_by,
    })
}

fn is_query(expression: &str) -> bool {
    let start = expression.trim_start();
    start.len() >= 6 && start[..6].eq_ignore_ascii_case("SELECT")
}

// ------------------------------------------------------------------ what a metric use must be

/// A metric named by a widget or an alarm, with its dimensions and the value each is fixed to.
#[derive(Debug)]
struct Use {
    at: String,
    namespace: String,
    metric: String,
    dimensions: BTreeMap<String, Option<String>>,
}

impl Use {
    fn of_query(at: &str, query: &Query) -> Use {
        let schema = query
            .schema
            .clone()
            .unwrap_or_else(|| panic!("{at}: {query:?} matches any dimensions: use SCHEMA"));
        Use {
            at: at.to_string(),
            namespace: query.namespace.clone(),
            metric: query.metric.clone(),
            dimensions: (schema.into_iter())
                .map(|key| {
                    let value = query.filters.get(&key).cloned();
                    (key, value)
                })
                .collect(),
        }
    }
}

/// The metrics the template's log metric filters make: (namespace, name) with dimension keys.
fn filtered_metrics(template: &Template) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut metrics = BTreeMap::new();
    for filter in template.of_type("AWS::Logs::MetricFilter").into_values() {
        let transformations = &filter["Properties"]["MetricTransformations"];
        for t in transformations.as_array().unwrap() {
            let keys = (t["Dimensions"].as_array().into_iter().flatten())
                .map(|d| d["Key"].as_str().unwrap().to_string())
                .collect();
            let name = (
                template.resolve(&t["MetricNamespace"]),
                template.resolve(&t["MetricName"]),
            );
            metrics.insert(name, keys);
        }
    }
    metrics
}

/// A metric of the toolkit's namespace is one the code writes, with its family's exact
/// dimensions and this stack's function that writes it (or one a log metric filter of the
/// template makes, with its dimensions). Other namespaces are AWS's.
fn check(template: &Template, used: &Use) {
    if used.namespace != NAMESPACE {
        return;
    }
    let keys: BTreeSet<&str> = used.dimensions.keys().map(String::as_str).collect();
    let Some(family) = family_of(&used.metric) else {
        let filtered = filtered_metrics(template);
        let declared = filtered.get(&(used.namespace.clone(), used.metric.clone()));
        let declared = declared.unwrap_or_else(|| {
            panic!(
                "{}: {} is not a metric of shared::metrics nor of a metric filter",
                used.at, used.metric
            )
        });
        let declared: BTreeSet<&str> = declared.iter().map(String::as_str).collect();
        assert_eq!(keys, declared, "{}: {}'s dimensions", used.at, used.metric);
        return;
    };
    let declared: BTreeSet<&str> = family.dimensions.iter().copied().collect();
    assert_eq!(
        keys, declared,
        "{}: {} is written with exactly these dimensions",
        used.at, used.metric
    );
    let function = used.dimensions["Function"].as_ref().unwrap_or_else(|| {
        panic!(
            "{}: {} is not kept to this stack's function",
            used.at, used.metric
        )
    });
    let expected: Vec<String> = (writers(family).iter())
        .map(|package| function_name(template, package))
        .collect();
    assert!(
        expected.contains(function),
        "{}: {} is written by {expected:?}, not {function}",
        used.at,
        used.metric
    );
}

// ------------------------------------------------------------------ the dashboard

/// The stack's one dashboard, with its body parsed.
fn dashboard(template: &Template) -> (&Value, Value) {
    let dashboards = template.of_type("AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one dashboard");
    let (_, dashboard) = dashboards.into_iter().next().unwrap();
    let body = template.resolve(&dashboard["Properties"]["DashboardBody"]);
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("dashboard body: {e}"));
    (dashboard, body)
}

fn widgets(body: &Value) -> &Vec<Value> {
    body["widgets"].as_array().expect("widgets")
}

/// The metrics a widget names: its metric arrays (`[namespace, name, key, value, ..., {options}]`)
/// and its Metrics Insights queries; math on them names none.
fn widget_uses(widget: &Value) -> Vec<Use> {
    let at = format!("widget {:?}", widget["properties"]["title"]);
    let mut uses = Vec::new();
    for entry in widget["properties"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let entry = entry.as_array().expect("a metrics entry is an array");
        match &entry[0] {
            Value::Object(options) => {
                let expression = options["expression"].as_str().expect("an expression");
                if is_query(expression) {
                    let query = parse(expression).unwrap_or_else(|e| panic!("{at}: {e}"));
                    uses.push(Use::of_query(&at, &query));
                }
            }
            _ => {
                let parts: Vec<&str> = (entry.iter())
                    .take_while(|p| p.is_string())
                    .map(|p| p.as_str().unwrap())
                    .collect();
                // No "." shorthand for the entry above: each entry says all it names.
                assert!(!parts.contains(&"."), "{at}: {entry:?}");
                assert!(
                    parts.len() >= 2 && parts.len().is_multiple_of(2),
                    "{at}: {entry:?}"
                );
                uses.push(Use {
                    at: at.clone(),
                    namespace: parts[0].to_string(),
                    metric: parts[1].to_string(),
                    dimensions: (parts[2..].chunks(2))
                        .map(|kv| (kv[0].to_string(), Some(kv[1].to_string())))
                        .collect(),
                });
            }
        }
    }
    uses
}

/// The queries of a widget, by id.
fn widget_queries(widget: &Value) -> BTreeMap<String, Query> {
    (widget["properties"]["metrics"]
        .as_array()
        .into_iter()
        .flatten())
    .filter_map(|entry| entry[0].as_object())
    .filter(|o| o["expression"].as_str().is_some_and(is_query))
    .map(|o| {
        let id = o["id"].as_str().expect("a query has an id").to_string();
        (id, parse(o["expression"].as_str().unwrap()).unwrap())
    })
    .collect()
}

#[test]
fn the_dashboard_is_the_stacks_and_names_only_metrics_the_code_writes() {
    let template = Template::load();
    let (dashboard, body) = dashboard(&template);
    assert_eq!(
        template.resolve(&dashboard["Properties"]["DashboardName"]),
        STACK
    );

    let mut shown = BTreeSet::new();
    let mut lambda = BTreeSet::new();
    for widget in widgets(&body) {
        if widget["type"] == "metric" {
            assert_eq!(widget["properties"]["region"], REGION, "{widget}");
        }
        for used in widget_uses(widget) {
            check(&template, &used);
            if used.namespace == NAMESPACE {
                shown.insert(used.metric.clone());
            }
            if used.namespace == "AWS/Lambda" {
                let function = used.dimensions["FunctionName"].clone().unwrap();
                lambda.insert((used.metric.clone(), function));
            }
        }
    }
    // What issue #17 asks to see.
    for metric in [
        "RowsWritten",
        "RowsRejected",
        "RowsFailed",
        "RejectedPercent",
        "BackupsTaken",
        "BackupsFailed",
        "NewestBackupAgeHours",
        "PitrLagMinutes",
        "PitrDisabled",
        "RestoreSeconds",
        "DrillSeconds",
        "DrillFailed",
        "DrillOverTarget",
        "AlertsPublished",
    ] {
        assert!(
            shown.contains(metric),
            "the dashboard does not show {metric}"
        );
    }
    for package in [
        "csv-loader",
        "backup-trigger",
        "restore-handler",
        "backup-notifier",
    ] {
        for metric in ["Errors", "Duration"] {
            let wanted = (metric.to_string(), function_name(&template, package));
            assert!(lambda.contains(&wanted), "no {wanted:?} on the dashboard");
        }
    }
}

/// Every alarm's metrics: its single metric, or its `Metrics` (queries and metric stats).
fn alarm_uses(template: &Template, id: &str) -> Vec<Use> {
    let properties = template.expand(&template.resources()[id]["Properties"]);
    let at = format!("alarm {id}");
    let of_metric = |metric: &Value| Use {
        at: at.clone(),
        namespace: metric["Namespace"].as_str().unwrap().to_string(),
        metric: metric["MetricName"].as_str().unwrap().to_string(),
        dimensions: (metric["Dimensions"].as_array().into_iter().flatten())
            .map(|d| {
                let value = d["Value"].as_str().map(str::to_string);
                (d["Name"].as_str().unwrap().to_string(), value)
            })
            .collect(),
    };
    let mut uses = Vec::new();
    if properties.get("MetricName").is_some() {
        uses.push(of_metric(&properties));
    }
    for query in properties["Metrics"].as_array().into_iter().flatten() {
        if let Some(expression) = query["Expression"].as_str().filter(|e| is_query(e)) {
            let parsed = parse(expression).unwrap_or_else(|e| panic!("{at}: {e}"));
            uses.push(Use::of_query(&at, &parsed));
        }
        if let Some(metric) = query["MetricStat"].get("Metric") {
            uses.push(of_metric(metric));
        }
    }
    uses
}

#[test]
fn every_alarm_on_the_toolkits_namespace_names_a_metric_it_writes() {
    let template = Template::load();
    let mut checked = 0;
    for id in template.of_type("AWS::CloudWatch::Alarm").into_keys() {
        let uses = alarm_uses(&template, id);
        assert!(!uses.is_empty(), "{id} names no metric");
        for used in uses {
            check(&template, &used);
            checked += usize::from(used.namespace == NAMESPACE);
        }
    }
    // The rejected rows and the watchdog's dead-man's switch.
    assert!(checked >= 2, "{checked}");
}

// ------------------------------------------------------------------ the alarms on what is measured

/// Where a threshold comes from.
#[derive(Debug, Clone, Copy)]
enum Threshold {
    Parameter(&'static str),
}

struct Measured {
    metric: &'static str,
    /// Over every table: the worst (MAX) or all of them (SUM).
    aggregate: &'static str,
    comparison: &'static str,
    threshold: Threshold,
    missing: &'static str,
    /// What the description must point at, besides the dashboard.
    look: fn(&Template) -> Vec<String>,
}

fn rejects(template: &Template) -> Vec<String> {
    let bucket = template.resolve(&json!({"Ref": "DataBucket"}));
    let prefix = template.parameter("RejectsPrefix");
    vec![format!("s3://{bucket}/{prefix}")]
}

/// The measured conditions an alarm pages for: a load's rejected rows. (The watchdog's and the
/// drills' conditions are told by those functions, once per new problem: see the last tests.)
const MEASURED: &[Measured] = &[Measured {
    metric: "RejectedPercent",
    aggregate: "MAX",
    comparison: "GreaterThanThreshold",
    threshold: Threshold::Parameter("RejectedRowsAlarmPercent"),
    missing: "notBreaching",
    look: rejects,
}];

/// The alarm (logical id, expanded properties) whose query selects `metric`: exactly one.
fn alarm_on(template: &Template, metric: &str) -> (String, Value, Query) {
    let found: Vec<(String, Value, Query)> = (template.of_type("AWS::CloudWatch::Alarm"))
        .into_keys()
        .filter_map(|id| {
            let properties = template.expand(&template.resources()[id]["Properties"]);
            let queries = properties["Metrics"].as_array()?;
            let expression = queries.first()?["Expression"].as_str()?;
            let query = parse(expression).unwrap_or_else(|e| panic!("alarm {id}: {e}"));
            (query.metric == metric).then(|| (id.to_string(), properties.clone(), query))
        })
        .collect();
    assert_eq!(found.len(), 1, "alarms on {metric}");
    found.into_iter().next().unwrap()
}

#[test]
fn each_measured_condition_pages_the_alert_topic_once_from_a_query_over_every_table() {
    let template = Template::load();
    let alert_topic = template.resolve(&json!({"Ref": "AlertTopic"}));
    for m in MEASURED {
        let (id, alarm, query) = alarm_on(&template, m.metric);
        // One query over the whole family: every table, tagged ones too, in one time series.
        let queries = alarm["Metrics"].as_array().unwrap();
        assert_eq!(queries.len(), 1, "{id}");
        assert_eq!(queries[0]["ReturnData"], true, "{id}");
        assert_eq!(query.aggregate, m.aggregate, "{id}");
        assert!(
            query.group_by.is_empty(),
            "{id}: one series, not one per table"
        );
        for single in [
            "Namespace",
            "MetricName",
            "Statistic",
            "Period",
            "Dimensions",
        ] {
            assert!(alarm.get(single).is_none(), "{id}: {single} beside Metrics");
        }
        // Metrics Insights alarms look back 3 hours at most.
        let window =
            queries[0]["Period"].as_i64().unwrap() * alarm["EvaluationPeriods"].as_i64().unwrap();
        assert!(window <= INSIGHTS_ALARM_WINDOW, "{id}: {window} s");

        assert_eq!(alarm["ComparisonOperator"], m.comparison, "{id}");
        assert_eq!(alarm["TreatMissingData"], m.missing, "{id}");
        let threshold: f64 = template.resolve(&alarm["Threshold"]).parse().unwrap();
        let Threshold::Parameter(name) = m.threshold;
        let expected = template.number(name) as f64;
        assert_eq!(threshold, expected, "{id}");

        // One page, on the alert topic (as every alarm but the alert topic's own: failures.rs).
        assert_eq!(alarm["AlarmActions"], json!([alert_topic]), "{id}");
        assert!(alarm.get("OKActions").is_none(), "{id}");

        let name = alarm["AlarmName"].as_str().unwrap();
        assert!(name.starts_with(&format!("{STACK}-")), "{id}: {name}");
        let description = alarm["AlarmDescription"].as_str().unwrap();
        assert!(
            description.contains(&format!("dashboard {STACK}")),
            "{id}: {description}"
        );
        for place in (m.look)(&template) {
            assert!(description.contains(&place), "{id} does not say {place}");
        }
    }
}

/// The horizontal annotation labelled with a parameter's name, and the widget it is on.
fn annotated<'a>(body: &'a Value, parameter: &str) -> (&'a Value, f64) {
    let found: Vec<(&Value, f64)> = (widgets(body).iter())
        .flat_map(|w| {
            let lines = w["properties"]["annotations"]["horizontal"].as_array();
            (lines.into_iter().flatten())
                .filter(|a| a["label"] == parameter)
                .map(move |a| (w, a["value"].as_f64().unwrap()))
        })
        .collect();
    assert_eq!(found.len(), 1, "annotations of {parameter}");
    found[0]
}

#[test]
fn thresholds_and_the_dashboards_limits_follow_the_parameters() {
    let defaults = Template::load();
    assert_eq!(defaults.number("RejectedRowsAlarmPercent"), 5);
    let chosen = Template::with(&[("MaxBackupAgeHours", "30")]);
    for template in [defaults, chosen] {
        let parameter = |name: &str| template.number(name) as f64;
        for m in MEASURED {
            let Threshold::Parameter(name) = m.threshold;
            let (id, alarm, _) = alarm_on(&template, m.metric);
            let threshold: f64 = template.resolve(&alarm["Threshold"]).parse().unwrap();
            assert_eq!(threshold, parameter(name), "{id}");
        }
        // Each limit is drawn on the widget of the metric it limits, in that metric's unit.
        let (_, body) = dashboard(&template);
        for (name, metric) in [
            ("MaxBackupAgeHours", "NewestBackupAgeHours"),
            ("MaxPitrLagMinutes", "PitrLagMinutes"),
            ("RejectedRowsAlarmPercent", "RejectedPercent"),
        ] {
            let (widget, value) = annotated(&body, name);
            assert_eq!(value, parameter(name), "{name}");
            let metrics: Vec<String> = widget_uses(widget).into_iter().map(|u| u.metric).collect();
            assert_eq!(metrics, [metric], "{name}");
        }
        // CloudFormation cannot multiply: the drill's seconds are drawn in minutes instead.
        let (widget, value) = annotated(&body, "DrillTargetMinutes");
        assert_eq!(value, parameter("DrillTargetMinutes"));
        let queries = widget_queries(widget);
        let (drill, _) = (queries.iter())
            .find(|(_, q)| q.metric == "DrillSeconds")
            .expect("the drill's time on the target's widget");
        let minutes = format!("{drill} / 60");
        let drawn = (widget["properties"]["metrics"].as_array().unwrap().iter())
            .any(|e| e[0]["expression"] == minutes.as_str() && e[0]["visible"] != false);
        assert!(drawn, "{drill} is not drawn in minutes");
    }
}

#[test]
fn the_alarm_widgets_list_every_alarm_of_the_stack() {
    let template = Template::load();
    let (_, body) = dashboard(&template);
    let listed: Vec<&Value> = (widgets(&body).iter())
        .filter(|w| w["type"] == "alarm")
        .collect();
    let arns: Vec<BTreeSet<String>> = (listed.iter())
        .map(|w| {
            let alarms = w["properties"]["alarms"].as_array().unwrap();
            alarms
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    let arn = |id: &str| template.resolve(&json!({"Fn::GetAtt": [id, "Arn"]}));
    let all: BTreeSet<String> = (template.of_type("AWS::CloudWatch::Alarm").into_keys())
        .map(arn)
        .collect();
    let shown: BTreeSet<String> = arns.iter().flatten().cloned().collect();
    assert_eq!(
        shown, all,
        "the alarm widgets list exactly the stack's alarms"
    );
    // The measured conditions side by side, in the first.
    let measured: BTreeSet<String> = (MEASURED.iter())
        .map(|m| arn(&alarm_on(&template, m.metric).0))
        .collect();
    assert_eq!(arns[0], measured);
    // Alarms first, under the title: what pages is what one looks at first.
    let first = (widgets(&body).iter()).position(|w| w["type"] == "alarm");
    assert_eq!(first, Some(1), "alarms come first");
}

#[test]
fn each_widget_runs_at_most_one_metrics_insights_query() {
    // CloudWatch runs one Metrics Insights query per GetMetricData request: a widget with two draws
    // one and shows an error for the other.
    let template = Template::load();
    let (_, body) = dashboard(&template);
    let mut drawn = 0;
    for widget in widgets(&body) {
        let queries = widget_queries(widget);
        let title = &widget["properties"]["title"];
        assert!(
            queries.len() <= 1,
            "{title}: {:?}",
            queries.keys().collect::<Vec<_>>()
        );
        drawn += queries.len();
    }
    assert!(drawn >= 10, "the dashboard draws its families: {drawn}");
}

#[test]
fn every_function_logs_json_at_a_level_that_keeps_the_metric_lines() {
    // Metric lines are log lines: Lambda's filter drops those below the function's application
    // log level. They carry WARN (shared::metrics::record), so the template's level must let WARN
    // through, and JSON (the format the filter reads levels from).
    let deployed = Template::load().transformed();
    let functions = deployed.of_type("AWS::Lambda::Function");
    assert_eq!(functions.len(), 4, "{:?}", functions.keys());
    for (id, function) in functions {
        let logging = &function["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"], "JSON", "{id}");
        let level = deployed.resolve(&logging["ApplicationLogLevel"]);
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN"].contains(&level.as_str()),
            "{id}: ApplicationLogLevel {level} drops the metric lines"
        );
    }
    let line = shared::metrics::record(&ALERTS, &["f"], &[1.0], 0);
    assert_eq!(line["level"], "WARN");
}

#[test]
fn the_outputs_open_the_dashboard() {
    let template = Template::load();
    let url = template.resolve(&template.json["Outputs"]["DashboardUrl"]["Value"]);
    assert_eq!(
        url,
        format!(
            "https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/{STACK}"
        )
    );
}

#[test]
fn the_watchdog_and_the_drills_page_once_per_new_problem_and_no_alarm_hides_a_second() {
    // An alarm over every table, once in ALARM for one table, says nothing when a second goes bad;
    // the watchdog and the drills tell each new problem themselves, remembered in the state table.
    let template = Template::load();
    for metric in [
        "NewestBackupAgeHours",
        "PitrLagMinutes",
        "PitrDisabled",
        "DrillFailed",
        "DrillOverTarget",
    ] {
        let alarms: Vec<&str> = (template.of_type("AWS::CloudWatch::Alarm").into_keys())
            .filter(|id| (alarm_uses(&template, id).iter()).any(|u| u.metric == metric))
            .collect();
        assert!(
            alarms.is_empty(),
            "{metric}: {alarms:?} page beside the alert"
        );
    }
    let state_table = template.resolve(&json!({"Ref": "StateTable"}));
    let (_, notifier) = template.function("backup-notifier");
    let env = template.environment(notifier);
    assert_eq!(env["STATE_TABLE"], state_table);
    let settings = from_vars::<NotifierEnv>(env)
        .and_then(NotifierEnv::validate)
        .unwrap();
    assert!(
        settings.alert_measured,
        "the watchdog alerts on what it measures"
    );
    let (_, handler) = template.function("restore-handler");
    let env = template.environment(handler);
    assert_eq!(env["STATE_TABLE"], state_table);
    let settings = from_vars::<RestoreEnv>(env)
        .and_then(RestoreEnv::validate)
        .unwrap();
    assert!(settings.drill.alert_failures, "drills alert on failures");
}

#[test]
fn queries_are_read_as_metrics_insights_reads_them() {
    let query = parse(
        r#"SELECT MAX(NewestBackupAgeHours) FROM SCHEMA("ddb-guard", "Function", "Source", "Table")
           WHERE "Function" = 'ddb-guard-backup-notifier' GROUP BY "Table", "Source"
           ORDER BY MAX() DESC LIMIT 10"#,
    )
    .unwrap();
    assert_eq!(
        query,
        Query {
            aggregate: "MAX".into(),
            metric: "NewestBackupAgeHours".into(),
            namespace: "ddb-guard".into(),
            schema: Some(["Function", "Source", "Table"].map(String::from).into()),
            filters: [("Function".into(), "ddb-guard-backup-notifier".into())].into(),
            group_by: vec!["Table".into(), "Source".into()],
        }
    );
    let bare = parse(r#"SELECT SUM(Errors) FROM "AWS/Lambda""#).unwrap();
    assert_eq!((bare.namespace.as_str(), bare.schema), ("AWS/Lambda", None));
    for wrong in [
        // Reserved words, bare.
        r#"SELECT SUM(RowsWritten) FROM SCHEMA("ddb-guard", Function, Table)"#,
        r#"SELECT SUM(RowsWritten) FROM SCHEMA("ddb-guard", "Function", "Table") GROUP BY Table"#,
        // A key the schema does not have.
        r#"SELECT SUM(RowsWritten) FROM SCHEMA("ddb-guard", "Function", "Table") WHERE "Engine" = 'x'"#,
        // Not read here: never passed unread.
        r#"SELECT SUM(RowsWritten) FROM SCHEMA("ddb-guard", "Function") WHERE "Function" != 'x'"#,
        r#"SELECT PERCENTILE(RowsWritten) FROM "ddb-guard""#,
    ] {
        assert!(parse(wrong).is_err(), "{wrong}");
    }
}
