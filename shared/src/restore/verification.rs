//! What verifying a restored table found (`Verification`), and how far a count that ran out of
//! time got (`CountProgress`, which the next request carries on). Plain data, apart from the
//! counting (`verify`): requests, restore reports and drill checks name it without depending on
//! the service that counts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Counted exactly, by scanning the copy.
    pub restored_items: u64,
    pub expected_items: u64,
    /// Where `expected_items` comes from.
    pub compared_with: String,
    pub baseline: Baseline,
    pub matches: bool,
}

/// How far a baseline can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Baseline {
    /// DynamoDB's item counts are refreshed about every six hours.
    Approximate,
}

/// A count under way: what is counted so far, and where each scan segment goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountProgress {
    pub counted: u64,
    /// Per segment: `None` when finished, else the key to go on after (empty: from the start).
    pub segments: Vec<Option<BTreeMap<String, KeyPart>>>,
}

/// One attribute of a scan's `LastEvaluatedKey` (key attributes are strings, numbers or binary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyPart {
    S(String),
    N(String),
    /// Base64.
    B(String),
}
