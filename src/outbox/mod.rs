//! The outbox worker: drains queued outbound work (chat messages, SMS, phone
//! calls, plain HTTP visits) in order, per lane, at the receiver's pace.
//!
//! Every call tocsin makes to another system is first an outbox row in the
//! store. This worker sends one row per lane (a channel, a phone number) at
//! a time, spaces a lane's messages by the configured interval, waits out
//! 429 `Retry-After`, retries transient failures with capped backoff, and
//! deletes a row only after the receiver accepted it. It knows notices and
//! lanes, not platforms: each row goes to the [`Receiver`] that takes it,
//! which renders it when it is sent.
//!
//! - `receiver`: the interfaces receivers implement, and what an attempt tells them;
//! - `worker`: the loop, a lane's pacing, retries and dead letters;
//! - `lane`: one lane's queue and bookkeeping;
//! - `storm`: digests and notices that name a storm's incidents sooner;
//! - `pause`: holding the chat lanes while the chat receiver refuses its token.

mod lane;
mod pause;
mod receiver;
mod storm;
mod worker;

pub use receiver::{Attempt, Chat, Posted, Receiver, Suspect, DIGEST_MAX};

use crate::store::{Store, StoreError};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How a failed call should be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 429: wait at least this long before touching the lane again.
    RateLimited(Duration),
    /// 5xx, network trouble, garbled replies: retry with backoff.
    Transient(String),
    /// The receiver said no for good to this message (channel_not_found, …).
    Permanent(String),
    /// The receiver refused its credentials themselves (Slack's `invalid_auth`,
    /// `token_revoked`, …): none of its messages can go until the token works
    /// again, and none is to blame.
    Unauthorized(String),
    /// The receiver answered, but not in a form that says whether it took
    /// the work: retried a few times (the next lookup may find it was
    /// delivered), then moved to dead letters.
    Unreadable(String),
    /// No receiver for this work (its credentials are not set): the work
    /// waits for a restart that has them.
    Unconfigured(&'static str),
}

pub(crate) fn store_failure(e: StoreError) -> Failure {
    Failure::Transient(e.to_string())
}

pub struct OutboxWorker {
    pub store: Store,
    /// The chat receiver, when it is configured. It performs the rows it
    /// takes, like the others.
    pub chat: Option<Arc<dyn Chat>>,
    /// Every other receiver; a row goes to the first that takes it.
    pub receivers: Vec<Arc<dyn Receiver>>,
    /// Minimum spacing between two messages in one channel.
    pub interval: Duration,
    /// Poked whenever a row is added.
    pub ready: Arc<Notify>,
    /// First wait before asking again whether a refused chat token works.
    pub auth_probe: Duration,
    /// Set while the chat receiver refuses its token (a gauge on `/metrics`).
    pub auth_failing: Arc<AtomicBool>,
}
