//! The rejects report: every row that was not written, with its line and the reason, as CSV.
//!
//! Columns: `line,reason,` then the file's own columns, so fixed rows can be cut out and loaded again.
//! A row that was typed but not written (DynamoDB refused it, or it could not be written in time)
//! shows its typed values: numbers as DynamoDB keeps them, JSON cells re-encoded.
//! It is spooled to a temporary file (memory stays flat however many rows are rejected) and uploaded
//! under the rejects prefix, which the loader's trigger never matches.

use aws_sdk_s3::primitives::ByteStream;
use tempfile::TempPath;
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::aws_error::describe;

/// How many distinct reasons a summary names (the report holds them all).
pub const FIRST_REASONS: usize = 3;

/// The most one report holds: half of Lambda's default 512 MB of `/tmp`, so a report never fills it.
/// Rows past it are counted, not listed, and the report's last row says how many.
pub const MAX_REPORT_BYTES: u64 = 256 * 1024 * 1024;

pub struct RejectsReport {
    file: BufWriter<tokio::fs::File>,
    path: TempPath,
    rows: u64,
    /// Bytes written to the report, exactly: the cap holds however long the rows are.
    bytes: u64,
    max_bytes: u64,
    unlisted: u64,
    first_reasons: Vec<String>,
}

/// Where the report for `source_key` goes. Each version of the object gets its own (`@version`), a
/// file loaded over several invocations (segments) one per segment, and a fanned-out file one per
/// part (`.hashNNN`: the rows whose key hashes to part NNN) and segment; re-running a segment
/// overwrites its own report.
pub fn report_key(
    rejects_prefix: &str,
    source_key: &str,
    version: Option<&str>,
    part: Option<u32>,
    segment: u32,
) -> String {
    let version = version.map(|v| format!("@{v}")).unwrap_or_default();
    let part = part.map(|p| format!(".hash{p:03}")).unwrap_or_default();
    if segment <= 1 {
        format!("{rejects_prefix}{source_key}{version}{part}.rejects.csv")
    } else {
        format!("{rejects_prefix}{source_key}{version}{part}.rejects.part{segment:03}.csv")
    }
}

/// The longest a reason is in a summary (the report has it whole): a summary travels between the
/// steps of an execution, whose payloads Step Functions caps at 256 KB.
const SUMMARY_REASON_CHARS: usize = 200;

fn shortened(reason: &str) -> String {
    match reason.char_indices().nth(SUMMARY_REASON_CHARS) {
        Some((cut, _)) => format!("{}...", &reason[..cut]),
        None => reason.to_string(),
    }
}

/// One CSV row: fields quoted where they hold a comma, a quote or a line break (quotes doubled),
/// ending in `\n`.
fn csv_row<'f>(fields: impl Iterator<Item = &'f [u8]>) -> Vec<u8> {
    let mut row = Vec::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            row.push(b',');
        }
        if field
            .iter()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
        {
            row.push(b'"');
            for &b in field {
                if b == b'"' {
                    row.push(b'"');
                }
                row.push(b);
            }
            row.push(b'"');
        } else {
            row.extend_from_slice(field);
        }
    }
    row.push(b'\n');
    row
}

impl RejectsReport {
    pub async fn create(header: &[String]) -> std::io::Result<RejectsReport> {
        RejectsReport::create_capped(header, MAX_REPORT_BYTES).await
    }

    /// A report that lists rows up to `max_bytes`.
    pub async fn create_capped(
        header: &[String],
        max_bytes: u64,
    ) -> std::io::Result<RejectsReport> {
        let path = tempfile::Builder::new()
            .prefix("rejects-")
            .suffix(".csv")
            .tempfile()?
            .into_temp_path();
        let mut file = BufWriter::new(tokio::fs::File::create(&path).await?);
        let first = ["line", "reason"]
            .into_iter()
            .chain(header.iter().map(String::as_str));
        let header_row = csv_row(first.map(str::as_bytes));
        file.write_all(&header_row).await?;
        Ok(RejectsReport {
            file,
            path,
            rows: 0,
            bytes: header_row.len() as u64,
            max_bytes,
            unlisted: 0,
            first_reasons: Vec::new(),
        })
    }

    /// Lists a row: its line, why it was not written, and its cells.
    pub async fn add<'c>(
        &mut self,
        line: u64,
        reason: &str,
        cells: impl Iterator<Item = &'c [u8]>,
    ) -> std::io::Result<()> {
        let short = shortened(reason);
        if self.first_reasons.len() < FIRST_REASONS && !self.first_reasons.contains(&short) {
            self.first_reasons.push(short);
        }
        let line = line.to_string();
        let fields = [line.as_bytes(), reason.as_bytes()]
            .into_iter()
            .chain(cells.map(|cell| -> &[u8] { cell }));
        let row = csv_row(fields);
        if self.bytes + row.len() as u64 > self.max_bytes {
            self.unlisted += 1;
            return Ok(());
        }
        self.file.write_all(&row).await?;
        self.bytes += row.len() as u64;
        self.rows += 1;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The first distinct reasons rows were rejected for, at most `FIRST_REASONS`.
    pub fn first_reasons(&self) -> &[String] {
        &self.first_reasons
    }

    /// Rows counted but not listed, the report being full.
    pub fn unlisted(&self) -> u64 {
        self.unlisted
    }

    /// Uploads the report to `s3://bucket/key`.
    pub async fn upload(
        &mut self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
    ) -> Result<(), String> {
        if self.unlisted > 0 {
            let note = format!(
                "{} more rejected rows are not listed: this report reached its {} MiB cap",
                self.unlisted,
                self.max_bytes / (1024 * 1024)
            );
            let row = csv_row([b"".as_slice(), note.as_bytes()].into_iter());
            (self.file.write_all(&row).await).map_err(|e| e.to_string())?;
        }
        self.file.flush().await.map_err(|e| e.to_string())?;
        let body = ByteStream::from_path(&self.path)
            .await
            .map_err(|e| e.to_string())?;
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type("text/csv; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use csv_async::ByteRecord;

    use super::*;

    #[test]
    fn a_summary_carries_a_long_reason_shortened_and_the_report_keeps_it_whole() {
        let long = "é".repeat(500);
        let short = shortened(&long);
        assert_eq!(short.chars().count(), SUMMARY_REASON_CHARS + 3);
        assert!(short.ends_with("..."));
        assert_eq!(
            shortened("column \"amount\": bad"),
            "column \"amount\": bad"
        );
    }

    #[tokio::test]
    async fn a_full_report_counts_the_rows_it_cannot_list() {
        let mut report = RejectsReport::create_capped(&["a".to_string()], 200)
            .await
            .unwrap();
        let record = ByteRecord::from(vec!["x".repeat(50)]);
        for line in 2..12 {
            report.add(line, "bad", record.iter()).await.unwrap();
        }
        // The header is 14 bytes and each row 58: three rows fit in 200, the other seven are counted.
        assert_eq!((report.rows(), report.unlisted()), (3, 7));
        let mut quoted = RejectsReport::create_capped(&[], 1000).await.unwrap();
        let cells: [&[u8]; 2] = [b"a,b", b"say \"hi\"\nthere"];
        quoted.add(2, "bad", cells.into_iter()).await.unwrap();
        quoted.file.flush().await.unwrap();
        let written = std::fs::read(&quoted.path).unwrap();
        assert_eq!(
            written,
            b"line,reason\n2,bad,\"a,b\",\"say \"\"hi\"\"\nthere\"\n"
        );
        assert_eq!(
            quoted.bytes,
            written.len() as u64,
            "the cap counts what is written"
        );
        assert_eq!(report.first_reasons(), ["bad"]);
    }

    #[test]
    fn report_keys_stay_under_the_rejects_prefix() {
        assert_eq!(
            report_key("rejected/", "incoming/orders.csv", None, None, 1),
            "rejected/incoming/orders.csv.rejects.csv"
        );
        assert_eq!(
            report_key("rejected/", "incoming/orders.csv.gz", None, None, 3),
            "rejected/incoming/orders.csv.gz.rejects.part003.csv"
        );
        assert_eq!(
            report_key("rejected/", "incoming/big.csv", Some("v7"), Some(2), 1),
            "rejected/incoming/big.csv@v7.hash002.rejects.csv"
        );
        assert_eq!(
            report_key("rejected/", "incoming/big.csv", Some("v7"), Some(2), 4),
            "rejected/incoming/big.csv@v7.hash002.rejects.part004.csv"
        );
    }
}
