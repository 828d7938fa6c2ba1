//! Loading one CSV object (or one part of it) into the table: read, type, batch, write, report, and
//! pause before the deadline so the rest of the file continues in the load's next step.
//!
//! A segment runs in four stages, each a method of `Segment`: `open` (the object, its header, the
//! report and the writer), `read_rows` (type each row and queue it, until the file ends, the deadline
//! nears or something stops it), `finish_writes` (wait for the writes in flight) and `end` (decide
//! what is handed over, upload the report, and say how the segment ended).
//!
//! Throttling slows a load and never fails it: items the writer could not write in time are handed
//! over with the file, from the earliest of their rows, and the rows after it that were already
//! written or rejected are skipped, not done or counted twice. Only a load that finishes no row for
//! `stall_after` fails.
//!
//! Longer than 500 lines because the four stages share one state (`Segment`) and read best as one
//! procedure, top to bottom, with the small types that say how each stage ended.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use csv_async::ByteRecord;
use tokio::time::Instant;

use crate::deadline::before_deadline;
use crate::load::checkpoint::{Checkpoint, Redo};
use crate::load::progress::{Progress, emit_load_metrics, log_summary};
use crate::load::read::columns::{BlankCells, ColumnTypes};
use crate::load::read::fingerprint::key_hash;
use crate::load::read::record_guard::is_malformed;
use crate::load::read::row::RowSchema;
use crate::load::read::source::{
    Compression, OpenedObject, ResumePoint, RowReader, RowStart, SourceError, open_object,
    stream_broke,
};
use crate::load::read::table::TableInfo;
use crate::load::repeats::RepeatWatch;
use crate::load::report::{RejectsReport, report_key};
use crate::load::summary::{Counts, FileError, FileSummary};
use crate::load::write::batch::{BatchBuilder, PendingItem};
use crate::load::write::gate::WriteGate;
use crate::load::write::writer::{BatchWriter, FailedItem, WriteOutcome, WriteSettings};
use crate::state::{StateKey, StateStore};

/// The deadline is only checked every this many rows, which is also the least a segment loads,
/// so every invocation makes progress.
const ROWS_BETWEEN_DEADLINE_CHECKS: u64 = 25;
/// Kept back from the writers' deadline for uploading the report and handing over.
const REPORT_RESERVE: Duration = Duration::from_secs(5);
/// How long a note that a segment's rows were counted lasts (a retry comes within hours).
const COUNTED_DAYS: i64 = 7;
/// How long the note may take: the segment's end waits on it.
const COUNT_NOTE_TIMEOUT: Duration = Duration::from_secs(3);
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

pub enum LoadResult {
    Done(FileSummary),
    /// Stopped before the deadline; the checkpoint loads the rest.
    Paused(FileSummary, Box<Checkpoint>),
    /// A newer load holds the object now: this one stopped and its writes in flight finished.
    Superseded(FileSummary),
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
        let mut segment = Segment::open(self, job, deadline, gate).await?;
        let read_end = segment.read_rows().await?;
        let writes = segment.finish_writes().await?;
        segment.end(read_end, writes).await
    }
}

/// Why a segment stopped reading rows.
enum ReadEnd {
    /// The file ended (an empty file has no rows at all).
    Ended,
    /// Paused before the deadline; the next step goes on from here.
    Paused(ResumePoint),
    /// The S3 stream broke off at this row: the next step reads it again, unless the load stalled.
    Broke(RowStart, String),
    /// The object cannot be read past the last line.
    Unreadable(String),
    /// The file holds a row no reader can take: reading it again fails the same way.
    Malformed(String),
    /// `REPEATED_REJECTS_LIMIT` rows in a row were rejected for this reason.
    RepeatedRejects(String),
    /// The writer takes no more rows: it gave up, met an unrecoverable error, or a newer load holds
    /// the object. Its outcome says which.
    WriterStopped,
}

/// What became of the writes, once none is in flight.
struct Writes {
    outcome: WriteOutcome,
    /// The load that took the object over, when one did: nothing unsent is to be sent.
    superseded_by: Option<String>,
}

/// Where the object was opened, to resume from any row of it.
struct Position {
    /// Decompressed bytes before the reader's first byte.
    base_offset: u64,
    etag: Option<String>,
    compression: Compression,
    /// The object's size, when it is comparable with positions (not for gzip).
    size: Option<u64>,
}

impl Position {
    fn of(opened: &OpenedObject) -> Position {
        Position {
            base_offset: opened.offset,
            etag: opened.etag.clone(),
            compression: opened.compression,
            // Gzip positions count decompressed bytes: not comparable with the stored size.
            size: opened
                .size
                .filter(|_| opened.compression == Compression::None),
        }
    }

    fn resume_from(&self, start: RowStart) -> ResumePoint {
        ResumePoint {
            offset: start.offset,
            line: start.line,
            etag: self.etag.clone(),
            compression: self.compression,
        }
    }

    /// Where the row `reader` reads next starts.
    fn next_row(&self, reader: &RowReader) -> RowStart {
        RowStart {
            offset: self.base_offset + reader.bytes_read(),
            line: reader.next_line(),
        }
    }
}

/// One invocation's run through a file, from its checkpoint to where it stops.
struct Segment<'a> {
    loader: &'a Loader,
    /// The checkpoint it started from (its `header` filled in once read).
    job: Checkpoint,
    gate: Option<Arc<dyn WriteGate>>,
    started: Instant,
    pause_at: Instant,
    report_key: String,
    report: RejectsReport,
    position: Position,
    reader: RowReader,
    record: ByteRecord,
    /// `None` for an empty file (no header, nothing to load).
    schema: Option<RowSchema>,
    writer: BatchWriter,
    builder: BatchBuilder,
    /// This segment's counts (the checkpoint's are the segments' before).
    counts: Counts,
    repeats: RepeatWatch,
    last_line: u64,
}

impl<'a> Segment<'a> {
    /// Opens the object where the checkpoint says, reads its header (or takes the checkpoint's),
    /// and readies the report and the writer.
    async fn open(
        loader: &'a Loader,
        mut job: Checkpoint,
        deadline: Instant,
        gate: Option<Arc<dyn WriteGate>>,
    ) -> Result<Segment<'a>, FileError> {
        let started = Instant::now();
        let report_key = report_key(
            &loader.settings.rejects_prefix,
            &job.key,
            job.pin.label().as_deref(),
            job.part.map(|p| p.index),
            job.segment,
        );
        let opened = open_object(
            &loader.s3,
            &job.bucket,
            &job.key,
            &job.pin,
            job.resume.as_ref(),
        )
        .await?;
        let position = Position::of(&opened);
        let last_line = opened.line.saturating_sub(1);
        let mut reader = RowReader::new(opened.reader, opened.line);
        let mut record = ByteRecord::new();
        let schema = read_schema(loader, &job, &mut reader, &mut record).await?;
        job.header = schema
            .as_ref()
            .map(|s| s.header().to_vec())
            .unwrap_or_default();
        let report = RejectsReport::create(&job.header)
            .await
            .map_err(|e| report_error(&job, &report_key, &e))?;
        let settings = &loader.settings;
        // A part writes beside the others: its share of the load's limits.
        let write = job
            .part
            .map_or(settings.write, |p| settings.write.shared_by(p.of));
        let writer = BatchWriter::new(
            loader.dynamodb.clone(),
            loader.table.name.clone(),
            loader.table.keys.clone(),
            write,
            before_deadline(deadline, REPORT_RESERVE),
        )
        .with_gate(gate.clone());
        Ok(Segment {
            loader,
            job,
            gate,
            started,
            pause_at: before_deadline(deadline, settings.checkpoint_margin),
            report_key,
            report,
            position,
            reader,
            record,
            schema,
            writer,
            builder: BatchBuilder::new(),
            counts: Counts::default(),
            repeats: RepeatWatch::default(),
            last_line,
        })
    }

    fn report_url(&self) -> String {
        format!("s3://{}/{}", self.job.bucket, self.report_key)
    }

    fn report_error(&self, e: &dyn std::fmt::Display) -> FileError {
        report_error(&self.job, &self.report_key, e)
    }

    /// Reads, types and queues rows until the file ends, the deadline nears or something stops it.
    async fn read_rows(&mut self) -> Result<ReadEnd, FileError> {
        let Some(schema) = self.schema.take() else {
            return Ok(ReadEnd::Ended);
        };
        let settings = &self.loader.settings;
        let mut progress = Progress::new(
            Instant::now(),
            self.position.base_offset,
            settings.progress_every,
        );
        // Rows looked at (loaded, or left to another part): paces the deadline checks.
        let mut looked_at = 0u64;
        let end = loop {
            let start = self.position.next_row(&self.reader);
            let line = match self.reader.read(&mut self.record).await {
                Ok(Some(line)) => line,
                Ok(None) => break ReadEnd::Ended,
                // A dropped connection: the next invocation reads again from this row.
                Err(e) if stream_broke(&e) => break ReadEnd::Broke(start, e.to_string()),
                Err(e) if is_malformed(&e) => break ReadEnd::Malformed(e.to_string()),
                Err(e) => break ReadEnd::Unreadable(e.to_string()),
            };
            self.last_line = line;
            if self.job.redo.as_ref().is_some_and(|r| r.skips(line)) {
                continue;
            }
            looked_at += 1;
            if let Some(end) = self.take_row(&schema, line, start).await? {
                break end;
            }
            if looked_at.is_multiple_of(ROWS_BETWEEN_DEADLINE_CHECKS) {
                let now = Instant::now();
                if progress.due(now) {
                    self.say_progress(&mut progress, now);
                }
                if now >= self.pause_at {
                    let here = self.position.next_row(&self.reader);
                    break ReadEnd::Paused(self.position.resume_from(here));
                }
            }
        };
        self.schema = Some(schema);
        Ok(end)
    }

    /// Types the row just read, if it is this segment's, and rejects or queues it; says what stops
    /// reading, if anything does.
    async fn take_row(
        &mut self,
        schema: &RowSchema,
        line: u64,
        start: RowStart,
    ) -> Result<Option<ReadEnd>, FileError> {
        // Only the key cells are typed to tell whose a row is: every part agrees on it.
        if let Some(part) = self.job.part
            && !part.owns(schema.key_of(&self.record).map(|key| key_hash(&key)))
        {
            return Ok(None);
        }
        self.counts.rows_read += 1;
        match schema.to_item(&self.record) {
            Err(error) => {
                self.counts.rows_rejected += 1;
                let reason = error.to_string();
                (self.report.add(line, &reason, self.record.iter()).await)
                    .map_err(|e| self.report_error(&e))?;
                let repeated = self.repeats.see(&error.kind(), self.writer.written());
                Ok(repeated.then_some(ReadEnd::RepeatedRejects(reason)))
            }
            Ok(row) => {
                let pending = PendingItem {
                    line,
                    start,
                    key: row.key,
                    item: row.item,
                };
                self.queue(schema, pending).await
            }
        }
    }

    /// Adds an item to the batch being filled, and writes the batch once it is full.
    async fn queue(
        &mut self,
        schema: &RowSchema,
        pending: PendingItem,
    ) -> Result<Option<ReadEnd>, FileError> {
        let Some(batch) = self.builder.push(pending) else {
            return Ok(None);
        };
        self.writer.submit(batch).await;
        let refused = self.writer.take_refused();
        self.counts.rows_rejected += refused.len() as u64;
        let mut repeated = None;
        for failed in &refused {
            self.report_item(schema, failed).await?;
            if self.repeats.see(&failed.reason, self.writer.written()) {
                repeated = Some(failed.reason.clone());
            }
        }
        if let Some(reason) = repeated {
            return Ok(Some(ReadEnd::RepeatedRejects(reason)));
        }
        let writer = &self.writer;
        let stopped = writer.fatal().is_some() || writer.gave_up() || writer.superseded();
        Ok(stopped.then_some(ReadEnd::WriterStopped))
    }

    /// Lists an item that was not written in the report, with its typed values.
    async fn report_item(
        &mut self,
        schema: &RowSchema,
        failed: &FailedItem,
    ) -> Result<(), FileError> {
        let cells = schema.cells_of(&failed.item.item);
        let cells = cells.iter().map(String::as_bytes);
        (self
            .report
            .add(failed.item.line, &failed.reason, cells)
            .await)
            .map_err(|e| self.report_error(&e))
    }

    fn say_progress(&self, progress: &mut Progress, now: Instant) {
        progress.say(
            now,
            &self.loader.table.name,
            &self.job.key,
            self.job.counts.rows_read + self.counts.rows_read,
            self.counts.rows_read,
            self.position.next_row(&self.reader).offset,
            self.position.size,
            self.writer.in_flight(),
        );
    }

    /// Sends the last batch and waits for every write in flight; lists the items DynamoDB refused.
    async fn finish_writes(&mut self) -> Result<Writes, FileError> {
        if let Some(batch) = self.builder.flush() {
            self.writer.submit(batch).await;
        }
        self.counts.duplicates_collapsed = self.builder.duplicates_collapsed();
        let mut outcome = self.writer.finish().await;
        self.counts.items_written = outcome.written;
        // A newer load holds the object: what this one did not send is not to be sent at all.
        let superseded_by = (outcome.superseded > 0).then(|| {
            let holder = self.gate.as_ref().and_then(|g| g.holder());
            holder.unwrap_or_default()
        });
        if superseded_by.is_some() {
            self.counts.items_superseded = outcome.superseded + outcome.unwritten.len() as u64;
            outcome.unwritten.clear();
        }
        self.counts.rows_rejected += outcome.refused.len() as u64;
        for failed in std::mem::take(&mut outcome.refused) {
            self.report_failed(&failed).await?;
        }
        Ok(Writes {
            outcome,
            superseded_by,
        })
    }

    async fn report_failed(&mut self, failed: &FailedItem) -> Result<(), FileError> {
        let schema = self.schema.take();
        let reported = match &schema {
            Some(schema) => self.report_item(schema, failed).await,
            None => Ok(()),
        };
        self.schema = schema;
        reported
    }

    /// Decides what is handed over and what failed, uploads the report and says how the segment
    /// ended.
    async fn end(mut self, read_end: ReadEnd, writes: Writes) -> Result<LoadResult, FileError> {
        let Writes {
            mut outcome,
            superseded_by,
        } = writes;
        let progress_at = self.progress_at();
        let stalled_for = Duration::from_secs(unix_now().saturating_sub(progress_at));
        let stalled = stalled_for >= self.loader.settings.stall_after;
        let mut stop = Stop::from_read(read_end, outcome.fatal.take(), stalled, &self.position);
        if superseded_by.is_some() {
            stop.resume = None;
        }
        let mut unwritten = std::mem::take(&mut outcome.unwritten);
        let unwritten_reason = outcome.unwritten_reason.take().unwrap_or_default();
        if !unwritten.is_empty() && (stop.failure.is_some() || stalled) {
            self.fail_items(&mut unwritten, &stop, &unwritten_reason)
                .await?;
        }
        if !unwritten.is_empty() {
            unwritten.sort_by_key(|p| p.start.offset);
            // Those rows are read and counted again by the next invocation.
            self.counts.rows_read -= unwritten.len() as u64;
            stop.resume = Some(self.position.resume_from(unwritten[0].start));
            tracing::warn!(
                key = self.job.key,
                line = unwritten[0].line,
                unwritten = unwritten.len(),
                reason = unwritten_reason,
                "items not written in time: the next invocation loads them again from their line"
            );
        }
        let summary = self.summary(&stop, superseded_by).await?;
        if summary.superseded_by.is_some() {
            return Ok(LoadResult::Superseded(summary));
        }
        let failed = (self.counts.items_failed > 0).then_some(Stalled {
            minutes: stalled_for.as_secs() / 60,
            reason: unwritten_reason,
        });
        if let Some(error) = self.failure(stop.failure, failed, &summary) {
            return Err(error);
        }
        let Some(point) = stop.resume else {
            if summary.counts.rows_read > 0 && summary.counts.items_written == 0 {
                return Err(FileError::NothingLoaded {
                    summary: Box::new(summary),
                });
            }
            return Ok(LoadResult::Done(summary));
        };
        let unwritten_lines: Vec<u64> = unwritten.iter().map(|p| p.line).collect();
        let next = self.next_checkpoint(point, &unwritten_lines, progress_at, &summary);
        Ok(LoadResult::Paused(summary, Box::new(next)))
    }

    /// When a row of this file was last written or rejected.
    fn progress_at(&self) -> u64 {
        if self.counts.items_written + self.counts.rows_rejected > 0 {
            unix_now()
        } else {
            self.job.progress_at.unwrap_or_else(unix_now)
        }
    }

    /// Counts the items no later step will write as failed, and lists them in the report.
    async fn fail_items(
        &mut self,
        unwritten: &mut Vec<PendingItem>,
        stop: &Stop,
        unwritten_reason: &str,
    ) -> Result<(), FileError> {
        self.counts.items_failed = unwritten.len() as u64;
        let reason = match &stop.failure {
            Some(Failure::Aborted(fatal)) => format!("not written: {fatal}"),
            _ => unwritten_reason.to_string(),
        };
        for item in unwritten.drain(..) {
            let failed = FailedItem {
                item,
                reason: reason.clone(),
            };
            self.report_failed(&failed).await?;
        }
        Ok(())
    }

    /// Uploads the report and sums the segment up (logged, and in metrics).
    async fn summary(
        &mut self,
        stop: &Stop,
        superseded_by: Option<String>,
    ) -> Result<FileSummary, FileError> {
        let report = &mut self.report;
        // A segment that rejected nothing writes no report.
        let listed = report.rows() + report.unlisted() > 0;
        if listed {
            (report.upload(&self.loader.s3, &self.job.bucket, &self.report_key))
                .await
                .map_err(|e| report_error(&self.job, &self.report_key, &e))?;
        }
        let rejects_unlisted = report.unlisted();
        let first_reasons = report.first_reasons().to_vec();
        let job = &self.job;
        let summary = FileSummary {
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            table: self.loader.table.name.clone(),
            load: job.load_id.clone(),
            version: job.pin.label(),
            counts: job.counts.plus(self.counts),
            report: if listed {
                self.report_url()
            } else {
                String::new()
            },
            first_reasons,
            rejects_unlisted,
            elapsed_ms: self.started.elapsed().as_millis() as u64,
            part: job.part.map(|p| p.index),
            segment: job.segment,
            complete: stop.resume.is_none() && stop.failure.is_none() && superseded_by.is_none(),
            superseded_by,
            // A part's are not listed: a fanned-out load's summary points at them all at once.
            earlier_reports: if job.part.is_none() {
                job.reports.clone()
            } else {
                Vec::new()
            },
        };
        log_summary(&summary);
        if self.counted_once().await {
            emit_load_metrics(&self.loader.table.name, &self.counts, summary.elapsed_ms);
        }
        Ok(summary)
    }

    /// Whether this segment's rows go into the metrics now: a step run again (Lambda's or the
    /// state machine's retry) reads the same rows, and they are counted once. Without a state
    /// table, or when it cannot say, they are counted.
    async fn counted_once(&self) -> bool {
        let Some(store) = &self.loader.state else {
            return true;
        };
        let job = &self.job;
        let part = job.part.map_or(0, |p| p.index);
        let key = StateKey::new(
            format!("load#{}", job.load_id),
            format!("counted#{part}#{}", job.segment),
        );
        let expires = Utc::now() + chrono::Duration::days(COUNTED_DAYS);
        let body = serde_json::json!({});
        let note = store.create(&key, &body, expires, Utc::now());
        match tokio::time::timeout(COUNT_NOTE_TIMEOUT, note).await {
            Ok(Ok(first)) => first,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "could not note that this segment was counted");
                true
            }
            Err(_) => {
                tracing::warn!("the state table did not answer: this segment is counted");
                true
            }
        }
    }

    /// The error a failed segment ends with, if it failed.
    fn failure(
        &self,
        failure: Option<Failure>,
        stalled: Option<Stalled>,
        summary: &FileSummary,
    ) -> Option<FileError> {
        let (bucket, key, line) = (&self.job.bucket, &self.job.key, self.last_line);
        let boxed = || Box::new(summary.clone());
        Some(match (failure, stalled) {
            (Some(Failure::Unreadable(reason)), _) => FileError::Read {
                bucket: bucket.clone(),
                key: key.clone(),
                line,
                reason,
                report: summary.report.clone(),
            },
            (Some(Failure::Malformed(reason)), _) => FileError::Malformed {
                bucket: bucket.clone(),
                key: key.clone(),
                line,
                reason,
                report: summary.report.clone(),
            },
            (Some(Failure::Aborted(reason)), _) => FileError::Aborted {
                line,
                reason,
                summary: boxed(),
            },
            (Some(Failure::RepeatedRejects(reason)), _) => FileError::RepeatedRejects {
                line,
                reason,
                summary: boxed(),
            },
            (None, Some(stalled)) => FileError::Stalled {
                minutes: stalled.minutes,
                failed: self.counts.items_failed,
                reason: stalled.reason,
                summary: boxed(),
            },
            (None, None) => return None,
        })
    }

    /// What the load's next step carries to go on from `point`.
    fn next_checkpoint(
        self,
        point: ResumePoint,
        unwritten_lines: &[u64],
        progress_at: u64,
        summary: &FileSummary,
    ) -> Checkpoint {
        let report_url = self.report_url();
        let mut job = self.job;
        // The first few are listed (a checkpoint travels in the execution's payload); every one
        // is under the file's own name in the rejects prefix.
        if self.counts.rows_rejected > 0 && job.reports.len() < LISTED_REPORTS {
            job.reports.push(report_url);
        }
        Checkpoint {
            redo: Redo::after(job.redo.as_ref(), self.last_line, unwritten_lines),
            resume: Some(point),
            segment: job.segment + 1,
            counts: summary.counts,
            progress_at: Some(progress_at),
            ..job
        }
    }
}

/// How reading ended, as the end of the segment sees it.
struct Stop {
    /// Where the next step goes on, if anywhere.
    resume: Option<ResumePoint>,
    /// Why the load stops for good, if it does.
    failure: Option<Failure>,
}

enum Failure {
    Unreadable(String),
    Malformed(String),
    /// The writer met an error no retry fixes.
    Aborted(String),
    RepeatedRejects(String),
}

/// Items that could not be written for `minutes`: the load has stalled.
struct Stalled {
    minutes: u64,
    reason: String,
}

impl Stop {
    /// A broken stream is read again from its row, unless the load has stalled (then the object
    /// counts as unreadable).
    fn from_read(
        read_end: ReadEnd,
        fatal: Option<String>,
        stalled: bool,
        position: &Position,
    ) -> Stop {
        let (resume, read_failure) = match read_end {
            ReadEnd::Ended | ReadEnd::WriterStopped => (None, None),
            ReadEnd::Paused(point) => (Some(point), None),
            ReadEnd::Broke(_, reason) if stalled => (None, Some(Failure::Unreadable(reason))),
            ReadEnd::Broke(start, reason) => {
                tracing::warn!(line = start.line, reason, "reading again from this row");
                (Some(position.resume_from(start)), None)
            }
            ReadEnd::Unreadable(reason) => (None, Some(Failure::Unreadable(reason))),
            ReadEnd::Malformed(reason) => (None, Some(Failure::Malformed(reason))),
            ReadEnd::RepeatedRejects(reason) => (None, Some(Failure::RepeatedRejects(reason))),
        };
        // An unreadable object is told first, then a fatal write error, then repeated rejects.
        let failure = match (read_failure, fatal) {
            (Some(Failure::Unreadable(reason)), _) => Some(Failure::Unreadable(reason)),
            (Some(Failure::Malformed(reason)), _) => Some(Failure::Malformed(reason)),
            (_, Some(fatal)) => Some(Failure::Aborted(fatal)),
            (other, None) => other,
        };
        Stop { resume, failure }
    }
}

/// The header: read from the file, or the checkpoint's when resuming. `None` for an empty file.
async fn read_schema(
    loader: &Loader,
    job: &Checkpoint,
    reader: &mut RowReader,
    record: &mut ByteRecord,
) -> Result<Option<RowSchema>, FileError> {
    let header_error = |source| FileError::Header {
        bucket: job.bucket.clone(),
        key: job.key.clone(),
        source,
    };
    let (keys, types, blanks) = (
        &loader.table.keys,
        &loader.settings.column_types,
        loader.settings.blanks,
    );
    if job.resume.is_some() {
        return (RowSchema::from_names(job.header.clone(), keys, types, blanks).map(Some))
            .map_err(header_error);
    }
    match reader.read(record).await {
        Ok(Some(_)) => {
            (RowSchema::from_header(record, keys, types, blanks).map(Some)).map_err(header_error)
        }
        Ok(None) => Ok(None),
        Err(e) if is_malformed(&e) => Err(FileError::Malformed {
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            line: 0,
            reason: e.to_string(),
            report: String::new(),
        }),
        Err(e) => Err(FileError::Source(SourceError::Unreadable {
            bucket: job.bucket.clone(),
            key: job.key.clone(),
            reason: e.to_string(),
        })),
    }
}

fn report_error(job: &Checkpoint, report_key: &str, e: &dyn std::fmt::Display) -> FileError {
    FileError::Report {
        report: format!("s3://{}/{report_key}", job.bucket),
        reason: e.to_string(),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
