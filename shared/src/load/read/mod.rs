//! Reading rows: the object's bytes (gzip or plain, resumable at a byte offset), CSV records, and
//! each row typed into an item.

pub mod columns;
pub mod fingerprint;
pub mod item_size;
pub mod json_cell;
pub mod keys;
pub mod number;
pub mod record_guard;
pub mod row;
pub mod source;
pub mod table;
