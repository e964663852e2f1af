//! Incidents in PostgreSQL: the records, their payloads, and the indexes
//! kept in the same transactions (dedup keys, due times, the open flag,
//! rooms), and the chat receiver's message references.

use super::*;
use crate::store::port::{Applied, Change, Declined, Lease, TriggerKeys, TriggerKind, Triggering};
use crate::store::records::{
    MessageRefsRecord, MessageRefsRecordRef, PayloadRecord, PayloadRecordRef,
};
use crate::store::MessageRefs;

impl PgStore {
    /// A trigger in one transaction: the dedup key's lock (so two alerts
    /// with one key decide one after the other), the incident it points
    /// at, the decision, and what it writes. A new incident's number is
    /// taken only once the decision opens one.
    pub(super) async fn try_trigger(
        &self,
        keys: &TriggerKeys<'_>,
        decide: &(dyn Fn(Option<&Incident>, u64) -> Triggering + Send + Sync),
    ) -> Fail<(TriggerKind, Applied)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let dkey = dedup_key(keys.routing_key, keys.dedup_key);
        exec(&tx, "SELECT pg_advisory_xact_lock($1)", &[&lock_id(&dkey)]).await?;
        let previous = match row(&tx, "SELECT id FROM dedup WHERE key = $1", &[&dkey]).await? {
            Some(r) => locked_incident(&tx, r.get::<_, i64>(0)).await?,
            None => None,
        };
        let mut decision = decide(previous.as_ref(), 0);
        let mut new_id = 0;
        if matches!(decision, Triggering::Open(_)) {
            let r = row(&tx, "SELECT nextval('incident_ids')", &[]).await?;
            new_id = r.map_or(0, |r| r.get::<_, i64>(0)) as u64;
            decision = decide(previous.as_ref(), new_id);
        }
        let point = |id: u64| {
            let tx = &tx;
            async move {
                for m in keys.member_keys {
                    upsert_dedup(tx, &dedup_key(keys.routing_key, m), id).await?;
                }
                Ok::<_, Failure>(())
            }
        };
        let (kind, change, old) = match decision {
            Triggering::Append(c) => {
                point(c.incident.id).await?;
                (TriggerKind::Appended, c, previous.as_ref())
            }
            Triggering::Reopen(c) => (TriggerKind::Reopened, c, previous.as_ref()),
            Triggering::Open(c) => {
                if c.incident.id != new_id {
                    return Err(corrupt(
                        "incidents",
                        format!("a new incident must be #{new_id}, not #{}", c.incident.id),
                    ));
                }
                if let Some(d) = keys.custom_details {
                    exec(
                        &tx,
                        "INSERT INTO payloads (id, record) VALUES ($1, $2)",
                        &[
                            &(new_id as i64),
                            &encode(&PayloadRecordRef::V1 { custom_details: d }),
                        ],
                    )
                    .await?;
                }
                upsert_dedup(&tx, &dkey, new_id).await?;
                point(new_id).await?;
                (TriggerKind::Opened, c, None)
            }
        };
        let applied = write_change(&tx, old, change, keys.at).await?;
        tx.commit().await?;
        Ok((kind, applied))
    }

    /// A change to incident `id` in one transaction: its row locked, the
    /// decision, the incident with its indexes and outbound rows.
    pub(super) async fn try_change(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &(dyn Fn(Option<&Incident>) -> Result<Change, Declined> + Send + Sync),
    ) -> Fail<Result<Applied, Declined>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let current = locked_incident(&tx, id as i64).await?;
        let change = match decide(current.as_ref()) {
            Ok(c) => c,
            Err(declined) => return Ok(Err(declined)),
        };
        let applied = write_change(&tx, current.as_ref(), change, at).await?;
        tx.commit().await?;
        Ok(Ok(applied))
    }

    pub(super) async fn try_room_opened(
        &self,
        id: u64,
        channel: &str,
        apply: &(dyn Fn(&Incident) -> Incident + Send + Sync),
    ) -> Fail<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(inc) = locked_incident(&tx, id as i64).await? else {
            return Err(StoreError::NoSuchIncident(id).into());
        };
        let next = apply(&inc);
        put_tracked(&tx, Some(&inc), &next).await?;
        exec(
            &tx,
            "INSERT INTO rooms (channel, id) VALUES ($1, $2)
             ON CONFLICT (channel) DO UPDATE SET id = EXCLUDED.id",
            &[&channel, &(id as i64)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn try_incident(&self, id: u64) -> Fail<Option<Incident>> {
        let c = self.client().await?;
        match row(
            &c,
            "SELECT record FROM incidents WHERE id = $1",
            &[&(id as i64)],
        )
        .await?
        {
            Some(r) => Ok(Some(decode_incident(r.get(0))?)),
            None => Ok(None),
        }
    }

    pub(super) async fn try_id_by_key(&self, rk: &str, dk: &str) -> Fail<Option<u64>> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT id FROM dedup WHERE key = $1",
            &[&dedup_key(rk, dk)],
        )
        .await?;
        Ok(r.map(|r| r.get::<_, i64>(0) as u64))
    }

    pub(super) async fn try_by_room(&self, channel: &str) -> Fail<Option<Incident>> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT i.record FROM rooms r JOIN incidents i ON i.id = r.id WHERE r.channel = $1",
            &[&channel],
        )
        .await?;
        r.map(|r| decode_incident(r.get(0))).transpose()
    }

    pub(super) async fn try_incidents(&self, only_open: bool) -> Fail<Vec<Incident>> {
        let c = self.client().await?;
        let sql = if only_open {
            "SELECT record FROM incidents WHERE open ORDER BY id"
        } else {
            "SELECT record FROM incidents ORDER BY id"
        };
        rows(&c, sql, &[])
            .await?
            .iter()
            .map(|r| decode_incident(r.get(0)))
            .collect()
    }

    /// The newest incidents, newest first: at most `limit`, stopping at the
    /// first opened before `since` (ids follow opening times).
    pub(super) async fn try_recent(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Fail<Vec<Incident>> {
        let c = self.client().await?;
        let mut out = vec![];
        let mut below = i64::MAX;
        // In pages, newest first, as the incidents themselves say when they opened.
        while out.len() < limit {
            let rs = rows(
                &c,
                "SELECT id, record FROM incidents WHERE id < $1 ORDER BY id DESC LIMIT 64",
                &[&below],
            )
            .await?;
            if rs.is_empty() {
                break;
            }
            for r in &rs {
                below = r.get(0);
                let i = decode_incident(r.get(1))?;
                if i.created_at < since || out.len() >= limit {
                    return Ok(out);
                }
                out.push(i);
            }
        }
        Ok(out)
    }

    pub(super) async fn try_open_count(&self) -> Fail<usize> {
        let c = self.client().await?;
        let r = row(&c, "SELECT count(*) FROM incidents WHERE open", &[]).await?;
        Ok(r.map_or(0, |r| r.get::<_, i64>(0)) as usize)
    }

    pub(super) async fn try_due(&self, now: DateTime<Utc>) -> Fail<Vec<(DateTime<Utc>, u64)>> {
        let c = self.client().await?;
        let rs = rows(
            &c,
            "SELECT at_ms, id FROM due WHERE at_ms <= $1 ORDER BY at_ms, id",
            &[&now.timestamp_millis()],
        )
        .await?;
        rs.iter()
            .map(|r| Ok((from_ms(r.get(0), "due")?, r.get::<_, i64>(1) as u64)))
            .collect()
    }

    pub(super) async fn try_next_due(&self) -> Fail<Option<DateTime<Utc>>> {
        let c = self.client().await?;
        let r = row(&c, "SELECT min(at_ms) FROM due", &[]).await?;
        r.and_then(|r| r.get::<_, Option<i64>>(0))
            .map(|ms| from_ms(ms, "due"))
            .transpose()
    }

    /// Claims the due entries nobody holds (or whose holder's lease ran
    /// out), skipping rows another node is claiming this very moment.
    pub(super) async fn try_claim_due(
        &self,
        now: DateTime<Utc>,
        holder: &str,
        lease: chrono::Duration,
    ) -> Fail<(Lease, Vec<(DateTime<Utc>, u64)>)> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let token = next_token(&tx).await?;
        let until = now + lease;
        let rs = rows(
            &tx,
            "UPDATE due SET holder = $1, lease_until = $2, token = $3
             WHERE (at_ms, id) IN (
                 SELECT at_ms, id FROM due
                 WHERE at_ms <= $4 AND (holder IS NULL OR holder = $1 OR lease_until < $5)
                 ORDER BY at_ms, id
                 FOR UPDATE SKIP LOCKED)
             RETURNING at_ms, id",
            &[
                &holder,
                &ns(until),
                &(token as i64),
                &now.timestamp_millis(),
                &ns(now),
            ],
        )
        .await?;
        tx.commit().await?;
        let mut due = rs
            .iter()
            .map(|r| Ok((from_ms(r.get(0), "due")?, r.get::<_, i64>(1) as u64)))
            .collect::<Fail<Vec<_>>>()?;
        due.sort();
        Ok((
            Lease {
                holder: holder.to_string(),
                token,
                until,
            },
            due,
        ))
    }

    pub(super) async fn try_forget_due(&self, at: DateTime<Utc>, id: u64) -> Fail<()> {
        let c = self.client().await?;
        exec(
            &c,
            "DELETE FROM due WHERE at_ms = $1 AND id = $2",
            &[&at.timestamp_millis(), &(id as i64)],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn try_custom_details(&self, id: u64) -> Fail<Option<serde_json::Value>> {
        let c = self.client().await?;
        match row(
            &c,
            "SELECT record FROM payloads WHERE id = $1",
            &[&(id as i64)],
        )
        .await?
        {
            Some(r) => Ok(Some(
                PayloadRecord::decode(r.get(0)).map_err(|e| corrupt("payloads", e))?,
            )),
            None => Ok(None),
        }
    }

    pub(super) async fn try_stored_bytes(&self, id: u64) -> Fail<(usize, usize)> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT (SELECT length(record) FROM incidents WHERE id = $1),
                    (SELECT length(record) FROM payloads WHERE id = $1)",
            &[&(id as i64)],
        )
        .await?;
        Ok(r.map_or((0, 0), |r| {
            (
                r.get::<_, Option<i32>>(0).unwrap_or(0) as usize,
                r.get::<_, Option<i32>>(1).unwrap_or(0) as usize,
            )
        }))
    }

    pub(super) async fn try_messages(&self, id: u64) -> Fail<MessageRefs> {
        let c = self.client().await?;
        match row(
            &c,
            "SELECT record FROM message_refs WHERE id = $1",
            &[&(id as i64)],
        )
        .await?
        {
            Some(r) => decode_refs(r.get(0)),
            None => Ok(MessageRefs::default()),
        }
    }

    /// Changes incident `id`'s references as `f` says; refused for an
    /// incident the store does not hold.
    pub(super) async fn try_edit_refs(
        &self,
        id: u64,
        f: &(dyn Fn(&mut MessageRefs) + Send + Sync),
    ) -> Fail<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        if row(
            &tx,
            "SELECT 1 FROM incidents WHERE id = $1 FOR SHARE",
            &[&(id as i64)],
        )
        .await?
        .is_none()
        {
            return Err(StoreError::NoSuchIncident(id).into());
        }
        // The row may not exist yet: make it, then lock it.
        exec(
            &tx,
            "INSERT INTO message_refs (id, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[
                &(id as i64),
                &encode(&MessageRefsRecordRef::V1(&MessageRefs::default())),
            ],
        )
        .await?;
        let r = row(
            &tx,
            "SELECT record FROM message_refs WHERE id = $1 FOR UPDATE",
            &[&(id as i64)],
        )
        .await?
        .ok_or_else(|| corrupt("message_refs", "vanished inside its transaction"))?;
        let mut refs = decode_refs(r.get(0))?;
        f(&mut refs);
        exec(
            &tx,
            "UPDATE message_refs SET record = $2 WHERE id = $1",
            &[&(id as i64), &encode(&MessageRefsRecordRef::V1(&refs))],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn decode_refs(v: &[u8]) -> Fail<MessageRefs> {
    serde_json::from_slice::<MessageRefsRecord>(v)
        .map(|MessageRefsRecord::V1(r)| r)
        .map_err(|e| corrupt("message_refs", e))
}

/// The next fencing token: one counter for every claim of every node.
pub(super) async fn next_token<C: GenericClient>(c: &C) -> Fail<u64> {
    let r = row(
        c,
        "UPDATE counters SET value = value + 1 WHERE name = 'claim' RETURNING value",
        &[],
    )
    .await?
    .ok_or_else(|| corrupt("counters", "no claim counter"))?;
    Ok(r.get::<_, i64>(0) as u64)
}

async fn locked_incident<C: GenericClient>(c: &C, id: i64) -> Fail<Option<Incident>> {
    match row(
        c,
        "SELECT record FROM incidents WHERE id = $1 FOR UPDATE",
        &[&id],
    )
    .await?
    {
        Some(r) => Ok(Some(decode_incident(r.get(0))?)),
        None => Ok(None),
    }
}

async fn upsert_dedup<C: GenericClient>(c: &C, key: &[u8], id: u64) -> Fail<()> {
    exec(
        c,
        "INSERT INTO dedup (key, id) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET id = EXCLUDED.id",
        &[&key, &(id as i64)],
    )
    .await?;
    Ok(())
}

/// Writes a decided change: the incident with its indexes, then its
/// outbound rows (last: the outbox counter is held to the commit).
async fn write_change<C: GenericClient>(
    c: &C,
    old: Option<&Incident>,
    change: Change,
    at: DateTime<Utc>,
) -> Fail<Applied> {
    put_tracked(c, old, &change.incident).await?;
    let outbox = push_outbox(c, &change.outbound, at).await?;
    Ok(Applied {
        incident: change.incident,
        outbox,
    })
}

/// Writes `new` with its open flag, and moves its due entry when its next
/// step moved (an entry the engine dropped stays dropped until then).
async fn put_tracked<C: GenericClient>(c: &C, old: Option<&Incident>, new: &Incident) -> Fail<()> {
    debug_assert!(
        new.alert.custom_details.is_none(),
        "custom details are written once, as a payload, never in the incident record"
    );
    let id = new.id as i64;
    exec(
        c,
        "INSERT INTO incidents (id, record, open) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, open = EXCLUDED.open",
        &[&id, &encode_incident(new), &new.is_open()],
    )
    .await?;
    let (was, now) = (old.and_then(Incident::next_due), new.next_due());
    if was != now {
        if let Some(t) = was {
            exec(
                c,
                "DELETE FROM due WHERE at_ms = $1 AND id = $2",
                &[&t.timestamp_millis(), &id],
            )
            .await?;
        }
        if let Some(t) = now {
            exec(
                c,
                "INSERT INTO due (at_ms, id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&t.timestamp_millis(), &id],
            )
            .await?;
        }
    }
    Ok(())
}
