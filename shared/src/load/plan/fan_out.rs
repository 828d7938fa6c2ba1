//! Fan-out: a file too large for one reader's time is loaded by several parts at once, each a
//! branch of the load's execution (the state machine's Map), so the load runs as fast as the table
//! allows, not one reader.
//!
//! Every part reads the whole file and writes only the rows whose key hashes to it (`Part::owns`):
//! each key has exactly one writer, which meets that key's rows in file order, so the last row of a
//! key wins whatever order the parts run in. Nothing is split by offset, so a quoted newline, a gzip
//! file or a key repeated across the file needs no special case.

use crate::load::checkpoint::{Checkpoint, Part};
use crate::load::file::Loader;
use crate::load::write::writer::WriteSettings;

/// Items per second one invocation writes when nothing holds it back (`docs/benchmarks.md`: about
/// 66,000 rows/s against an unlimited endpoint at 1024 MB, rounded down): a table, or a load,
/// limited below it is filled as fast by one invocation as by several.
pub const ONE_INVOCATION_ITEMS_PER_SECOND: f64 = 60_000.0;

/// When and how far to fan out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FanOut {
    /// Objects at least this large (as stored) fan out.
    pub min_bytes: u64,
    /// How many parts a file becomes; 1 never fans out.
    pub parts: u32,
    /// Items per second one invocation writes (`ONE_INVOCATION_ITEMS_PER_SECOND` unless measured
    /// otherwise, at another memory size say): below it, more parts would not write faster.
    pub writer_rate: f64,
}

impl FanOut {
    pub const MAX_PARTS: u32 = 100;

    /// Never more parts than the function's reserved concurrency, when one is set: more would
    /// wait on Lambda's throttling, not load faster.
    pub fn within(self, reserved: Option<u32>) -> FanOut {
        FanOut {
            parts: reserved.map_or(self.parts, |r| self.parts.min(r.max(1))),
            ..self
        }
    }
}

/// This function's reserved concurrency (`GetFunctionConcurrency` on itself), read at cold start;
/// `None` when none is set (the default: a new account's quota is small) or it cannot be read.
pub async fn reserved_concurrency(aws: &aws_config::SdkConfig) -> Option<u32> {
    let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME").ok()?;
    let lambda = aws_sdk_lambda::Client::new(aws);
    let answer = lambda
        .get_function_concurrency()
        .function_name(&name)
        .send()
        .await;
    match answer {
        Ok(answer) => (answer.reserved_concurrent_executions()).map(|n| n.max(0) as u32),
        Err(e) => {
            let why = crate::aws_error::describe(&e);
            tracing::warn!(%name, %why, "reserved concurrency unknown: parts are not capped by it");
            None
        }
    }
}

impl Default for FanOut {
    fn default() -> Self {
        FanOut {
            min_bytes: 256 * 1024 * 1024,
            parts: 8,
            writer_rate: ONE_INVOCATION_ITEMS_PER_SECOND,
        }
    }
}

impl FanOut {
    /// Whether several invocations would write faster than one: the table is on-demand or has more
    /// write capacity than one invocation uses, and the load's own limit leaves room for more.
    pub fn helps(&self, write_units: Option<i64>, write: &WriteSettings) -> bool {
        let table_allows = write_units.is_none_or(|u| u as f64 > self.writer_rate);
        let load_allows = (write.max_items_per_second).is_none_or(|r| r > self.writer_rate);
        table_allows && load_allows
    }
}

/// The parts `job` fans out into, or `None` when it loads as one: small, its size unknown (the load
/// itself says what is wrong with the object), or where more writers would not write faster.
pub async fn parts(loader: &Loader, fan_out: FanOut, job: &Checkpoint) -> Option<Vec<Checkpoint>> {
    if job.resume.is_some() || job.part.is_some() || fan_out.parts < 2 {
        return None;
    }
    if !fan_out.helps(loader.table.write_units, &loader.settings.write) {
        return None;
    }
    let head = (loader.s3.head_object())
        .bucket(&job.bucket)
        .key(&job.key)
        .set_version_id(job.pin.version_id.clone())
        .send()
        .await
        .ok()?;
    let size = head.content_length().unwrap_or_default().max(0) as u64;
    if size < fan_out.min_bytes.max(1) {
        return None;
    }
    let of = fan_out.parts;
    let parts = (1..=of).map(|index| Checkpoint {
        part: Some(Part { index, of }),
        ..job.clone()
    });
    Some(parts.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_helps_only_where_the_table_and_the_load_take_more_than_one_writer() {
        let fan_out = FanOut::default();
        let helps = |units, write| fan_out.helps(units, write);
        let unlimited = WriteSettings::default();
        assert!(helps(None, &unlimited), "on-demand");
        assert!(helps(Some(100_000), &unlimited));
        assert!(!helps(Some(1_000), &unlimited), "a small provisioned table");
        let capped = WriteSettings {
            max_items_per_second: Some(500.0),
            ..unlimited
        };
        assert!(
            !helps(None, &capped),
            "MAX_WRITES_PER_SECOND below one writer's rate"
        );
        let slow_writers = FanOut {
            writer_rate: 100.0,
            ..fan_out
        };
        assert!(
            slow_writers.helps(Some(1_000), &capped),
            "measured slower writers"
        );
    }

    #[test]
    fn a_parts_limits_are_its_share_of_the_loads() {
        let load = WriteSettings {
            max_in_flight: 32,
            max_items_per_second: Some(90_000.0),
            ..WriteSettings::default()
        };
        let part = load.shared_by(8);
        assert_eq!(part.max_in_flight, 4);
        assert_eq!(part.max_items_per_second, Some(11_250.0));
        assert_eq!(load.shared_by(100).max_in_flight, 1, "at least one call");
    }

    #[test]
    fn parts_never_exceed_the_reserved_concurrency() {
        let fan_out = FanOut::default();
        assert_eq!(fan_out.within(None).parts, 8);
        assert_eq!(fan_out.within(Some(3)).parts, 3);
        assert_eq!(fan_out.within(Some(50)).parts, 8);
        // Reserved at 0 the function never runs; 1 part is the least a load is.
        assert_eq!(fan_out.within(Some(0)).parts, 1);
    }

    #[test]
    fn every_key_has_exactly_one_part() {
        let of = 5;
        for hash in [0u64, 1, 4, 5, 99, u64::MAX] {
            let owners = (1..=of).filter(|&index| Part { index, of }.owns(Some(hash)));
            assert_eq!(owners.count(), 1, "hash {hash}");
        }
        let untyped = (1..=of).filter(|&index| Part { index, of }.owns(None));
        assert_eq!(untyped.collect::<Vec<_>>(), [1]);
    }
}
