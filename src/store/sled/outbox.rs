//! The outbox's rows in sled: the queue (sequence order, which is lane order
//! within a lane), dead letters and their retry.

use super::{
    abort, decode_outbox, decode_u64, encode, next_counter, SledStore, TxResult, K_NEXT_OUTBOX,
};
use crate::store::records::OutboxRecord;
use crate::store::{Outbound, OutboxItem, StoreError};
use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;
use sled::Transactional;

impl SledStore {
    /// Queues a Slack operation outside any incident change.
    pub fn enqueue(&self, lane: &str, op: Outbound, at: DateTime<Utc>) -> Result<u64, StoreError> {
        let tr = self.trees()?;
        let r = (&tr.meta, &tr.outbox).transaction(|(meta, outbox)| -> TxResult<u64> {
            push_outbox(meta, outbox, lane, op.clone(), at)
        });
        Ok(r?)
    }

    /// All pending outbox entries in sequence order.
    pub fn outbox_pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let tr = self.reader()?;
        tr.outbox
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((decode_u64(&k, "outbox")?, decode_outbox(&v)?))
            })
            .collect()
    }

    pub fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>, StoreError> {
        let tr = self.reader()?;
        match tr.outbox.get(seq.to_be_bytes())? {
            Some(v) => Ok(Some(decode_outbox(&v)?)),
            None => Ok(None),
        }
    }

    /// Counts a failed attempt on the entry itself, so the count is visible in
    /// the dead-letter list and survives restarts.
    pub fn outbox_attempted(&self, seq: u64) -> Result<(), StoreError> {
        let tr = self.trees()?;
        if let Some(mut item) = self.outbox_item(seq)? {
            item.attempts = item.attempts.saturating_add(1);
            tr.outbox
                .insert(seq.to_be_bytes(), encode(&OutboxRecord::V1(item)))?;
        }
        Ok(())
    }

    /// Entries with a sequence above `seq`, in order: what the worker has not seen yet.
    pub fn outbox_after(&self, seq: u64) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let tr = self.reader()?;
        tr.outbox
            .range((seq + 1).to_be_bytes()..)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((decode_u64(&k, "outbox")?, decode_outbox(&v)?))
            })
            .collect()
    }

    /// Moves an entry Slack refused for good to the dead-letter tree, kept for inspection.
    pub fn outbox_dead(&self, seq: u64) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let k = seq.to_be_bytes();
        let r = (&tr.outbox, &tr.dead).transaction(|(outbox, dead)| -> TxResult<()> {
            if let Some(v) = outbox.remove(&k)? {
                dead.insert(&k, v)?;
            }
            Ok(())
        });
        Ok(r?)
    }

    /// Entries Slack refused for good.
    pub fn dead_letters(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let tr = self.reader()?;
        tr.dead
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((decode_u64(&k, "outbox_dead")?, decode_outbox(&v)?))
            })
            .collect()
    }

    /// How many entries are in the dead-letter list.
    /// (0 while the store is being reopened.)
    pub fn dead_count(&self) -> usize {
        self.reader().map_or(0, |t| t.dead.len())
    }

    /// Puts dead letter `seq` back at the end of its lane as a new entry
    /// (its new sequence), its attempts counted from zero; `None` if there
    /// is no such dead letter.
    pub fn retry_dead(&self, seq: u64, at: DateTime<Utc>) -> Result<Option<u64>, StoreError> {
        let tr = self.trees()?;
        let k = seq.to_be_bytes();
        let r = (&tr.meta, &tr.outbox, &tr.dead).transaction(
            |(meta, outbox, dead)| -> TxResult<Option<u64>> {
                let Some(v) = dead.remove(&k)? else {
                    return Ok(None);
                };
                let item = decode_outbox(&v).map_err(abort)?;
                push_outbox(meta, outbox, &item.lane, item.op, at).map(Some)
            },
        );
        Ok(r?)
    }

    /// Removes a delivered entry.
    pub fn outbox_done(&self, seq: u64) -> Result<(), StoreError> {
        let tr = self.trees()?;
        tr.outbox.remove(seq.to_be_bytes())?;
        Ok(())
    }
}

pub(super) fn push_outbox(
    meta: &TransactionalTree,
    outbox: &TransactionalTree,
    lane: &str,
    op: Outbound,
    at: DateTime<Utc>,
) -> TxResult<u64> {
    let seq = next_counter(meta, K_NEXT_OUTBOX)?;
    let item = OutboxItem {
        lane: lane.to_string(),
        op,
        enqueued_at: at,
        attempts: 0,
    };
    outbox.insert(&seq.to_be_bytes(), encode(&OutboxRecord::V1(item)))?;
    Ok(seq)
}
