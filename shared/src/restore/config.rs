//! The restore-handler's environment, read and checked at cold start.

use std::time::Duration;

use serde::Deserialize;

use crate::env::{ConfigError, list};
use crate::table_selection::check_table_name;

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    /// The table `{}` restores, and the source a `finish` falls back on.
    pub source_table: Option<String>,
    /// The role AWS Backup restores with.
    pub restore_role_arn: Option<String>,
    /// The stack's vault: the only one whose recovery points the handler restores.
    pub backup_vault_name: Option<String>,
    /// How often to look at a table being created while waiting.
    pub poll_interval: Duration,
    /// Every restore target's name contains this, so IAM can limit writes to restore targets.
    pub target_marker: String,
    /// Where the restores this handler started are recorded; `finish` acts only on those.
    pub state_table: Option<String>,
    /// Tag keys never copied to a restored table (besides `aws:` ones): the backup plan's
    /// selection tag would enrol every copy in the plan.
    pub skip_tags: Vec<String>,
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
    /// The vault whose recovery points may be restored.
    #[serde(default)]
    pub backup_vault_name: String,
    /// How often a waiting restore looks at the new table.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: f64,
    #[serde(default = "default_target_marker")]
    pub restore_target_marker: String,
    #[serde(default)]
    pub state_table: String,
    /// Comma-separated tag keys.
    #[serde(default = "default_skip_tags")]
    pub skip_tags: String,
}

fn default_target_marker() -> String {
    "-restored-".into()
}
fn default_skip_tags() -> String {
    "backup".into()
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
        let marker = self.restore_target_marker.trim().to_string();
        let marker_chars = marker
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if marker.len() < 3 || !marker_chars {
            return Err(ConfigError(format!(
                "RESTORE_TARGET_MARKER: {marker:?} must be 3 or more of [A-Za-z0-9_.-]"
            )));
        }
        Ok(RestoreSettings {
            source_table,
            restore_role_arn: Some(self.restore_role_arn.trim().to_string())
                .filter(|r| !r.is_empty()),
            backup_vault_name: Some(self.backup_vault_name.trim().to_string())
                .filter(|v| !v.is_empty()),
            poll_interval: Duration::from_secs_f64(self.poll_seconds),
            target_marker: marker,
            state_table: Some(self.state_table.trim().to_string()).filter(|t| !t.is_empty()),
            skip_tags: list(&self.skip_tags),
        })
    }
}
