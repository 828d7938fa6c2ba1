//! Whether a load may still write. `BatchWriteItem` takes no conditions, so two loads of one object
//! are kept apart by a fence: the writer asks before every call, and once a newer load holds the
//! object the older one sends nothing more.

use std::future::Future;
use std::pin::Pin;

/// What the writer does with the items it was about to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateAnswer {
    /// Send them.
    Write,
    /// Another load holds the object: send nothing more (`WriteGate::holder` says which).
    Stop,
    /// Not known now (the state table was slow or failing): hand them back unsent, like throttled
    /// items, for the load's next step to ask again.
    Unsure(String),
    /// Never known again (the record that decides is gone): the load stops, with this reason.
    Broken(String),
}

pub type GateFuture<'a> = Pin<Box<dyn Future<Output = GateAnswer> + Send + 'a>>;

pub trait WriteGate: Send + Sync {
    fn may_write(&self) -> GateFuture<'_>;

    /// Which load holds the object now, once `may_write` said `Stop`.
    fn holder(&self) -> Option<String>;
}
