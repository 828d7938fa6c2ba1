//! restore-handler: restores into a new table and brings back what a restore drops.
pub mod handler;
