//! The restore wing: a backup, a recovery point or a point in time restored into a new table, the
//! settings a restore drops brought back, and the result checked.

pub mod auto_scaling;
pub mod calls;
pub mod config;
pub mod drill;
pub mod idempotency;
pub mod identity;
pub mod options;
pub mod parity;
pub mod promote_request;
pub mod promotion;
pub mod provenance;
pub mod request;
pub mod service;
pub mod settings;
pub mod snapshot;
pub mod source;
pub mod table_changes;
pub mod timing;
pub mod verification;
pub mod verify;
pub mod waiting;
