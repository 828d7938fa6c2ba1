//! A guard in front of the CSV reader, which buffers a whole record before returning it: an
//! unbalanced quote would pull the rest of the file into memory as one record. The guard follows
//! the same quoting rules byte by byte and ends the read with a clear error instead, after the rows
//! before it (`MalformedRow`: the file itself is wrong, so no retry reads it better).
//!
//! Rows end at `\n`: a carriage return alone, inside a cell, is data. A file with CR-only line
//! endings is one endless row, whose header the schema refuses, naming the cause.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};

/// No row can be longer: an item is at most 400 KB, and quoting at most doubles it.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: the field ends, or the next quote escapes it.
    QuoteInQuoted,
}

pub struct RecordGuard<R> {
    inner: R,
    state: State,
    /// The line being read.
    line: u64,
    /// The line the current record started on, and where its open quote (if any) was.
    record_line: u64,
    quote_line: u64,
    record_bytes: u64,
    /// A `\r` outside quotes was the last byte.
    after_cr: bool,
    /// The record being read holds a `\r` not followed by `\n` outside quotes.
    bare_cr: bool,
    /// Found in bytes already handed on: returned by the next read.
    problem: Option<String>,
}

impl<R> RecordGuard<R> {
    pub fn new(inner: R, first_line: u64) -> RecordGuard<R> {
        RecordGuard {
            inner,
            state: State::FieldStart,
            line: first_line,
            record_line: first_line,
            quote_line: first_line,
            record_bytes: 0,
            after_cr: false,
            bare_cr: false,
            problem: None,
        }
    }

    /// Follows `bytes`; returns how many of them may be handed on, and the problem if any.
    fn scan(&mut self, bytes: &[u8]) -> Option<(usize, String)> {
        for (i, &b) in bytes.iter().enumerate() {
            self.bare_cr |= std::mem::take(&mut self.after_cr) && b != b'\n';
            self.record_bytes += 1;
            let quoted = matches!(self.state, State::Quoted);
            self.state = match (self.state, b) {
                (State::FieldStart, b'"') => {
                    self.quote_line = self.line;
                    State::Quoted
                }
                (State::Quoted, b'"') => State::QuoteInQuoted,
                (State::Quoted, _) => State::Quoted,
                (State::QuoteInQuoted, b'"') => State::Quoted,
                (_, b',') => State::FieldStart,
                (_, b'\n') => State::FieldStart,
                _ => State::Unquoted,
            };
            if b == b'\n' {
                self.line += 1;
                if !quoted {
                    self.record_bytes = 0;
                    self.record_line = self.line;
                    self.bare_cr = false;
                }
            }
            if b == b'\r' && !quoted {
                self.after_cr = true;
            }
            if self.record_bytes > MAX_RECORD_BYTES {
                let why = if self.state == State::Quoted {
                    format!(
                        "the quote opened on line {} does not close within {MAX_RECORD_BYTES} \
                         bytes (an unbalanced quote?)",
                        self.quote_line
                    )
                } else {
                    let cause = if self.bare_cr {
                        " (its lines end with a carriage return alone? save the file with LF or \
                         CRLF line endings)"
                    } else {
                        ""
                    };
                    format!(
                        "the row starting on line {} is over {MAX_RECORD_BYTES} bytes{cause}",
                        self.record_line
                    )
                };
                return Some((i, format!("{why}; no row can be that long")));
            }
        }
        None
    }
}

/// The file has a row no reader can take (an unbalanced quote, a row over `MAX_RECORD_BYTES`).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MalformedRow(String);

fn malformed(problem: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, MalformedRow(problem))
}

/// Whether a read failed because of what the file holds (it would fail the same way again).
pub fn is_malformed(err: &csv_async::Error) -> bool {
    match err.kind() {
        csv_async::ErrorKind::Io(e) => e.get_ref().is_some_and(|inner| inner.is::<MalformedRow>()),
        _ => false,
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for RecordGuard<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(problem) = self.problem.take() {
            return Poll::Ready(Err(malformed(problem)));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let found = {
            let this = &mut *self;
            this.scan(&buf.filled()[before..])
        };
        if let Some((keep, problem)) = found {
            // Hand on the bytes before the problem, so the rows they end are still read.
            buf.set_filled(before + keep);
            if keep == 0 {
                return Poll::Ready(Err(malformed(problem)));
            }
            self.problem = Some(problem);
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    async fn read_all(text: Vec<u8>) -> (Vec<u8>, Option<String>) {
        let mut guard = RecordGuard::new(std::io::Cursor::new(text), 1);
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match guard.read(&mut chunk).await {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[tokio::test]
    async fn well_formed_text_passes_untouched() {
        let text = b"a,b\r\n\"x\r\ny\",\"q\"\"q\"\n3,5\" screen\n".to_vec();
        assert_eq!(read_all(text.clone()).await, (text, None));
    }

    #[tokio::test]
    async fn an_unbalanced_quote_names_its_line_after_the_rows_before() {
        let mut text = b"a,b\n1,2\n3,\"open\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES as usize + 10));
        let (out, problem) = read_all(text).await;
        assert!(out.starts_with(b"a,b\n1,2\n3,\"open\n"));
        assert_eq!(
            problem.unwrap(),
            format!(
                "the quote opened on line 3 does not close within {MAX_RECORD_BYTES} bytes (an \
                 unbalanced quote?); no row can be that long"
            )
        );
    }

    #[tokio::test]
    async fn a_carriage_return_alone_is_data() {
        let text = b"a,b\n1,x\ry\n3,4\n".to_vec();
        assert_eq!(read_all(text.clone()).await, (text, None));
    }

    #[tokio::test]
    async fn a_file_of_cr_only_lines_over_the_limit_says_so() {
        let mut text = b"a,b\r1,2\r".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES as usize));
        let (_, problem) = read_all(text).await;
        let problem = problem.unwrap();
        assert!(problem.contains("carriage return alone"), "{problem}");
    }
}
