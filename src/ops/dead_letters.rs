//! Dead letters: outbound work a receiver refused for good, put back in
//! its lane when a person asks (`tocsin outbox retry`, the API).

use super::{Core, Wake};
use crate::store::StoreError;

/// Why a dead letter was not put back.
#[derive(Debug)]
pub enum RetryFailure {
    /// The store refused the write.
    Write(StoreError),
    /// Written, but it could not be made durable: not to be called queued.
    Flush(StoreError),
}

impl Core {
    /// Puts dead letter `seq` back at the end of its lane; its new sequence,
    /// once that is on disk, or `None` if there is no such dead letter.
    pub async fn retry_dead(&self, seq: u64) -> Result<Option<u64>, RetryFailure> {
        let queued = self
            .store
            .retry_dead(seq, self.clock.now())
            .await
            .map_err(RetryFailure::Write)?;
        let Some(queued) = queued else {
            return Ok(None);
        };
        self.settle(Wake::OUTBOX)
            .await
            .map_err(RetryFailure::Flush)?;
        Ok(Some(queued))
    }
}
