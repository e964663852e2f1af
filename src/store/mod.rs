//! The store: durable state and the outbound work queued with it. The sled
//! backend in `sled/` is the only code that knows its database; `records`
//! holds the versioned forms records are stored in.

mod records;
mod sled;

pub use self::sled::*;
