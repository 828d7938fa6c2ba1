//! Work longer than one invocation: the csv-loader, the restore-handler and the backup-trigger
//! each hand what they have left to a Step Functions state machine of their own, which invokes
//! that function and no other, gives each step more time than the function has, retries only what
//! a retry can fix, and pages when an execution fails. No function invokes itself.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use template_check::{
    ACCOUNT, REGION, STACK, Template, allowed, allows, lambda_tasks, play, states, strings,
};

/// A function that hands work on, the name of its state machine (after the stack's), and the
/// error types (its `errorType`s) that no retry fixes.
struct LongWork {
    package: &'static str,
    machine: &'static str,
    permanent: &'static [&'static str],
}

const LONG_WORK: [LongWork; 3] = [
    LongWork {
        package: "csv-loader",
        machine: "load",
        permanent: &[
            "InvalidHeader",
            "NothingLoaded",
            "RepeatedRejects",
            "ObjectNotFound",
            "MalformedFile",
            "OlderThanLoaded",
            "InvalidRequest",
        ],
    },
    LongWork {
        package: "restore-handler",
        machine: "restore",
        permanent: &["RestoreRefused", "InvalidRequest"],
    },
    // The trigger reports the tables it could not back up itself: a retry would redo the others.
    LongWork {
        package: "backup-trigger",
        machine: "backup",
        permanent: &["InvalidRequest", "BackupsFailed"],
    },
];

/// The substitutions a definition may use: the functions' ARNs, strings. A number cannot be one:
/// CloudFormation substitutes into the definition's JSON text, so `"${Seconds}"` would arrive as
/// a string, which Step Functions refuses (aws/serverless-application-model#1616).
const SUBSTITUTIONS: [&str; 3] = [
    "LoaderFunctionArn",
    "RestoreFunctionArn",
    "BackupFunctionArn",
];

/// The fields of the States Language that take an integer, wherever they appear.
const INTEGER_FIELDS: [&str; 7] = [
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "IntervalSeconds",
    "MaxAttempts",
    "MaxDelaySeconds",
    "Seconds",
    "MaxConcurrency",
];

/// A whole number written as one (`960`, not `"960"` nor `960.0`).
fn integer(value: &Value, what: &str) -> i64 {
    assert!(
        value.is_i64() || value.is_u64(),
        "{what}: {value} is not an integer"
    );
    value.as_i64().unwrap()
}

/// Every field of `value` (a definition, as written or deployed) named in [`INTEGER_FIELDS`],
/// with its path.
fn integer_fields<'a>(value: &'a Value, path: &str, found: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(o) => {
            for (key, v) in o {
                let path = format!("{path}.{key}");
                if INTEGER_FIELDS.contains(&key.as_str()) {
                    found.push((path.clone(), v));
                }
                integer_fields(v, &path, found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                integer_fields(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn machine_arn(name: &str) -> String {
    format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-{name}")
}

/// The logical id of the state machine named `<stack>-<name>`.
fn state_machine<'a>(template: &'a Template, name: &str) -> &'a str {
    let found: Vec<&str> = (template.state_machines().into_keys())
        .filter(|id| template.resolve(&json!({"Ref": id})) == machine_arn(name))
        .collect();
    let [id] = found[..] else {
        panic!("{found:?} are named {STACK}-{name}")
    };
    id
}

fn function_arn(template: &Template, package: &str) -> String {
    let (id, _) = template.function(package);
    template.resolve(&json!({"Fn::GetAtt": [id, "Arn"]}))
}

/// The functions a state machine's steps invoke.
fn invoked(definition: &Value) -> BTreeSet<String> {
    (lambda_tasks(definition).into_iter())
        .map(|(_, task)| task["Parameters"]["FunctionName"].as_str().unwrap().into())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|i| i.to_string()).collect()
}

#[test]
fn each_function_starts_the_state_machine_that_invokes_it_and_no_other() {
    let template = Template::load();
    assert_eq!(template.state_machines().len(), LONG_WORK.len());
    for work in &LONG_WORK {
        let (id, function) = template.function(work.package);
        let arn = template.environment(function)["STATE_MACHINE_ARN"].clone();
        assert_eq!(arn, machine_arn(work.machine), "{id}");
        let machine = state_machine(&template, work.machine);
        assert_eq!(
            template.resources()[machine]["Properties"]["Type"],
            "STANDARD"
        );
        let definition = template.definition(machine);
        assert_eq!(
            invoked(&definition),
            set(&[function_arn(&template, work.package).as_str()]),
            "{machine}"
        );
        // The ARN is built from the name: the state machine refers to the function, so a
        // reference back would be a circular dependency.
        let properties = function["Properties"].to_string();
        for other in template.state_machines().into_keys() {
            assert!(!properties.contains(other), "{id} refers to {other}");
        }

        // It starts that state machine only; only the loader stops executions (an older upload's
        // load), and only that state machine's.
        let grants = template.grants(function);
        let granted: BTreeSet<String> = (grants.keys())
            .filter(|action| action.starts_with("states:"))
            .cloned()
            .collect();
        assert_eq!(
            grants["states:StartExecution"],
            set(&[arn.as_str()]),
            "{id}"
        );
        let execution = |machine: &str| {
            format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-{machine}:upload-1")
        };
        if work.package == "csv-loader" {
            assert_eq!(
                granted,
                set(&["states:StartExecution", "states:StopExecution"])
            );
            assert!(allows(&grants, "states:StopExecution", &execution("load")));
            for other in ["restore", "backup", "load-2"] {
                let other = execution(other);
                assert!(!allows(&grants, "states:StopExecution", &other), "{other}");
            }
        } else {
            assert_eq!(granted, set(&["states:StartExecution"]), "{id}");
        }
    }
}

#[test]
fn each_step_outlasts_its_function_and_retries_only_what_a_retry_can_fix() {
    let template = Template::load();
    for work in &LONG_WORK {
        let (_, function) = template.function(work.package);
        let definition = template.definition(state_machine(&template, work.machine));
        let tasks = lambda_tasks(&definition);
        assert!(!tasks.is_empty(), "{}", work.machine);
        for (name, task) in tasks {
            // Lambda ends the invocation first: the step then fails with the function's error.
            let timeout = integer(&task["TimeoutSeconds"], name);
            assert!(timeout > template.timeout(function), "{name}: {timeout} s");
            let execution = integer(&definition["TimeoutSeconds"], "the execution's limit");
            assert!(execution > timeout, "{name}: the execution's limit");

            let retriers = task["Retry"].as_array().unwrap();
            // First, so that no later retrier (States.ALL) catches them: never retried.
            let permanent = &retriers[0];
            assert_eq!(
                strings(&permanent["ErrorEquals"])
                    .into_iter()
                    .collect::<BTreeSet<_>>(),
                set(work.permanent),
                "{name}"
            );
            assert_eq!(permanent["MaxAttempts"], 0, "{name}");
            for retrier in &retriers[1..] {
                assert!(integer(&retrier["MaxAttempts"], name) >= 1, "{name}");
                assert!(integer(&retrier["IntervalSeconds"], name) > 0, "{name}");
                let backoff = retrier["BackoffRate"].as_f64();
                assert!(backoff.is_some_and(|rate| rate > 1.0), "{name}: {retrier}");
            }
            // Anything else (a throttle, a timeout, Lambda's own errors) is retried.
            assert_eq!(
                retriers.last().unwrap()["ErrorEquals"],
                json!(["States.ALL"])
            );
        }
    }
}

#[test]
fn only_the_functions_are_substitutions_and_every_number_is_a_literal_integer() {
    let template = Template::load();
    for work in &LONG_WORK {
        let machine = state_machine(&template, work.machine);
        let properties = &template.resources()[machine]["Properties"];
        let substitutions = template.expand(&properties["DefinitionSubstitutions"]);
        let substitutions = substitutions.as_object().unwrap();
        let names: BTreeSet<String> = substitutions.keys().cloned().collect();
        assert!(
            names.is_subset(&set(&SUBSTITUTIONS)),
            "{machine}: {names:?}"
        );
        for (name, value) in substitutions {
            assert!(
                value.is_string(),
                "{machine}: {name} is {value}, not a string"
            );
        }
        // Every one is used, and each Task names its function through one.
        let text = properties["Definition"].to_string();
        for name in &names {
            assert!(text.contains(&format!("${{{name}}}")), "{machine}: {name}");
        }
        for (name, state) in states(&properties["Definition"]) {
            if state["Type"] == "Task" {
                let function = state["Parameters"]["FunctionName"].as_str();
                let function = function.unwrap_or_default();
                assert!(
                    function.starts_with("${") && function.ends_with("FunctionArn}"),
                    "{name}: {function}"
                );
            }
        }

        // As written and as Step Functions gets it, each number is an integer.
        let deployed = template.definition(machine);
        for definition in [&properties["Definition"], &deployed] {
            let mut found = Vec::new();
            integer_fields(definition, machine, &mut found);
            assert!(!found.is_empty(), "{machine}");
            for (path, value) in found {
                assert!(integer(value, &path) >= 0, "{path}");
            }
        }
        for (name, state) in states(&deployed) {
            match state["Type"].as_str().unwrap() {
                "Wait" => assert!(integer(&state["Seconds"], name) > 0, "{name}"),
                "Map" => assert!(integer(&state["MaxConcurrency"], name) >= 1, "{name}"),
                _ => {}
            }
        }
    }
    // A split file's parts load side by side.
    let load = template.definition(state_machine(&template, "load"));
    assert!(states(&load).iter().any(|(_, s)| s["Type"] == "Map"));
}

#[test]
fn each_state_machine_may_invoke_its_own_function_and_nothing_else() {
    let template = Template::load();
    let deployed = template.transformed();
    let functions: Vec<String> = (deployed.of_type("AWS::Lambda::Function").into_keys())
        .map(|id| deployed.resolve(&json!({"Fn::GetAtt": [id, "Arn"]})))
        .collect();
    assert_eq!(functions.len(), 4);
    for work in &LONG_WORK {
        let machine = state_machine(&template, work.machine);
        let role = &deployed.resources()[machine]["Properties"]["RoleArn"]["Fn::GetAtt"][0];
        let grants = allowed(&deployed.role_statements(role.as_str().unwrap()));
        assert_eq!(
            grants.keys().cloned().collect::<BTreeSet<_>>(),
            set(&["lambda:InvokeFunction"]),
            "{machine}"
        );
        // Exactly its function's ARN, and its versions and aliases: not `<name>*`, which would
        // take any function whose name starts the same.
        let own = function_arn(&template, work.package);
        assert_eq!(
            grants["lambda:InvokeFunction"],
            set(&[own.as_str(), &format!("{own}:*")]),
            "{machine}"
        );
        for function in &functions {
            let may = allows(&grants, "lambda:InvokeFunction", function);
            assert_eq!(may, *function == own, "{machine} on {function}");
        }
        for alike in [format!("{own}-2"), format!("{own}Copy")] {
            assert!(!allows(&grants, "lambda:InvokeFunction", &alike), "{alike}");
        }
        assert!(allows(
            &grants,
            "lambda:InvokeFunction",
            &format!("{own}:live")
        ));
    }
}

/// The actions of the runbook of a failed execution, on one execution.
const ON_AN_EXECUTION: [&str; 4] = [
    "states:DescribeExecution",
    "states:GetExecutionHistory",
    "states:RedriveExecution",
    "states:StopExecution",
];

/// The actions of that runbook on a state machine: finding its executions.
const ON_A_STATE_MACHINE: [&str; 2] = ["states:ListExecutions", "states:DescribeStateMachine"];

#[test]
fn operators_can_follow_redrive_and_stop_this_stacks_executions_only() {
    let template = Template::load();
    let policy = &template.resources()["OperatorPolicy"]["Properties"]["PolicyDocument"];
    let grants = allowed(&template.statements(policy));
    let granted: BTreeSet<String> = (grants.keys())
        .filter(|action| action.starts_with("states:"))
        .cloned()
        .collect();
    let mut expected = set(&ON_AN_EXECUTION);
    expected.extend(set(&ON_A_STATE_MACHINE));
    assert_eq!(granted, expected);

    let execution =
        |machine: &str| format!("arn:aws:states:{REGION}:{ACCOUNT}:execution:{machine}");
    let executions: BTreeSet<String> = (LONG_WORK.iter())
        .map(|work| execution(&format!("{STACK}-{}:*", work.machine)))
        .collect();
    let machines: BTreeSet<String> = LONG_WORK.iter().map(|w| machine_arn(w.machine)).collect();
    for action in ON_AN_EXECUTION {
        assert_eq!(grants[action], executions, "{action}");
    }
    for action in ON_A_STATE_MACHINE {
        assert_eq!(grants[action], machines, "{action}");
    }
    // They are the stack's own state machines.
    let own: BTreeSet<String> = (template.state_machines().into_keys())
        .map(|id| template.resolve(&json!({"Ref": id})))
        .collect();
    assert_eq!(own, machines);

    for work in &LONG_WORK {
        let ours = execution(&format!("{STACK}-{}:upload-1", work.machine));
        for action in ON_AN_EXECUTION {
            assert!(allows(&grants, action, &ours), "{action} on {ours}");
        }
        // Not another state machine whose name starts the same, nor another stack's.
        for other in [
            execution(&format!("{STACK}-{}-2:upload-1", work.machine)),
            execution(&format!("other-{}:upload-1", work.machine)),
            execution(&format!("{STACK}2-{}:upload-1", work.machine)),
        ] {
            for action in ON_AN_EXECUTION {
                assert!(!allows(&grants, action, &other), "{action} on {other}");
            }
        }
    }
}

#[test]
fn an_execution_that_fails_or_times_out_pages_the_alert_topic() {
    let template = Template::load();
    for work in &LONG_WORK {
        let machine = state_machine(&template, work.machine);
        let dimensions = json!([{"Name": "StateMachineArn", "Value": {"Ref": machine}}]);
        let on_machine: Vec<(&str, &Value)> = (template.of_type("AWS::CloudWatch::Alarm"))
            .into_iter()
            .filter(|(_, alarm)| {
                (alarm["Properties"]["Metrics"]
                    .as_array()
                    .into_iter()
                    .flatten())
                .any(|m| m["MetricStat"]["Metric"]["Dimensions"] == dimensions)
            })
            .collect();
        let [(id, alarm)] = on_machine[..] else {
            panic!("{machine}: alarms {on_machine:?}")
        };
        let properties = &alarm["Properties"];
        assert_eq!(
            template.resolve(&properties["AlarmName"]),
            format!("{STACK}-{}-executions-failed", work.machine)
        );
        // Failed and timed out, summed; not aborted (the loader stops an older upload's load).
        let metrics = properties["Metrics"].as_array().unwrap();
        let id_of = |metric: &str| {
            let found = metrics
                .iter()
                .find(|m| m["MetricStat"]["Metric"]["MetricName"] == metric)
                .unwrap_or_else(|| panic!("{id}: no {metric}"));
            let stat = &found["MetricStat"];
            assert_eq!(stat["Metric"]["Namespace"], "AWS/States", "{id}");
            assert_eq!(
                (&stat["Stat"], &stat["Period"]),
                (&json!("Sum"), &json!(300))
            );
            found["Id"].as_str().unwrap().to_string()
        };
        let sum = format!(
            "FILL({}, 0) + FILL({}, 0)",
            id_of("ExecutionsFailed"),
            id_of("ExecutionsTimedOut")
        );
        let returned: Vec<&Value> = metrics.iter().filter(|m| m["ReturnData"] == true).collect();
        assert_eq!(returned.len(), 1, "{id}");
        assert_eq!(returned[0]["Expression"], sum.as_str(), "{id}");
        assert_eq!(metrics.len(), 3, "{id}");

        assert_eq!(properties["Threshold"], 1, "{id}");
        assert_eq!(
            properties["ComparisonOperator"],
            "GreaterThanOrEqualToThreshold"
        );
        assert_eq!(properties["EvaluationPeriods"], 1, "{id}");
        assert_eq!(properties["TreatMissingData"], "notBreaching", "{id}");
        assert_eq!(properties["AlarmActions"], json!([{"Ref": "AlertTopic"}]));

        // Where to look, and how to go on once the cause is fixed.
        let description = template.resolve(&properties["AlarmDescription"]);
        let console = format!(
            "https://{REGION}.console.aws.amazon.com/states/home?region={REGION}#/statemachines/view/{}",
            machine_arn(work.machine)
        );
        assert!(description.contains(&console), "{id}: {description}");
        assert!(
            description.contains("aws stepfunctions redrive-execution --execution-arn"),
            "{id}: {description}"
        );
    }
}

#[test]
fn no_function_invokes_itself_and_lambda_still_stops_any_loop() {
    let deployed = Template::load().transformed();
    for (id, function) in deployed.of_type("AWS::Lambda::Function") {
        assert_ne!(function["Properties"]["RecursiveLoop"], "Allow", "{id}");
        let own = deployed.resolve(&json!({"Fn::GetAtt": [id, "Arn"]}));
        let grants = allowed(&deployed.role_statements(&format!("{id}Role")));
        for arn in [own.clone(), format!("{own}:$LATEST")] {
            assert!(!allows(&grants, "lambda:InvokeFunction", &arn), "{arn}");
        }
    }
    // A loop through another service (S3, say) is stopped by Lambda and counted: it pages.
    let alarm = &deployed.resources()["RecursiveLoopsAlarm"]["Properties"];
    let watched: Vec<&Value> = (alarm["Metrics"].as_array().unwrap().iter())
        .filter_map(|m| m.get("MetricStat"))
        .inspect(|s| assert_eq!(s["Metric"]["MetricName"], "RecursiveInvocationsDropped"))
        .map(|s| &s["Metric"]["Dimensions"][0]["Value"])
        .collect();
    let template = Template::load();
    for work in &LONG_WORK {
        let (id, _) = template.function(work.package);
        assert!(
            watched.contains(&&json!({"Ref": id})),
            "{id} is not watched"
        );
    }
    assert_eq!(alarm["AlarmActions"], json!([{"Ref": "AlertTopic"}]));
}

// ------------------------------------------------------------------ executions, played

/// The definition of `<stack>-<name>` as deployed, and the ARN of the function it invokes.
fn deployed_definition(template: &Template, name: &str, package: &str) -> (Value, String) {
    let definition = template.definition(state_machine(template, name));
    (definition, function_arn(template, package))
}

/// The payload of each invocation.
fn payloads(invocations: &[(String, Value)]) -> Vec<&Value> {
    invocations.iter().map(|(_, payload)| payload).collect()
}

#[test]
fn a_file_too_large_for_one_invocation_loads_segment_after_segment() {
    let template = Template::load();
    let (definition, loader) = deployed_definition(&template, "load", "csv-loader");
    let played = play(
        &definition,
        json!({"job": {"from": 0}}),
        &mut |function, payload| {
            assert_eq!(function, loader);
            let from = payload["segment"]["from"].as_i64().unwrap();
            let next = if from < 2 {
                json!({"from": from + 1})
            } else {
                Value::Null
            };
            json!({"next": next, "summary": {"rows_read": 10 * (from + 1)}})
        },
    );
    assert_eq!(
        payloads(&played.invocations),
        [
            &json!({"segment": {"from": 0}}),
            &json!({"segment": {"from": 1}}),
            &json!({"segment": {"from": 2}})
        ]
    );
    assert_eq!(played.output["summary"], json!({"rows_read": 30}));
}

#[test]
fn a_split_file_loads_its_parts_then_one_invocation_sums_them_up() {
    let template = Template::load();
    let (definition, loader) = deployed_definition(&template, "load", "csv-loader");
    let input = json!({"parts": [{"part": 1}, {"part": 2}]});
    let played = play(&definition, input, &mut |function, payload| {
        assert_eq!(function, loader);
        if let Some(parts) = payload.get("summarize") {
            return json!({"parts": parts.as_array().unwrap().len()});
        }
        // Part 1 takes two invocations, part 2 one.
        let job = &payload["segment"];
        let next = if *job == json!({"part": 1}) {
            json!({"part": 1, "from": 500})
        } else {
            Value::Null
        };
        json!({"next": next, "summary": {"part": job["part"]}})
    });
    let sent = payloads(&played.invocations);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert_eq!(
        sent[3],
        &json!({"summarize": [
            {"job": null, "summary": {"part": 1}},
            {"job": null, "summary": {"part": 2}}
        ]})
    );
    assert_eq!(played.output, json!({"parts": 2}));
}

#[test]
fn a_restore_is_checked_every_poll_seconds_until_the_handler_has_no_next_step() {
    let template = Template::load();
    let (definition, handler) = deployed_definition(&template, "restore", "restore-handler");
    let played = play(
        &definition,
        json!({"step": {"check": 1}}),
        &mut |function, payload| {
            assert_eq!(function, handler);
            let check = payload["step"]["check"].as_i64().unwrap();
            let next = if check < 3 {
                json!({"check": check + 1})
            } else {
                Value::Null
            };
            json!({"next": next})
        },
    );
    let checks: Vec<&Value> = payloads(&played.invocations)
        .into_iter()
        .map(|p| &p["step"]["check"])
        .collect();
    assert_eq!(checks, [1, 2, 3]);
    let waits: Vec<i64> = (states(&definition).into_iter())
        .filter(|(_, state)| state["Type"] == "Wait")
        .map(|(_, state)| state["Seconds"].as_i64().unwrap())
        .collect();
    let [poll] = waits[..] else {
        panic!("waits {waits:?}")
    };
    assert_eq!(played.waited, 2 * poll);
}

#[test]
fn a_backup_run_goes_on_without_waiting_until_no_table_is_left() {
    let template = Template::load();
    let (definition, trigger) = deployed_definition(&template, "backup", "backup-trigger");
    let input = json!({"step": {"tables": ["orders", "customers"]}});
    let played = play(&definition, input, &mut |function, payload| {
        assert_eq!(function, trigger);
        let tables = payload["step"]["tables"].as_array().unwrap();
        let next = match &tables[1..] {
            [] => Value::Null,
            rest => json!({"tables": rest}),
        };
        json!({"next": next})
    });
    assert_eq!(
        payloads(&played.invocations),
        [
            &json!({"step": {"tables": ["orders", "customers"]}}),
            &json!({"step": {"tables": ["customers"]}})
        ]
    );
    assert_eq!(played.waited, 0);
}
