//! Running a load: the request read into a plan, each file routed to its table, begun once per
//! version (`fence`), and what outlasts one invocation (the rest of a file, a large file's parts)
//! carried on as an execution of the load's state machine.

pub mod fan_out;
pub mod fence;
pub mod newest;
pub mod pin;
pub mod probe;
pub mod request;
pub mod route;
pub mod run;
pub mod s3_event;
pub mod start;
pub mod step;
