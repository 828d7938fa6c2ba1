//! Loading one CSV object into the table: read, type, batch, write, report, and pause before the
//! deadline so the rest of the file continues in another invocation.

use std::time::Duration;

use aws_sdk_dynamodb::types::KeyType;
use csv_async::ByteRecord;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::load::progress::{Progress, emit_load_metrics, log_summary};
use crate::load::read::columns::{BlankCells, ColumnTypes};
use crate::load::read::keys::{KeyAttribute, KeyKind, KeySchema};
use crate::load::read::row::{HeaderError, RowSchema};
use crate::load::read::source::{Compression, ResumePoint, RowReader, SourceError, open_object};
use crate::load::report::{RejectsReport, report_key};
use crate::load::write::batch::{BatchBuilder, PendingItem};
use crate::load::write::writer::{BatchWriter, WriteSettings};

/// The deadline is only checked every this many rows, which is also the least a segment loads,
/// so every invocation makes progress.
const ROWS_BETWEEN_DEADLINE_CHECKS: u64 = 25;
/// Kept back from the writers' deadline for uploading the report and handing over.
const REPORT_RESERVE: Duration = Duration::from_secs(5);

/// The table being loaded, as `DescribeTable` reports it at cold start.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub name: String,
    pub keys: KeySchema,
}

impl TableInfo {
    pub async fn describe(
        dynamodb: &aws_sdk_dynamodb::Client,
        name: &str,
    ) -> Result<TableInfo, String> {
        let output = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(|e| format!("DescribeTable {name}: {}", describe(&e)))?;
        let table = output
            .table()
            .ok_or_else(|| format!("DescribeTable {name} returned no table"))?;
        let kind_of = |attr: &str| {
            table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == attr)
                .and_then(|d| KeyKind::from_scalar(d.attribute_type()))
                .ok_or_else(|| format!("table {name} has no type for key attribute {attr}"))
        };
        let mut partition = None;
        let mut sort = None;
        for element in table.key_schema() {
            let attr = KeyAttribute {
                name: element.attribute_name().to_string(),
                kind: kind_of(element.attribute_name())?,
            };
            match element.key_type() {
                KeyType::Hash => partition = Some(attr),
                _ => sort = Some(attr),
            }
        }
        Ok(TableInfo {
            name: name.to_string(),
            keys: KeySchema {
                partition: partition.ok_or_else(|| format!("table {name} has no partition key"))?,
                sort,
            },
        })
    }
}

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
}

impl Counts {
    fn add(self, other: Counts) -> Counts {
        Counts {
            rows_read: self.rows_read + other.rows_read,
            items_written: self.items_written + other.items_written,
            rows_rejected: self.rows_rejected + other.rows_rejected,
            duplicates_collapsed: self.duplicates_collapsed + other.duplicates_collapsed,
            items_failed: self.items_failed + other.items_failed,
        }
    }
}

/// One file's work, or the rest of it: what a continuation invocation carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub bucket: String,
    pub key: String,
    /// `None`: start at the beginning.
    #[serde(default)]
    pub resume: Option<ResumePoint>,
    /// The file's column names (the header is not re-read when resuming).
    #[serde(default)]
    pub header: Vec<String>,
    /// Set when this is one byte range of a file split across invocations (fan-out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ByteRange>,
    /// Which segment (invocation) of this file runs next, from 1.
    #[serde(default = "first_segment")]
    pub segment: u32,
    /// Totals of the segments before.
    #[serde(default)]
    pub counts: Counts,
}

fn first_segment() -> u32 {
    1
}

/// One of the byte ranges a large file is split into: it ends at a record boundary, where the next
/// range begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByteRange {
    /// From 1, in file order.
    pub index: u32,
    /// Exclusive end offset in the file.
    pub end: u64,
}

impl Checkpoint {
    pub fn start(bucket: impl Into<String>, key: impl Into<String>) -> Checkpoint {
        Checkpoint {
            bucket: bucket.into(),
            key: key.into(),
            resume: None,
            header: Vec::new(),
            range: None,
            segment: 1,
            counts: Counts::default(),
        }
    }
}

/// What one invocation did with one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSummary {
    pub bucket: String,
    pub key: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// `s3://` location of this segment's rejects report.
    pub report: String,
    pub elapsed_ms: u64,
    /// The byte range this summary covers, when the file was split (its counts are the range's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<u32>,
    pub segment: u32,
    /// False when the rest of the file was handed to a new invocation (it continues after
    /// `rows_read` rows) or the load stopped with an error.
    pub complete: bool,
}

pub enum LoadResult {
    Done(FileSummary),
    /// Stopped before the deadline; the checkpoint loads the rest.
    Paused(FileSummary, Checkpoint),
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
    #[error("could not write the rejects report {report}: {reason}")]
    Report { report: String, reason: String },
    #[error(
        "{failed} items from s3://{}/{} were not written ({reason}); they are listed with their \
         lines in {}", summary.bucket, summary.key, summary.report
    )]
    NotWritten {
        failed: u64,
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
            FileError::NotWritten { .. } => "ItemsNotWritten",
            FileError::Aborted { .. } => "LoadAborted",
        }
    }
}

/// Loads CSV objects into one table.
pub struct Loader {
    pub s3: aws_sdk_s3::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub table: TableInfo,
    pub settings: LoaderSettings,
}

impl Loader {
    /// Loads the file (or the rest of it) described by `job`, pausing before `deadline`.
    pub async fn load(&self, job: Checkpoint, deadline: Instant) -> Result<LoadResult, FileError> {
        let started = Instant::now();
        let Checkpoint {
            bucket,
            key,
            resume,
            header,
            range,
            segment,
            counts: before,
        } = job;
        let range_index = range.map(|r| r.index);
        let report_key = report_key(&self.settings.rejects_prefix, &key, range_index, segment);
        let report_url = format!("s3://{bucket}/{report_key}");
        let report_error = |e: &dyn std::fmt::Display| FileError::Report {
            report: report_url.clone(),
            reason: e.to_string(),
        };

        let end = range.map(|r| r.end);
        let opened = open_object(&self.s3, &bucket, &key, resume.as_ref(), end).await?;
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
            self.settings.write,
            crate::deadline::before_deadline(deadline, REPORT_RESERVE),
        );
        let mut builder = BatchBuilder::new();
        let mut seg = Counts::default();
        let mut paused = None;
        let mut read_error = None;
        let mut last_line = opened.line.saturating_sub(1);
        let mut progress = Progress::new(Instant::now(), base_offset, self.settings.progress_every);
        // Gzip positions count decompressed bytes: not comparable with the stored size.
        let size = opened
            .size
            .filter(|_| opened.compression == Compression::None);

        while let Some(schema) = &schema {
            let line = match reader.read(&mut record).await {
                Ok(Some(line)) => line,
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(e.to_string());
                    break;
                }
            };
            seg.rows_read += 1;
            last_line = line;
            match schema.to_item(&record) {
                Err(reason) => {
                    seg.rows_rejected += 1;
                    report
                        .add(line, &reason.to_string(), &record)
                        .await
                        .map_err(|e| report_error(&e))?;
                }
                Ok(row) => {
                    let pending = PendingItem {
                        line,
                        key: row.key,
                        item: row.item,
                        record: record.clone(),
                    };
                    if let Some(batch) = builder.push(pending) {
                        writer.submit(batch).await;
                        if writer.fatal().is_some() {
                            break;
                        }
                    }
                }
            }
            if seg.rows_read % ROWS_BETWEEN_DEADLINE_CHECKS == 0 && progress.due(Instant::now()) {
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
            if seg.rows_read % ROWS_BETWEEN_DEADLINE_CHECKS == 0 && Instant::now() >= pause_at {
                paused = Some(ResumePoint {
                    offset: base_offset + reader.bytes_read(),
                    line: reader.next_line(),
                    etag: opened.etag.clone(),
                    compression: opened.compression,
                });
                break;
            }
        }
        if let Some(batch) = builder.flush() {
            writer.submit(batch).await;
        }
        seg.duplicates_collapsed = builder.duplicates_collapsed();
        let outcome = writer.finish().await;
        seg.items_written = outcome.written;
        seg.items_failed = outcome.failed.len() as u64;
        for failed in &outcome.failed {
            report
                .add(failed.item.line, &failed.reason, &failed.item.record)
                .await
                .map_err(|e| report_error(&e))?;
        }
        report
            .upload(&self.s3, &bucket, &report_key)
            .await
            .map_err(|e| report_error(&e))?;

        let summary = FileSummary {
            bucket: bucket.clone(),
            key: key.clone(),
            counts: before.add(seg),
            report: report_url.clone(),
            elapsed_ms: started.elapsed().as_millis() as u64,
            range: range_index,
            segment,
            complete: paused.is_none() && read_error.is_none() && outcome.fatal.is_none(),
        };
        log_summary(&summary);
        emit_load_metrics(&self.table.name, &seg, summary.elapsed_ms);

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
        if let Some(first) = outcome.failed.first() {
            // No hand-over: the failed invocation is retried from this segment's start instead.
            return Err(FileError::NotWritten {
                failed: seg.items_failed,
                reason: first.reason.clone(),
                summary: Box::new(summary),
            });
        }
        Ok(match paused {
            Some(point) => {
                let next = Checkpoint {
                    bucket,
                    key,
                    resume: Some(point),
                    header,
                    range,
                    segment: segment + 1,
                    counts: summary.counts,
                };
                LoadResult::Paused(summary, next)
            }
            None => LoadResult::Done(summary),
        })
    }
}
