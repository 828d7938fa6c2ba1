//! Fan-out: a file too large for one reader's time is loaded by several parts at once, each a
//! branch of the load's execution (the state machine's Map), so the load runs as fast as the table
//! allows, not one reader.
//!
//! Every part reads the whole file and writes only the rows whose key hashes to it (`Part::owns`):
//! each key has exactly one writer, which meets that key's rows in file order, so the last row of a
//! key wins whatever order the parts run in. Nothing is split by offset, so a quoted newline, a gzip
//! file or a key repeated across the file needs no special case.

use crate::load::file::{Checkpoint, Loader, Part};

/// When and how far to fan out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOut {
    /// Objects at least this large (as stored) fan out.
    pub min_bytes: u64,
    /// How many parts a file becomes; 1 never fans out.
    pub parts: u32,
}

impl FanOut {
    pub const MAX_PARTS: u32 = 100;
}

impl Default for FanOut {
    fn default() -> Self {
        FanOut {
            min_bytes: 256 * 1024 * 1024,
            parts: 8,
        }
    }
}

/// The parts `job` fans out into, or `None` when it loads as one (small, or its size unknown: the
/// load itself says what is wrong with the object).
pub async fn parts(loader: &Loader, fan_out: FanOut, job: &Checkpoint) -> Option<Vec<Checkpoint>> {
    if job.resume.is_some() || job.part.is_some() || fan_out.parts < 2 {
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
