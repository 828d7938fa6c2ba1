//! What a segment of a load ends with: its counts and summary, or an error that says what happened
//! to the rows.

use serde::{Deserialize, Serialize};

use crate::load::read::row::HeaderError;
use crate::load::read::source::SourceError;
use crate::load::repeats::REPEATED_REJECTS_LIMIT;

/// Row counts. In a summary they are the file's totals so far, all segments included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Data rows read (the header is not a row).
    pub rows_read: u64,
    /// Put requests DynamoDB accepted.
    pub items_written: u64,
    /// Rows that could not become an item; each is in the report with its line and reason.
    pub rows_rejected: u64,
    /// Rows replaced by a later row with the same key in the same batch.
    pub duplicates_collapsed: u64,
    /// Items DynamoDB did not take after every retry; each is in the report too.
    pub items_failed: u64,
    /// Items not written because a newer load of the object took it over (its values win).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub items_superseded: u64,
}

impl Counts {
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            rows_read: self.rows_read + other.rows_read,
            items_written: self.items_written + other.items_written,
            rows_rejected: self.rows_rejected + other.rows_rejected,
            duplicates_collapsed: self.duplicates_collapsed + other.duplicates_collapsed,
            items_failed: self.items_failed + other.items_failed,
            items_superseded: self.items_superseded + other.items_superseded,
        }
    }
}

/// What one invocation did with one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub bucket: String,
    pub key: String,
    /// The table the file loads into.
    #[serde(default)]
    pub table: String,
    /// The load's ID (the request that began it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub load: String,
    /// The version loaded (its S3 version ID, or ETag).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
    /// `s3://` location of this segment's rejects report; empty when it rejected no row (no report
    /// is written then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub report: String,
    /// The first distinct reasons rows of this part were rejected for (the report has them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_reasons: Vec<String>,
    /// Rejected rows the report could not list, being full (`MAX_REPORT_BYTES`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rejects_unlisted: u64,
    pub elapsed_ms: u64,
    /// The part this summary covers, when the file was split (its counts are the part's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    pub segment: u32,
    /// False when the rest of the file was handed to the load's next step (it continues after
    /// `rows_read` rows), the load stopped with an error, or a newer load took the object over.
    pub complete: bool,
    /// The load that took the object over: this one stopped, sending nothing more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// The reports of this load's earlier segments that list rejected rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_reports: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("s3://{bucket}/{key} was not loaded: {source}")]
    Header {
        bucket: String,
        key: String,
        source: HeaderError,
    },
    #[error(
        "reading s3://{bucket}/{key} failed after line {line}: {reason}; rows up to there were \
         processed ({}), the rest were not", see(.report)
    )]
    Read {
        bucket: String,
        key: String,
        line: u64,
        reason: String,
        report: String,
    },
    #[error(
        "s3://{bucket}/{key} holds a row no reader can take, after line {line}: {reason}; rows up \
         to there were processed ({}), the rest were not: fix the file and upload it again",
        see(.report)
    )]
    Malformed {
        bucket: String,
        key: String,
        line: u64,
        reason: String,
        report: String,
    },
    #[error("the load of s3://{bucket}/{key} could not begin: {reason}")]
    NotStarted {
        bucket: String,
        key: String,
        reason: String,
    },
    /// A request by name for a file older than the newest one loaded into the table.
    #[error("{reason}")]
    OlderThanLoaded { reason: String },
    #[error("could not write the rejects report {report}: {reason}")]
    Report { report: String, reason: String },
    #[error(
        "loading s3://{}/{} made no progress for {minutes} minutes ({reason}); the {failed} items \
         it could not write are listed with their lines in {}",
        summary.bucket, summary.key, summary.report
    )]
    Stalled {
        minutes: u64,
        failed: u64,
        reason: String,
        summary: Box<FileSummary>,
    },
    #[error(
        "nothing from s3://{}/{} was loaded: all {} rows were rejected, see {}",
        summary.bucket, summary.key, summary.counts.rows_read, summary.report
    )]
    NothingLoaded { summary: Box<FileSummary> },
    #[error(
        "loading s3://{}/{} stopped at line {line}: the last {REPEATED_REJECTS_LIMIT} rows were all \
         rejected for the same kind of reason (the last: {reason}); rows after it were not read, \
         see {}",
        summary.bucket, summary.key, summary.report
    )]
    RepeatedRejects {
        line: u64,
        reason: String,
        summary: Box<FileSummary>,
    },
    #[error(
        "loading s3://{}/{} stopped at line {line}: {reason}; rows after it were not read ({})",
        summary.bucket, summary.key, see(&summary.report)
    )]
    Aborted {
        line: u64,
        reason: String,
        summary: Box<FileSummary>,
    },
    /// A load that had stopped a running one (`displaced`) and then failed: the table holds part of
    /// both, and the message says so.
    #[error(
        "{source}; this load had stopped {displaced}, which was still running, so the table holds \
         part of each: load the file you want with {{\"bucket\", \"key\", \"reload\": true}}"
    )]
    AfterDisplacing {
        displaced: String,
        source: Box<FileError>,
    },
}

impl FileError {
    /// Stable error type for Lambda's error reporting.
    pub fn error_type(&self) -> &'static str {
        match self {
            FileError::Source(SourceError::NotFound { .. }) => "ObjectNotFound",
            FileError::Source(SourceError::Denied { .. }) => "ObjectAccessDenied",
            FileError::Source(SourceError::Changed { .. }) => "ObjectChanged",
            FileError::Source(SourceError::Unreadable { .. }) | FileError::Read { .. } => {
                "ObjectUnreadable"
            }
            FileError::Header { .. } => "InvalidHeader",
            FileError::Malformed { .. } => "MalformedFile",
            FileError::Report { .. } => "ReportNotWritten",
            FileError::NotStarted { .. } => "LoadNotStarted",
            FileError::OlderThanLoaded { .. } => "OlderThanLoaded",
            FileError::Stalled { .. } => "LoadStalled",
            FileError::NothingLoaded { .. } => "NothingLoaded",
            FileError::RepeatedRejects { .. } => "RepeatedRejects",
            FileError::Aborted { .. } => "LoadAborted",
            FileError::AfterDisplacing { source, .. } => source.error_type(),
        }
    }
}

/// Where the rejected rows are listed, or that there are none.
fn see(report: &str) -> String {
    if report.is_empty() {
        "no row was rejected".to_string()
    } else {
        format!("see {report}")
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
