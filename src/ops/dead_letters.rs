//! Dead letters: outbound work a receiver refused for good, put back in
//! its lane when a person asks (`tocsin outbox retry`, the API).

use super::{Core, Wake};
use crate::store::StoreError;

impl Core {
    /// Puts dead letter `seq` back at the end of its lane; its new sequence,
    /// once that is on disk, or `None` if there is no such dead letter.
    pub async fn retry_dead(&self, seq: u64) -> Result<Option<u64>, StoreError> {
        let queued = self.store.retry_dead(seq, self.clock.now()).await?;
        if queued.is_some() {
            self.settle(Wake::OUTBOX);
        }
        Ok(queued)
    }
}
