//! The storage port on PostgreSQL: each call one transaction (`run`), the
//! writes the port calls durable followed by the shared flush (`durably`).

use super::signals::{decode_signals, encode_signal, Signal};
use super::{plain, PgStore};
use crate::domain::incident::{Change, Incident};
use crate::domain::schedule::Override;
use crate::store::port::{
    Applied, ApplyRoom, Decide, DecideSwap, DecideTrigger, Declined, Incidents, Lease, Messages,
    Outbox, Schedules, Signals, Storage, TriggerKeys, TriggerKind,
};
use crate::store::{
    AuditEntry, Health, MessageRef, MessageRefs, Outbound, OutboxItem, StoreError, StoredOverride,
    Suppressed, SwapRequest, Window,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::atomic::Ordering;

#[async_trait]
impl Incidents for PgStore {
    async fn trigger(
        &self,
        keys: &TriggerKeys<'_>,
        decide: &DecideTrigger<'_>,
    ) -> Result<(TriggerKind, Applied), StoreError> {
        self.durably(|| self.try_trigger(keys, decide)).await
    }

    async fn update_incident(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &Decide<'_>,
    ) -> Result<Result<Applied, Declined>, StoreError> {
        self.durably(|| self.try_change(id, at, decide)).await
    }

    async fn room_opened(
        &self,
        id: u64,
        channel: &str,
        apply: &ApplyRoom<'_>,
    ) -> Result<(), StoreError> {
        self.durably(|| self.try_room_opened(id, channel, apply))
            .await
    }

    async fn incident(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        self.run(|| self.try_incident(id)).await
    }

    async fn id_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.run(|| self.try_id_by_key(routing_key, dedup_key))
            .await
    }

    async fn open_incident_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<Incident>, StoreError> {
        match self.id_by_key(routing_key, dedup_key).await? {
            Some(id) => Ok(self.incident(id).await?.filter(Incident::is_open)),
            None => Ok(None),
        }
    }

    async fn incident_by_room(&self, channel: &str) -> Result<Option<Incident>, StoreError> {
        self.run(|| self.try_by_room(channel)).await
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.run(|| self.try_incidents(true)).await
    }

    async fn open_count(&self) -> Result<usize, StoreError> {
        self.run(|| self.try_open_count()).await
    }

    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        self.run(|| self.try_due(now)).await
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(|| self.try_next_due()).await
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        holder: &str,
        lease: chrono::Duration,
    ) -> Result<(Lease, Vec<(DateTime<Utc>, u64)>), StoreError> {
        self.run(|| self.try_claim_due(now, holder, lease)).await
    }

    async fn forget_due(&self, at: DateTime<Utc>, id: u64) -> Result<(), StoreError> {
        self.durably(|| self.try_forget_due(at, id)).await
    }

    async fn custom_details(&self, id: u64) -> Result<Option<serde_json::Value>, StoreError> {
        self.run(|| self.try_custom_details(id)).await
    }

    async fn stored_bytes(&self, id: u64) -> Result<(usize, usize), StoreError> {
        self.run(|| self.try_stored_bytes(id)).await
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.run(|| self.try_incidents(false)).await
    }

    async fn recent_incidents(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.run(|| self.try_recent(since, limit)).await
    }
}

#[async_trait]
impl Messages for PgStore {
    async fn messages(&self, id: u64) -> Result<MessageRefs, StoreError> {
        self.run(|| self.try_messages(id)).await
    }

    async fn set_post(&self, id: u64, post: MessageRef) -> Result<(), StoreError> {
        let set = |r: &mut MessageRefs| r.post = Some(post.clone());
        self.durably(|| self.try_edit_refs(id, &set)).await
    }

    async fn add_dm(&self, id: u64, dm: MessageRef) -> Result<(), StoreError> {
        let add = |r: &mut MessageRefs| add_once(r, &dm);
        self.durably(|| self.try_edit_refs(id, &add)).await
    }

    async fn set_post_unflushed(&self, id: u64, post: MessageRef) -> Result<(), StoreError> {
        let set = |r: &mut MessageRefs| r.post = Some(post.clone());
        self.run(|| self.try_edit_refs(id, &set)).await
    }

    async fn add_dm_unflushed(&self, id: u64, dm: MessageRef) -> Result<(), StoreError> {
        let add = |r: &mut MessageRefs| add_once(r, &dm);
        self.run(|| self.try_edit_refs(id, &add)).await
    }

    async fn sandbox_records(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.run(|| self.try_sandbox()).await
    }

    async fn put_sandbox_record(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.durably(|| self.try_put_sandbox(key, value)).await
    }
}

impl PgStore {
    async fn try_sandbox(&self) -> super::Fail<Vec<(String, Vec<u8>)>> {
        let c = self.client().await?;
        let rs = super::rows(
            &c,
            "SELECT key, value FROM sandbox ORDER BY key COLLATE \"C\"",
            &[],
        )
        .await?;
        Ok(rs.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn try_put_sandbox(&self, key: &str, value: &[u8]) -> super::Fail<()> {
        let c = self.client().await?;
        super::exec(
            &c,
            "INSERT INTO sandbox (key, value) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[&key, &value],
        )
        .await?;
        Ok(())
    }
}

fn add_once(refs: &mut MessageRefs, dm: &MessageRef) {
    if !refs.dms.contains(dm) {
        refs.dms.push(dm.clone());
    }
}

impl PgStore {
    /// The dead letters' count for `dead_count`, which cannot wait.
    async fn count_dead(&self) {
        if let Ok(n) = self.run(|| self.try_dead_count()).await {
            self.shared.dead.store(n as u64, Ordering::Relaxed);
        }
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn enqueue(
        &self,
        lane: &str,
        op: Outbound,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let rows = [(lane.to_string(), op)];
        let seqs = self.durably(|| self.try_enqueue(&rows, at)).await?;
        seqs.first()
            .copied()
            .ok_or_else(|| StoreError::Backend("a queued row got no sequence".into()))
    }

    async fn pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.run(|| self.try_outbox_after(0)).await
    }

    async fn attempted(&self, seq: u64) -> Result<(), StoreError> {
        self.durably(|| self.try_attempted(seq)).await
    }

    async fn done(&self, seq: u64) -> Result<(), StoreError> {
        self.durably(|| self.try_done(seq)).await
    }

    async fn dead(&self, seq: u64) -> Result<(), StoreError> {
        self.durably(|| self.try_dead(seq)).await?;
        self.count_dead().await;
        Ok(())
    }

    async fn dead_letters(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        let dead = self.run(|| self.try_dead_letters()).await?;
        self.shared.dead.store(dead.len() as u64, Ordering::Relaxed);
        Ok(dead)
    }

    async fn retry_dead(&self, seq: u64, at: DateTime<Utc>) -> Result<Option<u64>, StoreError> {
        let r = self.durably(|| self.try_retry_dead(seq, at)).await?;
        self.count_dead().await;
        Ok(r)
    }

    fn flushed_seq(&self) -> u64 {
        PgStore::flushed_seq(self)
    }

    /// Flushes first, so that every row committed so far (by any node) is
    /// known to be on disk and may be sent.
    async fn outbox_after(&self, seq: u64) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.durable().await?;
        self.count_dead().await;
        self.run(|| self.try_outbox_after(seq)).await
    }

    async fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>, StoreError> {
        self.run(|| self.try_outbox_item(seq)).await
    }

    fn dead_count(&self) -> usize {
        self.shared.dead.load(Ordering::Relaxed) as usize
    }

    async fn attempted_unflushed(&self, seq: u64) -> Result<(), StoreError> {
        self.run(|| self.try_attempted(seq)).await
    }

    async fn done_unflushed(&self, seq: u64) -> Result<(), StoreError> {
        self.run(|| self.try_done(seq)).await
    }

    async fn dead_unflushed(&self, seq: u64) -> Result<(), StoreError> {
        self.run(|| self.try_dead(seq)).await?;
        self.count_dead().await;
        Ok(())
    }

    async fn claim_lane(
        &self,
        lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<Lease>, StoreError> {
        self.run(|| self.try_claim_lane(lane, holder, now, lease))
            .await
    }
}

#[async_trait]
impl Schedules for PgStore {
    async fn add_override(
        &self,
        schedule: &str,
        over: Override,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<StoredOverride, StoreError> {
        self.durably(|| self.try_add_override(schedule, &over, created_by, at))
            .await
    }

    async fn overrides(&self, schedule: &str) -> Result<Vec<StoredOverride>, StoreError> {
        self.run(|| self.try_overrides(schedule)).await
    }

    async fn remove_override(&self, schedule: &str, id: u64) -> Result<bool, StoreError> {
        self.durably(|| self.try_remove_override(schedule, id))
            .await
    }

    async fn add_swap(
        &self,
        req: &SwapRequest,
        ask: &(String, Outbound),
    ) -> Result<(), StoreError> {
        self.durably(|| self.try_add_swap(req, ask)).await
    }

    async fn swap(&self, id: u64) -> Result<Option<SwapRequest>, StoreError> {
        self.run(|| self.try_swap(id)).await
    }

    async fn answer_swap(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &DecideSwap<'_>,
    ) -> Result<Option<(SwapRequest, bool)>, StoreError> {
        self.durably(|| self.try_answer_swap(id, at, decide)).await
    }

    async fn feed_seed(&self) -> Result<Vec<u8>, StoreError> {
        self.durably(|| self.try_feed_seed()).await
    }

    async fn feed_generation(&self, schedule: &str) -> Result<u64, StoreError> {
        self.run(|| self.try_feed_generation(schedule)).await
    }

    async fn rotate_feed(&self, schedule: &str) -> Result<u64, StoreError> {
        self.durably(|| self.try_rotate_feed(schedule)).await
    }

    async fn handoff_cursor(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self.run(|| self.try_handoff(schedule)).await? {
            Some((ms, _)) => Ok(DateTime::from_timestamp_millis(ms)),
            None => Ok(None),
        }
    }

    async fn handoff_user(&self, schedule: &str) -> Result<Option<Option<String>>, StoreError> {
        Ok(self
            .run(|| self.try_handoff(schedule))
            .await?
            .map(|(_, user)| user))
    }

    async fn new_swap_id(&self) -> Result<u64, StoreError> {
        self.run(|| self.try_new_swap_id()).await
    }

    async fn advance_handoffs(
        &self,
        schedule: &str,
        to: DateTime<Utc>,
        on_call: Option<&str>,
        notices: &[(String, Outbound)],
    ) -> Result<(), StoreError> {
        self.durably(|| self.try_advance_handoffs(schedule, to, on_call, notices))
            .await
    }
}

#[async_trait]
impl Signals for PgStore {
    async fn add_change(&self, service: &str, change: &Change) -> Result<(), StoreError> {
        let json = encode_signal(change, "changes").map_err(plain)?;
        self.durably(|| self.try_add_signal(Signal::Changes, service, change.at, &json))
            .await
    }

    async fn changes_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Change>, StoreError> {
        let v = self
            .run(|| self.try_signals_since(Signal::Changes, service, since))
            .await?;
        decode_signals(v, "changes")
    }

    async fn add_suppressed(&self, service: &str, s: &Suppressed) -> Result<(), StoreError> {
        let json = encode_signal(s, "suppressed").map_err(plain)?;
        self.durably(|| self.try_add_signal(Signal::Suppressed, service, s.at, &json))
            .await
    }

    async fn add_label(
        &self,
        service: &str,
        pair: &crate::domain::similarity::Pair,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let json = encode_signal(pair, "labels").map_err(plain)?;
        self.durably(|| self.try_add_signal(Signal::Labels, service, at, &json))
            .await
    }

    async fn labels(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::similarity::Pair>, StoreError> {
        let v = self.run(|| self.try_labels(service, limit)).await?;
        decode_signals(v, "labels")
    }

    async fn suppressed_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Suppressed>, StoreError> {
        let v = self
            .run(|| self.try_signals_since(Signal::Suppressed, service, since))
            .await?;
        decode_signals(v, "suppressed")
    }

    async fn put_window_with(
        &self,
        w: &Window,
        notices: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.durably(|| self.try_put_window(w, notices, at)).await
    }

    async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        self.run(|| self.try_windows(None)).await
    }

    async fn add_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let json = encode_signal(e, "audit").map_err(plain)?;
        self.durably(|| self.try_add_signal(Signal::Audit, &e.team, e.at, &json))
            .await
    }

    async fn audit(&self, team: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.run(|| self.try_audit(team, limit)).await
    }

    async fn beat(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.durably(|| self.try_set_beat(id, false, at)).await
    }

    async fn last_beat(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(|| self.try_beat(id, false)).await
    }

    async fn first_sight_of_event(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.durably(|| self.try_first_sight(event_id, at)).await
    }

    async fn first_sight_unflushed(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.run(|| self.try_first_sight(event_id, at)).await
    }

    async fn forget_event(&self, event_id: &str) -> Result<(), StoreError> {
        self.run(|| self.try_forget_event(event_id)).await
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.run(|| self.try_prune_events(before)).await
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.run(|| self.try_prune_changes(before)).await
    }

    async fn put_window(&self, w: &Window) -> Result<(), StoreError> {
        self.durably(|| self.try_put_window(w, &[], w.from)).await
    }

    async fn window_at(
        &self,
        service: &str,
        t: DateTime<Utc>,
    ) -> Result<Option<Window>, StoreError> {
        let windows = self.run(|| self.try_windows(Some(service))).await?;
        Ok(windows.into_iter().find(|w| w.active_at(t)))
    }

    async fn heartbeat_alerted(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(|| self.try_beat(id, true)).await
    }

    async fn set_heartbeat_alerted(&self, id: &str, last: DateTime<Utc>) -> Result<(), StoreError> {
        self.durably(|| self.try_set_beat(id, true, last)).await
    }

    async fn cursor(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.run(|| self.try_cursor(name)).await
    }

    async fn set_cursor(
        &self,
        name: &str,
        to: DateTime<Utc>,
        work: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.durably(|| self.try_set_cursor(name, to, work, at))
            .await
    }

    async fn set_cursor_unflushed(&self, name: &str, to: DateTime<Utc>) -> Result<(), StoreError> {
        self.run(|| self.try_set_cursor(name, to, &[], to)).await
    }
}

#[async_trait]
impl Storage for PgStore {
    async fn durable(&self) -> Result<(), StoreError> {
        PgStore::durable(self).await
    }

    fn health(&self) -> Health {
        PgStore::health(self)
    }

    async fn schema_version(&self) -> Result<u64, StoreError> {
        PgStore::schema_version(self).await
    }

    fn commits(&self) -> u64 {
        PgStore::commits(self)
    }

    /// The database's disk is the database server's: no floor here.
    fn set_min_free(&self, _bytes: u64) {}

    fn flush(&self) -> Result<(), StoreError> {
        PgStore::flush(self)
    }

    fn inject_write_failure(&self, failing: bool) {
        PgStore::inject_write_failure(self, failing)
    }
}
