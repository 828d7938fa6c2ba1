//! Before a newer upload takes an object over from a load still running, it shows it can load: its
//! header reads and one of its first rows types. A broken re-upload then fails on its own, and the
//! good load it would have stopped runs to its end.

use csv_async::ByteRecord;

use crate::load::checkpoint::Checkpoint;
use crate::load::file::Loader;
use crate::load::read::row::RowSchema;
use crate::load::read::source::{RowReader, SourceError, open_object};
use crate::load::repeats::REPEATED_REJECTS_LIMIT;
use crate::load::summary::FileError;

/// What the start of the file showed.
#[derive(Debug, PartialEq, Eq)]
pub enum Probe {
    /// A row typed: the file can load.
    Loadable,
    /// No rows at all: nothing to load.
    Empty,
}

/// Reads the pinned version's header and rows until one types (at most `REPEATED_REJECTS_LIMIT`).
pub async fn probe(loader: &Loader, job: &Checkpoint) -> Result<Probe, FileError> {
    let (bucket, key) = (&job.bucket, &job.key);
    let opened = open_object(&loader.s3, bucket, key, &job.pin, None).await?;
    let mut reader = RowReader::new(opened.reader, opened.line);
    let mut record = ByteRecord::new();
    let unreadable = |e: csv_async::Error| {
        FileError::Source(SourceError::Unreadable {
            bucket: bucket.clone(),
            key: key.clone(),
            reason: e.to_string(),
        })
    };
    if reader
        .read(&mut record)
        .await
        .map_err(unreadable)?
        .is_none()
    {
        return Ok(Probe::Empty);
    }
    let settings = &loader.settings;
    let schema = RowSchema::from_header(
        &record,
        &loader.table.keys,
        &settings.column_types,
        settings.blanks,
    )
    .map_err(|source| FileError::Header {
        bucket: bucket.clone(),
        key: key.clone(),
        source,
    })?;
    let mut first_reason = None;
    for _ in 0..REPEATED_REJECTS_LIMIT {
        if reader
            .read(&mut record)
            .await
            .map_err(unreadable)?
            .is_none()
        {
            break;
        }
        match schema.to_item(&record) {
            Ok(_) => return Ok(Probe::Loadable),
            Err(reason) => {
                first_reason.get_or_insert(reason.to_string());
            }
        }
    }
    match first_reason {
        None => Ok(Probe::Empty),
        Some(reason) => Err(FileError::NotStarted {
            bucket: bucket.clone(),
            key: key.clone(),
            reason: format!("none of its first rows could be typed (the first: {reason})"),
        }),
    }
}
