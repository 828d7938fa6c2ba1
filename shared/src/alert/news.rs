//! Which of the watchdog's problems to tell this run: each table's problems set against what was
//! told before (`shared::problems`, one memory per table, one for the selection of tables), so a
//! problem is told once and then once a day while it lasts, and a second table going bad is told
//! at once, whatever the first is doing.

use chrono::{DateTime, Duration, Utc};

use crate::alert::watchdog::{TableWatch, Told, selection_problem, watchdog_alert};
use crate::problems::{News, Problem, ProblemMemory, Recalled, sort};
use crate::topic::Alert;

/// One subject's problems this run, what was told of them, and what to tell and remember.
struct Subject {
    name: String,
    /// The table it is about (`None`: the selection of tables).
    table: Option<String>,
    problems: Vec<Problem>,
    recalled: Recalled,
    /// Which of `problems` to tell now.
    tell: Vec<(usize, News)>,
    remember: crate::problems::Told,
}

/// This run's news: every subject the watchdog looked at.
pub struct WatchNews {
    subjects: Vec<Subject>,
}

impl WatchNews {
    /// Each watched table's problems (those the metrics measure left out when
    /// `measured_page_elsewhere`), and the selection's (`not_selected`: why tables selected by tag
    /// could not be listed), against what `memory` says was told.
    pub async fn gather(
        memory: &ProblemMemory,
        watched: &[TableWatch],
        not_selected: Option<&str>,
        measured_page_elsewhere: bool,
        now: DateTime<Utc>,
    ) -> WatchNews {
        let mut found: Vec<(String, Option<String>, Vec<Problem>)> = (watched.iter())
            .map(|w| {
                let problems = w.problem_list(measured_page_elsewhere);
                (
                    format!("watch#{}", w.table),
                    Some(w.table.clone()),
                    problems,
                )
            })
            .collect();
        found.push((
            "watch#selection".into(),
            None,
            not_selected.map(selection_problem).into_iter().collect(),
        ));
        let mut subjects = Vec::new();
        for (name, table, problems) in found {
            let recalled = memory.recall(&name, now).await;
            let sorted = sort(&recalled.told, &problems, now);
            let index = |p: &Problem| problems.iter().position(|q| std::ptr::eq(p, q));
            let tell = (sorted.tell.iter())
                .filter_map(|(p, news)| Some((index(p)?, *news)))
                .collect();
            let remember = sorted.remember;
            subjects.push(Subject {
                name,
                table,
                problems,
                recalled,
                tell,
                remember,
            });
        }
        WatchNews { subjects }
    }

    /// The alert for what is to be told now, if anything is.
    pub fn alert(&self, prefix: &str, max_backup_age: Duration) -> Option<Alert> {
        let told: Vec<Told<'_>> = (self.subjects.iter())
            .flat_map(|s| {
                (s.tell.iter()).map(|(i, news)| Told {
                    table: s.table.as_deref(),
                    line: &s.problems[*i].line,
                    news: *news,
                })
            })
            .collect();
        watchdog_alert(prefix, &told, max_backup_age)
    }

    /// How many problems are told now, and how many are open in all.
    pub fn counts(&self) -> (usize, usize) {
        let told = self.subjects.iter().map(|s| s.tell.len()).sum();
        let open = self.subjects.iter().map(|s| s.problems.len()).sum();
        (told, open)
    }

    /// Remembers what was told (once it is), and forgets the problems that went away.
    pub async fn remember(&self, memory: &ProblemMemory, now: DateTime<Utc>) {
        for s in &self.subjects {
            memory
                .remember(&s.name, &s.recalled, &s.remember, now)
                .await;
        }
    }
}
