//! A chat receiver's message references in sled: the `message_refs` tree,
//! incident id (u64 BE) → `MessageRefsRecord`, written apart from the
//! incident so that posting a copy never rewrites the incident record.

use super::*;
use crate::store::records::{MessageRefsRecord, MessageRefsRecordRef};
use crate::store::{MessageRef, MessageRefs};

impl SledStore {
    /// Incident `id`'s references; empty if none were recorded.
    pub fn message_refs(&self, id: u64) -> Result<MessageRefs, StoreError> {
        let tr = self.reader()?;
        match tr.message_refs.get(id.to_be_bytes())? {
            Some(v) => decode_refs(&v),
            None => Ok(MessageRefs::default()),
        }
    }

    /// Records where incident `id`'s post is, replacing any earlier one.
    pub fn set_post(&self, id: u64, post: MessageRef) -> Result<(), StoreError> {
        self.edit_refs(id, &|refs| refs.post = Some(post.clone()))
    }

    /// Records a DM that paged someone about incident `id`, once.
    pub fn add_dm(&self, id: u64, dm: MessageRef) -> Result<(), StoreError> {
        self.edit_refs(id, &|refs| {
            if !refs.dms.contains(&dm) {
                refs.dms.push(dm.clone());
            }
        })
    }

    /// Every sandbox record, in key order.
    pub fn sandbox_records(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tr = self.reader()?;
        let mut all = vec![];
        for kv in tr.sandbox.iter() {
            let (k, v) = kv?;
            let key = String::from_utf8(k.to_vec()).map_err(|e| StoreError::Corrupt {
                tree: "sandbox",
                message: e.to_string(),
            })?;
            all.push((key, v.to_vec()));
        }
        Ok(all)
    }

    pub fn put_sandbox_record(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.trees()?.sandbox.insert(key.as_bytes(), value)?;
        Ok(())
    }

    /// Changes incident `id`'s references as `f` says, in one transaction
    /// that checks the incident is there: a reference to no incident is
    /// refused, as it was while the incident held them.
    fn edit_refs(&self, id: u64, f: &dyn Fn(&mut MessageRefs)) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let key = id.to_be_bytes();
        let r =
            (&tr.incidents, &tr.message_refs).transaction(|(incidents, refs)| -> TxResult<()> {
                if incidents.get(key)?.is_none() {
                    return Err(abort(StoreError::NoSuchIncident(id)));
                }
                let mut current = match refs.get(key)? {
                    Some(v) => decode_refs(&v).map_err(abort)?,
                    None => MessageRefs::default(),
                };
                f(&mut current);
                refs.insert(&key, encode_refs(&current))?;
                Ok(())
            });
        Ok(r?)
    }
}

pub(super) fn encode_refs(refs: &MessageRefs) -> Vec<u8> {
    encode(&MessageRefsRecordRef::V1(refs))
}

fn decode_refs(v: &[u8]) -> Result<MessageRefs, StoreError> {
    serde_json::from_slice::<MessageRefsRecord>(v)
        .map(|MessageRefsRecord::V1(r)| r)
        .map_err(|e| StoreError::Corrupt {
            tree: "message_refs",
            message: e.to_string(),
        })
}
