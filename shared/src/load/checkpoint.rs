//! What a load's next step carries: where the file goes on, the totals so far, and which part of a
//! fanned-out file it is (state, never row data, so it fits a Step Functions payload).

use serde::{Deserialize, Serialize};

use crate::load::read::source::{ObjectVersion, ResumePoint};
use crate::load::summary::Counts;

/// One file's work, or the rest of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub bucket: String,
    pub key: String,
    /// The version every read of this load names; empty until the load begins.
    #[serde(default, skip_serializing_if = "ObjectVersion::is_empty")]
    pub pin: ObjectVersion,
    /// Names the load across its invocations (the request ID that began it); empty until it begins.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub load_id: String,
    /// Load this version even if it was loaded before (an explicit reload).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reload: bool,
    /// Refused when the object is older than the newest file loaded into the table (a request by
    /// name that did not say `"force": true`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub older_refused: bool,
    /// `None`: start at the beginning.
    #[serde(default)]
    pub resume: Option<ResumePoint>,
    /// The file's column names (the header is not re-read when resuming).
    #[serde(default)]
    pub header: Vec<String>,
    /// The load this one took the object over from while it was still running: if this one
    /// fails, the table holds part of each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub displaced: Option<String>,
    /// Set when this is one part of a file loaded by several invocations at once (fan-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<Part>,
    /// Which segment (invocation) of this file runs next, from 1.
    #[serde(default = "first_segment")]
    pub segment: u32,
    /// Totals of the segments before.
    #[serde(default)]
    pub counts: Counts,
    /// Rows after `resume` that are to be loaded again; the others up to `until_line` were written
    /// or rejected already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redo: Option<Redo>,
    /// When a row of this file was last written or rejected, in seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_at: Option<u64>,
    /// Reports of earlier segments that list rejected rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<String>,
}

/// The rows a hand-over left to do among rows already done.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Redo {
    /// The last line the segment before read.
    pub until_line: u64,
    /// Lines (sorted) up to `until_line` still to be loaded.
    pub lines: Vec<u64>,
}

impl Redo {
    /// Whether the row on `line` was done already.
    pub fn skips(&self, line: u64) -> bool {
        line <= self.until_line && self.lines.binary_search(&line).is_err()
    }

    /// What is left of it once lines up to `last_line` were read, with `unwritten` added.
    pub fn after(redo: Option<&Redo>, last_line: u64, unwritten: &[u64]) -> Option<Redo> {
        let mut lines: Vec<u64> = (redo.iter())
            .flat_map(|r| r.lines.iter().copied().filter(|&l| l > last_line))
            .chain(unwritten.iter().copied())
            .collect();
        lines.sort_unstable();
        lines.dedup();
        let until_line = redo.map_or(0, |r| r.until_line).max(last_line);
        (!lines.is_empty() || redo.is_some_and(|r| r.until_line > last_line))
            .then_some(Redo { until_line, lines })
    }
}

fn first_segment() -> u32 {
    1
}

/// One of the parts a large file's load is split into. Every part reads the whole file and writes
/// only the rows whose key hashes to it, so each key has one writer, which writes its rows in file
/// order: the last row of a key wins, whatever order the parts run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part {
    /// From 1.
    pub index: u32,
    pub of: u32,
}

impl Part {
    /// Whether this part loads a row whose key hashes to `hash`; a row whose key cannot be typed
    /// (`None`) is the first part's to reject.
    pub fn owns(self, hash: Option<u64>) -> bool {
        match hash {
            Some(hash) => hash % u64::from(self.of.max(1)) == u64::from(self.index - 1),
            None => self.index == 1,
        }
    }
}

impl Checkpoint {
    pub fn start(bucket: impl Into<String>, key: impl Into<String>) -> Checkpoint {
        Checkpoint {
            bucket: bucket.into(),
            key: key.into(),
            pin: ObjectVersion::default(),
            load_id: String::new(),
            reload: false,
            older_refused: false,
            displaced: None,
            resume: None,
            header: Vec::new(),
            part: None,
            segment: 1,
            counts: Counts::default(),
            redo: None,
            progress_at: None,
            reports: Vec::new(),
        }
    }

    /// `s3://bucket/key (version v) part 2 of 5`.
    pub fn describe(&self) -> String {
        match &self.part {
            Some(part) => format!("{} part {} of {}", self.url(), part.index, part.of),
            None => self.url(),
        }
    }

    /// `s3://bucket/key`, with the version when pinned.
    pub fn url(&self) -> String {
        match self.pin.label() {
            Some(version) => format!("s3://{}/{} (version {version})", self.bucket, self.key),
            None => format!("s3://{}/{}", self.bucket, self.key),
        }
    }
}
