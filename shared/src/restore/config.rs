//! The restore-handler's environment, read and checked at cold start.

use std::time::Duration;

use serde::Deserialize;

use crate::env::ConfigError;
use crate::table_selection::check_table_name;

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    /// The table `{}` restores, and the source a `finish` falls back on.
    pub source_table: Option<String>,
    /// The role AWS Backup restores with.
    pub restore_role_arn: Option<String>,
    /// How often to look at a table being created while waiting.
    pub poll_interval: Duration,
}

fn default_poll_seconds() -> f64 {
    5.0
}

/// The restore-handler's environment.
#[derive(Debug, Clone, Deserialize)]
pub struct RestoreEnv {
    /// The table a `{}` console test restores (its newest backup).
    #[serde(default)]
    pub source_table: String,
    /// The role AWS Backup restores recovery points with.
    #[serde(default)]
    pub restore_role_arn: String,
    /// How often a waiting restore looks at the new table.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
}

impl RestoreEnv {
    pub fn validate(self) -> Result<RestoreSettings, ConfigError> {
        let source_table = match self.source_table.trim() {
            "" => None,
            name => {
                check_table_name(name).map_err(|e| ConfigError(format!("SOURCE_TABLE: {e}")))?;
                Some(name.to_string())
            }
        };
        if !self.poll_seconds.is_finite() || self.poll_seconds <= 0.0 {
            return Err(ConfigError("POLL_SECONDS: must be more than 0".into()));
        }
        Ok(RestoreSettings {
            source_table,
            restore_role_arn: Some(self.restore_role_arn.trim().to_string())
                .filter(|r| !r.is_empty()),
            poll_interval: Duration::from_secs_f64(self.poll_seconds),
        })
    }
}
