//! Whether a load may still write. `BatchWriteItem` takes no conditions, so two loads of one object
//! are kept apart by a fence: the writer asks before every call, and once a newer load holds the
//! object the older one sends nothing more.

use std::future::Future;
use std::pin::Pin;

pub type GateAnswer<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

pub trait WriteGate: Send + Sync {
    /// `Ok(false)` once another load holds the object; an error when that cannot be known.
    fn may_write(&self) -> GateAnswer<'_>;

    /// Which load holds the object now, once `may_write` said no.
    fn holder(&self) -> Option<String>;
}
