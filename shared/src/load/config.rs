//! The csv-loader's environment, read and checked at cold start.

use std::time::Duration;

use serde::Deserialize;

use crate::env::ConfigError;
use crate::load::file::LoaderSettings;
use crate::load::plan::fan_out::FanOut;
use crate::load::plan::request::{DefaultObject, SourceFilter};
use crate::load::write::writer::WriteSettings;

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
fn default_fan_out_ranges() -> u32 {
    FanOut::default().ranges
}

/// The csv-loader's environment.
#[derive(Debug, Clone, Deserialize)]
pub struct LoaderEnv {
    /// Table to load into; its key schema comes from DescribeTable.
    pub table_name: String,
    /// The stack's state table (optional): remembers requests that failed in a way no retry fixes.
    #[serde(default)]
    pub state_table: Option<String>,
    /// Bucket and key loaded by a console test with `{}`.
    pub bucket_name: Option<String>,
    pub default_object_key: Option<String>,
    #[serde(default = "default_source_prefix")]
    pub source_prefix: String,
    /// Comma-separated, matched case-insensitively.
    #[serde(default = "default_source_suffixes")]
    pub source_suffixes: String,
    #[serde(default = "default_rejects_prefix")]
    pub rejects_prefix: String,
    /// `name:TYPE,...` with TYPE one of S, N, BOOL, JSON, B; undeclared columns are strings.
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
    /// Items per second one load may write (retries included); 0: as fast as the table takes.
    #[serde(default)]
    pub max_writes_per_second: f64,
    /// Uncompressed objects at least this large are split into byte ranges.
    #[serde(default = "default_fan_out_min_bytes")]
    pub fan_out_min_bytes: u64,
    /// How many ranges (concurrent invocations) a split file becomes; 1 never splits.
    #[serde(default = "default_fan_out_ranges")]
    pub fan_out_ranges: u32,
}

/// The csv-loader's configuration, validated.
#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub table_name: String,
    /// The stack's state table, where a request that failed for good is remembered.
    pub state_table: Option<String>,
    pub default_object: Option<DefaultObject>,
    pub filter: SourceFilter,
    pub settings: LoaderSettings,
    /// When a large file is split into byte ranges loaded by concurrent invocations.
    pub fan_out: FanOut,
}

impl LoaderEnv {
    pub fn validate(self) -> Result<LoaderConfig, ConfigError> {
        let bad = |var: &str, why: String| ConfigError(format!("{var}: {why}"));
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
        if !(1..=FanOut::MAX_RANGES).contains(&self.fan_out_ranges) {
            let why = format!("must be from 1 (never split) to {}", FanOut::MAX_RANGES);
            return Err(bad("FAN_OUT_RANGES", why));
        }
        let default_object = match (self.bucket_name, self.default_object_key) {
            (Some(bucket), Some(key)) if !bucket.is_empty() && !key.is_empty() => {
                Some(DefaultObject { bucket, key })
            }
            _ => None,
        };
        Ok(LoaderConfig {
            table_name: self.table_name,
            state_table: self.state_table.filter(|t| !t.is_empty()),
            default_object,
            filter,
            settings: LoaderSettings {
                column_types: self
                    .column_types
                    .parse()
                    .map_err(|e| bad("COLUMN_TYPES", e))?,
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
                ranges: self.fan_out_ranges,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{from_vars, vars};
    use crate::load::read::columns::BlankCells;

    fn load(pairs: &[(&str, &str)]) -> Result<LoaderConfig, ConfigError> {
        from_vars::<LoaderEnv>(vars(pairs))?.validate()
    }

    #[test]
    fn defaults() {
        let c = load(&[("TABLE_NAME", "orders")]).unwrap();
        assert_eq!(c.table_name, "orders");
        assert_eq!(c.filter.prefix, "incoming/");
        assert_eq!(c.filter.suffixes, [".csv", ".csv.gz"]);
        assert_eq!(c.settings.rejects_prefix, "rejected/");
        assert_eq!(c.settings.blanks, BlankCells::Omit);
        assert_eq!(c.settings.write.max_in_flight, 32);
        assert_eq!(c.settings.write.max_items_per_second, None);
        assert_eq!(c.settings.stall_after, Duration::from_secs(900));
        assert_eq!(c.fan_out.min_bytes, 256 * 1024 * 1024);
        assert_eq!(c.fan_out.ranges, 8);
        assert_eq!(c.default_object, None);
    }

    #[test]
    fn missing_table_names_the_variable() {
        let err = load(&[]).unwrap_err().to_string();
        assert_eq!(
            err,
            "configuration: environment variable TABLE_NAME is required"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value, expect) in [
            ("COLUMN_TYPES", "amount:FLOAT", "COLUMN_TYPES"),
            ("BLANK_CELLS", "zero", "BLANK_CELLS"),
            ("MAX_IN_FLIGHT", "0", "MAX_IN_FLIGHT"),
            ("MAX_IN_FLIGHT", "lots", "MAX_IN_FLIGHT"),
            ("FAN_OUT_RANGES", "0", "FAN_OUT_RANGES"),
            ("FAN_OUT_RANGES", "101", "FAN_OUT_RANGES"),
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
            let err = load(&[("TABLE_NAME", "t"), (var, value)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{var}={value}: {err}");
        }
    }

    #[test]
    fn default_object_needs_bucket_and_key() {
        let c = load(&[
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("DEFAULT_OBJECT_KEY", "incoming/order_data.csv"),
        ])
        .unwrap();
        assert_eq!(c.default_object.unwrap().key, "incoming/order_data.csv");
        let c = load(&[("TABLE_NAME", "t"), ("BUCKET_NAME", "b")]).unwrap();
        assert!(c.default_object.is_none());
    }
}
