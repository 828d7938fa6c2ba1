//! Work that outlasts one invocation goes on as an execution of the function's Step Functions
//! state machine (`STATE_MACHINE_ARN`), never as an invocation of the function by itself: Step
//! Functions keeps the loop, retries each step with backoff, and keeps a history an operator opens
//! in the console.
//!
//! An execution's name says what it does (the mode, what it works on, and a hash of what makes it
//! unique), and Step Functions keeps a name for 90 days: starting the same work twice finds the
//! first execution instead of starting a second one.

use std::sync::Mutex;

use aws_sdk_sfn::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::aws_error::describe;
use crate::backup_name::hex;

/// The longest execution name Step Functions takes.
const MAX_NAME: usize = 80;
/// Hex digits of the hash that makes a name unique.
const HASH_DIGITS: usize = 16;

/// A function's state machine.
#[derive(Clone)]
pub struct Workflow {
    pub sfn: aws_sdk_sfn::Client,
    pub state_machine: String,
}

/// An execution this invocation started, or found already started under the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub name: String,
    pub arn: String,
    /// Its history in the AWS console.
    pub console: String,
    /// False when an execution of that name had been started before (running or done).
    pub new: bool,
}

impl Workflow {
    /// The state machine named by `STATE_MACHINE_ARN`, when set.
    pub fn from_env(aws: &aws_config::SdkConfig) -> Option<Workflow> {
        let arn = std::env::var("STATE_MACHINE_ARN").ok()?;
        (!arn.trim().is_empty()).then(|| Workflow {
            sfn: aws_sdk_sfn::Client::new(aws),
            state_machine: arn.trim().to_string(),
        })
    }

    /// The ARN an execution of this state machine named `name` has.
    pub fn execution_arn(&self, name: &str) -> String {
        format!(
            "{}:{name}",
            self.state_machine
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// Starts an execution named `name` with `input`; an execution of that name started before is
    /// found, not started again.
    pub async fn start(&self, name: &str, input: &Value) -> Result<Execution, String> {
        let started = (self.sfn.start_execution())
            .state_machine_arn(&self.state_machine)
            .name(name)
            .input(input.to_string())
            .send()
            .await;
        let new = match started {
            Ok(_) => true,
            Err(e) if e.code() == Some("ExecutionAlreadyExists") => false,
            Err(e) => {
                return Err(format!(
                    "starting execution {name} of {}: {}",
                    self.state_machine,
                    describe(&e)
                ));
            }
        };
        let arn = self.execution_arn(name);
        Ok(Execution {
            name: name.to_string(),
            console: console_url(&arn),
            arn,
            new,
        })
    }

    /// Stops the execution named `name`, if it runs (`cause` says why, in its history).
    pub async fn stop(&self, name: &str, cause: &str) -> Result<(), String> {
        let arn = self.execution_arn(name);
        let stopped = (self.sfn.stop_execution())
            .execution_arn(&arn)
            .cause(cause)
            .send()
            .await;
        match stopped {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ExecutionDoesNotExist") => Ok(()),
            Err(e) => Err(format!("stopping {arn}: {}", describe(&e))),
        }
    }
}

/// `<mode>-<what>-<hash of identity>`: at most 80 characters of `[A-Za-z0-9_-]` (what Step
/// Functions and CloudWatch accept), the end of `what` kept when it is long.
pub fn execution_name(mode: &str, what: &str, identity: &[&str]) -> String {
    let hash = hex(&Sha256::digest(identity.join("\n").as_bytes()));
    let hash = &hash[..HASH_DIGITS];
    let clean: String = what
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let room = MAX_NAME - mode.len() - HASH_DIGITS - 2;
    let tail = &clean[clean.len().saturating_sub(room)..];
    format!("{mode}-{tail}-{hash}")
}

/// The execution's page in the AWS console (its region is the ARN's fourth field).
pub fn console_url(execution_arn: &str) -> String {
    let region = execution_arn.split(':').nth(3).unwrap_or("us-east-1");
    format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/\
         details/{execution_arn}"
    )
}

/// Where a request's unfinished work goes: a request from outside starts an execution with it
/// (named after the work and the request, so Lambda's retries of the request find it started); a
/// step of an execution returns it as the step's `next`, and the state machine runs it next.
pub enum HandOver {
    Execution {
        workflow: Option<Workflow>,
        request_id: String,
    },
    Step(Mutex<Option<Value>>),
}

impl HandOver {
    /// Where the work of `payload` goes on: a `{"step": request}` is a step of an execution (its
    /// request comes back unwrapped); anything else came from outside and starts one.
    pub fn for_payload(
        payload: Value,
        workflow: Option<&Workflow>,
        request_id: &str,
    ) -> (Value, HandOver) {
        match crate::request::step_of(payload) {
            Ok(request) => (request, HandOver::step()),
            Err(payload) => (
                payload,
                HandOver::Execution {
                    workflow: workflow.cloned(),
                    request_id: request_id.to_string(),
                },
            ),
        }
    }

    /// A step of an execution.
    pub fn step() -> HandOver {
        HandOver::Step(Mutex::new(None))
    }

    /// Whether this invocation is a step: the state machine does the waiting between steps.
    pub fn in_step(&self) -> bool {
        matches!(self, HandOver::Step(_))
    }

    /// Hands `next` on: as the step's next, or as the input (`{"step": next}`) of an execution
    /// named `<mode>-<what>-<hash>`. Says where it went.
    pub async fn send(&self, mode: &str, what: &str, next: Value) -> Result<String, String> {
        match self {
            HandOver::Step(slot) => {
                *slot.lock().map_err(|_| "the step's next was lost")? = Some(next);
                Ok("the next step of this execution".into())
            }
            HandOver::Execution { workflow: None, .. } => Err(
                "STATE_MACHINE_ARN is not set, so work that outlasts this invocation cannot go on"
                    .into(),
            ),
            HandOver::Execution {
                workflow: Some(workflow),
                request_id,
            } => {
                let name = execution_name(mode, what, &[what, request_id]);
                let execution = workflow.start(&name, &json!({ "step": next })).await?;
                Ok(format!(
                    "execution {} ({})",
                    execution.name, execution.console
                ))
            }
        }
    }

    /// What a step hands on, for its response.
    pub fn next(self) -> Option<Value> {
        match self {
            HandOver::Step(slot) => slot.into_inner().ok().flatten(),
            HandOver::Execution { .. } => None,
        }
    }
}

/// A step's answer to its state machine: its result, and the next step (`null`: done).
#[derive(Debug, Serialize)]
pub struct StepResponse<T> {
    pub next: Option<Value>,
    pub result: T,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_say_what_and_stay_valid() {
        let name = execution_name("load", "incoming/orders 2026.csv", &["b", "k", "v1"]);
        assert!(name.starts_with("load-incoming-orders-2026-csv-"), "{name}");
        let long = execution_name("reload", &"x/".repeat(100), &["b"]);
        assert_eq!(long.len(), MAX_NAME);
        assert!(
            long.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn a_name_changes_with_its_identity_only() {
        let a = execution_name("load", "k.csv", &["b", "k.csv", "v1"]);
        assert_eq!(a, execution_name("load", "k.csv", &["b", "k.csv", "v1"]));
        assert_ne!(a, execution_name("load", "k.csv", &["b", "k.csv", "v2"]));
    }

    #[test]
    fn executions_are_found_by_name_and_in_the_console() {
        let arn = "arn:aws:states:eu-west-1:111122223333:stateMachine:guard-load";
        let workflow = Workflow {
            sfn: aws_sdk_sfn::Client::from_conf(
                aws_sdk_sfn::Config::builder()
                    .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
                    .build(),
            ),
            state_machine: arn.into(),
        };
        let execution = workflow.execution_arn("load-x-1");
        assert_eq!(
            execution,
            "arn:aws:states:eu-west-1:111122223333:execution:guard-load:load-x-1"
        );
        let url = console_url(&execution);
        assert!(url.starts_with("https://eu-west-1.console.aws.amazon.com/states/"));
        assert!(url.ends_with(&execution));
    }

    #[tokio::test]
    async fn a_step_returns_what_it_hands_on() {
        let step = HandOver::step();
        assert!(step.in_step());
        let said = step.send("finish", "t", json!({"a": 1})).await.unwrap();
        assert!(said.contains("next step"));
        assert_eq!(step.next(), Some(json!({"a": 1})));
        let nowhere = HandOver::Execution {
            workflow: None,
            request_id: "r".into(),
        };
        let nowhere = nowhere.send("finish", "t", json!({})).await;
        assert!(nowhere.unwrap_err().contains("STATE_MACHINE_ARN"));
    }
}
