//! Incidents in sled: the records, their payloads, and the indexes kept in
//! the same transactions (dedup keys, due times, open incidents, rooms).

use super::*;
use crate::store::port::{Applied, Change, Declined, TriggerKeys, TriggerKind, Triggering};
use crate::store::records::PayloadRecord;

impl SledStore {
    /// Stores an alert as `decide` says, in one transaction with its dedup
    /// keys, payload, indexes and outbound rows. `decide` sees the incident
    /// the dedup key points at and the id a new incident would get (taken
    /// only if it opens one). Refused below the free-space floor
    /// (`set_min_free`), so the disk keeps room for acknowledging and
    /// resolving what is already open.
    pub(in crate::store) fn trigger_with(
        &self,
        keys: &TriggerKeys<'_>,
        decide: &dyn Fn(Option<&Incident>, u64) -> Triggering,
    ) -> Result<(TriggerKind, Applied), StoreError> {
        self.admit()?;
        let tr = self.trees()?;
        let dkey = dedup_key(keys.routing_key, keys.dedup_key);
        // Encoded at most once, and only if this opens an incident, however
        // often a conflict runs the transaction again.
        let payload: std::cell::OnceCell<Option<sled::IVec>> = std::cell::OnceCell::new();
        let trees = (
            &tr.meta,
            &tr.incidents,
            &tr.dedup,
            &tr.outbox,
            &tr.due,
            &tr.open,
            &tr.payloads,
        );
        let r = trees.transaction(
            |(meta, incidents, dedup, outbox, due, open, payloads)| -> TxResult<_> {
                let w = Writes {
                    meta,
                    incidents,
                    outbox,
                    due,
                    open,
                };
                let previous = match dedup.get(&dkey)? {
                    Some(id) => get_incident(incidents, decode_u64(&id, "dedup").map_err(abort)?)?,
                    None => None,
                };
                let new_id = peek_counter(meta, K_NEXT_INCIDENT)?;
                let point_members = |id: u64| -> TxResult<()> {
                    for m in keys.member_keys {
                        dedup.insert(dedup_key(keys.routing_key, m), &id.to_be_bytes())?;
                    }
                    Ok(())
                };
                let (kind, change, old) = match decide(previous.as_ref(), new_id) {
                    Triggering::Append(c) => {
                        point_members(c.incident.id)?;
                        (TriggerKind::Appended, c, previous.as_ref())
                    }
                    Triggering::Reopen(c) => (TriggerKind::Reopened, c, previous.as_ref()),
                    Triggering::Open(c) => {
                        if c.incident.id != new_id {
                            return Err(abort(StoreError::Corrupt {
                                tree: "incidents",
                                message: format!(
                                    "a new incident must be #{new_id}, not #{}",
                                    c.incident.id
                                ),
                            }));
                        }
                        next_counter(meta, K_NEXT_INCIDENT)?;
                        let payload = payload.get_or_init(|| {
                            keys.custom_details.map(|d| {
                                sled::IVec::from(encode(&PayloadRecordRef::V1 {
                                    custom_details: d,
                                }))
                            })
                        });
                        if let Some(p) = payload {
                            payloads.insert(&new_id.to_be_bytes(), p.clone())?;
                        }
                        dedup.insert(dkey.as_slice(), &new_id.to_be_bytes())?;
                        point_members(new_id)?;
                        (TriggerKind::Opened, c, None)
                    }
                };
                let applied = write_change(&w, old, change, keys.at)?;
                Ok((kind, applied))
            },
        );
        Ok(r?)
    }

    /// The id the dedup key points at (the open incident with that key, or
    /// the last one it had), if any.
    pub(in crate::store) fn id_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<u64>, StoreError> {
        let tr = self.reader()?;
        match tr.dedup.get(self::dedup_key(routing_key, dedup_key))? {
            Some(id) => Ok(Some(decode_u64(&id, "dedup")?)),
            None => Ok(None),
        }
    }

    /// The open incident with this dedup key, if any.
    pub fn open_incident_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<Incident>, StoreError> {
        match self.id_by_key(routing_key, dedup_key)? {
            Some(id) => Ok(self.incident(id)?.filter(Incident::is_open)),
            None => Ok(None),
        }
    }

    /// Changes one incident as `decide` says, in one transaction with its
    /// indexes and the outbound rows the decision asks for (whose sequence
    /// numbers come back). `decide` sees the incident (`None` if there is
    /// none) and may decline; it may run more than once, as a conflict
    /// retries the transaction, so it must not have side effects.
    pub(in crate::store) fn change(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &dyn Fn(Option<&Incident>) -> Result<Change, Declined>,
    ) -> Result<Result<Applied, Declined>, StoreError> {
        let tr = self.trees()?;
        let trees = (&tr.meta, &tr.incidents, &tr.outbox, &tr.due, &tr.open);
        let r = trees.transaction(|(meta, incidents, outbox, due, open)| {
            let current = get_incident(incidents, id)?;
            let change = match decide(current.as_ref()) {
                Ok(c) => c,
                Err(declined) => return Ok(Err(declined)),
            };
            let w = Writes {
                meta,
                incidents,
                outbox,
                due,
                open,
            };
            Ok(Ok(write_change(&w, current.as_ref(), change, at)?))
        });
        Ok(r?)
    }

    pub fn incident(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        let tr = self.reader()?;
        match tr.incidents.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(decode_incident(&v)?)),
            None => Ok(None),
        }
    }

    /// The custom details of the alert that opened incident `id`, as stored
    /// (capped, and marked if they were cut down), if it had any.
    pub fn custom_details(&self, id: u64) -> Result<Option<serde_json::Value>, StoreError> {
        let tr = self.reader()?;
        match tr.payloads.get(id.to_be_bytes())? {
            Some(v) => Ok(Some(PayloadRecord::decode(&v).map_err(|e| {
                StoreError::Corrupt {
                    tree: "payloads",
                    message: e.to_string(),
                }
            })?)),
            None => Ok(None),
        }
    }

    /// What incident `id` occupies in the store: the bytes of its record
    /// and of its payload (0 where there is none).
    pub fn stored_bytes(&self, id: u64) -> Result<(usize, usize), StoreError> {
        let len = |t: &sled::Tree| -> Result<usize, StoreError> {
            Ok(t.get(id.to_be_bytes())?.map_or(0, |v| v.len()))
        };
        let tr = self.reader()?;
        Ok((len(&tr.incidents)?, len(&tr.payloads)?))
    }

    /// Every incident, oldest first.
    pub fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let tr = self.reader()?;
        tr.incidents
            .iter()
            .values()
            .map(|v| decode_incident(&v?))
            .collect()
    }

    /// The newest incidents, newest first: at most `limit`, stopping at the
    /// first opened before `since`.
    pub fn recent_incidents(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let tr = self.reader()?;
        let mut out = vec![];
        for v in tr.incidents.iter().values().rev() {
            let i = decode_incident(&v?)?;
            if i.created_at < since || out.len() >= limit {
                break;
            }
            out.push(i);
        }
        Ok(out)
    }

    /// Open incidents, oldest first. Reads only those, through the `open` index.
    pub fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let tr = self.reader()?;
        let mut open = vec![];
        for k in tr.open.iter().keys() {
            let v = tr.incidents.get(k?)?;
            if let Some(i) = v.map(|v| decode_incident(&v)).transpose()? {
                open.push(i);
            }
        }
        Ok(open)
    }

    /// How many incidents are not yet resolved, without reading any of them.
    pub fn open_count(&self) -> Result<usize, StoreError> {
        let tr = self.reader()?;
        let mut n = 0;
        for k in tr.open.iter().keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    /// Incidents with an escalation step due at or before `now`: (due time, id), earliest first.
    pub fn due_escalations(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        let tr = self.reader()?;
        tr.due
            .range(..=due_key(now, u64::MAX))
            .keys()
            .map(|k| {
                let k = k?;
                let at = decode_u64(&k[..8], "due")? as i64;
                let at = DateTime::from_timestamp_millis(at).ok_or(StoreError::Corrupt {
                    tree: "due",
                    message: "time out of range".into(),
                })?;
                Ok((at, decode_u64(&k[8..], "due")?))
            })
            .collect()
    }

    /// The earliest pending escalation step, if any.
    pub fn next_escalation_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let tr = self.reader()?;
        match tr.due.first()? {
            Some((k, _)) => Ok(DateTime::from_timestamp_millis(
                decode_u64(&k[..8], "due")? as i64
            )),
            None => Ok(None),
        }
    }

    /// Drops a due-index entry the engine found stale (the incident moved on).
    pub fn forget_due(&self, at: DateTime<Utc>, id: u64) -> Result<(), StoreError> {
        let tr = self.trees()?;
        tr.due.remove(due_key(at, id))?;
        Ok(())
    }

    /// Records the channel created for incident `id`'s room, and indexes it
    /// so commands and events in that channel find the incident.
    /// Records the channel of incident `id`'s room (the incident as `apply`
    /// makes it), and indexes it so commands and events in that channel
    /// find the incident.
    pub(in crate::store) fn room_opened_with(
        &self,
        id: u64,
        channel: &str,
        apply: &dyn Fn(&Incident) -> Incident,
    ) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let r = (&tr.incidents, &tr.rooms).transaction(|(incidents, rooms)| -> TxResult<()> {
            let Some(inc) = get_incident(incidents, id)? else {
                return Err(abort(StoreError::NoSuchIncident(id)));
            };
            put_incident(incidents, &apply(&inc))?;
            rooms.insert(channel.as_bytes(), &id.to_be_bytes())?;
            Ok(())
        });
        Ok(r?)
    }

    /// The incident whose own channel `channel` is.
    pub fn incident_by_room(&self, channel: &str) -> Result<Option<Incident>, StoreError> {
        let tr = self.reader()?;
        match tr.rooms.get(channel.as_bytes())? {
            Some(id) => self.incident(decode_u64(&id, "rooms")?),
            None => Ok(None),
        }
    }
}

/// Writes a decided change: the incident with its indexes, then its outbound rows.
fn write_change(
    w: &Writes<'_>,
    old: Option<&Incident>,
    change: Change,
    at: DateTime<Utc>,
) -> TxResult<Applied> {
    put_tracked(w, old, &change.incident)?;
    let mut outbox = Vec::with_capacity(change.outbound.len());
    for (lane, op) in change.outbound {
        outbox.push(push_outbox(w.meta, w.outbox, &lane, op, at)?);
    }
    Ok(Applied {
        incident: change.incident,
        outbox,
    })
}

/// Writes `new` and keeps the due index in step with its escalation, and
/// the open index with its state.
fn put_tracked(w: &Writes<'_>, old: Option<&Incident>, new: &Incident) -> TxResult<()> {
    let (incidents, due, open) = (w.incidents, w.due, w.open);
    if old.is_none_or(|o| o.is_open() != new.is_open()) {
        if new.is_open() {
            open.insert(&new.id.to_be_bytes(), &[])?;
        } else {
            open.remove(&new.id.to_be_bytes())?;
        }
    }
    let (was, now) = (old.and_then(Incident::next_due), new.next_due());
    if was != now {
        if let Some(t) = was {
            due.remove(&due_key(t, new.id))?;
        }
        if let Some(t) = now {
            due.insert(&due_key(t, new.id), &[])?;
        }
    }
    put_incident(incidents, new)
}

/// The trees a change to an incident writes, inside one transaction.
struct Writes<'a> {
    meta: &'a TransactionalTree,
    incidents: &'a TransactionalTree,
    outbox: &'a TransactionalTree,
    due: &'a TransactionalTree,
    open: &'a TransactionalTree,
}
