//! Telling each problem once. What was told about a subject (one table's backups, one table's
//! restore checks) is remembered in the state table: a new problem, or one that changed, is told at
//! once; one that stays the same is told again at most once a day; one that went away is forgotten,
//! so it is told again if it comes back.
//!
//! One CloudWatch alarm over every table cannot do this: once in ALARM for one table, it says
//! nothing when a second goes bad; and an alarm per table cannot follow tables selected by tag,
//! which come and go.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::state::{StateKey, StateStore};

/// An unchanged problem is told again once this long has passed since it was last told.
pub const REPEAT_AFTER_HOURS: i64 = 24;
/// How long a subject's memory lasts without being written: more than a day's repeat and a few
/// missed runs; a subject nobody checks any more (a table no longer watched) is forgotten.
const MEMORY_DAYS: i64 = 3;

/// One thing wrong with a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What part of the subject it is about (a source of backups, point-in-time recovery, the
    /// restore checks): a subject has at most one problem per aspect.
    pub aspect: String,
    /// What is wrong, in words that stay the same while the problem does (`stale`, `missing`, a
    /// drill's failed checks): another kind is a new problem.
    pub kind: String,
    /// What a person reads (it may change from run to run: an age, a lag).
    pub line: String,
}

/// What was told about a subject's open problems, by aspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Told {
    pub open: BTreeMap<String, Open>,
}

/// One problem told, and still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Open {
    pub kind: String,
    /// When it was first seen.
    pub since: DateTime<Utc>,
    /// When it was last told.
    pub told_at: DateTime<Utc>,
}

/// Why a problem is told now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum News {
    /// Not told before (or it went away, or changed, since).
    New,
    /// Told over a day ago, and still the same.
    StillOpen,
}

/// The problems to tell now, and what to remember once they are told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sorted<'a> {
    pub tell: Vec<(&'a Problem, News)>,
    pub remember: Told,
}

/// Which of `current` (a subject's problems now) to tell, given what was `told`.
pub fn sort<'a>(told: &Told, current: &'a [Problem], now: DateTime<Utc>) -> Sorted<'a> {
    let repeat = Duration::hours(REPEAT_AFTER_HOURS);
    let mut tell = Vec::new();
    let mut remember = Told::default();
    for problem in current {
        let open = match told.open.get(&problem.aspect) {
            Some(open) if open.kind == problem.kind && now - open.told_at < repeat => open.clone(),
            Some(open) if open.kind == problem.kind => {
                tell.push((problem, News::StillOpen));
                Open {
                    told_at: now,
                    ..open.clone()
                }
            }
            _ => {
                tell.push((problem, News::New));
                Open {
                    kind: problem.kind.clone(),
                    since: now,
                    told_at: now,
                }
            }
        };
        remember.open.insert(problem.aspect.clone(), open);
    }
    Sorted { tell, remember }
}

/// What was told about one subject, as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recalled {
    pub told: Told,
    /// The record's version (`None`: there is none yet).
    version: Option<u64>,
}

/// The memory of what was told, in the stack's state table. Without a state table (or when it
/// cannot be read) nothing is remembered and every problem is told every time: a repeat is better
/// than silence.
#[derive(Debug, Clone)]
pub struct ProblemMemory {
    store: Option<StateStore>,
}

impl ProblemMemory {
    pub fn new(store: Option<StateStore>) -> ProblemMemory {
        ProblemMemory { store }
    }

    /// What was told about `subject`; nothing when that cannot be known.
    pub async fn recall(&self, subject: &str, now: DateTime<Utc>) -> Recalled {
        let Some(store) = &self.store else {
            return Recalled::default();
        };
        match store.get(&StateKey::problems_told(subject), now).await {
            Ok(Some(record)) => Recalled {
                told: serde_json::from_value(record.body).unwrap_or_else(|e| {
                    tracing::warn!(subject, error = %e, "an unreadable memory of problems told");
                    Told::default()
                }),
                version: Some(record.version),
            },
            Ok(None) => Recalled::default(),
            Err(e) => {
                tracing::warn!(subject, error = %e, "could not read which problems were told: telling all");
                Recalled::default()
            }
        }
    }

    /// Remembers `told` for `subject` (read as `recalled`), once it is told. A write that fails
    /// or loses a race is logged: the next run may tell a problem again.
    pub async fn remember(
        &self,
        subject: &str,
        recalled: &Recalled,
        told: &Told,
        now: DateTime<Utc>,
    ) {
        let Some(store) = &self.store else {
            return;
        };
        if *told == recalled.told && (recalled.version.is_some() || told.open.is_empty()) {
            return; // nothing new to remember (an unchanged problem is rewritten when retold)
        }
        let key = StateKey::problems_told(subject);
        let body = serde_json::to_value(told).unwrap_or_default();
        let expires = now + Duration::days(MEMORY_DAYS);
        let written = match recalled.version {
            Some(version) => store.replace(&key, version, &body, expires).await,
            None => store.create(&key, &body, expires, now).await,
        };
        match written {
            Ok(true) => {}
            Ok(false) => tracing::warn!(subject, "another run remembered problems first"),
            Err(e) => {
                tracing::warn!(subject, error = %e, "could not remember the problems told: they may be told again")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn problem(aspect: &str, kind: &str) -> Problem {
        Problem {
            aspect: aspect.into(),
            kind: kind.into(),
            line: format!("orders: {aspect} is {kind}"),
        }
    }

    fn at(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    /// `current` told (or not) over runs at `hours`, each remembering what the last told.
    fn runs(current: &[Vec<Problem>], hours: &[i64]) -> Vec<Vec<(String, News)>> {
        let mut told = Told::default();
        let mut heard = Vec::new();
        for (problems, hour) in current.iter().zip(hours) {
            let sorted = sort(&told, problems, at(*hour));
            heard.push(
                (sorted.tell.iter())
                    .map(|(p, news)| (format!("{} {}", p.aspect, p.kind), *news))
                    .collect(),
            );
            told = sorted.remember;
        }
        heard
    }

    #[test]
    fn a_problem_is_told_once_then_daily_while_it_lasts() {
        let stale = vec![problem("native", "stale")];
        let heard = runs(&vec![stale; 4], &[0, 3, 23, 27]);
        assert_eq!(
            heard,
            [
                vec![("native stale".into(), News::New)],
                vec![],
                vec![],
                vec![("native stale".into(), News::StillOpen)],
            ]
        );
    }

    #[test]
    fn a_second_problem_is_told_at_once_and_alone() {
        let one = vec![problem("native", "stale")];
        let two = vec![problem("native", "stale"), problem("pitr", "disabled")];
        let heard = runs(&[one, two], &[0, 3]);
        assert_eq!(heard[1], [("pitr disabled".into(), News::New)]);
    }

    #[test]
    fn a_changed_or_returning_problem_is_new() {
        let stale = vec![problem("native", "stale")];
        let missing = vec![problem("native", "missing")];
        let heard = runs(&[stale.clone(), missing, vec![], stale], &[0, 3, 6, 9]);
        assert_eq!(heard[1], [("native missing".into(), News::New)]);
        assert_eq!(heard[2], []);
        assert_eq!(
            heard[3],
            [("native stale".into(), News::New)],
            "it came back"
        );
    }

    #[test]
    fn what_is_remembered_keeps_when_a_problem_began() {
        let stale = [problem("native", "stale")];
        let first = sort(&Told::default(), &stale, at(0)).remember;
        let later = sort(&first, &stale, at(30)).remember;
        assert_eq!(later.open["native"].since, at(0));
        assert_eq!(later.open["native"].told_at, at(30));
        let back: Told = serde_json::from_value(serde_json::to_value(&later).unwrap()).unwrap();
        assert_eq!(back, later);
    }
}
