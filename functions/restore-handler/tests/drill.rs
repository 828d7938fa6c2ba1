//! Restore drills through the real Lambda runtime against the local AWS: from a native backup and
//! from the latest restorable time, each checked, reported, told and cleaned up; the tables named
//! and the tables tagged.

use std::path::Path;

use aws_sdk_dynamodb::types::{AttributeValue, PointInTimeRecoverySpecification, Tag};
use lambda_runtime::LambdaEvent;
use local_aws::{LocalAws, LocalFunction, unique_name};
use restore_handler::handler::{State, function_handler};
use serde_json::{Value, json};
use shared::env::from_vars;
use shared::metrics;
use shared::restore::config::RestoreEnv;
use shared::state::{StateKey, StateStore};

struct Drills {
    table: String,
    bucket: String,
    topic: String,
    inbox: String,
    dynamodb: aws_sdk_dynamodb::Client,
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    files: tempfile::TempDir,
}

impl Drills {
    /// A table of 7 items with a backup of them, then 2 more items (the backup lacks them), and
    /// point-in-time recovery on; a state table, a bucket for reports and a topic with an inbox.
    async fn new() -> Drills {
        let aws = LocalAws::shared();
        let config = aws.sdk_config().await;
        let dynamodb = aws.dynamodb().await;
        let table = unique_name("orders");
        local_aws::create_seed_table(&dynamodb, &table)
            .await
            .unwrap();
        let put = |i: usize| {
            dynamodb
                .put_item()
                .table_name(&table)
                .item("order_id", AttributeValue::S(format!("o{i}")))
                .item("item_id", AttributeValue::S("1".into()))
                .item("amount", AttributeValue::N(i.to_string()))
                .send()
        };
        for i in 0..7 {
            put(i).await.unwrap();
        }
        let backup = dynamodb
            .create_backup()
            .table_name(&table)
            .backup_name("nightly");
        backup.send().await.unwrap();
        for i in 7..9 {
            put(i).await.unwrap();
        }
        let pitr = PointInTimeRecoverySpecification::builder()
            .point_in_time_recovery_enabled(true)
            .build()
            .unwrap();
        (dynamodb.update_continuous_backups())
            .table_name(&table)
            .point_in_time_recovery_specification(pitr)
            .send()
            .await
            .unwrap();
        local_aws::create_state_table(&dynamodb, "ddb-guard-state")
            .await
            .ok();
        let s3 = aws.s3().await;
        let bucket = unique_name("data");
        local_aws::create_bucket(&s3, &bucket).await.unwrap();
        let (topic, inbox) =
            local_aws::topic_with_inbox(&config, &unique_name("alerts"), &unique_name("inbox"))
                .await
                .unwrap();
        Drills {
            table,
            bucket,
            topic,
            inbox,
            dynamodb,
            s3,
            sqs: aws_sdk_sqs::Client::new(&config),
            files: tempfile::tempdir().unwrap(),
        }
    }

    /// The restore-handler with a drill target (and `more` settings).
    fn function(&self, target_minutes: &str, more: &[(&str, &str)]) -> LocalFunction {
        let mut env = vec![
            ("SOURCE_TABLE", self.table.as_str()),
            ("DRILL_TABLES", self.table.as_str()),
            ("STATE_TABLE", "ddb-guard-state"),
            ("POLL_SECONDS", "0.2"),
            ("DRILL_BUCKET", self.bucket.as_str()),
            ("ALERT_TOPIC_ARN", self.topic.as_str()),
            ("DRILL_TARGET_MINUTES", target_minutes),
            ("AWS_LAMBDA_FUNCTION_NAME", "ddb-guard-restore-handler"),
        ];
        env.extend_from_slice(more);
        let binary = Path::new(env!("CARGO_BIN_EXE_restore-handler"));
        LocalFunction::start(binary, LocalAws::shared(), &env)
    }

    /// `cargo lambda invoke` with `payload`: the response, or what the failure printed.
    fn invoke(&self, function: &LocalFunction, payload: Value) -> Result<Value, String> {
        let file = self.files.path().join("request.json");
        std::fs::write(&file, payload.to_string()).unwrap();
        let output = function.invoke_file(&file);
        match output.status.success() {
            true => Ok(serde_json::from_slice(&output.stdout).unwrap()),
            false => Err(String::from_utf8_lossy(&output.stderr).to_string()),
        }
    }

    async fn exists(&self, table: &str) -> bool {
        self.dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .is_ok()
    }

    async fn alerts(&self) -> Vec<Value> {
        local_aws::take_notifications(&self.sqs, &self.inbox)
            .await
            .unwrap()
    }
}

/// The one table's drill report in a drill's response.
fn report(response: &Value) -> &Value {
    let report = &response["tables"][0]["report"];
    assert!(report.is_object(), "the drill finished here: {response:#}");
    report
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    let checks = report["checks"].as_array().unwrap();
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check: {report:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn drills_restore_check_report_tell_and_clean_up() {
    let drills = Drills::new().await;
    let function = drills.function("60", &[]);
    let passed = a_drill_from_the_newest_backup_passes_and_is_kept(&drills, &function).await;
    a_second_finish_answers_the_verdict_recorded(&drills, &function, &passed).await;
    a_drill_from_the_latest_restorable_time_finds_every_item(&drills, &function).await;
    cleanup_refuses_what_no_drill_created(&drills, &function).await;
    a_drill_that_cannot_run_fails_and_is_heard(&drills, &function).await;
    let strict = a_restore_slower_than_its_target_fails_and_is_heard(&drills).await;
    the_same_failure_again_the_same_day_is_not_told_again(&drills, &strict).await;
    each_verdict_is_a_metric(&drills, &function, &strict).await;
}

/// The same drill failing the same way again within a day is remembered (the state table), not
/// told again: one alert per new problem, repeated at most daily.
async fn the_same_failure_again_the_same_day_is_not_told_again(
    drills: &Drills,
    strict: &LocalFunction,
) {
    let response = strict.response("drill.json");
    assert_eq!(report(&response)["passed"], false);
    let alerts = drills.alerts().await;
    assert!(alerts.is_empty(), "told once already: {alerts:?}");
}

/// From the newest native backup (events/restore-handler/drill.json: the configured table and
/// source): checked, reported, its scratch table deleted, and quiet.
async fn a_drill_from_the_newest_backup_passes_and_is_kept(
    drills: &Drills,
    function: &LocalFunction,
) -> Value {
    let response = function.response("drill.json");
    let backup = report(&response);
    assert_eq!(backup["passed"], true, "{backup:#}");
    assert!(
        backup["seconds_to_active"].as_i64().is_some_and(|s| s >= 1),
        "{backup:#}"
    );
    assert_eq!(check(backup, "restore time")["passed"], true);
    assert_eq!(check(backup, "keys and indexes")["passed"], true);
    assert_eq!(backup["verification"]["restored_items"], 7);
    // The backup lacks the 2 items added since: the sample from the source says so (2 of 9, no
    // real share of the table).
    let sample = &backup["sample"];
    assert_eq!(sample["from_copy"]["matching"], 7, "{sample:#}");
    assert_eq!(sample["from_source"]["missing"], 2, "{sample:#}");
    let examples = sample["examples"].as_array().unwrap();
    assert!(
        examples
            .iter()
            .any(|e| e.as_str().unwrap().ends_with("missing in the copy"))
    );
    // No scratch table left behind; the report kept; a passing drill is quiet.
    let scratch = backup["scratch_table"].as_str().unwrap();
    assert!(scratch.contains("-restored-drill-"));
    assert_eq!(backup["scratch_table_deleted"], true);
    assert!(!drills.exists(scratch).await, "{scratch} was deleted");
    let key = format!(
        "drills/{}/{}.json",
        drills.table,
        backup["drill_id"].as_str().unwrap()
    );
    let kept = local_aws::get_object_text(&drills.s3, &drills.bucket, &key)
        .await
        .unwrap();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        (kept["passed"].clone(), kept["kind"].clone()),
        (json!(true), json!("drill"))
    );
    assert!(drills.alerts().await.is_empty(), "a passing drill is quiet");
    backup.clone()
}

/// A second finish of a drill already done (the notifier's, for a restore job's completion; a
/// step retried) answers the verdict recorded: the passing report is not overwritten with a
/// FAILED one about a scratch table that is gone, and nothing pages.
async fn a_second_finish_answers_the_verdict_recorded(
    drills: &Drills,
    function: &LocalFunction,
    passed: &Value,
) {
    let scratch = passed["scratch_table"].as_str().unwrap();
    let finish = json!({"action": "finish", "target_table": scratch});
    let again = drills.invoke(function, finish).expect("no error");
    assert_eq!(again["drill"]["passed"], true, "{again:#}");
    assert_eq!(again["drill"]["drill_id"], passed["drill_id"], "{again:#}");
    let key = format!(
        "drills/{}/{}.json",
        drills.table,
        passed["drill_id"].as_str().unwrap()
    );
    let kept = local_aws::get_object_text(&drills.s3, &drills.bucket, &key)
        .await
        .unwrap();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(kept["passed"], true, "{kept:#}");
    assert!(drills.alerts().await.is_empty(), "nothing to tell");
}

/// From the latest restorable time: every item is there.
async fn a_drill_from_the_latest_restorable_time_finds_every_item(
    drills: &Drills,
    function: &LocalFunction,
) {
    let request = json!({"action": "drill", "source": "point_in_time"});
    let response = drills.invoke(function, request).unwrap();
    let pitr = report(&response);
    assert_eq!(pitr["passed"], true, "{pitr:#}");
    assert_eq!(pitr["restored_from"], "latest restorable time");
    assert_eq!(pitr["sample"]["from_source"]["missing"], 0);
    assert!(!drills.exists(pitr["scratch_table"].as_str().unwrap()).await);
}

/// Cleanup refuses what a drill did not create: the source, and a table only named like one.
async fn cleanup_refuses_what_no_drill_created(drills: &Drills, function: &LocalFunction) {
    let cleanup = |table: &str| json!({"action": "drill_cleanup", "table": table});
    let refused = drills.invoke(function, cleanup(&drills.table)).unwrap_err();
    assert!(
        refused.contains("RestoreRefused") && refused.contains("lacks"),
        "{refused}"
    );
    let lookalike = format!("{}-restored-drill-20261129-x", drills.table);
    local_aws::create_seed_table(&drills.dynamodb, &lookalike)
        .await
        .unwrap();
    let refused = drills.invoke(function, cleanup(&lookalike)).unwrap_err();
    assert!(refused.contains("no drill recorded"), "{refused}");
    assert!(drills.exists(&drills.table).await && drills.exists(&lookalike).await);
}

/// A drill that cannot run is a failed drill: reported and heard.
async fn a_drill_that_cannot_run_fails_and_is_heard(drills: &Drills, function: &LocalFunction) {
    let missing = unique_name("gone");
    let request = json!({"action": "drill", "tables": [missing]});
    let response = drills.invoke(function, request).unwrap();
    let not_run = report(&response);
    assert_eq!(not_run["passed"], false);
    let ran = check(not_run, "drill ran");
    assert!(
        ran["detail"].as_str().unwrap().contains("does not exist"),
        "{ran}"
    );
    let alerts = drills.alerts().await;
    let subject = alerts[0]["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!("[ddb-guard] Restore drill FAILED: {missing}")
    );
}

/// A restore slower than its target fails the drill, and that is heard. Returns the function
/// with that target (0 minutes).
async fn a_restore_slower_than_its_target_fails_and_is_heard(drills: &Drills) -> LocalFunction {
    let strict = drills.function("0", &[]);
    let response = strict.response("drill.json");
    let late = report(&response);
    assert_eq!(late["passed"], false);
    assert_eq!(check(late, "restore time")["passed"], false);
    let alerts = drills.alerts().await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let subject = alerts[0]["Subject"].as_str().unwrap();
    assert_eq!(
        subject,
        format!("[ddb-guard] Restore drill FAILED: {}", drills.table)
    );
    let body = alerts[0]["Message"].as_str().unwrap();
    assert!(
        body.contains("- restore time: ACTIVE") && body.contains("target is 0 min"),
        "{body}"
    );
    assert!(!drills.exists(late["scratch_table"].as_str().unwrap()).await);
    strict
}

/// Each drill's verdict as metrics: seconds to ACTIVE, failed, over target. `function` ran the
/// drills from a backup, from a point in time and one that could not run; `strict` one over
/// its target.
async fn each_verdict_is_a_metric(
    drills: &Drills,
    function: &LocalFunction,
    strict: &LocalFunction,
) {
    let passed = drill_verdicts(function);
    assert_eq!(
        passed.len(),
        3,
        "backup, point in time, and the one that could not run"
    );
    // A drill that could not run has no restore time: no DrillSeconds of 0 drawn as a fast drill.
    let records = function.metric_records();
    let timed: Vec<&Value> = (records.iter())
        .filter(|r| r.get("DrillSeconds").is_some())
        .collect();
    assert_eq!(timed.len(), 2, "backup and point in time only: {timed:#?}");
    assert!(
        timed
            .iter()
            .all(|r| r["DrillSeconds"].as_f64() >= Some(1.0)),
        "{timed:#?}"
    );
    assert_eq!(passed[0], [0.0, 0.0], "{passed:?}");
    assert_eq!(
        passed[2],
        [1.0, 0.0],
        "could not run: failed, not over target"
    );
    let late = drill_verdicts(strict);
    assert!(late[0] == [0.0, 1.0], "only over target: {late:?}");
    // Where an alarm on DrillFailed pages (the template's choice), the drill does not page too:
    // its metric says it failed, and its report keeps the detail.
    let quiet = drills.function("0", &[("DRILL_ALERTS", "false")]);
    let response = quiet.response("drill.json");
    assert_eq!(report(&response)["passed"], false);
    assert!(drills.alerts().await.is_empty(), "one page per condition");
    assert_eq!(drill_verdicts(&quiet)[0], [0.0, 1.0]);

    let restores = metrics::of_family(&metrics::RESTORE, &function.metric_records()).unwrap();
    assert_eq!(restores.len(), 2);
    assert_eq!(
        restores[0].0,
        ["ddb-guard-restore-handler", drills.table.as_str()]
    );
}

/// The values of each drill metric record `function` emitted, in order.
fn drill_verdicts(function: &LocalFunction) -> Vec<Vec<f64>> {
    let records = metrics::of_family(&metrics::DRILL, &function.metric_records()).unwrap();
    records.into_iter().map(|(_, values)| values).collect()
}

/// A table with one item and a backup of it, tagged `tag` when given.
async fn backed_up_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    tag: Option<(&str, &str)>,
) {
    local_aws::create_seed_table(dynamodb, name).await.unwrap();
    (dynamodb.put_item().table_name(name))
        .item("order_id", AttributeValue::S("o1".into()))
        .item("item_id", AttributeValue::S("1".into()))
        .send()
        .await
        .unwrap();
    (dynamodb
        .create_backup()
        .table_name(name)
        .backup_name("nightly"))
    .send()
    .await
    .unwrap();
    if let Some((key, value)) = tag {
        let arn = local_aws::table_arn(dynamodb, name).await.unwrap();
        let tag = Tag::builder().key(key).value(value).build().unwrap();
        (dynamodb.tag_resource().resource_arn(arn).tags(tag))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_covers_the_named_tables_and_the_tagged_ones() {
    let drills = Drills::new().await;
    let week = unique_name("week");
    let tagged = unique_name("tagged");
    let untagged = unique_name("untagged");
    // Named in DRILL_TABLES and tagged too: drilled once.
    backed_up_table(&drills.dynamodb, &tagged, Some(("drill", &week))).await;
    backed_up_table(&drills.dynamodb, &untagged, Some(("drill", "never"))).await;
    let arn = local_aws::table_arn(&drills.dynamodb, &drills.table)
        .await
        .unwrap();
    let tag = Tag::builder().key("drill").value(&week).build().unwrap();
    (drills.dynamodb.tag_resource().resource_arn(arn).tags(tag))
        .send()
        .await
        .unwrap();
    // A scratch table that kept the tag (a drill's copy) is never drilled unless named.
    let copy = format!("{tagged}-restored-drill-20261129-x");
    backed_up_table(&drills.dynamodb, &copy, Some(("drill", &week))).await;

    let function = drills.function("60", &[("DRILL_TAG", &format!("drill={week}"))]);
    let response = function.response("drill.json");
    let drilled: Vec<&str> = (response["tables"].as_array().unwrap().iter())
        .map(|t| t["source_table"].as_str().unwrap())
        .collect();
    assert_eq!(
        drilled,
        [drills.table.as_str(), tagged.as_str()],
        "{response:#}"
    );
    for table in response["tables"].as_array().unwrap() {
        assert_eq!(table["report"]["passed"], true, "{table:#}");
        let scratch = table["report"]["scratch_table"].as_str().unwrap();
        assert!(!drills.exists(scratch).await, "{scratch} was deleted");
    }
    assert_eq!(
        response["tables"][1]["report"]["verification"]["restored_items"],
        1
    );
    assert!(drills.exists(&untagged).await && drills.exists(&copy).await);

    // A request naming its tables drills those only.
    let request = json!({"action": "drill", "tables": [untagged]});
    let response = drills.invoke(&function, request).unwrap();
    assert_eq!(
        response["tables"].as_array().unwrap().len(),
        1,
        "{response:#}"
    );
    assert_eq!(response["tables"][0]["source_table"], untagged.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_whose_restore_outlasts_its_invocation_ends_in_the_state_machine() {
    let drills = Drills::new().await;
    let aws = LocalAws::shared();
    let machine = unique_name("restore");
    let arn = local_aws::state_machine_arn(&machine);
    let function = drills.function("60", &[("STATE_MACHINE_ARN", &arn)]);
    let function_arn = function.register(aws, &unique_name("restore-handler"));
    let substitutions = [("RestoreFunctionArn", function_arn.as_str())];
    (aws.create_template_state_machine("RestoreStateMachine", &machine, &substitutions))
        .await
        .unwrap();
    // The scratch table (named as the drill runs) stays CREATING for the invocation and a step.
    aws.slow_restore(&format!("{}-restored-drill-", drills.table), 2);

    let response = drills
        .invoke(&function, json!({"action": "drill"}))
        .unwrap();
    let started = &response["tables"][0];
    assert!(
        started["report"].is_null(),
        "not finished here: {response:#}"
    );
    let next = started["next_step"].as_str().unwrap();
    assert!(next.contains("execution finish-"), "{next}");
    let executions = aws.executions(&arn).await;
    let [execution] = &executions[..] else {
        panic!("{executions:?}")
    };
    let ended = aws.wait_execution(&execution.arn).await;
    assert_eq!(ended.status, "SUCCEEDED", "{ended:#?}");

    // Restored, checked, reported and cleaned up by the state machine's last step.
    let scratch = started["scratch_table"].as_str().unwrap();
    assert!(!drills.exists(scratch).await, "{scratch} was deleted");
    let key = format!(
        "drills/{}/{}.json",
        drills.table,
        response["drill_id"].as_str().unwrap()
    );
    let kept = local_aws::get_object_text(&drills.s3, &drills.bucket, &key)
        .await
        .unwrap();
    let kept: Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(kept["passed"], true, "{kept:#}");
    assert_eq!(kept["verification"]["restored_items"], 7);
    assert!(drills.alerts().await.is_empty(), "a passing drill is quiet");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scratch_table_whose_restore_began_before_an_error_is_named_and_can_be_cleaned_up() {
    let drills = Drills::new().await;
    // The restore starts, then the finish cannot be handed on (no such state machine).
    let gone = local_aws::state_machine_arn(&unique_name("gone"));
    let function = drills.function("60", &[("STATE_MACHINE_ARN", &gone)]);
    LocalAws::shared().slow_restore(&format!("{}-restored-drill-", drills.table), 2);

    let response = drills
        .invoke(&function, json!({"action": "drill"}))
        .unwrap();
    let failed = report(&response);
    assert_eq!(failed["passed"], false, "{failed:#}");
    let scratch = failed["scratch_table"]
        .as_str()
        .unwrap_or_else(|| panic!("the scratch table is named: {failed:#}"));
    assert!(scratch.contains("-restored-drill-"), "{scratch}");
    assert_eq!(failed["scratch_table_deleted"], false);
    assert!(drills.exists(scratch).await);
    let alerts = drills.alerts().await;
    let body = alerts[0]["Message"].as_str().unwrap();
    assert!(
        body.contains(scratch) && body.contains("drill_cleanup"),
        "{body}"
    );

    // The cleanup the alert names deletes it.
    let cleanup = json!({"action": "drill_cleanup", "table": scratch});
    let deleted = drills.invoke(&function, cleanup).unwrap();
    assert_eq!(deleted["deleted"], scratch);
    assert!(!drills.exists(scratch).await, "{scratch} was deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drill_retried_after_midnight_keeps_its_drill_id() {
    let drills = Drills::new().await;
    let aws = LocalAws::shared();
    let config = aws.sdk_config().await;
    // The first attempt of this request began yesterday and recorded its drill id, as a drill
    // records it before it starts any restore.
    let request_id = unique_name("request");
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let first_id = format!("{}-first", yesterday.format("%Y%m%d"));
    let store = StateStore::new(drills.dynamodb.clone(), "ddb-guard-state");
    let key = StateKey::new(format!("drill-request#{request_id}"), "drill");
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::days(2);
    (store.create(&key, &json!({"drill_id": first_id}), expires, now))
        .await
        .unwrap();

    // Lambda's retry of it, after midnight: the same request id.
    let vars = [
        ("DRILL_TABLES", drills.table.as_str()),
        ("STATE_TABLE", "ddb-guard-state"),
        ("POLL_SECONDS", "0.2"),
        ("DRILL_BUCKET", drills.bucket.as_str()),
        ("ALERT_TOPIC_ARN", drills.topic.as_str()),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let settings = from_vars::<RestoreEnv>(vars).unwrap().validate().unwrap();
    let state = State::new(&config, settings, None);
    let mut context = local_aws::lambda_context();
    context.request_id = request_id;
    let event = LambdaEvent::new(json!({"action": "drill"}), context);
    let response = function_handler(&state, event).await.unwrap();
    let response = serde_json::to_value(&response).unwrap();
    assert_eq!(response["drill_id"], first_id, "{response:#}");
    let scratch = response["tables"][0]["scratch_table"].as_str().unwrap();
    assert!(scratch.ends_with(&first_id), "{scratch}");
}
