//! The missing-backup watchdog's judgement, table by table and source by source: is each expected
//! kind of backup recent enough, is point-in-time recovery on and current, and what could not be
//! checked. A source that stopped hides behind no other: each one is judged on its own.
//!
//! Longer than 500 lines because its tests, beside the judgement, are almost half of it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::problems::{News, Problem};
use crate::topic::{Alert, subject};

/// Where a table's backups come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackupSource {
    /// The newest backup of any kind, native or AWS Backup, whoever took it.
    Any,
    /// The backup-trigger's native backups (recognised by the stack's name marker).
    Native,
    /// The backup-trigger's on-demand AWS Backup recovery points (in the vault, not from a plan).
    OnDemand,
    /// The backup plan's recovery points (in the vault, created by the plan).
    Plan,
}

impl FromStr for BackupSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "any" => Ok(BackupSource::Any),
            "native" => Ok(BackupSource::Native),
            "on-demand" => Ok(BackupSource::OnDemand),
            "plan" => Ok(BackupSource::Plan),
            other => Err(format!(
                "{other:?} is not a backup source (any, native, on-demand, plan)"
            )),
        }
    }
}

impl fmt::Display for BackupSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackupSource::Any => "backup",
            BackupSource::Native => "native backup (backup-trigger)",
            BackupSource::OnDemand => "on-demand recovery point (backup-trigger)",
            BackupSource::Plan => "recovery point of the backup plan",
        })
    }
}

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

/// `newest`: the newest completed backup or recovery point of the table from one source.
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

/// Point-in-time recovery as `DescribeContinuousBackups` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Pitr {
    Current { lag_minutes: i64 },
    Lagging { lag_minutes: i64 },
    Disabled,
}

/// `latest_restorable`: `None` when point-in-time recovery is off.
pub fn pitr(
    latest_restorable: Option<DateTime<Utc>>,
    max_lag: Duration,
    now: DateTime<Utc>,
) -> Pitr {
    match latest_restorable {
        None => Pitr::Disabled,
        Some(latest) => {
            let lag_minutes = (now - latest).num_minutes().max(0);
            if now - latest > max_lag {
                Pitr::Lagging { lag_minutes }
            } else {
                Pitr::Current { lag_minutes }
            }
        }
    }
}

/// One source's verdict for one table, or why it could not be checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceWatch {
    pub source: BackupSource,
    #[serde(flatten)]
    pub result: Checked<Freshness>,
}

/// A verdict, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Checked<T> {
    Done(T),
    Unchecked { unchecked: String },
}

/// One table, as the watchdog saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableWatch {
    pub table: String,
    pub sources: Vec<SourceWatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pitr: Option<Checked<Pitr>>,
}

/// A table's metric values from one watchdog run (`metrics::BACKUP_AGE` per source, `metrics::PITR`).
#[derive(Debug, Clone, PartialEq)]
pub struct WatchFigures {
    /// Per source (its name): the newest backup's age in hours.
    pub backup_age_hours: Vec<(&'static str, f64)>,
    /// Point-in-time recovery: `(lag minutes, disabled 0/1)`.
    pub pitr: Option<(f64, f64)>,
}

impl BackupSource {
    /// The `Source` dimension's value.
    pub fn name(self) -> &'static str {
        match self {
            BackupSource::Any => "any",
            BackupSource::Native => "native",
            BackupSource::OnDemand => "on-demand",
            BackupSource::Plan => "plan",
        }
    }
}

impl TableWatch {
    /// What this run measured, for metrics: checks that could not be done, and sources with no
    /// backup at all, have no value (the alert names them).
    pub fn figures(&self, now: DateTime<Utc>) -> WatchFigures {
        let hours = |newest: &DateTime<Utc>| (now - *newest).num_seconds() as f64 / 3600.0;
        let backup_age_hours = (self.sources.iter())
            .filter_map(|s| match &s.result {
                Checked::Done(Freshness::Fresh { newest } | Freshness::Stale { newest, .. }) => {
                    Some((s.source.name(), hours(newest)))
                }
                _ => None,
            })
            .collect();
        let pitr = match &self.pitr {
            Some(Checked::Done(Pitr::Current { lag_minutes } | Pitr::Lagging { lag_minutes })) => {
                Some((*lag_minutes as f64, 0.0))
            }
            Some(Checked::Done(Pitr::Disabled)) => Some((0.0, 1.0)),
            _ => None,
        };
        WatchFigures {
            backup_age_hours,
            pitr,
        }
    }

    /// A table that could not be looked at at all (deleted, access denied): every check says why.
    pub fn unchecked(table: &str, sources: &[BackupSource], pitr: bool, why: &str) -> TableWatch {
        fn unchecked<T>(why: &str) -> Checked<T> {
            Checked::Unchecked {
                unchecked: why.to_string(),
            }
        }
        TableWatch {
            table: table.to_string(),
            sources: sources
                .iter()
                .map(|&source| SourceWatch {
                    source,
                    result: unchecked(why),
                })
                .collect(),
            pitr: pitr.then(|| unchecked(why)),
        }
    }

    /// What is wrong with this table, one line each; empty when all is well.
    pub fn problems(&self) -> Vec<String> {
        self.problems_but(false)
    }

    /// The problems, leaving out those the metrics measure when `measured_page_elsewhere`.
    pub fn problems_but(&self, measured_page_elsewhere: bool) -> Vec<String> {
        let list = self.problem_list(measured_page_elsewhere);
        list.into_iter().map(|p| p.line).collect()
    }

    /// What is wrong with this table, each a problem told once (its aspect: the source, or
    /// point-in-time recovery; its kind: what is wrong with it). Those the metrics measure (a
    /// stale backup, point-in-time recovery lagging or disabled) are left out when
    /// `measured_page_elsewhere`; what no metric can say (no backup at all, a check that could not
    /// be done) always stays.
    pub fn problem_list(&self, measured_page_elsewhere: bool) -> Vec<Problem> {
        let table = &self.table;
        let problem = |aspect: &str, kind: &str, line: String| Problem {
            aspect: aspect.to_string(),
            kind: kind.to_string(),
            line,
        };
        let mut problems = Vec::new();
        for s in &self.sources {
            let (source, name) = (s.source, s.source.name());
            match &s.result {
                Checked::Done(Freshness::Fresh { .. }) => {}
                Checked::Done(Freshness::Stale { .. }) if measured_page_elsewhere => {}
                Checked::Done(Freshness::Stale { newest, age_hours }) => problems.push(problem(
                    name,
                    "stale",
                    format!(
                        "{table}: newest {source} is {age_hours} hours old ({})",
                        newest.to_rfc3339()
                    ),
                )),
                Checked::Done(Freshness::Missing) => problems.push(problem(
                    name,
                    "missing",
                    format!("{table}: no {source} at all"),
                )),
                Checked::Unchecked { unchecked } => problems.push(problem(
                    name,
                    "unchecked",
                    format!("{table}: could not check {source}: {unchecked}"),
                )),
            }
        }
        let pitr = |kind: &str, line: String| problem("point-in-time recovery", kind, line);
        match &self.pitr {
            None | Some(Checked::Done(Pitr::Current { .. })) => {}
            Some(Checked::Done(Pitr::Lagging { .. } | Pitr::Disabled))
                if measured_page_elsewhere => {}
            Some(Checked::Done(Pitr::Lagging { lag_minutes })) => problems.push(pitr(
                "lagging",
                format!("{table}: point-in-time recovery lags {lag_minutes} minutes behind"),
            )),
            Some(Checked::Done(Pitr::Disabled)) => problems.push(pitr(
                "disabled",
                format!("{table}: point-in-time recovery is disabled"),
            )),
            Some(Checked::Unchecked { unchecked }) => problems.push(pitr(
                "unchecked",
                format!("{table}: could not check point-in-time recovery: {unchecked}"),
            )),
        }
        problems
    }
}

/// The problem of tables selected by tag that could not be listed (so were not checked).
pub fn selection_problem(why: &str) -> Problem {
    Problem {
        aspect: "tag selection".into(),
        kind: "not listed".into(),
        line: format!(
            "tables selected by tag could not be listed, so they were not checked: {why}"
        ),
    }
}

/// A problem to tell in this run's alert: the table it is about (none: the selection of tables),
/// what a person reads, and whether it is new.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Told<'a> {
    pub table: Option<&'a str>,
    pub line: &'a str,
    pub news: News,
}

/// One alert for the problems to tell now (new ones first, then those still open a day after they
/// were last told), or `None` when there is nothing to tell.
pub fn watchdog_alert(prefix: &str, told: &[Told<'_>], max_backup_age: Duration) -> Option<Alert> {
    if told.is_empty() {
        return None;
    }
    let mut troubled: Vec<&str> = told.iter().filter_map(|t| t.table).collect();
    troubled.dedup();
    let what = match troubled.as_slice() {
        [one] => format!("table {one} needs attention"),
        [] => "the watched tables could not all be checked".to_string(),
        many => format!("{} tables need attention", many.len()),
    };
    let lines = |news: News| {
        (told.iter())
            .filter(|t| t.news == news)
            .map(|t| format!("  - {}", t.line))
            .collect::<Vec<_>>()
    };
    let (new, still) = (lines(News::New), lines(News::StillOpen));
    let mut found = new.join("\n");
    if !still.is_empty() {
        let joined = still.join("\n");
        found = format!("{found}\n\nStill so (told again once a day while it lasts):\n{joined}");
    }
    let body = format!(
        "The backup watchdog (newest backup at most {} hours old) found:\n\n{}\n\n\
         A source of backups may have stopped: check the backup plan, the backup-trigger's \
         schedule and recent job failures. A table that could not be checked may have been \
         deleted, or the watchdog lacks access to it. Each problem is told once, then once a day \
         while it lasts.\n",
        max_backup_age.num_hours(),
        found.trim_start_matches('\n'),
    );
    Some(Alert {
        subject: subject(&format!("{prefix} MISSING BACKUP: {what}")),
        body,
        attributes: [
            ("state", "MISSING_BACKUP"),
            ("job_type", "watchdog"),
            ("resource_type", "DynamoDB"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_alarms_page_for_what_is_measured_the_alert_keeps_only_what_is_not() {
        let now = Utc::now();
        let watch = TableWatch {
            table: "orders".into(),
            sources: vec![
                SourceWatch {
                    source: BackupSource::Native,
                    result: Checked::Done(freshness(
                        Some(now - Duration::hours(30)),
                        Duration::hours(26),
                        now,
                    )),
                },
                SourceWatch {
                    source: BackupSource::Plan,
                    result: Checked::Done(Freshness::Missing),
                },
            ],
            pitr: Some(Checked::Done(Pitr::Disabled)),
        };
        assert_eq!(watch.problems().len(), 3);
        assert_eq!(
            watch.problems_but(true),
            ["orders: no recovery point of the backup plan at all"]
        );
        let healthy_but_stale = TableWatch {
            sources: vec![watch.sources[0].clone()],
            ..watch.clone()
        };
        let alert =
            |measured| first_alert(std::slice::from_ref(&healthy_but_stale), None, measured);
        assert!(alert(false).is_some());
        assert!(alert(true).is_none(), "an alarm pages for it");
    }

    #[test]
    fn a_watch_gives_each_sources_age_and_point_in_time_recovery_as_figures() {
        let now = Utc::now();
        let watch = TableWatch {
            table: "orders".into(),
            sources: vec![
                SourceWatch {
                    source: BackupSource::Native,
                    result: Checked::Done(Freshness::Fresh {
                        newest: now - Duration::minutes(90),
                    }),
                },
                SourceWatch {
                    source: BackupSource::Plan,
                    result: Checked::Done(Freshness::Missing),
                },
                SourceWatch {
                    source: BackupSource::OnDemand,
                    result: Checked::Unchecked {
                        unchecked: "denied".into(),
                    },
                },
            ],
            pitr: Some(Checked::Done(Pitr::Lagging { lag_minutes: 42 })),
        };
        let figures = watch.figures(now);
        assert_eq!(figures.backup_age_hours, [("native", 1.5)]);
        assert_eq!(figures.pitr, Some((42.0, 0.0)));
        let off = TableWatch {
            pitr: Some(Checked::Done(Pitr::Disabled)),
            ..watch
        };
        assert_eq!(off.figures(now).pitr, Some((0.0, 1.0)));
    }
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
    }

    #[test]
    fn verdicts() {
        let max = Duration::hours(26);
        assert_eq!(freshness(None, max, now()), Freshness::Missing);
        let recent = now() - Duration::hours(7);
        assert_eq!(
            freshness(Some(recent), max, now()),
            Freshness::Fresh { newest: recent }
        );
        let old = now() - Duration::hours(50);
        assert_eq!(
            freshness(Some(old), max, now()),
            Freshness::Stale {
                newest: old,
                age_hours: 50
            }
        );
        let lag = Duration::minutes(60);
        assert_eq!(pitr(None, lag, now()), Pitr::Disabled);
        assert_eq!(
            pitr(Some(now() - Duration::minutes(5)), lag, now()),
            Pitr::Current { lag_minutes: 5 }
        );
        assert_eq!(
            pitr(Some(now() - Duration::minutes(90)), lag, now()),
            Pitr::Lagging { lag_minutes: 90 }
        );
    }

    fn source(source: BackupSource, result: Freshness) -> SourceWatch {
        SourceWatch {
            source,
            result: Checked::Done(result),
        }
    }

    #[test]
    fn a_dead_source_alerts_while_another_is_fresh() {
        let fresh = Freshness::Fresh {
            newest: now() - Duration::hours(2),
        };
        let dead = Freshness::Stale {
            newest: now() - Duration::days(40),
            age_hours: 960,
        };
        let orders = TableWatch {
            table: "orders".into(),
            sources: vec![
                source(BackupSource::Plan, fresh.clone()),
                source(BackupSource::Native, dead),
            ],
            pitr: Some(Checked::Done(Pitr::Current { lag_minutes: 5 })),
        };
        assert_eq!(
            orders.problems(),
            [
                "orders: newest native backup (backup-trigger) is 960 hours old (2026-10-16T12:00:00+00:00)"
            ]
        );
        let alert = first_alert(&[orders], None, false).unwrap();
        assert_eq!(
            alert.subject,
            "[g] MISSING BACKUP: table orders needs attention"
        );
        assert!(
            alert
                .body
                .contains("native backup (backup-trigger) is 960 hours old")
        );
        assert!(
            !alert.body.contains("recovery point of the backup plan"),
            "{}",
            alert.body
        );
    }

    #[test]
    fn a_table_that_cannot_be_checked_is_named_beside_the_others() {
        let sources = [BackupSource::Native, BackupSource::Plan];
        let gone = TableWatch::unchecked("old", &sources, true, "the table does not exist");
        let missing = TableWatch {
            table: "orders".into(),
            sources: vec![source(BackupSource::Native, Freshness::Missing)],
            pitr: Some(Checked::Done(Pitr::Disabled)),
        };
        let alert = first_alert(&[gone, missing], None, false).unwrap();
        assert_eq!(alert.subject, "[g] MISSING BACKUP: 2 tables need attention");
        for line in [
            "old: could not check native backup (backup-trigger): the table does not exist",
            "old: could not check point-in-time recovery: the table does not exist",
            "orders: no native backup (backup-trigger) at all",
            "orders: point-in-time recovery is disabled",
        ] {
            assert!(alert.body.contains(line), "{line}\n{}", alert.body);
        }
    }

    #[test]
    fn all_well_is_quiet_and_a_failed_selection_is_said() {
        let ok = TableWatch {
            table: "orders".into(),
            sources: vec![source(
                BackupSource::Any,
                Freshness::Fresh {
                    newest: now() - Duration::hours(1),
                },
            )],
            pitr: None,
        };
        assert_eq!(first_alert(std::slice::from_ref(&ok), None, false), None);
        let alert = first_alert(&[ok], Some("ListTables: throttled"), false).unwrap();
        assert!(alert.body.contains("could not be listed"), "{}", alert.body);
        assert_eq!(
            alert.subject,
            "[g] MISSING BACKUP: the watched tables could not all be checked"
        );
    }

    /// The alert when every problem of `watched` (and of a failed selection) is new.
    fn first_alert(
        watched: &[TableWatch],
        not_selected: Option<&str>,
        measured: bool,
    ) -> Option<Alert> {
        let lists: Vec<(&str, Vec<Problem>)> = (watched.iter())
            .map(|w| (w.table.as_str(), w.problem_list(measured)))
            .collect();
        let selection = not_selected.map(selection_problem);
        let mut told = Vec::new();
        for (table, problems) in &lists {
            for p in problems {
                told.push(Told {
                    table: Some(table),
                    line: &p.line,
                    news: News::New,
                });
            }
        }
        if let Some(p) = &selection {
            told.push(Told {
                table: None,
                line: &p.line,
                news: News::New,
            });
        }
        watchdog_alert("[g]", &told, Duration::hours(26))
    }

    #[test]
    fn problems_still_so_a_day_later_are_told_apart_from_new_ones() {
        let told = [
            Told {
                table: Some("orders"),
                line: "orders: no backup at all",
                news: News::StillOpen,
            },
            Told {
                table: Some("users"),
                line: "users: no backup at all",
                news: News::New,
            },
        ];
        let alert = watchdog_alert("[g]", &told, Duration::hours(26)).unwrap();
        assert_eq!(alert.subject, "[g] MISSING BACKUP: 2 tables need attention");
        let (new, still) = alert.body.split_once("Still so").unwrap();
        assert!(
            new.contains("  - users: no backup at all"),
            "{}",
            alert.body
        );
        assert!(
            still.contains("  - orders: no backup at all"),
            "{}",
            alert.body
        );
    }

    #[test]
    fn sources_parse() {
        assert_eq!("on-demand".parse(), Ok(BackupSource::OnDemand));
        assert_eq!(" Plan ".parse(), Ok(BackupSource::Plan));
        assert!(
            "weekly"
                .parse::<BackupSource>()
                .unwrap_err()
                .contains("any, native")
        );
    }
}
