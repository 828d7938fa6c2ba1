//! What a load says while and after it runs: at a steady interval, a progress line and the same in
//! metrics (rows so far, rows per second, how much of the object is read and an estimate of what
//! remains); at the end, the summary line and this invocation's load metrics.

use std::time::Duration;

use tokio::time::Instant;

use crate::load::summary::{Counts, FileSummary};
use crate::metrics::{LOAD, LOAD_PROGRESS, emit, function_name};

/// What a progress line reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub rows_per_second: f64,
    /// Of the object's bytes, when known (not for gzip, whose position is in decompressed bytes).
    pub percent: Option<f64>,
    /// At this invocation's pace so far.
    pub remaining_seconds: Option<f64>,
}

/// The figures for a load `elapsed` into this invocation, having read `rows` rows and moved from
/// byte `from` to byte `position` of an object of `size` bytes.
pub fn figures(
    elapsed: Duration,
    rows: u64,
    from: u64,
    position: u64,
    size: Option<u64>,
) -> Figures {
    let seconds = elapsed.as_secs_f64().max(0.001);
    let percent = size
        .filter(|s| *s > 0)
        .map(|s| (position as f64 / s as f64 * 100.0).min(100.0));
    let bytes_per_second = position.saturating_sub(from) as f64 / seconds;
    let remaining_seconds = size
        .filter(|_| bytes_per_second > 0.0)
        .map(|s| s.saturating_sub(position) as f64 / bytes_per_second);
    Figures {
        rows_per_second: rows as f64 / seconds,
        percent,
        remaining_seconds,
    }
}

/// Says a load's progress every `every`.
pub struct Progress {
    started: Instant,
    next: Instant,
    every: Duration,
    from: u64,
}

impl Progress {
    /// A load starting (or resuming) at byte `from`.
    pub fn new(now: Instant, from: u64, every: Duration) -> Progress {
        Progress {
            started: now,
            next: now + every,
            every,
            from,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    /// Logs and emits where the load is: `rows_so_far` in the file, `rows` of them in this
    /// invocation, at byte `position` of `size` (`None` when the position is not comparable).
    #[allow(clippy::too_many_arguments)]
    pub fn say(
        &mut self,
        now: Instant,
        table: &str,
        key: &str,
        rows_so_far: u64,
        rows: u64,
        position: u64,
        size: Option<u64>,
        in_flight: usize,
    ) {
        self.next = now + self.every;
        let f = figures(now - self.started, rows, self.from, position, size);
        tracing::info!(
            table,
            key,
            rows_so_far,
            rows_per_second = f.rows_per_second.round(),
            bytes_read = position,
            object_bytes = size,
            percent = f.percent.map(|p| (p * 10.0).round() / 10.0),
            remaining_seconds = f.remaining_seconds.map(f64::round),
            writes_in_flight = in_flight,
            "csv load progress"
        );
        emit(
            &LOAD_PROGRESS,
            &[&function_name(), table],
            &[
                f.rows_per_second,
                f.percent.unwrap_or(0.0),
                in_flight as f64,
            ],
        );
    }
}

/// This invocation's part of the load (never the file's running totals, which would count twice
/// across invocations), per function and table.
pub fn emit_load_metrics(table: &str, seg: &Counts, elapsed_ms: u64) {
    let seconds = (elapsed_ms as f64 / 1000.0).max(0.001);
    let rejected_percent = match seg.rows_read {
        0 => 0.0,
        read => seg.rows_rejected as f64 / read as f64 * 100.0,
    };
    emit(
        &LOAD,
        &[&function_name(), table],
        &[
            seg.rows_read as f64,
            seg.items_written as f64,
            seg.rows_rejected as f64,
            seg.items_failed as f64,
            seg.duplicates_collapsed as f64,
            seg.rows_read as f64 / seconds,
            rejected_percent,
            seg.items_superseded as f64,
        ],
    );
}

pub fn log_summary(s: &FileSummary) {
    tracing::info!(
        bucket = %s.bucket,
        key = %s.key,
        table = %s.table,
        version = s.version.as_deref(),
        part = s.part,
        rows_read = s.counts.rows_read,
        items_written = s.counts.items_written,
        rows_rejected = s.counts.rows_rejected,
        duplicates_collapsed = s.counts.duplicates_collapsed,
        items_failed = s.counts.items_failed,
        items_superseded = s.counts.items_superseded,
        report = %s.report,
        elapsed_ms = s.elapsed_ms,
        segment = s.segment,
        complete = s.complete,
        superseded_by = s.superseded_by.as_deref(),
        "csv load summary"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_from_the_pace_so_far() {
        let f = figures(Duration::from_secs(10), 5_000, 0, 250, Some(1_000));
        assert_eq!(f.rows_per_second, 500.0);
        assert_eq!(f.percent, Some(25.0));
        assert_eq!(f.remaining_seconds, Some(30.0));
        // Resumed at byte 500: the pace counts only this invocation's bytes.
        let f = figures(Duration::from_secs(10), 1_000, 500, 750, Some(1_000));
        assert_eq!((f.percent, f.remaining_seconds), (Some(75.0), Some(10.0)));
        // Unknown size (gzip): no percent, no estimate.
        let f = figures(Duration::from_secs(2), 10, 0, 999, None);
        assert_eq!((f.percent, f.remaining_seconds), (None, None));
    }
}
