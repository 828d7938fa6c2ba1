//! Opening an S3 object as a stream of CSV bytes: gzip by magic bytes, BOM dropped, resumable.

use std::pin::Pin;

use async_compression::tokio::bufread::GzipDecoder;
use aws_sdk_s3::error::ProvideErrorMetadata;

use crate::aws_error::describe;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, BufReader};

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

pub type ByteReader = Pin<Box<dyn AsyncRead + Send>>;

/// An object opened for reading.
pub struct OpenedObject {
    pub reader: ByteReader,
    pub etag: Option<String>,
    pub compression: Compression,
    /// Decompressed bytes before `reader`'s first byte (a BOM, or the resume offset).
    pub offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
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

/// Opens `s3://bucket/key`, from the start or from a resume point.
pub async fn open_object(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    resume: Option<&ResumePoint>,
) -> Result<OpenedObject, SourceError> {
    let mut request = s3.get_object().bucket(bucket).key(key);
    if let Some(point) = resume {
        if let Some(etag) = &point.etag {
            request = request.if_match(etag);
        }
        // Plain text can be fetched from the offset; gzip must be decompressed from the start.
        if point.compression == Compression::None && point.offset > 0 {
            request = request.range(format!("bytes={}-", point.offset));
        }
    }
    let output = request.send().await.map_err(|e| {
        let (bucket, key) = (bucket.to_string(), key.to_string());
        match e.code() {
            Some("NoSuchKey") | Some("NotFound") => SourceError::NotFound { bucket, key },
            Some("PreconditionFailed") => SourceError::Changed {
                bucket,
                key,
                etag: resume
                    .and_then(|r| r.etag.clone())
                    .unwrap_or_default(),
            },
            _ => SourceError::Unreadable {
                bucket,
                key,
                reason: describe(&e),
            },
        }
    })?;
    let etag = output.e_tag().map(str::to_string);
    let raw: ByteReader = Box::pin(output.body.into_async_read());
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
        });
    };

    let reader = match point.compression {
        Compression::None => raw,
        Compression::Gzip => {
            let mut text = gunzip(raw);
            let skipped = tokio::io::copy(&mut (&mut text).take(point.offset), &mut tokio::io::sink())
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
    })
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
