//! Names of the native backups this toolkit takes: `<table>.ddb-guard-<owner>.<UTC time>`, where the
//! owner is the stack that took it.
//!
//! The name is how retention and the watchdog recognise a stack's own backups, so it must always be
//! valid (3-255 characters of `[A-Za-z0-9_.-]`, which table names already are) and always parse
//! back. Earlier versions wrote `<table>.ddb-guard.<time>`, with no owner: such a "legacy" name
//! belongs to a stack only when it adopts them (`ADOPT_LEGACY_BACKUPS`).

use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

const TOOLKIT: &str = ".ddb-guard";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const TIME_LEN: usize = 16;
const MAX_NAME: usize = 255;
/// Stack names are at most 128 characters.
pub const MAX_OWNER: usize = 128;

/// Whose backups a stack prunes and watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ownership {
    /// The stack's name: letters, digits and `-` (no `.`, so a name parses one way only).
    pub owner: String,
    /// Also claim backups named before names carried an owner.
    pub adopt_legacy: bool,
}

impl Ownership {
    /// A usable owner, or why not.
    pub fn check_owner(owner: &str) -> Result<(), String> {
        let valid = owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if (1..=MAX_OWNER).contains(&owner.len()) && valid {
            Ok(())
        } else {
            Err(format!(
                "{owner:?} is not an owner (1-{MAX_OWNER} letters, digits, '-' or '_')"
            ))
        }
    }

    /// The backup name for `table` taken at `at` (to the second).
    pub fn backup_name(&self, table: &str, at: DateTime<Utc>) -> String {
        let marker = format!("{TOOLKIT}-{}.", self.owner);
        format!(
            "{}{marker}{}",
            table_part(table, MAX_NAME - marker.len() - TIME_LEN),
            at.format(TIME_FORMAT)
        )
    }

    /// When `name` was taken, if it is this stack's backup of `table`; `None` for anyone else's.
    pub fn taken_at(&self, name: &str, table: &str) -> Option<DateTime<Utc>> {
        let parsed = parse_backup_name(name)?;
        let owned = match &parsed.owner {
            Some(owner) => *owner == self.owner,
            None => self.adopt_legacy,
        };
        let marker_len = match &parsed.owner {
            Some(owner) => TOOLKIT.len() + 1 + owner.len() + 1,
            None => TOOLKIT.len() + 1,
        };
        let expected = table_part(table, MAX_NAME - marker_len - TIME_LEN);
        (owned && parsed.table_part == expected).then_some(parsed.at)
    }
}

/// A toolkit backup name taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedName {
    pub table_part: String,
    /// `None` for a legacy name.
    pub owner: Option<String>,
    pub at: DateTime<Utc>,
}

/// Any toolkit backup name, whoever took it; `None` for every other name.
pub fn parse_backup_name(name: &str) -> Option<ParsedName> {
    let (rest, time) = name.rsplit_once('.')?;
    if time.len() != TIME_LEN {
        return None;
    }
    let at = NaiveDateTime::parse_from_str(time, TIME_FORMAT)
        .ok()?
        .and_utc();
    let (table_part, owner) = match rest.strip_suffix(TOOLKIT) {
        Some(table_part) => (table_part, None),
        None => {
            let (table_part, owner) = rest.rsplit_once(&format!("{TOOLKIT}-"))?;
            Ownership::check_owner(owner).ok()?;
            (table_part, Some(owner.to_string()))
        }
    };
    if table_part.is_empty() {
        return None;
    }
    Some(ParsedName {
        table_part: table_part.to_string(),
        owner,
        at,
    })
}

/// The table's name, or when it does not fit in `room`, its start and a hash of the whole name, so
/// names stay readable and distinct.
fn table_part(table: &str, room: usize) -> String {
    if table.len() <= room {
        return table.to_string();
    }
    let digest = hex(&Sha256::digest(table.as_bytes())[..4]);
    format!("{}-{digest}", &table[..room - digest.len() - 1])
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

    fn stack(owner: &str) -> Ownership {
        Ownership {
            owner: owner.into(),
            adopt_legacy: false,
        }
    }

    #[test]
    fn names_say_table_stack_and_time_and_parse_back() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 7).unwrap();
        let prod = stack("ddb-guard-prod");
        let name = prod.backup_name("order_transaction-prod", at);
        assert_eq!(
            name,
            "order_transaction-prod.ddb-guard-ddb-guard-prod.20261125T050007Z"
        );
        assert!(valid(&name));
        assert_eq!(prod.taken_at(&name, "order_transaction-prod"), Some(at));
        assert_eq!(
            parse_backup_name(&name).unwrap().owner.as_deref(),
            Some("ddb-guard-prod")
        );
    }

    #[test]
    fn another_stack_or_another_table_is_not_ours() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 7).unwrap();
        let (a, b) = (stack("team-a"), stack("team-b"));
        let theirs = b.backup_name("orders", at);
        assert_eq!(a.taken_at(&theirs, "orders"), None);
        assert_eq!(b.taken_at(&theirs, "orders"), Some(at));
        // A table whose name ends like another's: the table part must match exactly.
        let other_table = a.backup_name("old-orders", at);
        assert_eq!(a.taken_at(&other_table, "orders"), None);
        // An owner that contains another's name is another owner.
        let longer = stack("team-a-2").backup_name("orders", at);
        assert_eq!(a.taken_at(&longer, "orders"), None);
    }

    #[test]
    fn legacy_names_belong_only_to_a_stack_that_adopts_them() {
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 5, 0, 7).unwrap();
        let legacy = "orders.ddb-guard.20261125T050007Z";
        assert_eq!(parse_backup_name(legacy).unwrap().owner, None);
        assert_eq!(stack("prod").taken_at(legacy, "orders"), None);
        let adopting = Ownership {
            owner: "prod".into(),
            adopt_legacy: true,
        };
        assert_eq!(adopting.taken_at(legacy, "orders"), Some(at));
        assert_eq!(adopting.taken_at(legacy, "customers"), None);
    }

    #[test]
    fn long_table_and_stack_names_are_shortened_safely() {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let owner = stack(&"s".repeat(MAX_OWNER));
        let (long_a, long_b) = ("a".repeat(255), format!("{}b", "a".repeat(254)));
        let a = owner.backup_name(&long_a, at);
        let b = owner.backup_name(&long_b, at);
        assert_eq!(a.len(), 255);
        assert!(valid(&a) && valid(&b));
        assert_ne!(a, b, "names that differ only past the cut stay distinct");
        assert_eq!(owner.taken_at(&a, &long_a), Some(at));
        assert_eq!(owner.taken_at(&a, &long_b), None);
        let short = stack("prod");
        let room = 255 - ".ddb-guard-prod.".len() - TIME_LEN;
        let exact = "t".repeat(room);
        assert_eq!(short.backup_name(&exact, at).len(), 255);
        assert!(short.backup_name(&exact, at).starts_with(&exact));
    }

    #[test]
    fn other_names_are_not_ours() {
        for name in [
            "before-migration",
            "orders.ddb-guard.",
            "orders.ddb-guard.2026-11-25",
            ".ddb-guard.20261125T050007Z",
            ".ddb-guard-prod.20261125T050007Z",
            "orders.ddb-guard.20261325T050007Z",
            "orders.ddb-guard-.20261125T050007Z",
            "orders.ddb-guard-pr.od.20261125T050007Z",
        ] {
            assert_eq!(parse_backup_name(name), None, "{name}");
        }
        assert!(Ownership::check_owner("").is_err());
        assert!(Ownership::check_owner("a.b").is_err());
        assert!(Ownership::check_owner(&"s".repeat(129)).is_err());
    }
}
