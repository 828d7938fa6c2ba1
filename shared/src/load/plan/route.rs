//! Which table a file loads into. With one table, every file does; with several, the first folder
//! under the source prefix names the table (`incoming/<table>/...`). A file routed nowhere is
//! listed under `ignored` with the reason. A load's later steps and its parts carry the key of the
//! file they are part of, so they go where the file went. The default object of `{}`
//! is `order_data.csv` in the first table's folder.

use crate::load::checkpoint::Checkpoint;
use crate::load::file::Loader;
use crate::load::plan::request::Ignored;
use crate::load::read::columns::quoted_list;

/// Why a file is not loaded when the loader has no table.
pub const NO_TABLE: &str = "this stack loads into no table (its LoadTables parameter is empty)";

/// The object a console test with `{}` (or a schedule) loads when `DEFAULT_OBJECT_KEY` is unset.
pub const DEFAULT_FILE_NAME: &str = "order_data.csv";

/// The index in `tables` of the table `key` loads into, or why none.
fn route_at(key: &str, prefix: &str, tables: &[String]) -> Result<usize, String> {
    if tables.len() < 2 {
        return if tables.is_empty() {
            Err(NO_TABLE.into())
        } else {
            Ok(0)
        };
    }
    let goes = || {
        format!(
            "with several tables, a file goes under {prefix}<table>/, for one of {}",
            quoted_list(tables)
        )
    };
    let Some(rest) = key.strip_prefix(prefix) else {
        return Err(format!(
            "outside {prefix:?}, so in no table's folder: {}",
            goes()
        ));
    };
    let Some((folder, _)) = rest.split_once('/') else {
        return Err(format!(
            "directly under {prefix:?}, in no table's folder: {}",
            goes()
        ));
    };
    (tables.iter().position(|t| t == folder)).ok_or_else(|| {
        format!(
            "folder {folder:?} names no table this stack loads into: {}",
            goes()
        )
    })
}

/// The folder whose files load into `table`: the source prefix itself with one table (or none).
pub fn folder_for(prefix: &str, tables: &[String], table: &str) -> String {
    if tables.len() > 1 {
        format!("{prefix}{table}/")
    } else {
        prefix.to_string()
    }
}

/// The default object's key when `DEFAULT_OBJECT_KEY` is unset: `order_data.csv` in the first
/// table's folder.
pub fn default_key(prefix: &str, tables: &[String]) -> String {
    let first = tables.first().map_or("", String::as_str);
    format!("{}{DEFAULT_FILE_NAME}", folder_for(prefix, tables, first))
}

/// Why `{}` or a schedule loaded nothing when its default object was never uploaded: what to
/// upload where.
pub fn not_uploaded_yet(bucket: &str, key: &str) -> String {
    format!(
        "no object at s3://{bucket}/{key} yet: upload a CSV there (aws s3 cp order_data.csv \
         s3://{bucket}/{key}) or send {{\"bucket\": \"{bucket}\", \"key\": \"<the CSV's key>\"}}"
    )
}

/// Each job with the index (in `tables`) of the table it loads into, and the jobs routed nowhere.
pub fn route_jobs(
    jobs: Vec<Checkpoint>,
    prefix: &str,
    tables: &[String],
) -> (Vec<(usize, Checkpoint)>, Vec<Ignored>) {
    let mut routed = Vec::new();
    let mut ignored = Vec::new();
    for job in jobs {
        match route_at(&job.key, prefix, tables) {
            Ok(at) => routed.push((at, job)),
            Err(reason) => {
                tracing::warn!(bucket = %job.bucket, key = %job.key, %reason, "not loaded: in no table's folder");
                ignored.push(Ignored {
                    bucket: job.bucket,
                    key: job.key,
                    reason,
                });
            }
        }
    }
    (routed, ignored)
}

/// One loader per table, and the rule that picks one for a file.
pub struct Loaders {
    prefix: String,
    tables: Vec<String>,
    loaders: Vec<Loader>,
}

impl Loaders {
    /// `loaders`, each writing its own table, for files under `source_prefix`.
    pub fn new(source_prefix: impl Into<String>, loaders: Vec<Loader>) -> Loaders {
        Loaders {
            prefix: source_prefix.into(),
            tables: loaders.iter().map(|l| l.table.name.clone()).collect(),
            loaders,
        }
    }

    /// The loader of the table `key` loads into, or why none.
    pub fn route(&self, key: &str) -> Result<&Loader, String> {
        route_at(key, &self.prefix, &self.tables).map(|at| &self.loaders[at])
    }

    /// The loader of `table`.
    pub fn get(&self, table: &str) -> Option<&Loader> {
        self.loaders.iter().find(|l| l.table.name == table)
    }

    /// Each job with its table's loader, and the jobs routed nowhere.
    pub fn route_jobs(&self, jobs: Vec<Checkpoint>) -> (Vec<(&Loader, Checkpoint)>, Vec<Ignored>) {
        let (routed, ignored) = route_jobs(jobs, &self.prefix, &self.tables);
        let routed = (routed.into_iter())
            .map(|(at, job)| (&self.loaders[at], job))
            .collect();
        (routed, ignored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::checkpoint::Part;
    use crate::load::read::source::{Compression, ResumePoint};

    fn tables(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn to(key: &str, names: &[&str]) -> Result<String, String> {
        let tables = tables(names);
        route_at(key, "incoming/", &tables).map(|at| tables[at].clone())
    }

    #[test]
    fn no_table_loads_nothing_and_says_why() {
        assert_eq!(to("incoming/orders.csv", &[]).unwrap_err(), NO_TABLE);
        assert_eq!(to("incoming/orders/x.csv", &[]).unwrap_err(), NO_TABLE);
    }

    #[test]
    fn one_table_takes_every_key() {
        for key in [
            "incoming/orders.csv",
            "incoming/2026/11/orders.csv",
            "incoming/refunds/x.csv",
            "elsewhere/x.csv",
        ] {
            assert_eq!(to(key, &["orders"]).as_deref(), Ok("orders"), "{key}");
        }
    }

    #[test]
    fn with_several_the_first_folder_names_the_table() {
        let names = ["orders", "refunds.v2"];
        assert_eq!(to("incoming/orders/x.csv", &names).as_deref(), Ok("orders"));
        assert_eq!(
            to("incoming/refunds.v2/y.csv", &names).as_deref(),
            Ok("refunds.v2")
        );
        assert_eq!(
            to("incoming/orders/2026/11/z.csv.gz", &names).as_deref(),
            Ok("orders")
        );
        assert_eq!(
            to("incoming/orders/refunds.v2/a.csv", &names).as_deref(),
            Ok("orders")
        );
    }

    #[test]
    fn a_folder_naming_no_table_is_refused_naming_it_and_the_tables() {
        let err = to("incoming/customers/z.csv", &["orders", "refunds"]).unwrap_err();
        assert_eq!(
            err,
            "folder \"customers\" names no table this stack loads into: with several tables, a \
             file goes under incoming/<table>/, for one of \"orders\", \"refunds\""
        );
    }

    #[test]
    fn folders_match_table_names_exactly() {
        let names = ["orders", "refunds"];
        for (key, folder) in [
            ("incoming/Orders/x.csv", "Orders"),
            ("incoming/orders.csv/x.csv", "orders.csv"),
            ("incoming/order/x.csv", "order"),
            ("incoming//x.csv", ""),
            ("incoming/ orders/x.csv", " orders"),
        ] {
            let err = to(key, &names).unwrap_err();
            assert!(
                err.starts_with(&format!("folder {folder:?} names no table")),
                "{key}: {err}"
            );
        }
    }

    #[test]
    fn a_key_directly_under_the_prefix_is_in_no_tables_folder() {
        let err = to("incoming/orders.csv", &["orders", "refunds"]).unwrap_err();
        assert!(err.starts_with("directly under \"incoming/\""), "{err}");
        assert!(err.contains("\"orders\", \"refunds\""), "{err}");
    }

    #[test]
    fn a_key_outside_the_prefix_is_in_no_tables_folder() {
        let err = to("orders/x.csv", &["orders", "refunds"]).unwrap_err();
        assert!(err.starts_with("outside \"incoming/\""), "{err}");
        assert!(err.contains("incoming/<table>/"), "{err}");
    }

    #[test]
    fn another_prefix() {
        let names = tables(&["orders", "refunds"]);
        assert_eq!(
            route_at("up/load/refunds/x.csv", "up/load/", &names).map(|at| names[at].as_str()),
            Ok("refunds")
        );
        assert!(route_at("incoming/refunds/x.csv", "up/load/", &names).is_err());
    }

    #[test]
    fn each_tables_folder() {
        let (one, two) = (tables(&["orders"]), tables(&["orders", "refunds"]));
        assert_eq!(folder_for("incoming/", &one, "orders"), "incoming/");
        assert_eq!(
            folder_for("incoming/", &two, "refunds"),
            "incoming/refunds/"
        );
        assert_eq!(folder_for("incoming/", &[], ""), "incoming/");
    }

    #[test]
    fn the_default_key_is_in_the_first_tables_folder_and_routes_there() {
        for (names, key) in [
            (&[][..], "incoming/order_data.csv"),
            (&["orders"], "incoming/order_data.csv"),
            (&["orders", "refunds"], "incoming/orders/order_data.csv"),
            (&["refunds", "orders"], "incoming/refunds/order_data.csv"),
        ] {
            let names = tables(names);
            assert_eq!(default_key("incoming/", &names), key);
            if let Some(first) = names.first() {
                assert_eq!(
                    route_at(key, "incoming/", &names).map(|at| names[at].as_str()),
                    Ok(first.as_str())
                );
            }
        }
    }

    fn later_step_of(start: &Checkpoint) -> Checkpoint {
        let mut next = start.clone();
        next.load_id = "request-1".into();
        next.segment = 3;
        next.resume = Some(ResumePoint {
            offset: 1000,
            line: 40,
            etag: Some("\"e\"".into()),
            compression: Compression::None,
        });
        next
    }

    fn part_of(start: &Checkpoint, index: u32) -> Checkpoint {
        let mut part = later_step_of(start);
        part.part = Some(Part { index, of: 3 });
        part
    }

    #[test]
    fn later_steps_and_parts_go_where_their_file_went() {
        let names = tables(&["orders", "refunds"]);
        let started = Checkpoint::start("b", "incoming/refunds/big.csv");
        let elsewhere = Checkpoint::start("b", "incoming/customers/big.csv");
        let jobs = vec![
            started.clone(),
            later_step_of(&started),
            part_of(&started, 1),
            part_of(&started, 3),
            later_step_of(&elsewhere),
            part_of(&elsewhere, 2),
        ];
        let (routed, ignored) = route_jobs(jobs.clone(), "incoming/", &names);
        let at: Vec<usize> = routed.iter().map(|(at, _)| *at).collect();
        assert_eq!(at, [1, 1, 1, 1], "all in refunds");
        let kept: Vec<Checkpoint> = routed.into_iter().map(|(_, job)| job).collect();
        assert_eq!(kept, jobs[..4], "each job as it came");
        assert_eq!(ignored.len(), 2);
        assert!(ignored.iter().all(|i| i.key == "incoming/customers/big.csv"
            && i.reason.starts_with("folder \"customers\"")));
    }

    #[test]
    fn routing_keeps_the_plans_order() {
        let names = tables(&["orders", "refunds"]);
        let jobs = [
            "incoming/refunds/1.csv",
            "incoming/x.csv",
            "incoming/orders/2.csv",
        ]
        .map(|key| Checkpoint::start("b", key))
        .to_vec();
        let (routed, ignored) = route_jobs(jobs, "incoming/", &names);
        let keys: Vec<(usize, &str)> = routed.iter().map(|(at, j)| (*at, j.key.as_str())).collect();
        assert_eq!(
            keys,
            [(1, "incoming/refunds/1.csv"), (0, "incoming/orders/2.csv")]
        );
        assert_eq!(ignored[0].key, "incoming/x.csv");
        assert_eq!(ignored[0].bucket, "b");
    }

    #[test]
    fn the_hint_for_a_default_object_not_uploaded_says_what_to_upload_where() {
        let hint = not_uploaded_yet("data-bucket", "incoming/orders/order_data.csv");
        assert_eq!(
            hint,
            "no object at s3://data-bucket/incoming/orders/order_data.csv yet: upload a CSV there \
             (aws s3 cp order_data.csv s3://data-bucket/incoming/orders/order_data.csv) or send \
             {\"bucket\": \"data-bucket\", \"key\": \"<the CSV's key>\"}"
        );
    }
}
