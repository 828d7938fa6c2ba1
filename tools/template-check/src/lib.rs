//! Reads `template.yaml` (as JSON, through `tools/template_json.py`, or as SAM translates it, through
//! `sam_translate.py`) and resolves the intrinsic functions a check needs, with parameters at their
//! defaults (or at values a check sets) and made-up but well-formed names and ARNs for resources.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

pub mod iam;

pub const STACK: &str = "ddb-guard";
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";
/// The id CloudFormation gives the stack; names made from it carry its first group.
pub const STACK_UUID: &str = "5e1f2a3b-0c4d-11ef-9a8b-0a1b2c3d4e5f";

pub struct Template {
    pub json: Value,
    /// Parameter values that replace the defaults.
    parameters: BTreeMap<String, String>,
}

/// Runs one of the template readers on `template.yaml` and parses what it prints.
fn read(script: &Path, parameters: &BTreeMap<String, String>) -> Value {
    let root = local_aws::workspace_root();
    let python = local_aws::venv_bin().join("python");
    assert!(
        python.exists(),
        "{} is missing: run tools/setup.sh",
        python.display()
    );
    let out = Command::new(python)
        .arg(script)
        .arg(root.join("template.yaml"))
        .args(parameters.iter().map(|(k, v)| format!("{k}={v}")))
        .env("AWS_DEFAULT_REGION", REGION)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("template JSON")
}

impl Template {
    /// The template as written, parameters at their defaults.
    pub fn load() -> Template {
        Template::with(&[])
    }

    /// The template as written, deployed with these parameter values (each must be one the
    /// template accepts), or with these values of its `Settings` mapping (edited in place, as a
    /// user would; not carried to `transformed`).
    pub fn with(parameters: &[(&str, &str)]) -> Template {
        let script = local_aws::workspace_root().join("tools/template_json.py");
        let mut template = Template {
            json: read(&script, &BTreeMap::new()),
            parameters: BTreeMap::new(),
        };
        for (name, value) in parameters {
            if template.json["Parameters"].get(*name).is_some() {
                template.check_parameter(name, value);
                (template.parameters).insert(name.to_string(), value.to_string());
            } else {
                template.edit_setting(name, value);
            }
        }
        template
    }

    /// Sets a value of the `Settings` mapping, by its (unique) name.
    fn edit_setting(&mut self, name: &str, value: &str) {
        let groups = self.json["Mappings"]["Settings"].as_object_mut();
        let found: Vec<&mut Value> = (groups.expect("Settings").values_mut())
            .filter_map(|g| g.get_mut(name))
            .collect();
        let [setting] = <[&mut Value; 1]>::try_from(found)
            .unwrap_or_else(|_| panic!("no parameter or setting {name}"));
        *setting = Value::String(value.to_string());
    }

    /// What SAM makes of the template (the CloudFormation it deploys), same parameter values.
    pub fn transformed(&self) -> Template {
        let script = local_aws::workspace_root().join("tools/template-check/sam_translate.py");
        Template {
            json: read(&script, &self.parameters),
            parameters: self.parameters.clone(),
        }
    }

    fn check_parameter(&self, name: &str, value: &str) {
        let spec = self.json["Parameters"]
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        if let Some(allowed) = spec["AllowedValues"].as_array() {
            let allowed: Vec<String> = allowed.iter().map(|v| self.resolve(v)).collect();
            assert!(allowed.iter().any(|a| a == value), "{name}={value}");
        }
        if let Some(min) = spec["MinValue"].as_f64() {
            assert!(value.parse::<f64>().unwrap() >= min, "{name}={value}");
        }
    }

    pub fn resources(&self) -> &serde_json::Map<String, Value> {
        self.json["Resources"].as_object().expect("Resources")
    }

    /// The resources of one type, by logical id.
    pub fn of_type(&self, kind: &str) -> BTreeMap<&str, &Value> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == kind)
            .map(|(id, r)| (id.as_str(), r))
            .collect()
    }

    /// The serverless functions, by logical id.
    pub fn functions(&self) -> BTreeMap<&str, &Value> {
        self.of_type("AWS::Serverless::Function")
    }

    /// The function that builds `package` (its SAM `Binary`), with its logical id.
    pub fn function(&self, package: &str) -> (&str, &Value) {
        self.functions()
            .into_iter()
            .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == package)
            .unwrap_or_else(|| panic!("no function builds {package}"))
    }

    /// A parameter's value: the one set for this check, or its default. A setting of the
    /// template's `Settings` mapping (rarely changed, not a prompt) reads the same way.
    pub fn parameter(&self, name: &str) -> String {
        match self.parameters.get(name) {
            Some(value) => value.clone(),
            None if self.json["Parameters"].get(name).is_none() => self.setting(name),
            None => self.resolve(&self.json["Parameters"][name]["Default"]),
        }
    }

    /// A value of the `Settings` mapping, by its (unique) name.
    pub fn setting(&self, name: &str) -> String {
        let groups = self.json["Mappings"]["Settings"]
            .as_object()
            .expect("Settings");
        let found: Vec<&Value> = groups.values().filter_map(|g| g.get(name)).collect();
        assert_eq!(found.len(), 1, "no parameter or setting {name}");
        scalar(found[0])
    }

    /// A parameter's value as a whole number.
    pub fn number(&self, name: &str) -> i64 {
        let value = self.parameter(name);
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number"))
    }

    /// A resolved value as a whole number.
    pub fn number_of(&self, value: &str) -> i64 {
        value
            .parse()
            .unwrap_or_else(|_| panic!("{value:?} is not a number"))
    }

    /// A scalar value with its intrinsic functions worked out; `AWS::NoValue` is "".
    pub fn resolve(&self, value: &Value) -> String {
        scalar(&self.expand(value))
    }

    /// Any value with its intrinsic functions worked out, as CloudFormation would: conditions
    /// chosen, `AWS::NoValue` dropped from objects and lists (and `null` on its own).
    pub fn expand(&self, value: &Value) -> Value {
        self.expand_present(value).unwrap_or(Value::Null)
    }

    /// `None` for `AWS::NoValue`.
    fn expand_present(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Array(items) => Some(Value::Array(
                items
                    .iter()
                    .filter_map(|i| self.expand_present(i))
                    .collect(),
            )),
            Value::Object(o) if o.len() == 1 && is_intrinsic(o.keys().next().unwrap()) => {
                let (function, args) = o.iter().next().unwrap();
                let text = |v: &Value| -> String {
                    v.as_str()
                        .unwrap_or_else(|| panic!("{function} {v}"))
                        .to_string()
                };
                match function.as_str() {
                    "Ref" if args == "AWS::NoValue" => None,
                    "Ref" if self.is_list_parameter(&text(args)) => Some(Value::Array(
                        self.parameter(&text(args))
                            .split(',')
                            .map(|item| Value::String(item.trim().to_string()))
                            .collect(),
                    )),
                    "Ref" => Some(self.reference(&text(args)).into()),
                    "Fn::Join" => {
                        let items = self.expand(&args[1]);
                        let items = items
                            .as_array()
                            .unwrap_or_else(|| panic!("{function} of {items}"));
                        let parts: Vec<String> = items.iter().map(|i| self.resolve(i)).collect();
                        Some(parts.join(&text(&args[0])).into())
                    }
                    "Fn::Split" => Some(Value::Array(
                        self.resolve(&args[1])
                            .split(text(&args[0]).as_str())
                            .map(|part| Value::String(part.to_string()))
                            .collect(),
                    )),
                    "Fn::Sub" if args.is_array() => {
                        let variables = self.expand(&args[1]);
                        Some(self.substitute_with(&text(&args[0]), &variables).into())
                    }
                    "Fn::Sub" => Some(self.substitute(&text(args)).into()),
                    "Fn::Select" => {
                        let index: usize = self.resolve(&args[0]).parse().expect("an index");
                        let items = self.expand(&args[1]);
                        let items = items
                            .as_array()
                            .unwrap_or_else(|| panic!("{function} of {items}"));
                        Some(items.get(index).cloned().unwrap_or_else(|| {
                            panic!("{function} {index} of {items:?}: CloudFormation fails")
                        }))
                    }
                    "Fn::FindInMap" => Some(self.mapping(
                        &self.resolve(&args[0]),
                        &self.resolve(&args[1]),
                        &self.resolve(&args[2]),
                    )),
                    "Fn::GetAtt" => Some(self.attribute(&text(&args[0]), &text(&args[1])).into()),
                    "Fn::If" => {
                        let chosen = if self.condition(&text(&args[0])) {
                            &args[1]
                        } else {
                            &args[2]
                        };
                        self.expand_present(chosen)
                    }
                    _ => panic!("cannot resolve {value}"),
                }
            }
            Value::Object(o) => Some(Value::Object(
                o.iter()
                    .filter_map(|(k, v)| Some((k.clone(), self.expand_present(v)?)))
                    .collect(),
            )),
            other => Some(other.clone()),
        }
    }

    /// Whether `name` is a parameter whose `Ref` is a list (`CommaDelimitedList`).
    fn is_list_parameter(&self, name: &str) -> bool {
        self.json["Parameters"][name]["Type"] == "CommaDelimitedList"
    }

    /// A value of the template's `Mappings`.
    pub fn mapping(&self, map: &str, top: &str, second: &str) -> Value {
        let value = &self.json["Mappings"][map][top][second];
        assert!(!value.is_null(), "no mapping {map}.{top}.{second}");
        value.clone()
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::StackName" => STACK.into(),
            "AWS::StackId" => {
                format!("arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK}/{STACK_UUID}")
            }
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Region" => REGION.into(),
            "AWS::Partition" => "aws".into(),
            _ if self.json["Parameters"].get(name).is_some() => self.parameter(name),
            _ => {
                let Some(resource) = self.resources().get(name) else {
                    // A resource SAM generates (`<function><event>`), named by CloudFormation.
                    return format!("{STACK}-{name}");
                };
                match resource["Type"].as_str().unwrap() {
                    "AWS::SNS::Topic" => format!("arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-{name}"),
                    "AWS::SQS::Queue" => {
                        format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{STACK}-{name}")
                    }
                    "AWS::KMS::Key" => format!("key-id-of-{name}"),
                    "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                        self.attribute(name, "Arn")
                    }
                    _ => [
                        "TableName",
                        "BucketName",
                        "BackupVaultName",
                        "FunctionName",
                        "LogGroupName",
                        "RestoreTestingPlanName",
                        "AlarmName",
                        "DashboardName",
                    ]
                    .iter()
                    .find_map(|p| resource["Properties"].get(*p))
                    .map_or_else(|| format!("{STACK}-{name}"), |n| self.resolve(n)),
                }
            }
        }
    }

    /// `Fn::GetAtt`: ARNs in each service's format, so that a policy's patterns can be matched
    /// against them; other attributes made up.
    fn attribute(&self, id: &str, attribute: &str) -> String {
        let kind = self
            .resources()
            .get(id)
            .map(|r| r["Type"].as_str().unwrap());
        let name = || self.reference(id);
        match (kind.unwrap_or_default(), attribute) {
            ("AWS::DynamoDB::Table", "Arn") => {
                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{}", name())
            }
            ("AWS::Serverless::Function" | "AWS::Lambda::Function", "Arn") => {
                format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{}", name())
            }
            ("AWS::S3::Bucket", "Arn") => format!("arn:aws:s3:::{}", name()),
            ("AWS::Backup::BackupVault", "BackupVaultArn") => {
                format!("arn:aws:backup:{REGION}:{ACCOUNT}:backup-vault:{}", name())
            }
            ("AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine", "Arn") => {
                let name = self.state_machine_name(id);
                format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}")
            }
            ("AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine", "Name") => {
                self.state_machine_name(id)
            }
            ("AWS::CloudWatch::Alarm", "Arn") => {
                format!("arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{}", name())
            }
            ("AWS::SQS::Queue", "Arn") => format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{STACK}-{id}"),
            // A role SAM generates is named by CloudFormation after the stack and its id.
            ("AWS::IAM::Role", "Arn") | ("", "Arn") if id.ends_with("Role") => {
                format!("arn:aws:iam::{ACCOUNT}:role/{STACK}-{id}")
            }
            ("AWS::SQS::Queue", "QueueName") => format!("{STACK}-{id}"),
            ("AWS::SNS::Topic", "TopicName") => format!("{STACK}-{id}"),
            (_, a) if a.ends_with("Arn") => format!("arn:aws:made-up:{REGION}:{ACCOUNT}:{a}/{id}"),
            (_, a) => format!("{a}-of-{id}"),
        }
    }

    /// A state machine's name: its `Name` (SAM) or `StateMachineName`, or one CloudFormation makes.
    fn state_machine_name(&self, id: &str) -> String {
        let properties = &self.resources()[id]["Properties"];
        ["Name", "StateMachineName"]
            .iter()
            .find_map(|p| properties.get(*p))
            .map_or_else(|| format!("{STACK}-{id}"), |n| self.resolve(n))
    }

    fn substitute(&self, text: &str) -> String {
        self.substitute_with(text, &Value::Null)
    }

    /// `Fn::Sub` with its own variables (already expanded), which win over the template's names.
    fn substitute_with(&self, text: &str, variables: &Value) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 2..end];
            out.push_str(&match (variables.get(name), name.split_once('.')) {
                (Some(value), _) => scalar(value),
                (None, Some((id, attribute))) => self.attribute(id, attribute),
                (None, None) => self.reference(name),
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    pub fn condition(&self, name: &str) -> bool {
        let condition = &self.json["Conditions"][name];
        assert!(!condition.is_null(), "no condition {name}");
        self.evaluate(condition)
    }

    fn evaluate(&self, condition: &Value) -> bool {
        let o = condition.as_object().expect("condition");
        if let Some(args) = o.get("Fn::Not") {
            return !self.evaluate(&args[0]);
        }
        if let Some(args) = o.get("Fn::Equals") {
            return self.resolve(&args[0]) == self.resolve(&args[1]);
        }
        if let Some(args) = o.get("Fn::And") {
            return args
                .as_array()
                .expect("Fn::And")
                .iter()
                .all(|c| self.evaluate(c));
        }
        if let Some(args) = o.get("Fn::Or") {
            return args
                .as_array()
                .expect("Fn::Or")
                .iter()
                .any(|c| self.evaluate(c));
        }
        // `!Condition` reads as `Fn::Condition` through template_json.py, `Condition` through SAM.
        if let Some(name) = o.get("Condition").or(o.get("Fn::Condition")) {
            return self.condition(name.as_str().expect("a condition's name"));
        }
        panic!("unsupported condition {condition}")
    }

    /// A function's environment variables, resolved.
    pub fn environment(&self, function: &Value) -> BTreeMap<String, String> {
        function["Properties"]["Environment"]["Variables"]
            .as_object()
            .map(|vars| {
                vars.iter()
                    .map(|(k, v)| (k.clone(), self.resolve(v)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A function's time limit in seconds: its own `Timeout`, or the template's global one.
    pub fn timeout(&self, function: &Value) -> i64 {
        let timeout = function["Properties"]
            .get("Timeout")
            .unwrap_or(&self.json["Globals"]["Function"]["Timeout"]);
        self.number_of(&self.resolve(timeout))
    }

    /// The serverless state machines, by logical id.
    pub fn state_machines(&self) -> BTreeMap<&str, &Value> {
        self.of_type("AWS::Serverless::StateMachine")
    }

    /// A state machine's definition as Step Functions gets it. SAM writes the definition out as
    /// JSON text and CloudFormation replaces each `${name}` in that text with its
    /// `DefinitionSubstitutions` value, so a placeholder written as a string stays a string
    /// whatever its value (`"TimeoutSeconds": "${Seconds}"` arrives as `"960"`, which Step
    /// Functions refuses). A placeholder without a substitution fails.
    pub fn definition(&self, id: &str) -> Value {
        let properties = &self.resources()[id]["Properties"];
        let substitutions = self.expand(&properties["DefinitionSubstitutions"]);
        let text = properties["Definition"].to_string();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 2..end];
            let value = substitutions
                .get(name)
                .unwrap_or_else(|| panic!("{id}: no substitution for ${{{name}}}"));
            out.push_str(&scalar(value));
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{id}: not JSON once substituted: {e}"))
    }

    /// The statements of a policy document (or of a SAM function's inline policy), with their
    /// intrinsic functions worked out: a statement behind a false condition is gone.
    pub fn statements(&self, document: &Value) -> Vec<Value> {
        let document = match self.expand(document) {
            // A document written as JSON text (to build a condition key from a parameter).
            Value::String(text) => serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("a policy document that is not JSON ({e}): {text}")),
            document => document,
        };
        match document["Statement"].clone() {
            Value::Array(statements) => statements,
            Value::Null => Vec::new(),
            statement => vec![statement],
        }
    }

    /// Every statement of a function's inline policies, expanded.
    pub fn function_statements(&self, function: &Value) -> Vec<Value> {
        let inline = function["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|policy| self.statements(policy));
        let role = self
            .functions()
            .into_iter()
            .find(|(_, f)| std::ptr::eq(*f, function))
            .map(|(id, _)| format!("{id}Role"))
            .unwrap_or_default();
        let attached = self
            .attached_policies(&role)
            .into_iter()
            .flat_map(|policy| self.statements(&policy["Properties"]["PolicyDocument"]));
        inline.chain(attached).collect()
    }

    /// Every statement a deployed role has, in a template SAM has transformed: its inline
    /// policies and the `AWS::IAM::Policy` resources attached to it.
    pub fn role_statements(&self, role: &str) -> Vec<Value> {
        let inline = self.resources()[role]["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|policy| self.statements(&policy["PolicyDocument"]));
        let attached = self
            .attached_policies(role)
            .into_iter()
            .flat_map(|policy| self.statements(&policy["Properties"]["PolicyDocument"]));
        inline.chain(attached).collect()
    }

    /// Whether a resource is deployed: it has no `Condition`, or its condition holds.
    pub fn exists(&self, resource: &Value) -> bool {
        resource["Condition"]
            .as_str()
            .is_none_or(|condition| self.condition(condition))
    }

    /// The deployed `AWS::IAM::Policy` and `AWS::IAM::ManagedPolicy` resources attached to a role
    /// (by its logical id).
    pub fn attached_policies(&self, role: &str) -> Vec<&Value> {
        let role = serde_json::json!({"Ref": role});
        let managed = self.of_type("AWS::IAM::ManagedPolicy").into_values();
        (self.of_type("AWS::IAM::Policy").into_values())
            .chain(managed)
            .filter(|policy| self.exists(policy))
            .filter(|policy| {
                policy["Properties"]["Roles"]
                    .as_array()
                    .is_some_and(|roles| roles.contains(&role))
            })
            .collect()
    }

    /// What a function's policies allow: each action with the resources it is allowed on (its
    /// denials are checked with `iam::decide`).
    pub fn grants(&self, function: &Value) -> Grants {
        allowed(&self.function_statements(function))
    }

    /// The actions a function's policies allow.
    pub fn allowed_actions(&self, function: &Value) -> BTreeSet<String> {
        self.grants(function).into_keys().collect()
    }
}

/// The resource of a Task state that invokes a Lambda function (with `Parameters.FunctionName`).
pub const LAMBDA_INVOKE: &str = "arn:aws:states:::lambda:invoke";

/// Every state of a definition by name, those of a Map's item processor included.
pub fn states(definition: &Value) -> Vec<(&str, &Value)> {
    let mut all = Vec::new();
    for (name, state) in definition["States"].as_object().expect("States") {
        all.push((name.as_str(), state));
        if let Some(processor) = state.get("ItemProcessor") {
            all.extend(states(processor));
        }
    }
    all
}

/// Every Task state of a definition that invokes a Lambda function, by name.
pub fn lambda_tasks(definition: &Value) -> Vec<(&str, &Value)> {
    states(definition)
        .into_iter()
        .filter(|(_, state)| state["Type"] == "Task" && state["Resource"] == LAMBDA_INVOKE)
        .collect()
}

/// What one execution of a state machine did, as [`play`] runs it.
#[derive(Debug, Default)]
pub struct Played {
    /// Each Lambda invocation: the function's ARN and the payload it got.
    pub invocations: Vec<(String, Value)>,
    /// Seconds spent in Wait states.
    pub waited: i64,
    pub output: Value,
}

/// Runs an execution of a (substituted) definition as Step Functions would, for the parts of
/// the States Language the template uses: Choice (`IsPresent`, `IsNull`), Wait, inline Map
/// (its items one after the other), Succeed, and Tasks that invoke a Lambda function, answered
/// by `lambda(function ARN, payload)`. A path that selects nothing fails, as at run time.
pub fn play(
    definition: &Value,
    input: Value,
    lambda: &mut dyn FnMut(&str, &Value) -> Value,
) -> Played {
    let mut played = Played::default();
    let output = run_states(definition, input, &Value::Null, &mut played, lambda);
    Played { output, ..played }
}

/// Transitions after which an execution is taken to loop for ever.
const MAX_TRANSITIONS: usize = 1000;

fn run_states(
    machine: &Value,
    input: Value,
    context: &Value,
    played: &mut Played,
    lambda: &mut dyn FnMut(&str, &Value) -> Value,
) -> Value {
    let mut name = machine["StartAt"].as_str().expect("StartAt").to_string();
    let mut data = input;
    for _ in 0..MAX_TRANSITIONS {
        let state = &machine["States"][&name];
        match state["Type"]
            .as_str()
            .unwrap_or_else(|| panic!("no state {name}"))
        {
            "Task" => {
                assert_eq!(state["Resource"], LAMBDA_INVOKE, "{name}");
                let parameters = select(&state["Parameters"], &data, context);
                let function = parameters["FunctionName"].as_str().expect("FunctionName");
                let payload = parameters["Payload"].clone();
                let response = lambda(function, &payload);
                played.invocations.push((function.to_string(), payload));
                let result = serde_json::json!({"StatusCode": 200, "Payload": response});
                data = match state.get("ResultSelector") {
                    Some(selector) => select(selector, &result, context),
                    None => result,
                };
                if let Some(path) = state["OutputPath"].as_str() {
                    data = at(&data, path, context).unwrap_or_else(|| panic!("{name}: {path}"));
                }
            }
            "Choice" => {
                let choices = state["Choices"].as_array().expect("Choices");
                let next = choices
                    .iter()
                    .find(|rule| holds(rule, &data, context))
                    .map_or(&state["Default"], |rule| &rule["Next"]);
                name = next.as_str().expect("a next state").to_string();
                continue;
            }
            "Wait" => played.waited += state["Seconds"].as_i64().expect("Seconds"),
            "Map" => {
                let path = state["ItemsPath"].as_str().unwrap_or("$");
                let items = at(&data, path, context).unwrap_or_else(|| panic!("{name}: {path}"));
                let mut results = Vec::new();
                for item in items.as_array().expect("a list of items") {
                    let context = serde_json::json!({"Map": {"Item": {"Value": item}}});
                    let input = match state.get("ItemSelector") {
                        Some(selector) => select(selector, &data, &context),
                        None => item.clone(),
                    };
                    let processor = &state["ItemProcessor"];
                    results.push(run_states(processor, input, &context, played, lambda));
                }
                data = Value::Array(results);
            }
            "Succeed" => return data,
            other => panic!("{name}: the player knows no {other} state"),
        }
        if state["End"] == true {
            return data;
        }
        name = state["Next"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no Next"))
            .to_string();
    }
    panic!("more than {MAX_TRANSITIONS} transitions: an execution that never ends")
}

/// A Choice rule on one variable.
fn holds(rule: &Value, data: &Value, context: &Value) -> bool {
    let path = rule["Variable"].as_str().expect("Variable");
    let value = at(data, path, context);
    if let Some(present) = rule["IsPresent"].as_bool() {
        return value.is_some() == present;
    }
    if let Some(null) = rule["IsNull"].as_bool() {
        let value = value.unwrap_or_else(|| panic!("{path} is not present"));
        return value.is_null() == null;
    }
    panic!("the player knows no rule {rule}")
}

/// `Parameters`, `ItemSelector` or `ResultSelector`: a field named `<key>.$` takes the value its
/// path selects, under `<key>`.
fn select(template: &Value, data: &Value, context: &Value) -> Value {
    match template {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| match (k.strip_suffix(".$"), v.as_str()) {
                    (Some(key), Some(path)) => {
                        let value = at(data, path, context)
                            .unwrap_or_else(|| panic!("{path} selects nothing in {data}"));
                        (key.to_string(), value)
                    }
                    _ => (k.clone(), select(v, data, context)),
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A simple path: `$` or `$.a.b` in the data, `$$.a.b` in the context object.
fn at(data: &Value, path: &str, context: &Value) -> Option<Value> {
    let (root, rest) = match path.strip_prefix("$$") {
        Some(rest) => (context, rest),
        None => (data, path.strip_prefix('$').expect("a path")),
    };
    let mut value = root;
    for field in rest.split('.').filter(|f| !f.is_empty()) {
        value = value.get(field)?;
    }
    Some(value.clone())
}

/// A scalar as CloudFormation passes it on: a string.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => panic!("{other} is not a scalar"),
    }
}

/// Each action a policy allows, with the resources it is allowed on.
pub type Grants = BTreeMap<String, BTreeSet<String>>;

/// What the `Allow` statements among these allow (conditions not considered: check those on the
/// statements themselves).
pub fn allowed(statements: &[Value]) -> Grants {
    let mut grants = Grants::new();
    for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
        let resources = strings(&statement["Resource"]);
        for action in strings(&statement["Action"]) {
            grants
                .entry(action)
                .or_default()
                .extend(resources.iter().cloned());
        }
    }
    grants
}

/// Whether `grants` allow `action` on `arn` (by one of its resource patterns).
pub fn allows(grants: &Grants, action: &str, arn: &str) -> bool {
    grants
        .get(action)
        .is_some_and(|resources| resources.iter().any(|r| arn_matches(r, arn)))
}

fn is_intrinsic(key: &str) -> bool {
    key == "Ref" || key.starts_with("Fn::")
}

/// A string or a list of strings (as IAM's `Action` and `Resource` are), already expanded.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list
            .iter()
            .map(|s| s.as_str().expect("a string").to_string())
            .collect(),
        other => panic!("{other} is not a string or a list of strings"),
    }
}

/// Whether an IAM resource pattern (`*` any run of characters, `?` one) matches an ARN.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    match pattern.chars().next() {
        None => arn.is_empty(),
        Some('*') => (0..=arn.len())
            .filter(|&i| arn.is_char_boundary(i))
            .any(|i| arn_matches(&pattern[1..], &arn[i..])),
        Some(p) => {
            let mut rest = arn.chars();
            match rest.next() {
                Some(c) if p == '?' || p == c => {
                    arn_matches(&pattern[p.len_utf8()..], rest.as_str())
                }
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::arn_matches;

    #[test]
    fn resource_patterns_match_like_iam() {
        assert!(arn_matches(
            "arn:aws:dynamodb:r:a:table/*",
            "arn:aws:dynamodb:r:a:table/t"
        ));
        assert!(arn_matches("a*b*c", "a-b-b-c"));
        assert!(arn_matches("fn:x:*", "fn:x:$LATEST"));
        assert!(arn_matches("t?", "t1"));
        assert!(!arn_matches("fn:x", "fn:x-2"));
        assert!(!arn_matches("fn:x:*", "fn:x"));
        assert!(!arn_matches("a*c", "abd"));
    }
}
