//! Rejects in a row for one reason stop a load: the rest of the file would almost surely go the
//! same way.

/// Rejected rows in a row, with one reason and nothing written between them, that stop a load.
pub const REPEATED_REJECTS_LIMIT: u64 = 1000;

/// Counts rejects in a row that share one reason, with nothing written between them.
#[derive(Default)]
pub struct RepeatWatch {
    reason: String,
    count: u64,
    written: u64,
}

impl RepeatWatch {
    /// A row was rejected for `reason` when `written` items had been written: true at the limit.
    pub fn see(&mut self, reason: &str, written: u64) -> bool {
        if reason != self.reason || written != self.written {
            self.reason = reason.to_string();
            self.written = written;
            self.count = 0;
        }
        self.count += 1;
        self.count >= REPEATED_REJECTS_LIMIT
    }
}
