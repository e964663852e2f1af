//! Schedules' runtime state in sled: overrides, swap requests, the calendar
//! feed's seed and generations, and the handoff cursors.

use super::{
    abort, decode_swap, decode_u64, encode, next_counter, override_key, push_outbox, SledStore,
    TxResult, FEED_GENERATION, HANDOFF_CURSOR, HANDOFF_USER, K_FEED_SEED, K_NEXT_OVERRIDE,
};
use crate::domain::schedule::Override;
use crate::store::port::SwapAnswer;
use crate::store::records::{OverrideRecord, SwapRecord};
use crate::store::{Outbound, StoreError, StoredOverride, SwapRequest};
use chrono::{DateTime, Utc};
use sled::Transactional;

impl SledStore {
    /// Records an override on `schedule`; later overrides win where they overlap.
    pub fn add_override(
        &self,
        schedule: &str,
        over: Override,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<StoredOverride, StoreError> {
        let tr = self.trees()?;
        let r = (&tr.meta, &tr.overrides).transaction(
            |(meta, overrides)| -> TxResult<StoredOverride> {
                let id = next_counter(meta, K_NEXT_OVERRIDE)?;
                let stored = StoredOverride {
                    id,
                    schedule: schedule.to_string(),
                    over: over.clone(),
                    created_by: created_by.to_string(),
                    created_at: at,
                };
                overrides.insert(
                    override_key(schedule, id),
                    encode(&OverrideRecord::V1(stored.clone())),
                )?;
                Ok(stored)
            },
        );
        Ok(r?)
    }

    /// Overrides of `schedule`, oldest first (the order `schedule::on_call_at` expects).
    pub fn overrides(&self, schedule: &str) -> Result<Vec<StoredOverride>, StoreError> {
        let tr = self.reader()?;
        let mut prefix = schedule.as_bytes().to_vec();
        prefix.push(0);
        tr.overrides
            .scan_prefix(prefix)
            .values()
            .map(|v| {
                let v = v?;
                serde_json::from_slice::<OverrideRecord>(&v)
                    .map(|OverrideRecord::V1(o)| o)
                    .map_err(|e| StoreError::Corrupt {
                        tree: "overrides",
                        message: e.to_string(),
                    })
            })
            .collect()
    }

    /// Removes override `id` of `schedule`; false if there was none.
    pub fn remove_override(&self, schedule: &str, id: u64) -> Result<bool, StoreError> {
        let tr = self.trees()?;
        Ok(tr.overrides.remove(override_key(schedule, id))?.is_some())
    }

    /// A fresh, unique swap request id (ids may skip after a crash; nobody types them).
    pub fn new_swap_id(&self) -> Result<u64, StoreError> {
        let tr = self.trees()?;
        Ok(tr.db.generate_id()? + 1)
    }

    /// Records a pending swap request and queues the message asking for an answer.
    pub fn add_swap(&self, req: &SwapRequest, ask: &(String, Outbound)) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let r = (&tr.meta, &tr.swaps, &tr.outbox).transaction(
            |(meta, swaps, outbox)| -> TxResult<()> {
                swaps.insert(&req.id.to_be_bytes(), encode(&SwapRecord::V1(req.clone())))?;
                push_outbox(meta, outbox, &ask.0, ask.1.clone(), req.created_at)?;
                Ok(())
            },
        );
        Ok(r?)
    }

    pub fn swap(&self, id: u64) -> Result<Option<SwapRequest>, StoreError> {
        let tr = self.reader()?;
        match tr.swaps.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(decode_swap(&v)?)),
            None => Ok(None),
        }
    }

    /// Answers swap `id` as `decide` says: compare-and-swap on its state.
    /// The request, the overrides it puts in place and its notices are
    /// written in one transaction, and only if `decide` changes something.
    /// Returns the request as it now is and whether this call changed it.
    pub(in crate::store) fn answer_swap_with(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &dyn Fn(&SwapRequest) -> Option<SwapAnswer>,
    ) -> Result<Option<(SwapRequest, bool)>, StoreError> {
        let tr = self.trees()?;
        let r = (&tr.meta, &tr.swaps, &tr.overrides, &tr.outbox).transaction(
            |(meta, swaps, overrides, outbox)| -> TxResult<Option<(SwapRequest, bool)>> {
                let Some(v) = swaps.get(id.to_be_bytes())? else {
                    return Ok(None);
                };
                let req = decode_swap(&v).map_err(abort)?;
                let Some(answer) = decide(&req) else {
                    return Ok(Some((req, false)));
                };
                let req = answer.request;
                swaps.insert(&id.to_be_bytes(), encode(&SwapRecord::V1(req.clone())))?;
                for over in answer.overrides {
                    let oid = next_counter(meta, K_NEXT_OVERRIDE)?;
                    let stored = StoredOverride {
                        id: oid,
                        schedule: req.schedule.clone(),
                        over,
                        created_by: answer.created_by.clone(),
                        created_at: at,
                    };
                    overrides.insert(
                        override_key(&req.schedule, oid),
                        encode(&OverrideRecord::V1(stored)),
                    )?;
                }
                for (lane, op) in answer.outbound {
                    push_outbox(meta, outbox, &lane, op, at)?;
                }
                Ok(Some((req, true)))
            },
        );
        Ok(r?)
    }

    /// A random secret made once per data directory, for calendar feed tokens.
    pub fn feed_seed(&self) -> Result<Vec<u8>, StoreError> {
        use rand::RngCore;
        let tr = self.trees()?;
        if let Some(v) = tr.meta.get(K_FEED_SEED)? {
            return Ok(v.to_vec());
        }
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        // Two first callers race: whoever wins, both read the winner's seed.
        let _ = tr
            .meta
            .compare_and_swap(K_FEED_SEED, None as Option<&[u8]>, Some(&seed[..]))?;
        Ok(tr
            .meta
            .get(K_FEED_SEED)?
            .map(|v| v.to_vec())
            .unwrap_or_else(|| seed.to_vec()))
    }

    /// How many times `schedule`'s calendar link was rotated.
    pub fn feed_generation(&self, schedule: &str) -> Result<u64, StoreError> {
        let tr = self.reader()?;
        match tr.meta.get(format!("{FEED_GENERATION}{schedule}"))? {
            Some(v) => decode_u64(&v, "meta"),
            None => Ok(0),
        }
    }

    /// Retires `schedule`'s calendar link: returns the new generation.
    /// Durable once `durable()` returns.
    pub fn rotate_feed(&self, schedule: &str) -> Result<u64, StoreError> {
        let key = format!("{FEED_GENERATION}{schedule}");
        let tr = self.trees()?;
        let next = tr.meta.update_and_fetch(key.as_bytes(), |old| {
            let n = old
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .map_or(0, u64::from_be_bytes);
            Some(n.saturating_add(1).to_be_bytes().to_vec())
        })?;
        match next {
            Some(v) => decode_u64(&v, "meta"),
            None => Ok(0),
        }
    }

    /// Up to when handoff notices for `schedule` have been sent.
    pub fn handoff_cursor(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        let tr = self.reader()?;
        let key = format!("{HANDOFF_CURSOR}{schedule}");
        match tr.meta.get(key)? {
            Some(v) => {
                let millis = decode_u64(&v, "meta")? as i64;
                Ok(DateTime::from_timestamp_millis(millis))
            }
            None => Ok(None),
        }
    }

    /// Who was on call when handoffs were last looked at (`Some(None)`: nobody;
    /// `None`: never recorded).
    pub fn handoff_user(&self, schedule: &str) -> Result<Option<Option<String>>, StoreError> {
        let tr = self.reader()?;
        let key = format!("{HANDOFF_USER}{schedule}");
        Ok(tr.meta.get(key)?.map(|v| {
            let u = String::from_utf8_lossy(&v).into_owned();
            (!u.is_empty()).then_some(u)
        }))
    }

    /// Queues `notices` and moves the handoff cursor to `to`, atomically: a
    /// crash sends them all or none, and a restart never repeats them.
    pub fn advance_handoffs(
        &self,
        schedule: &str,
        to: DateTime<Utc>,
        on_call: Option<&str>,
        notices: &[(String, Outbound)],
    ) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let key = format!("{HANDOFF_CURSOR}{schedule}");
        let user_key = format!("{HANDOFF_USER}{schedule}");
        // Milliseconds: an override starting "now" is not minute-aligned.
        let millis = u64::try_from(to.timestamp_millis()).unwrap_or(0);
        let r = (&tr.meta, &tr.outbox).transaction(|(meta, outbox)| -> TxResult<()> {
            for (lane, op) in notices {
                push_outbox(meta, outbox, lane, op.clone(), to)?;
            }
            meta.insert(key.as_bytes(), &millis.to_be_bytes())?;
            meta.insert(user_key.as_bytes(), on_call.unwrap_or("").as_bytes())?;
            Ok(())
        });
        Ok(r?)
    }
}
