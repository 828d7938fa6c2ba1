//! The restore wing: a backup, a recovery point or a point in time restored into a new table, the
//! settings a restore drops brought back, and the result checked.

pub mod config;
pub mod provenance;
pub mod request;
pub mod service;
pub mod settings;
pub mod source;
pub mod verify;
pub mod waiting;
