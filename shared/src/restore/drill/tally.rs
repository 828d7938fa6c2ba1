//! What a sample found: per side, how many of the keys sampled from one table matched in the
//! other, changed or were missing. Plain data, apart from the sampling (`sample`): the drill's
//! checks and report name it without depending on the service that samples.

use serde::{Deserialize, Serialize};

/// Keys sampled from one table, as found in the other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub sampled: u64,
    /// The same item in the other table.
    pub matching: u64,
    /// The key is there with other values (written since the backup).
    pub changed: u64,
    /// The key is not there (added or deleted since the backup, or lost).
    pub missing: u64,
}

impl Tally {
    /// `10 sampled, 7 the same, 0 changed, 3 missing in the copy`.
    pub fn describe(&self, elsewhere: &str) -> String {
        format!(
            "{} sampled, {} the same, {} changed, {} missing {elsewhere}",
            self.sampled, self.matching, self.changed, self.missing
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleReport {
    pub from_copy: Tally,
    pub from_source: Tally,
    /// Up to a few keys that changed or are missing, for a person to look at.
    pub examples: Vec<String>,
}
