//! The outbox, schedules' runtime state and signals in PostgreSQL.

use super::incidents::next_token;
use super::*;
use crate::domain::schedule::Override;
use crate::store::port::{Lease, SwapAnswer};
use crate::store::records::OverrideRecord;
use crate::store::signals as record;
use crate::store::{AuditEntry, Outbound, StoredOverride, Window};

impl PgStore {
    pub(super) async fn try_enqueue(
        &self,
        rows: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Fail<Vec<u64>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let seqs = push_outbox(&tx, rows, at).await?;
        tx.commit().await?;
        Ok(seqs)
    }

    /// Rows after `seq` (all of them from 0), in sequence order.
    pub(super) async fn try_outbox_after(&self, seq: u64) -> Fail<Vec<(u64, OutboxItem)>> {
        let c = self.client().await?;
        let rs = rows(
            &c,
            "SELECT seq, record FROM outbox WHERE seq > $1 ORDER BY seq",
            &[&(seq as i64)],
        )
        .await?;
        rs.iter()
            .map(|r| Ok((r.get::<_, i64>(0) as u64, decode_outbox(r.get(1))?)))
            .collect()
    }

    pub(super) async fn try_outbox_item(&self, seq: u64) -> Fail<Option<OutboxItem>> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT record FROM outbox WHERE seq = $1",
            &[&(seq as i64)],
        )
        .await?;
        r.map(|r| decode_outbox(r.get(0))).transpose()
    }

    pub(super) async fn try_attempted(&self, seq: u64) -> Fail<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let r = row(
            &tx,
            "SELECT record FROM outbox WHERE seq = $1 FOR UPDATE",
            &[&(seq as i64)],
        )
        .await?;
        if let Some(r) = r {
            let mut item = decode_outbox(r.get(0))?;
            item.attempts = item.attempts.saturating_add(1);
            exec(
                &tx,
                "UPDATE outbox SET record = $2 WHERE seq = $1",
                &[&(seq as i64), &encode(&OutboxRecord::V1(item))],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn try_done(&self, seq: u64) -> Fail<()> {
        let c = self.client().await?;
        exec(&c, "DELETE FROM outbox WHERE seq = $1", &[&(seq as i64)]).await?;
        Ok(())
    }

    pub(super) async fn try_dead(&self, seq: u64) -> Fail<()> {
        let c = self.client().await?;
        exec(
            &c,
            "WITH d AS (DELETE FROM outbox WHERE seq = $1 RETURNING seq, record)
             INSERT INTO outbox_dead (seq, record) SELECT seq, record FROM d
             ON CONFLICT DO NOTHING",
            &[&(seq as i64)],
        )
        .await?;
        Ok(())
    }

    pub(super) async fn try_dead_letters(&self) -> Fail<Vec<(u64, OutboxItem)>> {
        let c = self.client().await?;
        let rs = rows(&c, "SELECT seq, record FROM outbox_dead ORDER BY seq", &[]).await?;
        rs.iter()
            .map(|r| Ok((r.get::<_, i64>(0) as u64, decode_outbox(r.get(1))?)))
            .collect()
    }

    pub(super) async fn try_dead_count(&self) -> Fail<usize> {
        let c = self.client().await?;
        let r = row(&c, "SELECT count(*) FROM outbox_dead", &[]).await?;
        Ok(r.map_or(0, |r| r.get::<_, i64>(0)) as usize)
    }

    pub(super) async fn try_retry_dead(&self, seq: u64, at: DateTime<Utc>) -> Fail<Option<u64>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(r) = row(
            &tx,
            "DELETE FROM outbox_dead WHERE seq = $1 RETURNING record",
            &[&(seq as i64)],
        )
        .await?
        else {
            return Ok(None);
        };
        let item = decode_outbox(r.get(0))?;
        let seqs = push_outbox(&tx, &[(item.lane, item.op)], at).await?;
        tx.commit().await?;
        Ok(seqs.first().copied())
    }

    /// Makes `holder` the sender of `lane` if nobody else holds it or its
    /// holder's lease ran out; a new token with every claim.
    pub(super) async fn try_claim_lane(
        &self,
        lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Fail<Option<Lease>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let token = next_token(&tx).await?;
        let until = now + lease;
        let r = row(
            &tx,
            "INSERT INTO lanes (lane, holder, lease_until, token) VALUES ($1, $2, $3, $4)
             ON CONFLICT (lane) DO UPDATE
                 SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, token = EXCLUDED.token
                 WHERE lanes.holder = EXCLUDED.holder OR lanes.lease_until < $5
             RETURNING token",
            &[&lane, &holder, &ns(until), &(token as i64), &ns(now)],
        )
        .await?;
        tx.commit().await?;
        Ok(r.map(|_| Lease {
            holder: holder.to_string(),
            token,
            until,
        }))
    }

    pub(super) async fn try_add_override(
        &self,
        schedule: &str,
        over: &Override,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Fail<StoredOverride> {
        let c = self.client().await?;
        let id = new_id(&c, "override_ids").await?;
        let stored = StoredOverride {
            id,
            schedule: schedule.to_string(),
            over: over.clone(),
            created_by: created_by.to_string(),
            created_at: at,
        };
        insert_override(&c, &stored).await?;
        Ok(stored)
    }

    pub(super) async fn try_overrides(&self, schedule: &str) -> Fail<Vec<StoredOverride>> {
        let c = self.client().await?;
        let rs = rows(
            &c,
            "SELECT record FROM overrides WHERE schedule = $1 ORDER BY id",
            &[&schedule],
        )
        .await?;
        rs.iter()
            .map(|r| {
                serde_json::from_slice::<OverrideRecord>(r.get(0))
                    .map(|OverrideRecord::V1(o)| o)
                    .map_err(|e| corrupt("overrides", e))
            })
            .collect()
    }

    pub(super) async fn try_remove_override(&self, schedule: &str, id: u64) -> Fail<bool> {
        let c = self.client().await?;
        let n = exec(
            &c,
            "DELETE FROM overrides WHERE schedule = $1 AND id = $2",
            &[&schedule, &(id as i64)],
        )
        .await?;
        Ok(n > 0)
    }

    pub(super) async fn try_new_swap_id(&self) -> Fail<u64> {
        let c = self.client().await?;
        new_id(&c, "swap_ids").await
    }

    pub(super) async fn try_add_swap(
        &self,
        req: &SwapRequest,
        ask: &(String, Outbound),
    ) -> Fail<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        exec(
            &tx,
            "INSERT INTO swaps (id, record) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
            &[&(req.id as i64), &encode(&SwapRecord::V1(req.clone()))],
        )
        .await?;
        push_outbox(&tx, std::slice::from_ref(ask), req.created_at).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn try_swap(&self, id: u64) -> Fail<Option<SwapRequest>> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT record FROM swaps WHERE id = $1",
            &[&(id as i64)],
        )
        .await?;
        r.map(|r| decode_swap(r.get(0))).transpose()
    }

    pub(super) async fn try_answer_swap(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &(dyn Fn(&SwapRequest) -> Option<SwapAnswer> + Send + Sync),
    ) -> Fail<Option<(SwapRequest, bool)>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let Some(r) = row(
            &tx,
            "SELECT record FROM swaps WHERE id = $1 FOR UPDATE",
            &[&(id as i64)],
        )
        .await?
        else {
            return Ok(None);
        };
        let req = decode_swap(r.get(0))?;
        let Some(answer) = decide(&req) else {
            return Ok(Some((req, false)));
        };
        let req = answer.request;
        exec(
            &tx,
            "UPDATE swaps SET record = $2 WHERE id = $1",
            &[&(id as i64), &encode(&SwapRecord::V1(req.clone()))],
        )
        .await?;
        for over in answer.overrides {
            let stored = StoredOverride {
                id: new_id(&tx, "override_ids").await?,
                schedule: req.schedule.clone(),
                over,
                created_by: answer.created_by.clone(),
                created_at: at,
            };
            insert_override(&tx, &stored).await?;
        }
        push_outbox(&tx, &answer.outbound, at).await?;
        tx.commit().await?;
        Ok(Some((req, true)))
    }

    /// A random secret made once per database, for calendar feed tokens;
    /// two first callers (on any nodes) both get the winner's.
    pub(super) async fn try_feed_seed(&self) -> Fail<Vec<u8>> {
        use rand::RngCore;
        let c = self.client().await?;
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        exec(
            &c,
            "INSERT INTO secrets (name, value) VALUES ('feed_seed', $1) ON CONFLICT DO NOTHING",
            &[&&seed[..]],
        )
        .await?;
        let r = row(
            &c,
            "SELECT value FROM secrets WHERE name = 'feed_seed'",
            &[],
        )
        .await?
        .ok_or_else(|| corrupt("secrets", "the feed seed vanished"))?;
        Ok(r.get::<_, Vec<u8>>(0))
    }

    pub(super) async fn try_feed_generation(&self, schedule: &str) -> Fail<u64> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT generation FROM feeds WHERE schedule = $1",
            &[&schedule],
        )
        .await?;
        Ok(r.map_or(0, |r| r.get::<_, i64>(0)) as u64)
    }

    pub(super) async fn try_rotate_feed(&self, schedule: &str) -> Fail<u64> {
        let c = self.client().await?;
        let r = row(
            &c,
            "INSERT INTO feeds (schedule, generation) VALUES ($1, 1)
             ON CONFLICT (schedule) DO UPDATE SET generation = feeds.generation + 1
             RETURNING generation",
            &[&schedule],
        )
        .await?;
        Ok(r.map_or(0, |r| r.get::<_, i64>(0)) as u64)
    }

    pub(super) async fn try_handoff(&self, schedule: &str) -> Fail<Option<(i64, Option<String>)>> {
        let c = self.client().await?;
        let r = row(
            &c,
            "SELECT cursor_ms, on_call FROM handoffs WHERE schedule = $1",
            &[&schedule],
        )
        .await?;
        Ok(r.map(|r| (r.get(0), r.get(1))))
    }

    pub(super) async fn try_advance_handoffs(
        &self,
        schedule: &str,
        to: DateTime<Utc>,
        on_call: Option<&str>,
        notices: &[(String, Outbound)],
    ) -> Fail<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        exec(
            &tx,
            "INSERT INTO handoffs (schedule, cursor_ms, on_call) VALUES ($1, $2, $3)
             ON CONFLICT (schedule) DO UPDATE SET cursor_ms = EXCLUDED.cursor_ms, on_call = EXCLUDED.on_call",
            &[&schedule, &to.timestamp_millis(), &on_call],
        )
        .await?;
        push_outbox(&tx, notices, to).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends a signal record (a change, a suppressed alert, an audit
    /// entry) to `table`, keyed by who it is about and when.
    pub(super) async fn try_add_signal(
        &self,
        table: Signal,
        key: &str,
        at: DateTime<Utc>,
        json: &[u8],
    ) -> Fail<()> {
        let c = self.client().await?;
        let seq = new_id(&c, "signal_ids").await? as i64;
        let sql = match table {
            Signal::Changes => {
                "INSERT INTO changes (service, at_ms, seq, record) VALUES ($1, $2, $3, $4)"
            }
            Signal::Suppressed => {
                "INSERT INTO suppressed (service, at_ms, seq, record) VALUES ($1, $2, $3, $4)"
            }
            Signal::Audit => "INSERT INTO audit (team, at_ms, seq, record) VALUES ($1, $2, $3, $4)",
            Signal::Labels => {
                "INSERT INTO labels (service, at_ms, seq, record) VALUES ($1, $2, $3, $4)"
            }
        };
        exec(&c, sql, &[&key, &at.timestamp_millis(), &seq, &json]).await?;
        Ok(())
    }

    pub(super) async fn try_signals_since(
        &self,
        table: Signal,
        key: &str,
        since: DateTime<Utc>,
    ) -> Fail<Vec<Vec<u8>>> {
        let c = self.client().await?;
        let sql = match table {
            Signal::Changes => {
                "SELECT record FROM changes WHERE service = $1 AND at_ms >= $2 ORDER BY at_ms, seq"
            }
            Signal::Suppressed => {
                "SELECT record FROM suppressed WHERE service = $1 AND at_ms >= $2 ORDER BY at_ms, seq"
            }
            Signal::Audit => {
                "SELECT record FROM audit WHERE team = $1 AND at_ms >= $2 ORDER BY at_ms, seq"
            }
            Signal::Labels => {
                "SELECT record FROM labels WHERE service = $1 AND at_ms >= $2 ORDER BY at_ms, seq"
            }
        };
        let rs = rows(&c, sql, &[&key, &since.timestamp_millis()]).await?;
        Ok(rs.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect())
    }

    pub(super) async fn try_audit(&self, team: &str, limit: usize) -> Fail<Vec<AuditEntry>> {
        let c = self.client().await?;
        let rs = rows(
            &c,
            "SELECT record FROM audit WHERE team = $1 ORDER BY at_ms DESC, seq DESC LIMIT $2",
            &[&team, &(limit.min(i64::MAX as usize) as i64)],
        )
        .await?;
        rs.iter()
            .map(|r| record::decode(r.get(0)).map_err(|e| corrupt("audit", e)))
            .collect()
    }

    /// The latest `limit` labelled pairs of `service`, oldest first.
    pub(super) async fn try_labels(&self, service: &str, limit: usize) -> Fail<Vec<Vec<u8>>> {
        let c = self.client().await?;
        let rs = rows(
            &c,
            "SELECT record FROM (SELECT record, at_ms, seq FROM labels WHERE service = $1
                                 ORDER BY at_ms DESC, seq DESC LIMIT $2) l
             ORDER BY at_ms, seq",
            &[&service, &(limit.min(i64::MAX as usize) as i64)],
        )
        .await?;
        Ok(rs.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect())
    }

    pub(super) async fn try_prune_changes(&self, before: DateTime<Utc>) -> Fail<usize> {
        let c = self.client().await?;
        let ms = before.timestamp_millis();
        let a = exec(&c, "DELETE FROM changes WHERE at_ms < $1", &[&ms]).await?;
        let b = exec(&c, "DELETE FROM suppressed WHERE at_ms < $1", &[&ms]).await?;
        Ok((a + b) as usize)
    }

    pub(super) async fn try_put_window(
        &self,
        w: &Window,
        notices: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Fail<()> {
        let json = record::encode(w).map_err(|e| corrupt("maintenance", e))?;
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        exec(
            &tx,
            "INSERT INTO maintenance (service, from_ms, record) VALUES ($1, $2, $3)
             ON CONFLICT (service, from_ms) DO UPDATE SET record = EXCLUDED.record",
            &[&w.service, &w.from.timestamp_millis(), &json],
        )
        .await?;
        push_outbox(&tx, notices, at).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Windows, of one service or all, by service then start.
    pub(super) async fn try_windows(&self, service: Option<&str>) -> Fail<Vec<Window>> {
        let c = self.client().await?;
        let rs = match service {
            Some(s) => {
                rows(
                    &c,
                    "SELECT record FROM maintenance WHERE service = $1 ORDER BY from_ms",
                    &[&s],
                )
                .await?
            }
            None => {
                rows(
                    &c,
                    "SELECT record FROM maintenance ORDER BY service COLLATE \"C\", from_ms",
                    &[],
                )
                .await?
            }
        };
        rs.iter()
            .map(|r| record::decode(r.get(0)).map_err(|e| corrupt("maintenance", e)))
            .collect()
    }

    /// Sets a heartbeat column (`beat_ns` or `alerted_ns`) of monitor `id`.
    pub(super) async fn try_set_beat(
        &self,
        id: &str,
        alerted: bool,
        at: DateTime<Utc>,
    ) -> Fail<()> {
        let c = self.client().await?;
        let sql = if alerted {
            "INSERT INTO heartbeats (id, alerted_ns) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET alerted_ns = EXCLUDED.alerted_ns"
        } else {
            "INSERT INTO heartbeats (id, beat_ns) VALUES ($1, $2)
             ON CONFLICT (id) DO UPDATE SET beat_ns = EXCLUDED.beat_ns"
        };
        exec(&c, sql, &[&id, &ns(at)]).await?;
        Ok(())
    }

    pub(super) async fn try_beat(&self, id: &str, alerted: bool) -> Fail<Option<DateTime<Utc>>> {
        let c = self.client().await?;
        let sql = if alerted {
            "SELECT alerted_ns FROM heartbeats WHERE id = $1"
        } else {
            "SELECT beat_ns FROM heartbeats WHERE id = $1"
        };
        let r = row(&c, sql, &[&id]).await?;
        Ok(r.and_then(|r| r.get::<_, Option<i64>>(0)).map(from_ns))
    }

    pub(super) async fn try_first_sight(&self, event_id: &str, at: DateTime<Utc>) -> Fail<bool> {
        let c = self.client().await?;
        let n = exec(
            &c,
            "INSERT INTO events (event_id, seen_ns) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&event_id, &ns(at)],
        )
        .await?;
        Ok(n == 1)
    }

    pub(super) async fn try_forget_event(&self, event_id: &str) -> Fail<()> {
        let c = self.client().await?;
        exec(&c, "DELETE FROM events WHERE event_id = $1", &[&event_id]).await?;
        Ok(())
    }

    pub(super) async fn try_prune_events(&self, before: DateTime<Utc>) -> Fail<usize> {
        let c = self.client().await?;
        let n = exec(&c, "DELETE FROM events WHERE seen_ns < $1", &[&ns(before)]).await?;
        Ok(n as usize)
    }

    pub(super) async fn try_cursor(&self, name: &str) -> Fail<Option<DateTime<Utc>>> {
        let c = self.client().await?;
        let r = row(&c, "SELECT at_ns FROM cursors WHERE name = $1", &[&name]).await?;
        Ok(r.map(|r| from_ns(r.get(0))))
    }

    pub(super) async fn try_set_cursor(
        &self,
        name: &str,
        to: DateTime<Utc>,
        work: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Fail<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        exec(
            &tx,
            "INSERT INTO cursors (name, at_ns) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET at_ns = EXCLUDED.at_ns",
            &[&name, &ns(to)],
        )
        .await?;
        push_outbox(&tx, work, at).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The tables of signal records.
#[derive(Clone, Copy)]
pub(super) enum Signal {
    Changes,
    Suppressed,
    Audit,
    Labels,
}

async fn new_id<C: GenericClient>(c: &C, sequence: &str) -> Fail<u64> {
    let sql = format!("SELECT nextval('{sequence}')");
    let r = row(c, &sql, &[]).await?;
    Ok(r.map_or(0, |r| r.get::<_, i64>(0)) as u64)
}

async fn insert_override<C: GenericClient>(c: &C, o: &StoredOverride) -> Fail<()> {
    exec(
        c,
        "INSERT INTO overrides (schedule, id, record) VALUES ($1, $2, $3)",
        &[
            &o.schedule,
            &(o.id as i64),
            &encode(&OverrideRecord::V1(o.clone())),
        ],
    )
    .await?;
    Ok(())
}

/// A signal record's stored form.
pub(super) fn encode_signal<T: serde::Serialize>(t: &T, tree: &'static str) -> Fail<Vec<u8>> {
    record::encode(t).map_err(|e| corrupt(tree, e))
}

pub(super) fn decode_signals<T: serde::de::DeserializeOwned>(
    v: Vec<Vec<u8>>,
    tree: &'static str,
) -> Result<Vec<T>, StoreError> {
    v.iter()
        .map(|b| record::decode(b).map_err(|e| plain(corrupt(tree, e))))
        .collect()
}
