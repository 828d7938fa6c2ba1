//! State machines on the local AWS: the template's own definitions, with test values in place of
//! the template's `DefinitionSubstitutions`, run by moto's interpreter. A Lambda task reaches the
//! function registered under the name in its ARN (`LocalFunction::register`).

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_sfn::error::DisplayErrorContext;
use serde_json::{Map, Value};

use crate::{LocalAws, REGION, python, workspace_root};

/// The account moto answers for.
pub const ACCOUNT: &str = "123456789012";

/// How long `wait_execution` waits for an execution to end: far more than any test's should take.
const EXECUTION_TIMEOUT: Duration = Duration::from_secs(300);

/// The ARN of function `name` in the local AWS (what a definition's `FunctionName` takes).
pub fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// The ARN state machine `name` has in the local AWS (a function's `STATE_MACHINE_ARN`, known
/// before the state machine is created, as the template builds it from the name).
pub fn state_machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")
}

/// `template.yaml` as JSON (short-form tags in their long form), read once per test process.
pub fn template() -> anyhow::Result<&'static Value> {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    if let Some(template) = TEMPLATE.get() {
        return Ok(template);
    }
    let root = workspace_root();
    let output = Command::new(python()?)
        .arg(root.join("tools/template_json.py"))
        .arg(root.join("template.yaml"))
        .output()
        .context("running tools/template_json.py")?;
    if !output.status.success() {
        bail!(
            "tools/template_json.py template.yaml failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let parsed = serde_json::from_slice(&output.stdout).context("template_json.py's output")?;
    Ok(TEMPLATE.get_or_init(|| parsed))
}

/// `Resources.<logical_id>.Properties.Definition` of the template, placeholders and all.
pub fn template_definition(logical_id: &str) -> anyhow::Result<Value> {
    let resource = &template()?["Resources"][logical_id];
    if resource.is_null() {
        bail!("template.yaml has no resource {logical_id}");
    }
    let definition = &resource["Properties"]["Definition"];
    if !definition.is_object() {
        bail!("{logical_id} has no inline Definition in template.yaml");
    }
    Ok(definition.clone())
}

/// The definition with every `${Name}` in its strings replaced by `substitutions`' value, as
/// `DefinitionSubstitutions` would. A string that held a placeholder and is a number once
/// substituted becomes a JSON number (`TimeoutSeconds: ${TaskTimeoutSeconds}` is a string to
/// YAML). A placeholder without a value, or an intrinsic function (`Ref`, `Fn::*`) left in the
/// definition, is an error that names them.
pub fn substitute(definition: &Value, substitutions: &[(&str, &str)]) -> anyhow::Result<Value> {
    let values: HashMap<&str, &str> = substitutions.iter().copied().collect();
    let mut missing = BTreeSet::new();
    let substituted = substitute_value(definition, &values, &mut missing);
    if !missing.is_empty() {
        let missing: Vec<&str> = missing.iter().map(String::as_str).collect();
        bail!(
            "the state machine definition has no value for {}: pass them as substitutions",
            missing.join(", ")
        );
    }
    Ok(substituted)
}

fn substitute_value(
    value: &Value,
    values: &HashMap<&str, &str>,
    missing: &mut BTreeSet<String>,
) -> Value {
    match value {
        Value::String(text) if text.contains("${") => {
            let replaced = substitute_text(text, values, missing);
            match serde_json::from_str::<serde_json::Number>(&replaced) {
                Ok(number) if replaced.trim() == replaced => Value::Number(number),
                _ => Value::String(replaced),
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|item| substitute_value(item, values, missing))
                .collect(),
        ),
        Value::Object(fields) => {
            // A template expression the test should have given a plain value for.
            if fields.keys().any(|k| k == "Ref" || k.starts_with("Fn::")) {
                missing.insert(format!("the expression {}", Value::Object(fields.clone())));
            }
            let substituted: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| (k.clone(), substitute_value(v, values, missing)))
                .collect();
            Value::Object(substituted)
        }
        other => other.clone(),
    }
}

fn substitute_text(
    text: &str,
    values: &HashMap<&str, &str>,
    missing: &mut BTreeSet<String>,
) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(length) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 2..start + length];
        out.push_str(&rest[..start]);
        match values.get(name) {
            Some(value) => out.push_str(value),
            None => {
                missing.insert(format!("${{{name}}}"));
                out.push_str(&rest[start..=start + length]);
            }
        }
        rest = &rest[start + length + 1..];
    }
    out.push_str(rest);
    out
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Execution {
    pub arn: String,
    /// `SUCCEEDED`, `FAILED`, `TIMED_OUT` or `ABORTED`.
    pub status: String,
    pub output: Option<Value>,
    /// The error name (for a failed Lambda task, the function's `errorType`) and its cause.
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// One execution of a state machine, as `ListExecutions` gives it.
#[derive(Debug, Clone)]
pub struct ExecutionSummary {
    pub arn: String,
    pub name: String,
    pub status: String,
}

impl LocalAws {
    pub async fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk_config().await)
    }

    /// Creates a standard state machine (with a dummy role) and returns its ARN.
    pub async fn create_state_machine(
        &self,
        name: &str,
        definition: &Value,
    ) -> anyhow::Result<String> {
        let created = (self.sfn().await.create_state_machine())
            .name(name)
            .definition(definition.to_string())
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("creating state machine {name}: {}", DisplayErrorContext(e))
            })?;
        Ok(created.state_machine_arn)
    }

    /// Creates state machine `name` from the template's resource `logical_id`, with
    /// `substitutions` for its placeholders (see `substitute`) and its waits and retry intervals
    /// shortened to a second (`quick`), and returns its ARN.
    pub async fn create_template_state_machine(
        &self,
        logical_id: &str,
        name: &str,
        substitutions: &[(&str, &str)],
    ) -> anyhow::Result<String> {
        let mut definition = substitute(&template_definition(logical_id)?, substitutions)
            .with_context(|| format!("template resource {logical_id}"))?;
        quick(&mut definition);
        self.create_state_machine(name, &definition).await
    }

    /// Starts execution `name` of the state machine with `input` and waits for its end.
    /// Panics when it cannot start or does not end in time.
    pub async fn run_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &Value,
    ) -> Execution {
        let started = (self.sfn().await.start_execution())
            .state_machine_arn(state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("starting {name}: {}", DisplayErrorContext(e)));
        self.wait_execution(&started.execution_arn).await
    }

    /// Waits for an execution (one a function started, say) to end. Panics when it does not end
    /// in time.
    pub async fn wait_execution(&self, execution_arn: &str) -> Execution {
        let sfn = self.sfn().await;
        let started = Instant::now();
        loop {
            let described = (sfn
                .describe_execution()
                .execution_arn(execution_arn)
                .send()
                .await)
                .unwrap_or_else(|e| {
                    panic!("describing {execution_arn}: {}", DisplayErrorContext(e))
                });
            let status = described.status().as_str();
            if status != "RUNNING" {
                // moto gives a string output bare where Step Functions gives it as JSON.
                let output = described.output().map(|text| {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
                });
                return Execution {
                    arn: execution_arn.to_string(),
                    status: status.to_string(),
                    output,
                    error: described.error().map(str::to_string),
                    cause: described.cause().map(str::to_string),
                };
            }
            assert!(
                started.elapsed() < EXECUTION_TIMEOUT,
                "{execution_arn} is still RUNNING after {EXECUTION_TIMEOUT:?}: is every function \
                 its Lambda tasks name registered (LocalFunction::register) and answering?"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every execution of the state machine, newest first (as the local AWS lists them).
    pub async fn executions(&self, state_machine_arn: &str) -> Vec<ExecutionSummary> {
        let pages: Vec<_> = (self.sfn().await.list_executions())
            .state_machine_arn(state_machine_arn)
            .into_paginator()
            .items()
            .send()
            .collect()
            .await;
        pages
            .into_iter()
            .map(|item| {
                let item = item.unwrap_or_else(|e| {
                    panic!(
                        "listing executions of {state_machine_arn}: {}",
                        DisplayErrorContext(e)
                    )
                });
                ExecutionSummary {
                    arn: item.execution_arn().to_string(),
                    name: item.name().to_string(),
                    status: item.status().as_str().to_string(),
                }
            })
            .collect()
    }
}

/// Every `Wait` state's `Seconds` and every retrier's `IntervalSeconds` set to 1, so a test plays
/// minutes of the template's waiting in seconds (moto's interpreter really sleeps).
pub fn quick(definition: &mut Value) {
    match definition {
        Value::Object(fields) => {
            if fields.get("Type").and_then(Value::as_str) == Some("Wait") {
                fields.insert("Seconds".into(), Value::from(1));
            }
            if fields.contains_key("IntervalSeconds") {
                fields.insert("IntervalSeconds".into(), Value::from(1));
            }
            fields.values_mut().for_each(quick);
        }
        Value::Array(items) => items.iter_mut().for_each(quick),
        _ => {}
    }
}

/// A state machine that only keeps what it is started with, for a test that runs a function's
/// steps itself: it reads each execution's input back.
pub struct RecordingStateMachine {
    pub sfn: aws_sdk_sfn::Client,
    pub arn: String,
}

impl RecordingStateMachine {
    pub async fn start(aws: &LocalAws) -> RecordingStateMachine {
        let definition =
            serde_json::json!({"StartAt": "Kept", "States": {"Kept": {"Type": "Succeed"}}});
        let name = crate::unique_name("recording");
        let arn = (aws.create_state_machine(&name, &definition).await)
            .unwrap_or_else(|e| panic!("{e:#}"));
        RecordingStateMachine {
            sfn: aws.sfn().await,
            arn,
        }
    }

    /// The input of every execution started so far, oldest first.
    pub async fn inputs(&self) -> Vec<Value> {
        let listed = (self
            .sfn
            .list_executions()
            .state_machine_arn(&self.arn)
            .send()
            .await)
            .unwrap_or_else(|e| panic!("listing executions: {}", DisplayErrorContext(e)));
        let mut inputs = Vec::new();
        for execution in listed.executions().iter().rev() {
            let described = (self.sfn.describe_execution())
                .execution_arn(execution.execution_arn())
                .send()
                .await
                .unwrap_or_else(|e| panic!("describing an execution: {}", DisplayErrorContext(e)));
            inputs.push(
                serde_json::from_str(described.input().unwrap_or("null")).unwrap_or_default(),
            );
        }
        inputs
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn placeholders_take_values_and_whole_numbers_become_numbers() {
        let definition = json!({
            "TimeoutSeconds": "${Timeout}",
            "FunctionName": "${Arn}",
            "Comment": "waits ${Timeout} s for ${Arn}",
            "Retry": [{"IntervalSeconds": "${Interval}", "BackoffRate": 2}],
            "Result": "42",
        });
        let values = [("Timeout", "960"), ("Arn", "arn:x"), ("Interval", "1.5")];
        assert_eq!(
            substitute(&definition, &values).unwrap(),
            json!({
                "TimeoutSeconds": 960,
                "FunctionName": "arn:x",
                "Comment": "waits 960 s for arn:x",
                "Retry": [{"IntervalSeconds": 1.5, "BackoffRate": 2}],
                "Result": "42",
            })
        );
    }

    #[test]
    fn a_placeholder_without_a_value_is_named() {
        let definition = json!({"A": "${One}", "B": ["x ${Two} ${One}"], "C": "${Three}"});
        let error = substitute(&definition, &[("Three", "3")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the state machine definition has no value for ${One}, ${Two}: pass them as substitutions"
        );
    }

    #[test]
    fn a_template_expression_left_in_the_definition_is_named() {
        let definition = json!({"FunctionName": {"Fn::GetAtt": ["Loader", "Arn"]}});
        let error = substitute(&definition, &[]).unwrap_err().to_string();
        assert!(error.contains("Fn::GetAtt"), "{error}");
    }
}
