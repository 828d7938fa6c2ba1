//! The missing-backup watchdog's judgement: is a table's newest backup recent enough?

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Freshness {
    Fresh {
        newest: DateTime<Utc>,
    },
    Stale {
        newest: DateTime<Utc>,
        age_hours: i64,
    },
    Missing,
}

/// `newest`: the newest completed backup or recovery point of the table, from any engine.
pub fn freshness(
    newest: Option<DateTime<Utc>>,
    max_age: Duration,
    now: DateTime<Utc>,
) -> Freshness {
    match newest {
        None => Freshness::Missing,
        Some(newest) if now - newest > max_age => Freshness::Stale {
            newest,
            age_hours: (now - newest).num_hours(),
        },
        Some(newest) => Freshness::Fresh { newest },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn verdicts() {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap();
        let max = Duration::hours(26);
        assert_eq!(freshness(None, max, now), Freshness::Missing);
        let recent = now - Duration::hours(7);
        assert_eq!(
            freshness(Some(recent), max, now),
            Freshness::Fresh { newest: recent }
        );
        let old = now - Duration::hours(50);
        assert_eq!(
            freshness(Some(old), max, now),
            Freshness::Stale {
                newest: old,
                age_hours: 50
            }
        );
    }
}
