//! Restore drills: proving on a schedule that backups restore, how long that takes, and that the
//! data is there. A drill is a caller of the restore and finish paths, not a second restore path;
//! the AWS Backup restore-testing validator runs the same checks on a restore testing job's table.

pub mod checks;
pub mod publish;
pub mod report;
pub mod request;
pub mod run;
pub mod sample;
pub mod tally;
pub mod validator;
pub mod verdict;
