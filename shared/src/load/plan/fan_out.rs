//! Fan-out: a file too large for one invocation's time is split into byte ranges, each loaded by its
//! own concurrent invocation, so the load runs as fast as the table allows, not one reader.
//!
//! Boundaries come from one pass of the loader's own CSV parser over the file, not from seeking to
//! an offset and guessing: a newline inside a quoted field is not a record boundary, and only the
//! parser knows which newlines are. Each range therefore starts exactly at the first record that
//! starts at or after its nominal offset, and every row belongs to exactly one range.
//!
//! Ranges run in any order, so a key on rows of two ranges would keep whichever write came last in
//! time, not in the file. The same pass types every row's key and remembers the keys of the ranges
//! before (a Bloom filter: it may take a key for a repeat, never miss one). Keys found in more than
//! one range are stored as a set of hashes; the ranges leave their rows out, and one more part reads
//! the whole file and loads just those rows, in file order, so their last row wins. The parts write
//! disjoint keys, so their order does not matter. Gzip files cannot be read from the middle and load
//! whole (with continuations), as does a file the pass cannot finish in time, or one with too many
//! repeated keys to carry.

use std::collections::HashSet;

use aws_sdk_s3::primitives::ByteStream;
use csv_async::ByteRecord;
use tokio::time::Instant;

use crate::aws_error::describe;
use crate::load::file::{ByteRange, Checkpoint, Loader};
use crate::load::read::fingerprint::{Bloom, HashSet64, key_hash};
use crate::load::read::row::RowSchema;
use crate::load::read::source::{Compression, ResumePoint, RowReader, open_object};

/// The deadline is checked every this many records of the pass.
const RECORDS_BETWEEN_DEADLINE_CHECKS: u64 = 4096;
/// Each of the pass's two Bloom filters holds at most this much.
const MAX_FILTER_BYTES: u64 = 64 << 20;
/// The fewest bytes a row is taken to have when sizing the filters.
const MIN_ROW_BYTES: u64 = 16;
/// More repeated keys than this (64 MiB of hashes for every part to read) load the file whole.
const MAX_REPEATED_KEYS: usize = 8 << 20;

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
    Whole(Box<Checkpoint>),
    /// Each part is loaded by an invocation of its own.
    Parts {
        parts: Vec<Checkpoint>,
        /// Keys found on rows of more than one range (their rows are the last part's).
        keys_in_several_ranges: u64,
    },
}

/// Where the hashes of a split load's repeated keys are kept: under the rejects prefix, which never
/// triggers a load, in a folder of their own that the template's lifecycle rule empties.
pub fn repeats_key(rejects_prefix: &str, source_key: &str, load_id: &str) -> String {
    format!("{rejects_prefix}{REPEATS_FOLDER}{source_key}@{load_id}")
}

/// The folder under the rejects prefix that holds the repeated keys' sets.
pub const REPEATS_FOLDER: &str = ".split-keys/";

/// Splits `job` into parts when its object is large and uncompressed.
pub async fn split(
    loader: &Loader,
    fan_out: FanOut,
    job: Checkpoint,
    deadline: Instant,
) -> Result<Split, String> {
    if job.resume.is_some() || job.range.is_some() || fan_out.ranges < 2 {
        return Ok(Split::Whole(Box::new(job)));
    }
    let size = match (loader.s3.head_object())
        .bucket(&job.bucket)
        .key(&job.key)
        .set_version_id(job.pin.version_id.clone())
        .send()
        .await
    {
        Ok(head) => head.content_length().unwrap_or_default().max(0) as u64,
        // The load itself reports a missing or unreadable object.
        Err(_) => return Ok(Split::Whole(Box::new(job))),
    };
    if size < fan_out.min_bytes.max(1) {
        return Ok(Split::Whole(Box::new(job)));
    }
    let Ok(opened) = open_object(&loader.s3, &job.bucket, &job.key, &job.pin, None, None).await
    else {
        return Ok(Split::Whole(Box::new(job)));
    };
    if opened.compression == Compression::Gzip {
        tracing::info!(key = %job.key, "a gzip file cannot be split: loading it whole");
        return Ok(Split::Whole(Box::new(job)));
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
        _ => return Ok(Split::Whole(Box::new(job))),
    };
    // A bad header is refused by the load, with its reason.
    let Ok(schema) = header else {
        return Ok(Split::Whole(Box::new(job)));
    };

    let point_here = |reader: &RowReader| ResumePoint {
        offset: opened.offset + reader.bytes_read(),
        line: reader.next_line(),
        etag: opened.etag.clone(),
        compression: Compression::None,
    };
    let pause_at = crate::deadline::before_deadline(deadline, loader.settings.checkpoint_margin);
    let step = size.div_ceil(u64::from(fan_out.ranges));
    let first_row = point_here(&reader);
    let mut start = first_row.clone();
    let mut next_cut = step;
    let mut ranges: Vec<(ResumePoint, u64)> = Vec::new();
    let mut earlier = Bloom::for_keys(size / MIN_ROW_BYTES, MAX_FILTER_BYTES);
    let mut current = earlier.clone();
    let mut repeated = HashSet::new();
    let mut records = 0u64;
    loop {
        match reader.read(&mut record).await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            // The rest of the file was not seen, nor its keys: the load reads it, and reports the
            // error if it recurs.
            Err(e) => {
                tracing::warn!(key = %job.key, error = %e, "the pass could not read the file: it loads whole");
                return Ok(Split::Whole(Box::new(job)));
            }
        }
        records += 1;
        // A row that is no item is its range's reject.
        if let Ok(row) = schema.to_item(&record) {
            let hash = key_hash(&row.key);
            if earlier.may_contain(hash)
                && repeated.insert(hash)
                && repeated.len() > MAX_REPEATED_KEYS
            {
                tracing::warn!(key = %job.key, "too many keys repeat across ranges: the file loads whole, in file order");
                return Ok(Split::Whole(Box::new(job)));
            }
            current.insert(hash);
        }
        let here = opened.offset + reader.bytes_read();
        if here >= next_cut && here < size {
            ranges.push((start, here));
            start = point_here(&reader);
            next_cut = here.max(next_cut) + step;
            earlier.absorb(&current);
            current.clear();
        }
        if records.is_multiple_of(RECORDS_BETWEEN_DEADLINE_CHECKS) && Instant::now() >= pause_at {
            tracing::warn!(key = %job.key, "no time to split the file: it loads whole");
            return Ok(Split::Whole(Box::new(job)));
        }
    }
    if ranges.is_empty() {
        return Ok(Split::Whole(Box::new(job)));
    }
    ranges.push((start, size));

    let keys_in_several_ranges = repeated.len() as u64;
    let repeats = if repeated.is_empty() {
        None
    } else {
        let at = repeats_key(&loader.settings.rejects_prefix, &job.key, &job.load_id);
        let hashes = HashSet64::from_hashes(repeated.into_iter().collect());
        (loader.s3.put_object())
            .bucket(&job.bucket)
            .key(&at)
            .body(ByteStream::from(hashes.to_bytes()))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "storing the split's repeated keys at {at}: {}",
                    describe(&e)
                )
            })?;
        tracing::info!(key = %job.key, repeated = hashes.len(), "keys repeat across ranges: their rows load in file order, as a part of their own");
        Some(at)
    };
    let parts = ranges.len() as u32 + u32::from(repeats.is_some());
    let part = |index: u32, from: ResumePoint, end: u64, repeated_keys_only: bool| Checkpoint {
        resume: Some(from),
        header: schema.header().to_vec(),
        range: Some(ByteRange {
            index,
            end,
            parts,
            repeats: repeats.clone(),
            repeated_keys_only,
        }),
        ..job.clone()
    };
    let mut checkpoints: Vec<Checkpoint> = (ranges.into_iter().enumerate())
        .map(|(i, (from, end))| part(i as u32 + 1, from, end, false))
        .collect();
    if repeats.is_some() {
        checkpoints.push(part(parts, first_row, size, true));
    }
    tracing::info!(key = %job.key, size, parts, "file split into parts");
    Ok(Split::Parts {
        parts: checkpoints,
        keys_in_several_ranges,
    })
}
