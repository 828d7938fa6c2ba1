//! Fan-out: a file too large for one invocation's time is split into byte ranges, each loaded by its
//! own concurrent invocation, so the load runs as fast as the table allows, not one reader.
//!
//! Boundaries come from one pass of the loader's own CSV parser over the file, not from seeking to
//! an offset and guessing: a newline inside a quoted field is not a record boundary, and only the
//! parser knows which newlines are. Each range therefore starts exactly at the first record that
//! starts at or after its nominal offset, and every row belongs to exactly one range. The pass only
//! splits bytes (no typing, no writes) and each range is handed over as soon as its end is found,
//! so the first ranges are loading while the pass goes on. Gzip files cannot be read from the middle
//! and load sequentially (with continuations), as does a file the pass cannot finish in time: the
//! ranges found so far are dispatched and the rest is this invocation's own range.

use tokio::time::Instant;

use csv_async::ByteRecord;

use crate::load::file::{ByteRange, Checkpoint, Loader};
use crate::load::plan::continuation::Continuation;
use crate::load::read::row::RowSchema;
use crate::load::read::source::{Compression, ResumePoint, RowReader, open_object};

/// The deadline is checked every this many records of the pass.
const RECORDS_BETWEEN_DEADLINE_CHECKS: u64 = 4096;

/// When and how far to split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Uncompressed objects at least this large are split.
    pub min_bytes: u64,
    /// How many ranges a split file becomes; 1 never splits.
    pub ranges: u32,
}

impl FanOut {
    pub const MAX_RANGES: u32 = 100;
}

impl Default for FanOut {
    fn default() -> Self {
        FanOut {
            min_bytes: 256 * 1024 * 1024,
            ranges: 8,
        }
    }
}

/// How a job is carried out.
#[derive(Debug)]
pub enum Split {
    /// Loaded here, start to end (with continuations if it needs more time).
    Whole(Checkpoint),
    /// `dispatched` ranges were handed to other invocations; `own` is loaded here.
    Ranges {
        dispatched: Vec<Checkpoint>,
        own: Checkpoint,
    },
}

/// Splits `job` when its object is large and uncompressed, handing every range but the last to
/// `continuation` as soon as the range's end is known.
pub async fn split<C: Continuation>(
    loader: &Loader,
    fan_out: FanOut,
    job: Checkpoint,
    deadline: Instant,
    continuation: &C,
) -> Result<Split, String> {
    if job.resume.is_some() || job.range.is_some() || fan_out.ranges < 2 {
        return Ok(Split::Whole(job));
    }
    let size = match loader
        .s3
        .head_object()
        .bucket(&job.bucket)
        .key(&job.key)
        .send()
        .await
    {
        Ok(head) => head.content_length().unwrap_or_default().max(0) as u64,
        // The load itself reports a missing or unreadable object.
        Err(_) => return Ok(Split::Whole(job)),
    };
    if size < fan_out.min_bytes.max(1) {
        return Ok(Split::Whole(job));
    }
    let Ok(opened) = open_object(&loader.s3, &job.bucket, &job.key, None, None).await else {
        return Ok(Split::Whole(job));
    };
    if opened.compression == Compression::Gzip {
        tracing::info!(key = %job.key, "a gzip file cannot be split: loading it sequentially");
        return Ok(Split::Whole(job));
    }
    let mut reader = RowReader::new(opened.reader, opened.line);
    let mut record = ByteRecord::new();
    let header = match reader.read(&mut record).await {
        Ok(Some(_)) => RowSchema::from_header(
            &record,
            &loader.table.keys,
            &loader.settings.column_types,
            loader.settings.blanks,
        ),
        _ => return Ok(Split::Whole(job)),
    };
    // A bad header is refused by the load, with its reason.
    let Ok(schema) = header else {
        return Ok(Split::Whole(job));
    };

    let range_of = |start: ResumePoint, index: u32, end: u64| Checkpoint {
        resume: Some(start),
        header: schema.header().to_vec(),
        range: Some(ByteRange { index, end }),
        ..Checkpoint::start(&job.bucket, &job.key)
    };
    let point_here = |reader: &RowReader| ResumePoint {
        offset: opened.offset + reader.bytes_read(),
        line: reader.next_line(),
        etag: opened.etag.clone(),
        compression: Compression::None,
    };
    let pause_at = crate::deadline::before_deadline(deadline, loader.settings.checkpoint_margin);
    let step = size.div_ceil(u64::from(fan_out.ranges));
    let mut start = point_here(&reader);
    let mut next_cut = step;
    let mut dispatched = Vec::new();
    let mut records = 0u64;
    loop {
        match reader.read(&mut record).await {
            Ok(Some(_)) => {}
            // The rest is this invocation's range; its load reports a read error, if one recurs.
            Ok(None) | Err(_) => break,
        }
        records += 1;
        let here = opened.offset + reader.bytes_read();
        if here >= next_cut && here < size {
            let range = range_of(start, dispatched.len() as u32 + 1, here);
            continuation.continue_later(&range).await?;
            dispatched.push(range);
            start = point_here(&reader);
            next_cut = here.max(next_cut) + step;
        }
        if records.is_multiple_of(RECORDS_BETWEEN_DEADLINE_CHECKS) && Instant::now() >= pause_at {
            tracing::warn!(key = %job.key, "no time to split the rest: it loads here");
            break;
        }
    }
    if dispatched.is_empty() {
        return Ok(Split::Whole(job));
    }
    let own = range_of(start, dispatched.len() as u32 + 1, size);
    tracing::info!(key = %job.key, size, ranges = dispatched.len() + 1, "file split into byte ranges");
    Ok(Split::Ranges { dispatched, own })
}
