//! Opening an S3 object as a stream of CSV bytes: gzip by magic bytes, BOM dropped, resumable.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_compression::tokio::bufread::GzipDecoder;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use csv_async::{AsyncReader, AsyncReaderBuilder, ByteRecord, Terminator};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader, ReadBuf};

use crate::aws_error::describe;
use crate::load::read::record_guard::RecordGuard;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}

/// Where to pick a file up again: a byte offset in the decompressed text, at a record boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumePoint {
    pub offset: u64,
    /// Line number of the record at `offset`.
    pub line: u64,
    /// The object version that was being read: a changed object is refused, not mixed.
    pub etag: Option<String>,
    pub compression: Compression,
}

/// Which version of an object a load reads: every read of one load names it, so a newer upload
/// never mixes into a load of the older one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectVersion {
    /// The S3 version ID (a versioned bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// The ETag, quotes included, as S3 returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
}

impl ObjectVersion {
    pub fn is_empty(&self) -> bool {
        self.version_id.is_none() && self.etag.is_none()
    }

    /// A short name for the version: its ID, or its ETag without quotes.
    pub fn label(&self) -> Option<String> {
        (self.version_id.clone())
            .or_else(|| self.etag.as_ref().map(|e| e.trim_matches('"').to_string()))
    }
}

/// Where a row starts (blank lines before it included): a load can pick up again there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowStart {
    pub offset: u64,
    pub line: u64,
}

pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;

/// An object opened for reading.
pub struct OpenedObject {
    pub reader: ByteReader,
    pub etag: Option<String>,
    pub compression: Compression,
    /// Decompressed bytes before `reader`'s first byte (a BOM, or the resume offset).
    pub offset: u64,
    /// The line `reader`'s first byte is on, from 1.
    pub line: u64,
    /// The object's size as stored (compressed, for gzip), when S3 said.
    pub size: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    /// S3 answered AccessDenied: a missing key looks so to a reader without `s3:ListBucket`, and so
    /// does a key policy or bucket policy being changed. Not the same as "not found": it may pass.
    #[error(
        "S3 refused to let this function read s3://{bucket}/{key} (AccessDenied: the object is \
         missing, or a bucket or KMS key policy denies it)"
    )]
    Denied { bucket: String, key: String },
    #[error(
        "s3://{bucket}/{key} changed while it was being loaded (ETag is no longer {etag}); \
         upload it again to load the new version"
    )]
    Changed {
        bucket: String,
        key: String,
        etag: String,
    },
    #[error("cannot read s3://{bucket}/{key}: {reason}")]
    Unreadable {
        bucket: String,
        key: String,
        reason: String,
    },
}

/// Opens `s3://bucket/key` as pinned, from the start or from a resume point.
pub async fn open_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    pin: &ObjectVersion,
    resume: Option<&ResumePoint>,
) -> Result<OpenedObject, SourceError> {
    let mut request = (s3.get_object().bucket(bucket).key(key))
        .set_version_id(pin.version_id.clone())
        .set_if_match(resume.and_then(|r| r.etag.clone()).or(pin.etag.clone()));
    // Plain text can be fetched from the offset; gzip must be decompressed from the start.
    let ranged = resume.filter(|p| p.compression == Compression::None && p.offset > 0);
    if let Some(point) = ranged {
        request = request.range(format!("bytes={}-", point.offset));
    }
    let sent = request.send().await;
    if let (Err(e), Some(point)) = (&sent, ranged)
        && e.code() == Some("InvalidRange")
    {
        // A load that paused after its last record: nothing is left.
        return Ok(OpenedObject {
            reader: Box::pin(tokio::io::empty()),
            etag: point.etag.clone(),
            size: None,
            compression: point.compression,
            offset: point.offset,
            line: point.line,
        });
    }
    let output = sent.map_err(|e| source_error(&e, bucket, key, pin, resume))?;
    let etag = output.e_tag().map(str::to_string);
    // A ranged read says the whole size after the slash (`bytes 0-99/1234`).
    let size = (output.content_range())
        .and_then(|r| r.rsplit('/').next())
        .and_then(|total| total.parse().ok())
        .or(output.content_length().and_then(|l| u64::try_from(l).ok()));
    let raw: ByteReader = Box::pin(BodyReader(output.body.into_async_read()));
    let unreadable = |reason: String| SourceError::Unreadable {
        bucket: bucket.to_string(),
        key: key.to_string(),
        reason,
    };

    let Some(point) = resume else {
        let (magic, raw) = peek(raw, GZIP_MAGIC.len())
            .await
            .map_err(|e| unreadable(e.to_string()))?;
        let (compression, text) = if magic == GZIP_MAGIC {
            (Compression::Gzip, gunzip(raw))
        } else {
            (Compression::None, raw)
        };
        let (head, text) = peek(text, UTF8_BOM.len())
            .await
            .map_err(|e| unreadable(format!("decompressing: {e}")))?;
        let (offset, reader) = if head == UTF8_BOM {
            let mut reader = text;
            let mut bom = [0; 3];
            reader
                .read_exact(&mut bom)
                .await
                .map_err(|e| unreadable(e.to_string()))?;
            (3, reader)
        } else {
            (0, text)
        };
        return Ok(OpenedObject {
            reader,
            etag,
            compression,
            offset,
            line: 1,
            size,
        });
    };

    let reader = match point.compression {
        Compression::None => raw,
        Compression::Gzip => {
            let mut text = gunzip(raw);
            let skipped =
                tokio::io::copy(&mut (&mut text).take(point.offset), &mut tokio::io::sink())
                    .await
                    .map_err(|e| unreadable(format!("decompressing: {e}")))?;
            if skipped != point.offset {
                return Err(unreadable(format!(
                    "it ends at byte {skipped}, before the resume offset {}",
                    point.offset
                )));
            }
            text
        }
    };
    Ok(OpenedObject {
        reader,
        etag,
        compression: point.compression,
        offset: point.offset,
        line: point.line,
        size,
    })
}

/// What a failed `GetObject` means for the load.
fn source_error(
    e: &SdkError<GetObjectError>,
    bucket: &str,
    key: &str,
    pin: &ObjectVersion,
    resume: Option<&ResumePoint>,
) -> SourceError {
    let (bucket, key) = (bucket.to_string(), key.to_string());
    match e.code() {
        Some("NoSuchKey") | Some("NoSuchVersion") | Some("NotFound") => {
            SourceError::NotFound { bucket, key }
        }
        Some("AccessDenied") => SourceError::Denied { bucket, key },
        Some("PreconditionFailed") => SourceError::Changed {
            bucket,
            key,
            etag: (resume.and_then(|r| r.etag.clone()))
                .or(pin.etag.clone())
                .unwrap_or_default(),
        },
        _ => SourceError::Unreadable {
            bucket,
            key,
            reason: describe(e),
        },
    }
}

/// The rows of an opened object, each with the line it starts on.
///
/// Rows end at `\n` only (a CRLF row's `\r` is dropped here), and a row's line is worked out from
/// where it ends: the CSV reader marks a row's start before the previous row's `\n` (with `\r`
/// as a terminator) and before skipped blank lines, which would put rows on earlier lines.
pub struct RowReader {
    csv: AsyncReader<ByteReader>,
    /// The line the reader's first byte is on.
    first_line: u64,
}

impl RowReader {
    pub fn new(reader: ByteReader, first_line: u64) -> RowReader {
        let reader: ByteReader = Box::pin(RecordGuard::new(reader, first_line));
        let csv = AsyncReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(Terminator::Any(b'\n'))
            .buffer_capacity(256 * 1024)
            .create_reader(reader);
        RowReader { csv, first_line }
    }

    /// Reads the next row into `record` and returns the line it starts on; `None` at the end.
    pub async fn read(&mut self, record: &mut ByteRecord) -> Result<Option<u64>, csv_async::Error> {
        loop {
            let lines_before = self.csv.position().line();
            if !self.csv.read_byte_record(record).await? {
                return Ok(None);
            }
            drop_carriage_return(record);
            if record.len() == 1 && record[0].is_empty() {
                continue;
            }
            let newlines_inside = record.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
            // A row ending in `\n` started `1 + newlines_inside` lines before the reader's line now;
            // the last row may have no `\n`, and then it started no earlier than `lines_before`.
            let start = (self.csv.position().line())
                .saturating_sub(newlines_inside + 1)
                .max(lines_before);
            return Ok(Some(self.first_line + start - 1));
        }
    }

    /// Bytes read so far, from the reader's start.
    pub fn bytes_read(&self) -> u64 {
        self.csv.position().byte()
    }

    /// The line the next row starts on (blank lines before it aside).
    pub fn next_line(&self) -> u64 {
        self.first_line + self.csv.position().line() - 1
    }
}

fn drop_carriage_return(record: &mut ByteRecord) {
    let fields = record.len();
    if record.get(fields.wrapping_sub(1)).and_then(<[u8]>::last) != Some(&b'\r') {
        return;
    }
    let mut trimmed = ByteRecord::with_capacity(record.as_slice().len(), fields);
    for (i, field) in record.iter().enumerate() {
        trimmed.push_field(if i + 1 == fields {
            &field[..field.len() - 1]
        } else {
            field
        });
    }
    trimmed.set_position(record.position().cloned());
    *record = trimmed;
}

/// The S3 body broke off (a dropped connection): the bytes so far were good, and reading again
/// from the row being read can go on.
#[derive(Debug, thiserror::Error)]
#[error("the S3 stream broke off: {0}")]
pub struct StreamBroke(String);

/// Whether a read failed because the S3 body broke off, not because of what it carried.
pub fn stream_broke(err: &csv_async::Error) -> bool {
    match err.kind() {
        csv_async::ErrorKind::Io(e) => e.get_ref().is_some_and(|inner| inner.is::<StreamBroke>()),
        _ => false,
    }
}

/// The S3 body, its own errors marked as `StreamBroke` (whatever decodes the bytes after it).
struct BodyReader<R>(R);

impl<R: AsyncRead + Unpin> AsyncRead for BodyReader<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0)
            .poll_read(cx, buf)
            .map_err(|e| io::Error::other(StreamBroke(e.to_string())))
    }
}

fn gunzip(reader: ByteReader) -> ByteReader {
    let mut decoder = GzipDecoder::new(BufReader::new(reader));
    // Concatenated gzip members (as `cat a.gz b.gz` makes) are one file.
    decoder.multiple_members(true);
    Box::pin(decoder)
}

/// Reads up to `n` bytes and hands back a reader that still yields them.
async fn peek(mut reader: ByteReader, n: usize) -> std::io::Result<(Vec<u8>, ByteReader)> {
    let mut head = Vec::with_capacity(n);
    while head.len() < n {
        let mut byte = [0; 1];
        if reader.read(&mut byte).await? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    let replay = std::io::Cursor::new(head.clone());
    Ok((head, Box::pin(replay.chain(reader))))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rows(text: &str) -> Vec<(u64, Vec<String>)> {
        let mut reader =
            RowReader::new(Box::pin(std::io::Cursor::new(text.as_bytes().to_vec())), 1);
        let mut record = ByteRecord::new();
        let mut rows = Vec::new();
        while let Some(line) = reader.read(&mut record).await.unwrap() {
            let fields = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            rows.push((line, fields));
        }
        rows
    }

    #[tokio::test]
    async fn crlf_and_lf_rows_have_the_same_fields_and_lines() {
        let lf = rows("a,b\n1,\"x\ny\"\n\n2,\"q\"\n3,\n").await;
        let crlf = rows("a,b\r\n1,\"x\ny\"\r\n\r\n2,\"q\"\r\n3,\r\n").await;
        let expected = [
            (1, vec!["a", "b"]),
            (2, vec!["1", "x\ny"]),
            (5, vec!["2", "q"]),
            (6, vec!["3", ""]),
        ]
        .map(|(line, fields)| {
            (
                line,
                fields.into_iter().map(String::from).collect::<Vec<_>>(),
            )
        });
        assert_eq!(lf, expected);
        assert_eq!(crlf, expected);
    }

    #[tokio::test]
    async fn a_carriage_return_inside_quotes_is_kept() {
        let rows = rows("a,b\r\n1,\"x\r\ny\"\r\n").await;
        assert_eq!(rows[1].1, ["1", "x\r\ny"]);
    }

    #[tokio::test]
    async fn last_row_without_a_newline_is_read() {
        assert_eq!(rows("a\r\n1").await[1], (2, vec!["1".to_string()]));
        assert_eq!(rows("a\n\"1\n2\"").await[1], (2, vec!["1\n2".to_string()]));
    }

    #[tokio::test]
    async fn lines_count_from_the_first_line_given() {
        let mut reader = RowReader::new(Box::pin(std::io::Cursor::new(b"x\r\ny\r\n".to_vec())), 40);
        let mut record = ByteRecord::new();
        assert_eq!(reader.read(&mut record).await.unwrap(), Some(40));
        assert_eq!((reader.bytes_read(), reader.next_line()), (3, 41));
        assert_eq!(reader.read(&mut record).await.unwrap(), Some(41));
        assert_eq!(reader.read(&mut record).await.unwrap(), None);
    }
}
