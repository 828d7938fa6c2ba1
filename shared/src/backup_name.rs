//! Names of the native backups this toolkit takes: `<table>.ddb-guard.<UTC time>`.
//!
//! The name is how retention recognises its own backups, so it must always be valid (3-255 characters
//! of `[A-Za-z0-9_.-]`, which table names already are) and always parse back.

use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

const MARKER: &str = ".ddb-guard.";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const TIME_LEN: usize = 16;
const MAX_NAME: usize = 255;

/// The backup name for `table` taken at `at` (to the second).
pub fn backup_name(table: &str, at: DateTime<Utc>) -> String {
    let room = MAX_NAME - MARKER.len() - TIME_LEN;
    let table_part = if table.len() <= room {
        table.to_string()
    } else {
        // Keep the start readable and the whole name unique: cut, then add a hash of the full name.
        let digest = hex(&Sha256::digest(table.as_bytes())[..4]);
        format!("{}-{digest}", &table[..room - digest.len() - 1])
    };
    format!("{table_part}{MARKER}{}", at.format(TIME_FORMAT))
}

/// When a backup named by [`backup_name`] was taken; `None` for any other name.
pub fn parse_backup_name(name: &str) -> Option<DateTime<Utc>> {
    let (table_part, time) = name.rsplit_once(MARKER)?;
    if table_part.is_empty() || time.len() != TIME_LEN {
        return None;
    }
    NaiveDateTime::parse_from_str(time, TIME_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn valid(name: &str) -> bool {
        (3..=255).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    }

    #[test]
    fn names_say_table_toolkit_and_time_and_parse_back() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 7).unwrap();
        let name = backup_name("order_transaction-prod", at);
        assert_eq!(name, "order_transaction-prod.ddb-guard.20261125T050007Z");
        assert!(valid(&name));
        assert_eq!(parse_backup_name(&name), Some(at));
    }

    #[test]
    fn long_table_names_are_shortened_safely() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let a = backup_name(&"a".repeat(255), at);
        let b = backup_name(&format!("{}b", "a".repeat(254)), at);
        assert_eq!(a.len(), 255);
        assert!(valid(&a) && valid(&b));
        assert_ne!(a, b, "names that differ only past the cut stay distinct");
        assert_eq!(parse_backup_name(&a), Some(at));
        let exact = "t".repeat(255 - MARKER.len() - TIME_LEN);
        assert_eq!(backup_name(&exact, at).len(), 255);
        assert!(backup_name(&exact, at).starts_with(&exact));
    }

    #[test]
    fn other_names_are_not_ours() {
        for name in [
            "before-migration",
            "orders.ddb-guard.",
            "orders.ddb-guard.2026-11-25",
            ".ddb-guard.20261125T050007Z",
            "orders.ddb-guard.20261325T050007Z",
        ] {
            assert_eq!(parse_backup_name(name), None, "{name}");
        }
    }
}
