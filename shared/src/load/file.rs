//! Loading one CSV object (or one part of it) into the table: read, type, batch, write, report, and
//! pause before the deadline so the rest of the file continues in the load's next step.
//!
//! Throttling slows a load and never fails it: items the writer could not write in time are handed
//! over with the file, from the earliest of their rows, and the rows after it that were already
//! written or rejected are skipped, not done or counted twice. Only a load that finishes no row for
//! `stall_after` fails.
//!
//! Longer than 500 lines because the hand-over's bookkeeping and the file's error cases belong
//! beside the load that needs them.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use csv_async::ByteRecord;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::load::progress::{Progress, emit_load_metrics, log_summary};
use crate::load::read::columns::{BlankCells, ColumnTypes};
use crate::load::read::fingerprint::key_hash;
use crate::load::read::row::{HeaderError, RowSchema};
use crate::load::read::source::{
    Compression, ObjectVersion, ResumePoint, RowReader, RowStart, SourceError, open_object,
    stream_broke,
};
use crate::load::read::table::TableInfo;
use crate::load::report::{RejectsReport, report_key};
use crate::load::write::batch::{BatchBuilder, PendingItem};
use crate::load::write::gate::WriteGate;
use crate::load::write::writer::{BatchWriter, FailedItem, WriteSettings};
use crate::state::StateStore;

/// The deadline is only checked every this many rows, which is also the least a segment loads,
/// so every invocation makes progress.
const ROWS_BETWEEN_DEADLINE_CHECKS: u64 = 25;
/// Kept back from the writers' deadline for uploading the report and handing over.
const REPORT_RESERVE: Duration = Duration::from_secs(5);
/// Rejected rows in a row, with one reason and nothing written between them, that stop a load:
/// the rest of the file would almost surely go the same way.
pub const REPEATED_REJECTS_LIMIT: u64 = 1000;
/// Reports of a load's earlier segments listed in its checkpoint and summary, at most.
pub const LISTED_REPORTS: usize = 10;

/// How rows are typed, written and reported.
#[derive(Debug, Clone)]
pub struct LoaderSettings {
    pub column_types: ColumnTypes,
    pub blanks: BlankCells,
    pub rejects_prefix: String,
    pub write: WriteSettings,
    /// Time kept in hand before the Lambda deadline: past it, the loader pauses at a row boundary.
    pub checkpoint_margin: Duration,
    /// How often a long load says how far it is.
    pub progress_every: Duration,
    /// A load that finishes no row (writes or rejects none) for this long fails.
    pub stall_after: Duration,
}

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

/// One file's work, or the rest of it: what the next step of a load's execution carries (state,
/// never row data, so it fits a Step Functions payload).
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
    fn skips(&self, line: u64) -> bool {
        line <= self.until_line && self.lines.binary_search(&line).is_err()
    }

    /// What is left of it once lines up to `last_line` were read, with `unwritten` added.
    fn after(redo: Option<&Redo>, last_line: u64, unwritten: &[u64]) -> Option<Redo> {
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

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
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
    /// `s3://` location of this segment's rejects report.
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

pub enum LoadResult {
    Done(FileSummary),
    /// Stopped before the deadline; the checkpoint loads the rest.
    Paused(FileSummary, Box<Checkpoint>),
    /// A newer load holds the object now: this one stopped and its writes in flight finished.
    Superseded(FileSummary),
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
         processed (see {report}), the rest were not"
    )]
    Read {
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
         rejected ({reason}); rows after it were not read, see {}",
        summary.bucket, summary.key, summary.report
    )]
    RepeatedRejects {
        line: u64,
        reason: String,
        summary: Box<FileSummary>,
    },
    #[error(
        "loading s3://{}/{} stopped at line {line}: {reason}; rows after it were not read, \
         see {}", summary.bucket, summary.key, summary.report
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
            FileError::Source(SourceError::Changed { .. }) => "ObjectChanged",
            FileError::Source(SourceError::Unreadable { .. }) | FileError::Read { .. } => {
                "ObjectUnreadable"
            }
            FileError::Header { .. } => "InvalidHeader",
            FileError::Report { .. } => "ReportNotWritten",
            FileError::NotStarted { .. } => "LoadNotStarted",
            FileError::Stalled { .. } => "LoadStalled",
            FileError::NothingLoaded { .. } => "NothingLoaded",
            FileError::RepeatedRejects { .. } => "RepeatedRejects",
            FileError::Aborted { .. } => "LoadAborted",
            FileError::AfterDisplacing { source, .. } => source.error_type(),
        }
    }
}

/// Loads CSV objects into one table.
pub struct Loader {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: TableInfo,
    pub settings: LoaderSettings,
    /// The stack's state table: which load holds each object, of which version. Without it loads
    /// are not fenced, and a version may load twice.
    pub state: Option<StateStore>,
}

impl Loader {
    /// Loads the file (or the rest of it) described by `job`, pausing before `deadline`.
    pub async fn load(&self, job: Checkpoint, deadline: Instant) -> Result<LoadResult, FileError> {
        self.load_fenced(job, deadline, None).await
    }

    /// The same, asking `gate` before every write: once a newer load holds the object, this one
    /// stops and says so.
    pub async fn load_fenced(
        &self,
        job: Checkpoint,
        deadline: Instant,
        gate: Option<Arc<dyn WriteGate>>,
    ) -> Result<LoadResult, FileError> {
        let failed_after = job.displaced.clone();
        self.load_segment(job, deadline, gate)
            .await
            .map_err(|e| match failed_after {
                Some(displaced) => FileError::AfterDisplacing {
                    displaced,
                    source: Box::new(e),
                },
                None => e,
            })
    }

    /// One segment of the load: what `load_fenced` does, before its errors are told.
    async fn load_segment(
        &self,
        job: Checkpoint,
        deadline: Instant,
        gate: Option<Arc<dyn WriteGate>>,
    ) -> Result<LoadResult, FileError> {
        let started = Instant::now();
        let Checkpoint {
            bucket,
            key,
            pin,
            load_id,
            reload,
            displaced,
            resume,
            header,
            part,
            segment,
            counts: before,
            redo,
            progress_at,
            mut reports,
        } = job;
        let progress_at = progress_at.unwrap_or_else(unix_now);
        let part_index = part.map(|p| p.index);
        let version = pin.label();
        let report_key = report_key(
            &self.settings.rejects_prefix,
            &key,
            version.as_deref(),
            part_index,
            segment,
        );
        let report_url = format!("s3://{bucket}/{report_key}");
        let report_error = |e: &dyn std::fmt::Display| FileError::Report {
            report: report_url.clone(),
            reason: e.to_string(),
        };

        let opened = open_object(&self.s3, &bucket, &key, &pin, resume.as_ref()).await?;
        let base_offset = opened.offset;
        let mut reader = RowReader::new(opened.reader, opened.line);
        let mut record = ByteRecord::new();

        let header_error = |source| FileError::Header {
            bucket: bucket.clone(),
            key: key.clone(),
            source,
        };
        let schema = if resume.is_some() {
            Some(
                RowSchema::from_names(
                    header,
                    &self.table.keys,
                    &self.settings.column_types,
                    self.settings.blanks,
                )
                .map_err(header_error)?,
            )
        } else {
            match reader.read(&mut record).await {
                Ok(Some(_)) => Some(
                    RowSchema::from_header(
                        &record,
                        &self.table.keys,
                        &self.settings.column_types,
                        self.settings.blanks,
                    )
                    .map_err(header_error)?,
                ),
                // An empty file has nothing to load.
                Ok(None) => None,
                Err(e) => {
                    return Err(FileError::Source(SourceError::Unreadable {
                        bucket,
                        key,
                        reason: e.to_string(),
                    }));
                }
            }
        };
        let header: Vec<String> = schema
            .as_ref()
            .map(|s| s.header().to_vec())
            .unwrap_or_default();
        let mut report = RejectsReport::create(&header)
            .await
            .map_err(|e| report_error(&e))?;

        let pause_at = crate::deadline::before_deadline(deadline, self.settings.checkpoint_margin);
        let mut writer = BatchWriter::new(
            self.dynamodb.clone(),
            self.table.name.clone(),
            self.table.keys.clone(),
            // A part writes beside the others: its share of the load's limits.
            part.map_or(self.settings.write, |p| self.settings.write.shared_by(p.of)),
            crate::deadline::before_deadline(deadline, REPORT_RESERVE),
        )
        .with_gate(gate.clone());
        // Rows looked at (loaded, or left to another part): paces the deadline checks.
        let mut looked_at = 0u64;
        let mut builder = BatchBuilder::new();
        let mut seg = Counts::default();
        let mut repeats = RepeatWatch::default();
        let mut paused = None;
        let mut read_error = None;
        let mut repeated = None;
        let mut broke = None;
        let mut last_line = opened.line.saturating_sub(1);
        let mut progress = Progress::new(Instant::now(), base_offset, self.settings.progress_every);
        // Gzip positions count decompressed bytes: not comparable with the stored size.
        let size = opened
            .size
            .filter(|_| opened.compression == Compression::None);
        let resume_at = |reader: &RowReader| ResumePoint {
            offset: base_offset + reader.bytes_read(),
            line: reader.next_line(),
            etag: opened.etag.clone(),
            compression: opened.compression,
        };

        while let Some(schema) = &schema {
            let start = RowStart {
                offset: base_offset + reader.bytes_read(),
                line: reader.next_line(),
            };
            let line = match reader.read(&mut record).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                // A dropped connection: the next invocation reads again from this row.
                Err(e) if stream_broke(&e) => {
                    broke = Some((start, e.to_string()));
                    break;
                }
                Err(e) => {
                    read_error = Some(e.to_string());
                    break;
                }
            };
            last_line = line;
            if redo.as_ref().is_some_and(|r| r.skips(line)) {
                continue;
            }
            looked_at += 1;
            // Only the key cells are typed to tell whose a row is: every part agrees on it.
            if let Some(part) = part
                && !part.owns(schema.key_of(&record).map(|key| key_hash(&key)))
            {
                continue;
            }
            seg.rows_read += 1;
            match schema.to_item(&record) {
                Err(reason) => {
                    seg.rows_rejected += 1;
                    let reason = reason.to_string();
                    report
                        .add(line, &reason, &record)
                        .await
                        .map_err(|e| report_error(&e))?;
                    if repeats.see(&reason, writer.written()) {
                        repeated = Some(reason);
                        break;
                    }
                }
                Ok(row) => {
                    let pending = PendingItem {
                        line,
                        start,
                        key: row.key,
                        item: row.item,
                        record: record.clone(),
                    };
                    if let Some(batch) = builder.push(pending) {
                        writer.submit(batch).await;
                        let refused = writer.take_refused();
                        seg.rows_rejected += refused.len() as u64;
                        repeated = report_refused(&mut report, &refused, &mut repeats, &writer)
                            .await
                            .map_err(|e| report_error(&e))?;
                        if repeated.is_some()
                            || writer.fatal().is_some()
                            || writer.gave_up()
                            || writer.superseded()
                        {
                            break;
                        }
                    }
                }
            }
            if looked_at.is_multiple_of(ROWS_BETWEEN_DEADLINE_CHECKS)
                && progress.due(Instant::now())
            {
                progress.say(
                    Instant::now(),
                    &self.table.name,
                    &key,
                    before.rows_read + seg.rows_read,
                    seg.rows_read,
                    base_offset + reader.bytes_read(),
                    size,
                    writer.in_flight(),
                );
            }
            if looked_at.is_multiple_of(ROWS_BETWEEN_DEADLINE_CHECKS) && Instant::now() >= pause_at
            {
                paused = Some(resume_at(&reader));
                break;
            }
        }
        if let Some(batch) = builder.flush() {
            writer.submit(batch).await;
        }
        seg.duplicates_collapsed = builder.duplicates_collapsed();
        let mut outcome = writer.finish().await;
        seg.items_written = outcome.written;
        // A newer load holds the object: what this one did not send is not to be sent at all.
        let superseded_by = (outcome.superseded > 0)
            .then(|| gate.as_ref().and_then(|g| g.holder()).unwrap_or_default());
        if superseded_by.is_some() {
            seg.items_superseded = outcome.superseded + outcome.unwritten.len() as u64;
            outcome.unwritten.clear();
            broke = None;
            paused = None;
        }
        seg.rows_rejected += outcome.refused.len() as u64;
        for refused in &outcome.refused {
            report
                .add(refused.item.line, &refused.reason, &refused.item.record)
                .await
                .map_err(|e| report_error(&e))?;
        }

        // Items not written for lack of time or capacity are loaded again from the earliest of
        // their rows, unless the load has stalled or stopped for good.
        let now = unix_now();
        let progress_at = if seg.items_written + seg.rows_rejected > 0 {
            now
        } else {
            progress_at
        };
        let stalled_for = Duration::from_secs(now.saturating_sub(progress_at));
        if let Some((start, reason)) = broke {
            if stalled_for >= self.settings.stall_after {
                read_error = Some(reason);
            } else {
                tracing::warn!(
                    key,
                    line = start.line,
                    reason,
                    "reading again from this row"
                );
                paused = Some(ResumePoint {
                    offset: start.offset,
                    line: start.line,
                    etag: opened.etag.clone(),
                    compression: opened.compression,
                });
            }
        }
        let stopped = outcome.fatal.is_some() || read_error.is_some() || repeated.is_some();
        let mut unwritten = std::mem::take(&mut outcome.unwritten);
        let unwritten_reason = outcome.unwritten_reason.take().unwrap_or_default();
        if !unwritten.is_empty() && (stopped || stalled_for >= self.settings.stall_after) {
            seg.items_failed = unwritten.len() as u64;
            let reason = outcome
                .fatal
                .as_deref()
                .map_or(unwritten_reason.clone(), |fatal| {
                    format!("not written: {fatal}")
                });
            let failed: Vec<FailedItem> = (unwritten.drain(..))
                .map(|item| FailedItem {
                    item,
                    reason: reason.clone(),
                })
                .collect();
            for f in &failed {
                report
                    .add(f.item.line, &f.reason, &f.item.record)
                    .await
                    .map_err(|e| report_error(&e))?;
            }
        }
        let handed_over = !unwritten.is_empty();
        if handed_over {
            unwritten.sort_by_key(|p| p.start.offset);
            let earliest = unwritten[0].start;
            // Those rows are read and counted again by the next invocation.
            seg.rows_read -= unwritten.len() as u64;
            paused = Some(ResumePoint {
                offset: earliest.offset,
                line: earliest.line,
                etag: opened.etag.clone(),
                compression: opened.compression,
            });
        }
        let rejects_unlisted = report.unlisted();
        let first_reasons = report.first_reasons().to_vec();
        report
            .upload(&self.s3, &bucket, &report_key)
            .await
            .map_err(|e| report_error(&e))?;

        let summary = FileSummary {
            bucket: bucket.clone(),
            key: key.clone(),
            table: self.table.name.clone(),
            load: load_id.clone(),
            version: version.clone(),
            counts: before.plus(seg),
            report: report_url.clone(),
            first_reasons,
            rejects_unlisted,
            elapsed_ms: started.elapsed().as_millis() as u64,
            part: part_index,
            segment,
            complete: paused.is_none() && !stopped && superseded_by.is_none(),
            superseded_by,
            // A part's are not listed: a fanned-out load's summary points at them all at once.
            earlier_reports: if part.is_none() {
                reports.clone()
            } else {
                Vec::new()
            },
        };
        log_summary(&summary);
        emit_load_metrics(&self.table.name, &seg, summary.elapsed_ms);
        if summary.superseded_by.is_some() {
            return Ok(LoadResult::Superseded(summary));
        }

        if let Some(reason) = read_error {
            return Err(FileError::Read {
                bucket,
                key,
                line: last_line,
                reason,
                report: report_url,
            });
        }
        if let Some(reason) = outcome.fatal {
            return Err(FileError::Aborted {
                line: last_line,
                reason,
                summary: Box::new(summary),
            });
        }
        if let Some(reason) = repeated {
            return Err(FileError::RepeatedRejects {
                line: last_line,
                reason,
                summary: Box::new(summary),
            });
        }
        if seg.items_failed > 0 {
            return Err(FileError::Stalled {
                minutes: stalled_for.as_secs() / 60,
                failed: seg.items_failed,
                reason: unwritten_reason,
                summary: Box::new(summary),
            });
        }
        let Some(point) = paused else {
            if summary.counts.rows_read > 0 && summary.counts.items_written == 0 {
                return Err(FileError::NothingLoaded {
                    summary: Box::new(summary),
                });
            }
            return Ok(LoadResult::Done(summary));
        };
        if handed_over {
            tracing::warn!(
                key,
                line = point.line,
                unwritten = unwritten.len(),
                reason = unwritten_reason,
                "items not written in time: the next invocation loads them again from their line"
            );
        }
        let unwritten_lines: Vec<u64> = unwritten.iter().map(|p| p.line).collect();
        // The first few are listed (a checkpoint travels in the execution's payload); every one
        // is under the file's own name in the rejects prefix.
        if seg.rows_rejected > 0 && reports.len() < LISTED_REPORTS {
            reports.push(report_url);
        }
        let next = Checkpoint {
            bucket,
            key,
            pin,
            load_id,
            reload,
            displaced,
            reports,
            redo: Redo::after(redo.as_ref(), last_line, &unwritten_lines),
            resume: Some(point),
            header,
            part,
            segment: segment + 1,
            counts: summary.counts,
            progress_at: Some(progress_at),
        };
        Ok(LoadResult::Paused(summary, Box::new(next)))
    }
}

/// Writes the rows DynamoDB refused to the report; returns the reason when it has now refused
/// `REPEATED_REJECTS_LIMIT` rows in a row for it.
async fn report_refused(
    report: &mut RejectsReport,
    refused: &[FailedItem],
    repeats: &mut RepeatWatch,
    writer: &BatchWriter,
) -> std::io::Result<Option<String>> {
    let mut repeated = None;
    for f in refused {
        report.add(f.item.line, &f.reason, &f.item.record).await?;
        if repeats.see(&f.reason, writer.written()) {
            repeated = Some(f.reason.clone());
        }
    }
    Ok(repeated)
}

/// Counts rejects in a row that share one reason, with nothing written between them.
#[derive(Default)]
struct RepeatWatch {
    reason: String,
    count: u64,
    written: u64,
}

impl RepeatWatch {
    /// A row was rejected for `reason` when `written` items had been written: true at the limit.
    fn see(&mut self, reason: &str, written: u64) -> bool {
        if reason != self.reason || written != self.written {
            self.reason = reason.to_string();
            self.written = written;
            self.count = 0;
        }
        self.count += 1;
        self.count >= REPEATED_REJECTS_LIMIT
    }
}
