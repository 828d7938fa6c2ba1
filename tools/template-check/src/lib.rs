//! Reads `template.yaml` (as JSON, through `tools/template_json.py`) and resolves the intrinsic
//! functions a check needs, with parameters at their defaults and made-up values for resources.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

pub const STACK: &str = "ddb-guard";
pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

pub struct Template {
    pub json: Value,
}

impl Template {
    pub fn load() -> Template {
        let root = local_aws::workspace_root();
        let python = local_aws::venv_bin().join("python");
        assert!(
            python.exists(),
            "{} is missing: run tools/setup.sh",
            python.display()
        );
        let out = Command::new(python)
            .arg(root.join("tools/template_json.py"))
            .arg(root.join("template.yaml"))
            .output()
            .expect("running tools/template_json.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Template {
            json: serde_json::from_slice(&out.stdout).expect("template JSON"),
        }
    }

    pub fn resources(&self) -> &serde_json::Map<String, Value> {
        self.json["Resources"].as_object().expect("Resources")
    }

    /// The serverless functions, by logical id.
    pub fn functions(&self) -> BTreeMap<&str, &Value> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
            .map(|(id, r)| (id.as_str(), r))
            .collect()
    }

    /// A value with its intrinsic functions worked out.
    pub fn resolve(&self, value: &Value) -> String {
        match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Object(o) if o.contains_key("Ref") => self.reference(o["Ref"].as_str().unwrap()),
            Value::Object(o) if o.contains_key("Fn::Sub") => {
                self.substitute(o["Fn::Sub"].as_str().unwrap())
            }
            Value::Object(o) if o.contains_key("Fn::GetAtt") => {
                let parts = o["Fn::GetAtt"].as_array().unwrap();
                let id = parts[0].as_str().unwrap();
                format!(
                    "arn:aws:made-up:{REGION}:{ACCOUNT}:{}/{id}",
                    parts[1].as_str().unwrap()
                )
            }
            Value::Object(o) if o.contains_key("Fn::If") => {
                let branches = o["Fn::If"].as_array().unwrap();
                let index = if self.condition(branches[0].as_str().unwrap()) {
                    1
                } else {
                    2
                };
                self.resolve(&branches[index])
            }
            other => panic!("cannot resolve {other}"),
        }
    }

    fn reference(&self, name: &str) -> String {
        match name {
            "AWS::StackName" => STACK.into(),
            "AWS::AccountId" => ACCOUNT.into(),
            "AWS::Region" => REGION.into(),
            "AWS::Partition" => "aws".into(),
            "AWS::NoValue" => String::new(),
            _ => {
                if let Some(parameter) = self.json["Parameters"].get(name) {
                    return self.resolve(&parameter["Default"]);
                }
                let resource = &self.resources()[name];
                match resource["Type"].as_str().unwrap() {
                    "AWS::SNS::Topic" => format!("arn:aws:sns:{REGION}:{ACCOUNT}:{STACK}-{name}"),
                    "AWS::SQS::Queue" => {
                        format!("https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}")
                    }
                    "AWS::DynamoDB::Table" | "AWS::S3::Bucket" | "AWS::Backup::BackupVault" => {
                        let named = ["TableName", "BucketName", "BackupVaultName"]
                            .iter()
                            .find_map(|p| resource["Properties"].get(*p));
                        named.map_or_else(|| format!("{STACK}-{name}"), |n| self.resolve(n))
                    }
                    "AWS::Serverless::Function" => resource["Properties"]
                        .get("FunctionName")
                        .map_or_else(|| format!("{STACK}-{name}"), |n| self.resolve(n)),
                    _ => format!("{STACK}-{name}"),
                }
            }
        }
    }

    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("closing brace") + start;
            let name = &rest[start + 2..end];
            out.push_str(&match name.split_once('.') {
                Some((id, attribute)) => {
                    self.resolve(&serde_json::json!({"Fn::GetAtt": [id, attribute]}))
                }
                None => self.reference(name),
            });
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    pub fn condition(&self, name: &str) -> bool {
        self.evaluate(&self.json["Conditions"][name])
    }

    fn evaluate(&self, condition: &Value) -> bool {
        let o = condition.as_object().expect("condition");
        if let Some(args) = o.get("Fn::Not") {
            return !self.evaluate(&args[0]);
        }
        if let Some(args) = o.get("Fn::Equals") {
            return self.resolve(&args[0]) == self.resolve(&args[1]);
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

    /// The actions a function's inline policies allow.
    pub fn allowed_actions(&self, function: &Value) -> BTreeSet<String> {
        let mut actions = BTreeSet::new();
        for policy in function["Properties"]["Policies"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                assert_eq!(statement["Effect"], "Allow", "{statement}");
                match &statement["Action"] {
                    Value::String(a) => {
                        actions.insert(a.clone());
                    }
                    Value::Array(list) => {
                        actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()));
                    }
                    other => panic!("Action {other}"),
                }
            }
        }
        actions
    }
}
