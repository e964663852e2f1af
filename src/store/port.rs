//! The storage port: what the application asks of a store, whichever
//! database is behind it, and the errors it answers with.
//!
//! Object safe, so a backend is chosen at run time (`Arc<dyn Storage>`). One
//! trait per aggregate (incidents, outbox, schedules, signals, a chat
//! receiver's message references) and [`Storage`] over them all.
//!
//! **Decisions come from the caller.** A change to an incident or a swap
//! takes a pure decision ([`Decide`], [`DecideTrigger`], [`DecideSwap`]): the
//! backend reads what is stored, runs the decision on it and writes what it
//! returns (the record, its indexes and its outbound rows) atomically, as a
//! compare-and-swap on what it read. A decision may run more than once (a
//! conflicting writer makes the backend read and decide again), so it must
//! have no side effects; a replay or a double click is declined by the
//! decision itself, and then nothing is written or queued. The domain's
//! follow-up work (`warroom::follow_up`) is not the backend's: the caller
//! composes it into the decision (see `store::with_follow_up`).
//!
//! **Commit means durable.** Every write method of these traits returns
//! only once its write is on disk; concurrent writers share one flush (group
//! commit), so waiting costs a flush, not one per writer. Read methods see
//! every write that has returned.
//!
//! **Several nodes (PostgreSQL).** The same methods map onto one SQL
//! transaction each: a decision reads its row `SELECT … FOR UPDATE`, and the
//! row, its index rows and its outbox rows are written before `COMMIT`, which
//! is the durable point (`synchronous_commit = on`). Two things then need an
//! owner, and the port will grow them as claims with a lease:
//! - *Due rows.* A worker claims due entries with `UPDATE due SET holder = $me,
//!   lease_until = now() + $lease, token = nextval(…) WHERE at <= now() AND
//!   (lease_until IS NULL OR lease_until < now()) … FOR UPDATE SKIP LOCKED`,
//!   and every write it makes for a claimed entry carries the token; a write
//!   whose token is no longer the entry's (the lease ran out, another node
//!   took it) is refused, so a paused node cannot act twice.
//! - *Outbox lanes.* One sender owns a lane at a time: it claims the lane
//!   row (`holder`, `lease_until`, a fencing `token` that grows with each
//!   claim), renews the lease while it sends, and marks rows done or dead
//!   only with its token. Per-lane order holds because only the owner sends,
//!   in sequence order; a new owner resumes from the rows left, checking the
//!   receiver's history first as the single-process worker does today.
//!
//! The claims are here already ([`Incidents::claim_due`],
//! [`Outbox::claim_lane`]); with one process (sled) the process owns
//! everything, so a claim always succeeds and its token fences nothing.

use crate::domain::incident::{Incident, NoChange};
use crate::domain::schedule::Override;
use crate::store::{
    AuditEntry, MessageRef, MessageRefs, Outbound, OutboxItem, StoredOverride, Suppressed,
    SwapRequest, Window,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database's own error (I/O, its internal state), as it put it.
    #[error("storage error: {0}")]
    Backend(String),
    #[error("corrupt record in {tree}: {message}")]
    Corrupt { tree: &'static str, message: String },
    #[error("the store has schema version {found}, this build understands up to {known}")]
    SchemaTooNew { found: u64, known: u64 },
    #[error("durable flush failed: {0}")]
    Flush(String),
    #[error("no incident #{0}")]
    NoSuchIncident(u64),
    /// The store cannot write (a full or failing disk); it reopens itself
    /// once the disk has room again.
    #[error("the store cannot write: {0}")]
    Unavailable(String),
    /// Below `TOCSIN_MIN_FREE_MB`: new alerts are refused before the disk fills.
    #[error("new alerts are refused: {0}")]
    LowSpace(String),
}

/// What `/healthz` and `/metrics` say about the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Writing works. `free`: bytes left on the data directory's disk, if known.
    Ok { free: Option<u64> },
    /// Free space is below the floor: new alerts are refused before the disk fills.
    LowSpace { free: u64, floor: u64 },
    /// The store cannot write.
    Failed { reason: String },
}

impl Health {
    /// Why the store is not fit to take alerts, for people; `None` when it is.
    pub fn problem(&self) -> Option<String> {
        match self {
            Health::Ok { .. } => None,
            Health::LowSpace { free, floor } => Some(low_space(*free, *floor)),
            Health::Failed { reason } => Some(format!("the store cannot write: {reason}")),
        }
    }

    pub fn free(&self) -> Option<u64> {
        match self {
            Health::Ok { free } => *free,
            Health::LowSpace { free, .. } => Some(*free),
            Health::Failed { .. } => None,
        }
    }
}

pub(crate) fn low_space(free: u64, floor: u64) -> String {
    format!(
        "{} MiB free on the data directory's disk, below TOCSIN_MIN_FREE_MB ({} MiB)",
        free / (1024 * 1024),
        floor / (1024 * 1024)
    )
}

/// A decided change to one incident: the incident as it is to be written,
/// and the outbound rows to queue with it, in this order (each `(lane, op)`).
#[derive(Debug, Clone)]
pub struct Change {
    pub incident: Incident,
    pub outbound: Vec<(String, Outbound)>,
}

/// Why a decision changed nothing.
#[derive(Debug, Clone)]
pub enum Declined {
    /// There is no such incident.
    NotFound,
    /// A replay or a double click: the incident as it is, and why.
    Unchanged {
        incident: Box<Incident>,
        why: NoChange,
    },
    /// The change does not apply, for a person to read.
    Refused(String),
}

/// A change as written: the incident, and the sequences of its outbound rows
/// in the order they were given.
#[derive(Debug, Clone)]
pub struct Applied {
    pub incident: Incident,
    pub outbox: Vec<u64>,
}

/// Decides a change from the incident as stored (`None`: there is none).
pub type Decide<'a> = dyn Fn(Option<&Incident>) -> Result<Change, Declined> + Send + Sync + 'a;

/// The keys a trigger is stored under, besides the incident itself.
pub struct TriggerKeys<'a> {
    pub routing_key: &'a str,
    pub dedup_key: &'a str,
    /// Grouped alerts' own keys: pointed at the incident the alert opens or joins.
    pub member_keys: &'a [String],
    /// Written once, apart from the record, if the alert opens an incident.
    pub custom_details: Option<&'a serde_json::Value>,
    pub at: DateTime<Utc>,
}

/// What a trigger does, as decided.
#[derive(Debug, Clone)]
pub enum Triggering {
    /// Joins the open incident the key points at (the member keys point at it too).
    Append(Change),
    /// Reopens the resolved incident the key points at.
    Reopen(Change),
    /// A new incident, numbered with the id the decision was given.
    Open(Change),
}

/// Which of the three a written trigger was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    Appended,
    Reopened,
    Opened,
}

/// Decides a trigger from the incident the dedup key points at (open or
/// not) and the id a new incident would get (taken only if it opens one).
pub type DecideTrigger<'a> = dyn Fn(Option<&Incident>, u64) -> Triggering + Send + Sync + 'a;

/// A decided answer to a swap request: the request as it is to be written,
/// the overrides it puts in place (numbered by the backend), who they are
/// recorded as made by, and the notices to queue.
#[derive(Debug, Clone)]
pub struct SwapAnswer {
    pub request: SwapRequest,
    pub overrides: Vec<Override>,
    pub created_by: String,
    pub outbound: Vec<(String, Outbound)>,
}

/// Decides an answer from the request as stored; `None`: it is no longer
/// open to answers, and nothing changes.
pub type DecideSwap<'a> = dyn Fn(&SwapRequest) -> Option<SwapAnswer> + Send + Sync + 'a;

/// A claim on work: `holder`'s until `until`. Every write made for it
/// carries `token`, which grows with each claim, so a holder whose lease ran
/// out while another took the work over is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub holder: String,
    pub token: u64,
    pub until: DateTime<Utc>,
}

/// Makes an incident into what it is once its room's channel exists.
pub type ApplyRoom<'a> = dyn Fn(&Incident) -> Incident + Send + Sync + 'a;

/// Incidents, their indexes (dedup keys, due times, open ones, rooms) and
/// the outbound rows their changes queue.
#[async_trait]
pub trait Incidents: Send + Sync {
    /// Stores an alert as `decide` says, with its keys, payload and outbound rows.
    /// Refused below the free-space floor.
    async fn trigger(
        &self,
        keys: &TriggerKeys<'_>,
        decide: &DecideTrigger<'_>,
    ) -> Result<(TriggerKind, Applied), StoreError>;
    /// Changes incident `id` as `decide` says (compare-and-swap), its due
    /// and open index entries with it.
    async fn update_incident(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &Decide<'_>,
    ) -> Result<Result<Applied, Declined>, StoreError>;
    /// Records the channel of incident `id`'s room (the incident as `apply`
    /// makes it) and indexes it by channel.
    async fn room_opened(
        &self,
        id: u64,
        channel: &str,
        apply: &ApplyRoom<'_>,
    ) -> Result<(), StoreError>;
    async fn incident(&self, id: u64) -> Result<Option<Incident>, StoreError>;
    /// The incident this dedup key points at, open or not (a resolved
    /// incident keeps its key until a trigger opens a new one).
    async fn id_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<u64>, StoreError>;
    /// The open incident with this dedup key, if any.
    async fn open_incident_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<Incident>, StoreError>;
    async fn incident_by_room(&self, channel: &str) -> Result<Option<Incident>, StoreError>;
    /// Open incidents, oldest first, read through the open index.
    async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError>;
    async fn open_count(&self) -> Result<usize, StoreError>;
    /// Due-index entries at or before `now`: (due time, id), earliest first.
    async fn due(&self, now: DateTime<Utc>) -> Result<Vec<(DateTime<Utc>, u64)>, StoreError>;
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Claims for `holder`, for `lease`, the due entries at or before `now`
    /// that nobody else holds: (due time, id), earliest first.
    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        holder: &str,
        lease: chrono::Duration,
    ) -> Result<(Lease, Vec<(DateTime<Utc>, u64)>), StoreError>;
    /// Drops one due entry (a step that no longer applies).
    async fn forget_due(&self, at: DateTime<Utc>, id: u64) -> Result<(), StoreError>;
    /// The custom details of the alert that opened incident `id`.
    async fn custom_details(&self, id: u64) -> Result<Option<serde_json::Value>, StoreError>;
    /// The stored sizes of incident `id`: (its record, its payload), in bytes.
    async fn stored_bytes(&self, id: u64) -> Result<(usize, usize), StoreError>;
    /// Every incident, open or not, by id.
    async fn incidents(&self) -> Result<Vec<Incident>, StoreError>;
    /// The newest incidents, newest first: at most `limit`, stopping at the
    /// first opened before `since` (ids follow opening times).
    async fn recent_incidents(
        &self,
        since: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError>;
}

/// Where a chat receiver's copies of each incident are (its post in the
/// alert channel, the DMs that paged people), so that it updates every copy
/// in place. The receiver's own records, kept by incident id apart from the
/// incident: the domain never reads them. Writing for an incident the store
/// does not hold is `NoSuchIncident`.
#[async_trait]
pub trait Messages: Send + Sync {
    /// Incident `id`'s references; empty if it has none (or no such incident).
    async fn messages(&self, id: u64) -> Result<MessageRefs, StoreError>;
    /// Records incident `id`'s post, replacing any earlier one.
    async fn set_post(&self, id: u64, post: MessageRef) -> Result<(), StoreError>;
    /// Adds a DM that paged someone about incident `id`; one already known
    /// is not added twice.
    async fn add_dm(&self, id: u64, dm: MessageRef) -> Result<(), StoreError>;
    /// [`Messages::set_post`] and [`Messages::add_dm`] for the receiver's
    /// bookkeeping right after a post: **not durable on return; the next
    /// durable write covers it** (the outbox row's removal that follows the
    /// post). A reference lost in a crash is found again by the receiver's
    /// history check when the row is retried.
    async fn set_post_unflushed(&self, id: u64, post: MessageRef) -> Result<(), StoreError>;
    async fn add_dm_unflushed(&self, id: u64, dm: MessageRef) -> Result<(), StoreError>;
    /// The sandbox workspace's records (the offline Slack page's channels,
    /// messages and files), opaque to the store: key → bytes, in key order.
    /// A backend that keeps none has none.
    async fn sandbox_records(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(vec![])
    }
    /// Writes one sandbox record, replacing any under the same key; durable
    /// on return.
    async fn put_sandbox_record(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let _ = value;
        Err(StoreError::Backend(format!(
            "this store keeps no sandbox records (asked to write {key})"
        )))
    }
}

/// Outbound work, in lanes: rows of one lane are sent in sequence order,
/// lanes independently.
#[async_trait]
pub trait Outbox: Send + Sync {
    async fn enqueue(&self, lane: &str, op: Outbound, at: DateTime<Utc>)
        -> Result<u64, StoreError>;
    /// Every pending row, in sequence order.
    async fn pending(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError>;
    /// Counts a failed attempt on the row.
    async fn attempted(&self, seq: u64) -> Result<(), StoreError>;
    /// Removes a delivered row.
    async fn done(&self, seq: u64) -> Result<(), StoreError>;
    /// Moves a row the receiver refused for good to the dead letters.
    async fn dead(&self, seq: u64) -> Result<(), StoreError>;
    async fn dead_letters(&self) -> Result<Vec<(u64, OutboxItem)>, StoreError>;
    /// Puts dead letter `seq` back at the end of its lane; its new sequence.
    async fn retry_dead(&self, seq: u64, at: DateTime<Utc>) -> Result<Option<u64>, StoreError>;
    /// The highest sequence known to be on disk: nothing newer may be sent.
    fn flushed_seq(&self) -> u64;
    /// Pending rows after `seq`, in sequence order.
    async fn outbox_after(&self, seq: u64) -> Result<Vec<(u64, OutboxItem)>, StoreError>;
    async fn outbox_item(&self, seq: u64) -> Result<Option<OutboxItem>, StoreError>;
    fn dead_count(&self) -> usize;
    /// [`Outbox::attempted`], [`Outbox::done`] and [`Outbox::dead`] for the
    /// worker's bookkeeping: **not durable on return; the next durable write
    /// covers it.** A mark lost in a crash resends or retries a row, which
    /// the worker's history check already allows for.
    async fn attempted_unflushed(&self, seq: u64) -> Result<(), StoreError>;
    async fn done_unflushed(&self, seq: u64) -> Result<(), StoreError>;
    async fn dead_unflushed(&self, seq: u64) -> Result<(), StoreError>;
    /// Makes `holder` the only sender of `lane` for `lease`; `None` while
    /// another sender holds it.
    async fn claim_lane(
        &self,
        lane: &str,
        holder: &str,
        now: DateTime<Utc>,
        lease: chrono::Duration,
    ) -> Result<Option<Lease>, StoreError>;
}

/// Schedules' runtime state: overrides, swaps, calendar feeds, handoffs.
#[async_trait]
pub trait Schedules: Send + Sync {
    async fn add_override(
        &self,
        schedule: &str,
        over: Override,
        created_by: &str,
        at: DateTime<Utc>,
    ) -> Result<StoredOverride, StoreError>;
    async fn overrides(&self, schedule: &str) -> Result<Vec<StoredOverride>, StoreError>;
    async fn remove_override(&self, schedule: &str, id: u64) -> Result<bool, StoreError>;
    async fn add_swap(&self, req: &SwapRequest, ask: &(String, Outbound))
        -> Result<(), StoreError>;
    async fn swap(&self, id: u64) -> Result<Option<SwapRequest>, StoreError>;
    /// Answers swap `id` as `decide` says (compare-and-swap on its state):
    /// the request as it now is and whether this call changed it.
    async fn answer_swap(
        &self,
        id: u64,
        at: DateTime<Utc>,
        decide: &DecideSwap<'_>,
    ) -> Result<Option<(SwapRequest, bool)>, StoreError>;
    async fn feed_seed(&self) -> Result<Vec<u8>, StoreError>;
    async fn feed_generation(&self, schedule: &str) -> Result<u64, StoreError>;
    async fn rotate_feed(&self, schedule: &str) -> Result<u64, StoreError>;
    async fn handoff_cursor(&self, schedule: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Who the last handoff announced on call (`Some(None)`: nobody), if any.
    async fn handoff_user(&self, schedule: &str) -> Result<Option<Option<String>>, StoreError>;
    async fn new_swap_id(&self) -> Result<u64, StoreError>;
    /// Queues `notices` and moves the handoff cursor, atomically.
    async fn advance_handoffs(
        &self,
        schedule: &str,
        to: DateTime<Utc>,
        on_call: Option<&str>,
        notices: &[(String, Outbound)],
    ) -> Result<(), StoreError>;
}

/// Signals that are not pages (changes, suppressed alerts, maintenance,
/// heartbeats), the audit log and inbound request ids.
#[async_trait]
pub trait Signals: Send + Sync {
    async fn add_change(
        &self,
        service: &str,
        change: &crate::domain::incident::Change,
    ) -> Result<(), StoreError>;
    async fn changes_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::domain::incident::Change>, StoreError>;
    async fn add_suppressed(&self, service: &str, s: &Suppressed) -> Result<(), StoreError>;
    /// Records a labelled pair of `service`'s alerts (a merge or a split),
    /// which its intelligent grouping learns from.
    async fn add_label(
        &self,
        service: &str,
        pair: &crate::domain::similarity::Pair,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// `service`'s labelled pairs, oldest first: the latest `limit` of them.
    async fn labels(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::similarity::Pair>, StoreError>;
    async fn suppressed_since(
        &self,
        service: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Suppressed>, StoreError>;
    /// Saves `w` and queues `notices` in one transaction.
    async fn put_window_with(
        &self,
        w: &Window,
        notices: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn windows(&self) -> Result<Vec<Window>, StoreError>;
    async fn add_audit(&self, e: &AuditEntry) -> Result<(), StoreError>;
    async fn audit(&self, team: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    async fn beat(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    async fn last_beat(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// True the first time an inbound event id is seen; false for replays.
    async fn first_sight_of_event(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// [`Signals::first_sight_of_event`], **not durable on return; the next
    /// durable write covers it** (a request that changes something writes
    /// after its mark).
    async fn first_sight_unflushed(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Forgets an event id whose handling failed, so a retry is taken. Not
    /// durable on return; the next durable write covers it.
    async fn forget_event(&self, event_id: &str) -> Result<(), StoreError>;
    /// Forgets event ids first seen before `before`; how many. Not durable on
    /// return; the next durable write covers it.
    async fn prune_events(&self, before: DateTime<Utc>) -> Result<usize, StoreError>;
    /// Forgets change events older than `before`; how many. Not durable on
    /// return; the next durable write covers it.
    async fn prune_changes(&self, before: DateTime<Utc>) -> Result<usize, StoreError>;
    async fn put_window(&self, w: &Window) -> Result<(), StoreError>;
    /// The window of `service` in force at `t`, if any.
    async fn window_at(
        &self,
        service: &str,
        t: DateTime<Utc>,
    ) -> Result<Option<Window>, StoreError>;
    async fn heartbeat_alerted(&self, id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    async fn set_heartbeat_alerted(&self, id: &str, last: DateTime<Utc>) -> Result<(), StoreError>;
    /// A named cursor (e.g. the last weekly report sent), if ever set.
    async fn cursor(&self, name: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Moves cursor `name` to `to` and queues `work`, atomically.
    async fn set_cursor(
        &self,
        name: &str,
        to: DateTime<Utc>,
        work: &[(String, Outbound)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// [`Signals::set_cursor`] with no work: **not durable on return; the
    /// next durable write covers it.** For a cursor whose loss in a crash
    /// only repeats idempotent work.
    async fn set_cursor_unflushed(&self, name: &str, to: DateTime<Utc>) -> Result<(), StoreError>;
}

/// A whole store.
#[async_trait]
pub trait Storage: Incidents + Outbox + Schedules + Signals + Messages {
    /// Waits until every write made before the call is on disk.
    async fn durable(&self) -> Result<(), StoreError>;
    fn health(&self) -> Health;
    async fn schema_version(&self) -> Result<u64, StoreError>;
    /// How many flushes (durable commits) were made since the store opened:
    /// with group commit, fewer than the writers that waited for them.
    fn commits(&self) -> u64;
    /// The free space below which new alerts are refused (`LowSpace`).
    fn set_min_free(&self, bytes: u64);
    /// Flushes everything, without a runtime to wait on: at shutdown. Fails
    /// if the store cannot write, so the process can say so.
    fn flush(&self) -> Result<(), StoreError>;
    /// Makes every flush fail (or succeed again): how tests play a disk
    /// that stopped taking writes.
    fn inject_write_failure(&self, failing: bool);
}
