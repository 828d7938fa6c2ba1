//! The common crate of the toolkit's Lambda functions: pure logic, plus the thin SDK edges it needs.
//!
//! One wing per concern (`load`, `backup`, `restore`, `alert`), each with its request parsing, its
//! configuration, its logic and its SDK edges; under them the common floor (the modules at the
//! root) that every wing may use. Imports run one way: functions -> wings -> floor. A wing never
//! imports another wing, and the floor imports no wing (`tests/architecture.rs` checks both).

// The wings.
pub mod alert;
pub mod backup;
pub mod load;
pub mod restore;

// The floor.
pub mod aws_error;
pub mod backup_name;
pub mod deadline;
pub mod env;
pub mod function_error;
pub mod metrics;
pub mod problems;
pub mod request;
pub mod retry;
pub mod sdk;
pub mod state;
pub mod table_backups;
pub mod table_selection;
pub mod telemetry;
pub mod topic;
pub mod workflow;
