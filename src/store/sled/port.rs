//! The storage port on sled. Every write runs the synchronous operation and
//! then waits for group commit (with no `await` between them, as `health`
//! requires), so it returns only once the write is on disk; the few the port
//! calls unflushed only run it.

use super::SledStore;
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

impl SledStore {
    /// A lease for `holder`: one process holds everything, so it always has
    /// one, with a token newer than every one before it in this process.
    fn lease(&self, holder: &str, now: DateTime<Utc>, lease: chrono::Duration) -> Lease {
        Lease {
            holder: holder.to_string(),
            token: self.next_claim(),
            until: now + lease,
        }
    }

    /// `r`, once it is on disk.
    async fn committed<T>(&self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        let r = r?;
        self.durable().await?;
        Ok(r)
    }
}

#[async_trait]
impl Incidents for SledStore {
    async fn trigger(
        &self,
        keys: &TriggerKeys<'_>,
        decide: &DecideTrigger<'_>,
    ) -> Result<(TriggerKind, Applied), StoreError> {
        self.committed(self.trigger_with(keys, decide)).await
    }

    async fn update_incident(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &Decide<'_>,
    ) -> Result<Result<Applied, Declined>, StoreError> {
        self.committed(self.change(id, at, decide)).await
    }

    async fn room_opened(
        &self,
        id: u64,
        channel: &str,
        apply: &ApplyRoom<'_>,
    ) -> Result<(), StoreError> {
        self.committed(self.room_opened_with(id, channel, apply))
            .await
    }

    async fn incident(&self, id: u64) -> Result<Option<Incident>, StoreError> {
        SledStore::incident(self, id)
    }

    async fn open_incident_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<Incident>, StoreError> {
        SledStore::open_incident_by_key(self, routing_key, dedup_key)
    }

    async fn incident_by_room(&self, channel: &str) -> Result<Option<Incident>, StoreError> {
        SledStore::incident_by_room(self, channel)
    }

    async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        SledStore::open_incidents(self)
    }

    async fn open_count(&self) -> Result<usize, StoreError> {
        SledStore::open_count(self)
    }

    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError> {
        self.due_escalations(now)
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.next_escalation_due()
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        holder: &str,
        lease: chrono::Duration,
    ) -> Result<(Lease, Vec<(DateTime<Utc>, u64)>), StoreError> {
        Ok((self.lease(holder, now, lease), self.due_escalations(now)?))
    }

    async fn id_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<u64>, StoreError> {
        SledStore::id_by_key(self, routing_key, dedup_key)
    }

    async fn forget_due(&self, at: DateTime<Utc>, id: u64) -> Result<(), StoreError> {
        self.committed(SledStore::forget_due(self, at, id)).await
    }

    async fn custom_details(&self, id: u64) -> Result<Option<serde_json::Value>, StoreError> {
        SledStore::custom_details(self, id)
    }

    async fn stored_bytes(&self, id: u64) -> Result<(usize, usize), StoreError> {
        SledStore::stored_bytes(self, id)
    }

    async fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        SledStore::incidents(self)
    }

    async fn recent_incidents(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        SledStore::recent_incidents(self, since, limit)
    }
}

#[async_trait]
impl Messages for SledStore {
    async fn messages(&self, id: u64) -> Result<MessageRefs, StoreError> {
        self.message_refs(id)
    }

    async fn set_post(&self, id: u64, post: MessageRef) -> Result<(), StoreError> {
        self.committed(SledStore::set_post(self, id, post)).await
    }

    async fn add_dm(&self, id: u64, dm: MessageRef) -> Result<(), StoreError> {
        self.committed(SledStore::add_dm(self, id, dm)).await
    }

    async fn set_post_unflushed(&self, id: u64, post: MessageRef) -> Result<(), StoreError> {
        SledStore::set_post(self, id, post)
    }

    async fn add_dm_unflushed(&self, id: u64, dm: MessageRef) -> Result<(), StoreError> {
        SledStore::add_dm(self, id, dm)
    }

    async fn sandbox_records(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        SledStore::sandbox_records(self)
    }

    async fn put_sandbox_record(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.committed(SledStore::put_sandbox_record(self, key, value))
            .await
    }
}

#[async_trait]
impl Outbox for SledStore {
    async fn enqueue(
        &self,
        lane: &str,
        op: Outbound,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        self.committed(SledStore::enqueue(self, lane, op, at)).await
    }

    async fn pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        self.outbox_pending()
    }

    async fn attempted(&self, seq: u64) -> Result<(), StoreError> {
        self.committed(self.outbox_attempted(seq)).await
    }

    async fn done(&self, seq: u64) -> Result<(), StoreError> {
        self.committed(self.outbox_done(seq)).await
    }

    async fn dead(&self, seq: u64) -> Result<(), StoreError> {
        self.committed(self.outbox_dead(seq)).await
    }

    async fn dead_letters(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        SledStore::dead_letters(self)
    }

    async fn retry_dead(&self, seq: u64, at: DateTime<Utc>) -> Result<Option<u64>, StoreError> {
        self.committed(SledStore::retry_dead(self, seq, at)).await
    }

    fn flushed_seq(&self) -> u64 {
        self.flushed_outbox_seq()
    }

    async fn outbox_after(&self, seq: u64) -> Result<Vec<(u64, OutboxItem)>, StoreError> {
        SledStore::outbox_after(self, seq)
    }

    async fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>, StoreError> {
        SledStore::outbox_item(self, seq)
    }

    fn dead_count(&self) -> usize {
        SledStore::dead_count(self)
    }

    async fn attempted_unflushed(&self, seq: u64) -> Result<(), StoreError> {
        self.outbox_attempted(seq)
    }

    async fn done_unflushed(&self, seq: u64) -> Result<(), StoreError> {
        self.outbox_done(seq)
    }

    async fn dead_unflushed(&self, seq: u64) -> Result<(), StoreError> {
        self.outbox_dead(seq)
    }

    async fn claim_lane(
        &self,
        _lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<Lease>, StoreError> {
        Ok(Some(self.lease(holder, now, lease)))
    }
}

#[async_trait]
impl Schedules for SledStore {
    async fn add_override(
        &self,
        schedule: &str,
        over: Override,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<StoredOverride, StoreError> {
        self.committed(SledStore::add_override(
            self, schedule, over, created_by, at,
        ))
        .await
    }

    async fn overrides(&self, schedule: &str) -> Result<Vec<StoredOverride>, StoreError> {
        SledStore::overrides(self, schedule)
    }

    async fn remove_override(&self, schedule: &str, id: u64) -> Result<bool, StoreError> {
        self.committed(SledStore::remove_override(self, schedule, id))
            .await
    }

    async fn add_swap(
        &self,
        req: &SwapRequest,
        ask: &(String, Outbound),
    ) -> Result<(), StoreError> {
        self.committed(SledStore::add_swap(self, req, ask)).await
    }

    async fn swap(&self, id: u64) -> Result<Option<SwapRequest>, StoreError> {
        SledStore::swap(self, id)
    }

    async fn answer_swap(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &DecideSwap<'_>,
    ) -> Result<Option<(SwapRequest, bool)>, StoreError> {
        self.committed(self.answer_swap_with(id, at, decide)).await
    }

    async fn feed_seed(&self) -> Result<Vec<u8>, StoreError> {
        self.committed(SledStore::feed_seed(self)).await
    }

    async fn feed_generation(&self, schedule: &str) -> Result<u64, StoreError> {
        SledStore::feed_generation(self, schedule)
    }

    async fn rotate_feed(&self, schedule: &str) -> Result<u64, StoreError> {
        self.committed(SledStore::rotate_feed(self, schedule)).await
    }

    async fn handoff_cursor(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        SledStore::handoff_cursor(self, schedule)
    }

    async fn handoff_user(&self, schedule: &str) -> Result<Option<Option<String>>, StoreError> {
        SledStore::handoff_user(self, schedule)
    }

    async fn new_swap_id(&self) -> Result<u64, StoreError> {
        self.committed(SledStore::new_swap_id(self)).await
    }

    async fn advance_handoffs(
        &self,
        schedule: &str,
        to: DateTime<Utc>,
        on_call: Option<&str>,
        notices: &[(String, Outbound)],
    ) -> Result<(), StoreError> {
        self.committed(SledStore::advance_handoffs(
            self, schedule, to, on_call, notices,
        ))
        .await
    }
}

#[async_trait]
impl Signals for SledStore {
    async fn add_change(&self, service: &str, change: &Change) -> Result<(), StoreError> {
        self.committed(SledStore::add_change(self, service, change))
            .await
    }

    async fn changes_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Change>, StoreError> {
        SledStore::changes_since(self, service, since)
    }

    async fn add_suppressed(&self, service: &str, s: &Suppressed) -> Result<(), StoreError> {
        self.committed(SledStore::add_suppressed(self, service, s))
            .await
    }

    async fn add_label(
        &self,
        service: &str,
        pair: &crate::domain::similarity::Pair,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.committed(SledStore::add_label(self, service, pair, at))
            .await
    }

    async fn labels(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::similarity::Pair>, StoreError> {
        SledStore::labels(self, service, limit)
    }

    async fn suppressed_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Suppressed>, StoreError> {
        SledStore::suppressed_since(self, service, since)
    }

    async fn put_window_with(
        &self,
        w: &Window,
        notices: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.committed(SledStore::put_window_with(self, w, notices, at))
            .await
    }

    async fn windows(&self) -> Result<Vec<Window>, StoreError> {
        SledStore::windows(self)
    }

    async fn add_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.committed(SledStore::add_audit(self, e)).await
    }

    async fn audit(&self, team: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        SledStore::audit(self, team, limit)
    }

    async fn beat(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.committed(SledStore::beat(self, id, at)).await
    }

    async fn last_beat(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        SledStore::last_beat(self, id)
    }

    async fn first_sight_of_event(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.committed(SledStore::first_sight_of_event(self, event_id, at))
            .await
    }

    async fn first_sight_unflushed(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        SledStore::first_sight_of_event(self, event_id, at)
    }

    async fn forget_event(&self, event_id: &str) -> Result<(), StoreError> {
        self.forget_slack_event(event_id)
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        self.prune_slack_events(before)
    }

    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        SledStore::prune_changes(self, before)
    }

    async fn put_window(&self, w: &Window) -> Result<(), StoreError> {
        self.committed(SledStore::put_window(self, w)).await
    }

    async fn window_at(
        &self,
        service: &str,
        t: DateTime<Utc>,
    ) -> Result<Option<Window>, StoreError> {
        SledStore::window_at(self, service, t)
    }

    async fn heartbeat_alerted(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        SledStore::heartbeat_alerted(self, id)
    }

    async fn set_heartbeat_alerted(&self, id: &str, last: DateTime<Utc>) -> Result<(), StoreError> {
        self.committed(SledStore::set_heartbeat_alerted(self, id, last))
            .await
    }

    async fn cursor(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        SledStore::cursor(self, name)
    }

    async fn set_cursor(
        &self,
        name: &str,
        to: DateTime<Utc>,
        work: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.committed(self.set_cursor_with(name, to, work, at))
            .await
    }

    async fn set_cursor_unflushed(&self, name: &str, to: DateTime<Utc>) -> Result<(), StoreError> {
        self.set_cursor_with(name, to, &[], to)
    }
}

#[async_trait]
impl Storage for SledStore {
    async fn durable(&self) -> Result<(), StoreError> {
        SledStore::durable(self).await
    }

    fn health(&self) -> Health {
        SledStore::health(self)
    }

    async fn schema_version(&self) -> Result<u64, StoreError> {
        SledStore::schema_version(self)
    }

    fn commits(&self) -> u64 {
        SledStore::commits(self)
    }

    fn set_min_free(&self, bytes: u64) {
        SledStore::set_min_free(self, bytes)
    }

    fn flush(&self) -> Result<(), StoreError> {
        SledStore::flush(self)
    }

    fn inject_write_failure(&self, failing: bool) {
        SledStore::inject_write_failure(self, failing)
    }
}
