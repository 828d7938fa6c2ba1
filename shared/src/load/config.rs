//! The csv-loader's environment, read and checked at cold start, and a loader for each table.

use std::time::Duration;

use serde::Deserialize;

use crate::env::{ConfigError, list};
use crate::load::file::{Loader, LoaderSettings};
use crate::load::plan::fan_out::FanOut;
use crate::load::plan::request::{DefaultObject, SourceFilter};
use crate::load::plan::route::{Loaders, default_key};
use crate::load::read::columns::{ColumnTypes, per_table};
use crate::load::read::table::TableInfo;
use crate::load::write::writer::WriteSettings;
use crate::state::StateStore;
use crate::table_selection::check_table_name;

fn default_source_prefix() -> String {
    "incoming/".into()
}
fn default_source_suffixes() -> String {
    ".csv,.csv.gz".into()
}
fn default_rejects_prefix() -> String {
    "rejected/".into()
}
fn default_blank_cells() -> String {
    "omit".into()
}
fn default_max_in_flight() -> usize {
    WriteSettings::default().max_in_flight
}
fn default_max_attempts() -> u32 {
    10
}
fn default_checkpoint_margin_seconds() -> f64 {
    30.0
}
fn default_progress_seconds() -> f64 {
    30.0
}
fn default_stall_seconds() -> f64 {
    900.0
}
fn default_fan_out_min_bytes() -> u64 {
    FanOut::default().min_bytes
}
fn default_fan_out_parts() -> u32 {
    FanOut::default().parts
}
fn default_fan_out_writer_rate() -> f64 {
    FanOut::default().writer_rate
}

/// The csv-loader's environment.
#[derive(Debug, Clone, Deserialize)]
pub struct LoaderEnv {
    /// Tables to load into, comma-separated (may be empty); each one's key schema comes from
    /// DescribeTable. With several, a file's first folder under the prefix names its table.
    #[serde(default)]
    pub table_names: String,
    /// Replaced by `TABLE_NAMES`: refused, so that an old configuration is not read as no table.
    #[serde(default)]
    pub table_name: Option<String>,
    /// The stack's state table (optional): which load holds each object, and of which version.
    #[serde(default)]
    pub state_table: Option<String>,
    /// Bucket and key loaded by a console test with `{}` (the key has a default, `route`'s).
    pub bucket_name: Option<String>,
    pub default_object_key: Option<String>,
    #[serde(default = "default_source_prefix")]
    pub source_prefix: String,
    /// Comma-separated, matched case-insensitively.
    #[serde(default = "default_source_suffixes")]
    pub source_suffixes: String,
    #[serde(default = "default_rejects_prefix")]
    pub rejects_prefix: String,
    /// `name:TYPE,...` with TYPE one of S, N, BOOL, JSON, B; undeclared columns are strings. A name
    /// `table/column` declares the column of that table only.
    #[serde(default)]
    pub column_types: String,
    /// omit | null | empty
    #[serde(default = "default_blank_cells")]
    pub blank_cells: String,
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    #[serde(default = "default_checkpoint_margin_seconds")]
    pub checkpoint_margin_seconds: f64,
    /// How often a long load logs (and emits) its progress.
    #[serde(default = "default_progress_seconds")]
    pub progress_seconds: f64,
    /// A load that writes or rejects no row for this long fails (throttling alone never does).
    #[serde(default = "default_stall_seconds")]
    pub stall_seconds: f64,
    /// An invocation loads for at most this long, then hands the rest on (unset: until the
    /// deadline's margin). Short steps play a long load in seconds.
    #[serde(default)]
    pub max_segment_seconds: Option<f64>,
    /// Items per second one load may write (retries included); 0: as fast as the table takes.
    #[serde(default)]
    pub max_writes_per_second: f64,
    /// Objects at least this large (as stored) are loaded by several parts at once.
    #[serde(default = "default_fan_out_min_bytes")]
    pub fan_out_min_bytes: u64,
    /// How many parts (concurrent invocations) such a file becomes; 1 never fans out.
    #[serde(default = "default_fan_out_parts")]
    pub fan_out_parts: u32,
    /// Items per second one invocation writes: a table or a load limited below it does not fan out.
    #[serde(default = "default_fan_out_writer_rate")]
    pub fan_out_writer_rate: f64,
}

/// The csv-loader's configuration, validated.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    /// The tables loaded into, in `TABLE_NAMES`'s order, each with its column types.
    pub tables: Vec<TableConfig>,
    /// The stack's state table: which load holds each object, and of which version.
    pub state_table: Option<String>,
    pub default_object: Option<DefaultObject>,
    pub filter: SourceFilter,
    /// The settings every table shares; each table's column types are its own (`settings_for`).
    pub settings: LoaderSettings,
    /// When a large file is loaded by several parts at once.
    pub fan_out: FanOut,
    /// The longest an invocation loads before handing the rest on (`None`: until the deadline).
    pub max_segment: Option<Duration>,
}

/// A table the loader writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    pub name: String,
    /// `COLUMN_TYPES`' entries for every table, and this table's own (which win).
    pub column_types: ColumnTypes,
}

impl LoaderConfig {
    /// The settings of `table`'s loader: every table's, with its own column types.
    pub fn settings_for(&self, table: &TableConfig) -> LoaderSettings {
        LoaderSettings {
            column_types: table.column_types.clone(),
            ..self.settings.clone()
        }
    }

    pub fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|t| t.name.clone()).collect()
    }

    /// A loader for each table: every table is described (its key schema and indexes) and its
    /// column types checked against them. A table that cannot be described fails, naming it.
    pub async fn loaders(
        &self,
        s3: &aws_sdk_s3::Client,
        dynamodb: &aws_sdk_dynamodb::Client,
        state: Option<StateStore>,
    ) -> Result<Loaders, ConfigError> {
        let mut loaders = Vec::new();
        for table in &self.tables {
            let info = (TableInfo::describe(dynamodb, &table.name).await).map_err(|e| {
                ConfigError(format!(
                    "TABLE_NAMES: table {:?} cannot be loaded into: {e}",
                    table.name
                ))
            })?;
            (table.column_types.check_keys(&info.keys)).map_err(|e| {
                ConfigError(format!("COLUMN_TYPES for table {:?}: {e}", table.name))
            })?;
            loaders.push(Loader {
                s3: s3.clone(),
                dynamodb: dynamodb.clone(),
                table: info,
                settings: self.settings_for(table),
                state: state.clone(),
            });
        }
        Ok(Loaders::new(self.filter.prefix.clone(), loaders))
    }
}

/// `TABLE_NAMES`, each name checked, with each table's `COLUMN_TYPES`.
fn tables(table_names: &str, column_types: &str) -> Result<Vec<TableConfig>, ConfigError> {
    // `list` names each table once: a table in two of the stack's lists loads the same way.
    let names = list(table_names);
    for name in &names {
        check_table_name(name).map_err(|e| ConfigError(format!("TABLE_NAMES: {e}")))?;
    }
    let types =
        per_table(column_types, &names).map_err(|e| ConfigError(format!("COLUMN_TYPES: {e}")))?;
    Ok((names.into_iter().zip(types))
        .map(|(name, column_types)| TableConfig { name, column_types })
        .collect())
}

/// The object `{}` and a schedule load: `DEFAULT_OBJECT_KEY` in `BUCKET_NAME`, or, without a key,
/// `order_data.csv` in the first table's folder.
fn default_object(
    bucket: Option<String>,
    key: Option<String>,
    prefix: &str,
    tables: &[String],
) -> Option<DefaultObject> {
    let bucket = bucket.filter(|b| !b.is_empty())?;
    let key = (key.filter(|k| !k.is_empty())).unwrap_or_else(|| default_key(prefix, tables));
    Some(DefaultObject { bucket, key })
}

impl LoaderEnv {
    pub fn validate(self) -> Result<LoaderConfig, ConfigError> {
        let bad = |var: &str, why: String| ConfigError(format!("{var}: {why}"));
        if self.table_name.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ConfigError(
                "TABLE_NAME is no longer read: name the tables in TABLE_NAMES (comma-separated)"
                    .into(),
            ));
        }
        let tables = tables(&self.table_names, &self.column_types)?;
        let filter = SourceFilter {
            prefix: self.source_prefix,
            suffixes: self
                .source_suffixes
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            rejects_prefix: self.rejects_prefix.clone(),
        };
        filter.validate().map_err(ConfigError)?;
        if self.max_in_flight == 0 {
            return Err(bad("MAX_IN_FLIGHT", "must be at least 1".into()));
        }
        if self.max_attempts == 0 {
            return Err(bad("MAX_ATTEMPTS", "must be at least 1".into()));
        }
        if !self.checkpoint_margin_seconds.is_finite() || self.checkpoint_margin_seconds < 0.0 {
            return Err(bad("CHECKPOINT_MARGIN_SECONDS", "must be 0 or more".into()));
        }
        if (self.max_segment_seconds).is_some_and(|s| !s.is_finite() || s < 0.0) {
            return Err(bad("MAX_SEGMENT_SECONDS", "must be 0 or more".into()));
        }
        if !self.progress_seconds.is_finite() || self.progress_seconds <= 0.0 {
            return Err(bad("PROGRESS_SECONDS", "must be more than 0".into()));
        }
        if !self.stall_seconds.is_finite() || self.stall_seconds <= 0.0 {
            return Err(bad("STALL_SECONDS", "must be more than 0".into()));
        }
        if !self.max_writes_per_second.is_finite() || self.max_writes_per_second < 0.0 {
            return Err(bad(
                "MAX_WRITES_PER_SECOND",
                "must be 0 (no cap) or more".into(),
            ));
        }
        if !(1..=FanOut::MAX_PARTS).contains(&self.fan_out_parts) {
            let why = format!("must be from 1 (never fan out) to {}", FanOut::MAX_PARTS);
            return Err(bad("FAN_OUT_PARTS", why));
        }
        if !(self.fan_out_writer_rate.is_finite() && self.fan_out_writer_rate > 0.0) {
            let why = "must be more than 0 (items per second)".to_string();
            return Err(bad("FAN_OUT_WRITER_RATE", why));
        }
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let default_object = default_object(
            self.bucket_name,
            self.default_object_key,
            &filter.prefix,
            &names,
        );
        Ok(LoaderConfig {
            tables,
            state_table: self.state_table.filter(|t| !t.is_empty()),
            default_object,
            filter,
            settings: LoaderSettings {
                // Each table has its own: `settings_for`.
                column_types: ColumnTypes::default(),
                blanks: self
                    .blank_cells
                    .parse()
                    .map_err(|e| bad("BLANK_CELLS", e))?,
                rejects_prefix: self.rejects_prefix,
                write: WriteSettings {
                    max_in_flight: self.max_in_flight,
                    max_attempts: self.max_attempts,
                    max_items_per_second: (self.max_writes_per_second > 0.0)
                        .then_some(self.max_writes_per_second),
                    ..WriteSettings::default()
                },
                checkpoint_margin: Duration::from_secs_f64(self.checkpoint_margin_seconds),
                progress_every: Duration::from_secs_f64(self.progress_seconds),
                stall_after: Duration::from_secs_f64(self.stall_seconds),
            },
            fan_out: FanOut {
                min_bytes: self.fan_out_min_bytes,
                parts: self.fan_out_parts,
                writer_rate: self.fan_out_writer_rate,
            },
            max_segment: self.max_segment_seconds.map(Duration::from_secs_f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{from_vars, vars};
    use crate::load::read::columns::{BlankCells, ColumnType};

    fn load(pairs: &[(&str, &str)]) -> Result<LoaderConfig, ConfigError> {
        from_vars::<LoaderEnv>(vars(pairs))?.validate()
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        load(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = load(&[("TABLE_NAMES", "orders")]).unwrap();
        assert_eq!(c.table_names(), ["orders"]);
        assert_eq!(c.filter.prefix, "incoming/");
        assert_eq!(c.filter.suffixes, [".csv", ".csv.gz"]);
        assert_eq!(c.settings.rejects_prefix, "rejected/");
        assert_eq!(c.settings.blanks, BlankCells::Omit);
        assert_eq!(c.settings.write.max_in_flight, 32);
        assert_eq!(c.settings.write.max_items_per_second, None);
        assert_eq!(c.settings.stall_after, Duration::from_secs(900));
        assert_eq!(c.fan_out.min_bytes, 256 * 1024 * 1024);
        assert_eq!(c.fan_out.parts, 8);
        assert_eq!(c.default_object, None);
    }

    #[test]
    fn table_names_are_a_list_in_order() {
        let c = load(&[("TABLE_NAMES", " orders , refunds.v2,,customers ")]).unwrap();
        assert_eq!(c.table_names(), ["orders", "refunds.v2", "customers"]);
    }

    #[test]
    fn no_table_is_a_configuration_too() {
        for pairs in [&[("TABLE_NAMES", "")][..], &[("TABLE_NAMES", " , ")], &[]] {
            let c = load(pairs).unwrap();
            assert!(c.tables.is_empty(), "{pairs:?}");
        }
    }

    #[test]
    fn every_table_name_is_checked() {
        for (names, expect) in [
            ("orders,a", "\"a\" is not a table name"),
            ("orders,my table", "\"my table\" is not a table name"),
            ("orders/2026", "\"orders/2026\" is not a table name"),
        ] {
            let err = error(&[("TABLE_NAMES", names)]);
            assert!(
                err.contains("TABLE_NAMES") && err.contains(expect),
                "{names}: {err}"
            );
        }
    }

    #[test]
    fn the_old_table_name_is_refused_naming_its_replacement() {
        let err = error(&[("TABLE_NAME", "orders")]);
        assert!(err.contains("TABLE_NAME is no longer read"), "{err}");
        assert!(err.contains("TABLE_NAMES"), "{err}");
        assert!(load(&[("TABLE_NAME", ""), ("TABLE_NAMES", "orders")]).is_ok());
    }

    #[test]
    fn column_types_per_table() {
        let c = load(&[
            ("TABLE_NAMES", "orders,refunds"),
            (
                "COLUMN_TYPES",
                "customer_id:N,orders/amount:N,refunds/customer_id:S",
            ),
        ])
        .unwrap();
        let (orders, refunds) = (&c.tables[0], &c.tables[1]);
        assert_eq!(orders.column_types.get("amount"), ColumnType::Number);
        assert_eq!(orders.column_types.get("customer_id"), ColumnType::Number);
        assert_eq!(refunds.column_types.get("amount"), ColumnType::String);
        assert_eq!(refunds.column_types.get("customer_id"), ColumnType::String);
        let settings = c.settings_for(refunds);
        assert_eq!(settings.column_types, refunds.column_types);
        assert_eq!(settings.rejects_prefix, c.settings.rejects_prefix);
    }

    #[test]
    fn column_types_of_an_unlisted_table_are_refused_naming_it() {
        let err = error(&[
            ("TABLE_NAMES", "orders"),
            ("COLUMN_TYPES", "amount:N,refunds/amount:N"),
        ]);
        assert!(err.contains("COLUMN_TYPES"), "{err}");
        assert!(err.contains("\"refunds\""), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value, expect) in [
            ("COLUMN_TYPES", "amount:FLOAT", "COLUMN_TYPES"),
            ("BLANK_CELLS", "zero", "BLANK_CELLS"),
            ("MAX_IN_FLIGHT", "0", "MAX_IN_FLIGHT"),
            ("MAX_IN_FLIGHT", "lots", "MAX_IN_FLIGHT"),
            ("FAN_OUT_PARTS", "0", "FAN_OUT_PARTS"),
            ("MAX_SEGMENT_SECONDS", "-1", "MAX_SEGMENT_SECONDS"),
            ("FAN_OUT_PARTS", "101", "FAN_OUT_PARTS"),
            ("FAN_OUT_MIN_BYTES", "-1", "FAN_OUT_MIN_BYTES"),
            ("SOURCE_PREFIX", "", "trigger"),
            (
                "SOURCE_PREFIX",
                "rejected/incoming/",
                "nothing would ever be loaded",
            ),
            ("STALL_SECONDS", "0", "STALL_SECONDS"),
            ("MAX_WRITES_PER_SECOND", "-5", "MAX_WRITES_PER_SECOND"),
            ("PROGRESS_SECONDS", "0", "PROGRESS_SECONDS"),
            (
                "CHECKPOINT_MARGIN_SECONDS",
                "-1",
                "CHECKPOINT_MARGIN_SECONDS",
            ),
        ] {
            let err = error(&[("TABLE_NAMES", "orders"), (var, value)]);
            assert!(err.contains(expect), "{var}={value}: {err}");
        }
    }

    fn default_key_of(pairs: &[(&str, &str)]) -> Option<String> {
        load(pairs).unwrap().default_object.map(|o| o.key)
    }

    #[test]
    fn the_default_object_key_wins_when_set() {
        let c = load(&[
            ("TABLE_NAMES", "orders,refunds"),
            ("BUCKET_NAME", "b"),
            ("DEFAULT_OBJECT_KEY", "incoming/nightly.csv"),
        ])
        .unwrap();
        let object = c.default_object.unwrap();
        assert_eq!(
            (object.bucket.as_str(), object.key.as_str()),
            ("b", "incoming/nightly.csv")
        );
    }

    #[test]
    fn without_a_key_the_default_object_is_order_data_in_the_first_tables_folder() {
        let bucket = ("BUCKET_NAME", "b");
        let one = default_key_of(&[("TABLE_NAMES", "orders"), bucket]);
        assert_eq!(one.as_deref(), Some("incoming/order_data.csv"));
        let empty_key = [
            ("TABLE_NAMES", "orders"),
            bucket,
            ("DEFAULT_OBJECT_KEY", ""),
        ];
        assert_eq!(default_key_of(&empty_key), one);
        let several = default_key_of(&[("TABLE_NAMES", "orders,refunds"), bucket]);
        assert_eq!(several.as_deref(), Some("incoming/orders/order_data.csv"));
        let prefixed = [("TABLE_NAMES", "a1b,c2d"), bucket, ("SOURCE_PREFIX", "up/")];
        assert_eq!(
            default_key_of(&prefixed).as_deref(),
            Some("up/a1b/order_data.csv")
        );
        let none = default_key_of(&[bucket]);
        assert_eq!(none.as_deref(), Some("incoming/order_data.csv"));
    }

    #[test]
    fn without_a_bucket_there_is_no_default_object() {
        let key = ("DEFAULT_OBJECT_KEY", "incoming/order_data.csv");
        assert_eq!(default_key_of(&[("TABLE_NAMES", "orders"), key]), None);
        assert_eq!(
            default_key_of(&[("TABLE_NAMES", "orders"), ("BUCKET_NAME", "")]),
            None
        );
    }
}
