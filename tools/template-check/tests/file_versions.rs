//! The data bucket keeps every version of a loaded file for as long as a load can be undone: a
//! replaced or deleted file under the source and rejects prefixes expires after the `Settings`
//! mapping's `FileVersionDays`, which is never below a table's point-in-time window (35 days), and
//! the current files stay.

use template_check::Template;

/// How far back DynamoDB's point-in-time recovery reaches, at most: an undo of a load restores the
/// table as of before the load, and reads the file the load read.
const POINT_IN_TIME_DAYS: f64 = 35.0;

#[test]
fn old_file_versions_last_at_least_as_long_as_a_load_can_be_undone() {
    let template = Template::load();
    let days = template.number("FileVersionDays") as f64;
    assert!(days >= POINT_IN_TIME_DAYS, "FileVersionDays {days}");

    let bucket = &template.resources()["DataBucket"]["Properties"];
    let rules = bucket["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    let mut prefixes: Vec<String> = Vec::new();
    for rule in rules {
        assert_eq!(rule["Status"], "Enabled", "{rule}");
        let expiry = &rule["NoncurrentVersionExpiration"]["NoncurrentDays"];
        assert_eq!(template.resolve(expiry), days.to_string(), "{rule}");
        assert!(
            rule.get("ExpirationInDays").is_none(),
            "current files never expire: {rule}"
        );
        prefixes.push(template.resolve(&rule["Prefix"]));
    }
    prefixes.sort();
    let mut wanted = vec![
        template.setting("RejectsPrefix"),
        template.setting("SourcePrefix"),
    ];
    wanted.sort();
    assert_eq!(prefixes, wanted);
}
