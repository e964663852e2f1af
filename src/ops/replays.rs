//! Requests seen before: Slack's retried events (by `event_id`) and replayed
//! commands and clicks (by signature), recognised across restarts.
//!
//! These marks are not waited on: a request that changes something writes
//! after its mark, and that write's flush covers the mark too. So a crash loses the
//! mark only with the change (and the retry is then rightly taken), or of a
//! request that changed nothing.

use super::Core;
use crate::store::StoreError;

impl Core {
    /// True the first time `key` is seen (and from now on it is); false for
    /// a retry or a replay.
    pub async fn first_sight(&self, key: &str) -> Result<bool, StoreError> {
        self.store
            .first_sight_unflushed(key, self.clock.now())
            .await
    }

    /// Forgets `key`, whose handling failed, so the sender's retry is taken.
    pub async fn forget_sight(&self, key: &str) -> Result<(), StoreError> {
        self.store.forget_event(key).await
    }
}
