//! Rejects in a row of one kind stop a load: the rest of the file would almost surely go the same
//! way. A kind is what went wrong and where (`RowError::kind`: a wrong type in column `amount`), not
//! the reason's text, which quotes each row's own value.

/// Rejected rows in a row, of one kind and with nothing written between them, that stop a load.
pub const REPEATED_REJECTS_LIMIT: u64 = 1000;

/// Counts rejects in a row of one kind, with nothing written between them.
#[derive(Default)]
pub struct RepeatWatch {
    kind: String,
    count: u64,
    written: u64,
}

impl RepeatWatch {
    /// A row was rejected, of `kind`, when `written` items had been written: true at the limit.
    pub fn see(&mut self, kind: &str, written: u64) -> bool {
        if kind != self.kind || written != self.written {
            self.kind = kind.to_string();
            self.written = written;
            self.count = 0;
        }
        self.count += 1;
        self.count >= REPEATED_REJECTS_LIMIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_of_one_kind_trip_it_whatever_their_values() {
        let mut watch = RepeatWatch::default();
        let tripped = (0..REPEATED_REJECTS_LIMIT).map(|_| watch.see("bad value in amount", 0));
        assert_eq!(tripped.filter(|t| *t).count(), 1, "at the limit, once");
        let mut watch = RepeatWatch::default();
        for i in 0..REPEATED_REJECTS_LIMIT {
            let kind = if i % 2 == 0 {
                "bad value in amount"
            } else {
                "empty key order_id"
            };
            assert!(!watch.see(kind, 0), "alternating kinds never trip it");
        }
        let mut watch = RepeatWatch::default();
        for written in 0..REPEATED_REJECTS_LIMIT {
            assert!(
                !watch.see("bad value in amount", written),
                "a write between resets it"
            );
        }
    }
}
