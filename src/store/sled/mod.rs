//! The only module that touches sled: trees, keys, record encoding, group commit.
//!
//! Trees:
//! - `meta`: schema version and counters;
//! - `incidents`: incident id (u64 BE) → `IncidentRecord`;
//! - `payloads`: incident id (u64 BE) → `PayloadRecord`: the custom details
//!   of the alert that opened the incident, compact JSON, written once when it
//!   opens; the incident record refers to them by its id and never holds them;
//! - `dedup`: routing key, 0x00, dedup key → id of the *open* incident with that key;
//! - `outbox`: sequence (u64 BE) → `OutboxRecord`, drained by the Slack worker;
//! - `outbox_dead`: entries Slack refused for good (e.g. `channel_not_found`);
//! - `overrides`: schedule id, 0x00, id (u64 BE) → `OverrideRecord`;
//! - `due`: due time (unix ms, BE), incident id → (): the engine's index of
//!   pending escalation steps, kept in the same transactions as the incidents;
//! - `open`: incident id (u64 BE) → (): every incident not yet resolved, kept
//!   the same way, so nothing needs to read the whole history to find them;
//! - `swaps`: request id (u64 BE) → `SwapRecord`;
//! - `slack_events`: Slack `event_id` → first-seen time, to drop retried deliveries;
//! - `rooms`: Slack channel id of an incident's own channel → incident id.

mod health;
mod signals;
use super::records;
pub use health::Health;
use health::{Shared, Trees};
pub use signals::{AuditEntry, Suppressed, Window, CHANGE_RETENTION_DAYS};

pub use records::{Outbound, OutboxItem, StoredOverride, SwapRequest, SwapState};

use crate::incident::{
    Actor, AlertDetails, Incident, MessageRef, NoChange, Severity, State, Transition,
};
use crate::schedule::Override;
use chrono::{DateTime, Utc};
use records::{
    IncidentRecord, IncidentRecordRef, OutboxRecord, OverrideRecord, PayloadRecord,
    PayloadRecordRef, SwapRecord,
};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The schema this build reads and writes. 2: custom details moved out of
/// the incident records into `payloads` (a schema 1 directory is upgraded
/// when opened).
pub const SCHEMA_VERSION: u64 = 2;

const K_SCHEMA: &[u8] = b"schema_version";
const K_NEXT_INCIDENT: &[u8] = b"next_incident_id";
const K_NEXT_OUTBOX: &[u8] = b"next_outbox_seq";
const K_NEXT_OVERRIDE: &[u8] = b"next_override_id";
const K_FEED_SEED: &[u8] = b"feed_seed";
/// Set once the `open` index has been built from the incidents (by the first
/// run of a build that keeps it); from then on every write keeps it.
const K_OPEN_INDEXED: &[u8] = b"open_index_built";
const HANDOFF_CURSOR: &str = "handoff_cursor:";
const HANDOFF_USER: &str = "handoff_user:";
const FEED_GENERATION: &str = "feed_generation:";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("corrupt record in {tree}: {message}")]
    Corrupt { tree: &'static str, message: String },
    #[error(
        "data directory has schema version {found}, this build understands up to {SCHEMA_VERSION}"
    )]
    SchemaTooNew { found: u64 },
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

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::Sled(e),
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// The result of a trigger.
#[derive(Debug, Clone)]
pub enum Triggered {
    /// A new incident; `outbox` is the sequence of its announcement, if any.
    Opened {
        incident: Incident,
        outbox: Option<u64>,
    },
    /// Another alert on an open incident: counted, nobody paged again; the
    /// message is refreshed through `outbox`.
    Appended {
        incident: Incident,
        outbox: Option<u64>,
    },
}

/// The result of an acknowledge or resolve.
#[derive(Debug, Clone)]
pub enum Changed {
    Applied {
        incident: Incident,
        outbox: Option<u64>,
    },
    Unchanged {
        incident: Incident,
        why: NoChange,
    },
    /// No open incident has that dedup key (Events v2 accepts and drops these).
    NotFound,
}

/// What marking some of an incident's alerts as stopped did.
#[derive(Debug, Clone)]
pub enum AlertsStopped {
    /// The incident resolved with them (or could not: `Unchanged`, `NotFound`).
    Resolved(Changed),
    /// Other alerts of the incident still fire.
    Firing(Incident),
}

/// What a trigger carries into the store.
pub struct NewAlert<'a> {
    pub routing_key: &'a str,
    pub service_id: &'a str,
    pub dedup_key: &'a str,
    /// The alert; its own `custom_details` are not stored (see the next field).
    pub alert: AlertDetails,
    /// The custom details to keep if this opens an incident (already capped).
    pub custom_details: Option<&'a serde_json::Value>,
    pub alert_channel: Option<String>,
    /// The service's policy, snapshotted, when it has one.
    pub escalation: Option<crate::escalation::Escalation>,
    pub urgency: crate::config::Urgency,
    pub at: DateTime<Utc>,
    /// The grouped alerts this report carries (empty for a single alert).
    pub alerts: Vec<crate::incident::SubAlert>,
    /// Recent changes to the service, shown on a new incident.
    pub changes: Vec<crate::incident::Change>,
    /// Grouping: join the open incident of `dedup_key` only if its last alert
    /// came within this long, and point these member keys at it too.
    pub join_within: Option<chrono::Duration>,
    pub member_keys: Vec<String>,
    /// Flapping: re-triggered `.0` times within `.1` after resolving, the
    /// last incident is reopened instead of paging anew.
    pub flapping: Option<(u32, chrono::Duration)>,
    /// A room of its own from the start (its level is at the team's `channel_at`).
    pub room: Option<crate::warroom::Room>,
}

/// A cheap, cloneable handle on the database. Every clone sees the same
/// database, including after a reopen (see `health`).
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

/// A request to the group-commit task. It carries its own handle on the
/// database so the task holds none between requests: the files are released
/// as soon as the last `Store` is dropped.
struct FlushRequest {
    trees: Arc<Trees>,
    flushed_outbox: Arc<AtomicU64>,
    reply: oneshot::Sender<Result<(), String>>,
}

impl Store {
    /// Opens (or creates) the store. Must be called inside a tokio runtime:
    /// it starts the group-commit task and the watcher that reopens the
    /// database after a write failure.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Store, StoreError> {
        let trees = Trees::open(dir, cache_capacity, 0)?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run_committer(rx));
        let store = Store {
            shared: Arc::new(Shared::new(dir, cache_capacity, trees, tx)?),
        };
        store.watch();
        Ok(store)
    }

    /// Makes every `durable()` and `flush()` fail (or succeed again): the
    /// fault-injection hook behind which tests play a disk that stopped
    /// taking writes.
    pub fn inject_write_failure(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::Relaxed);
    }

    /// Waits until everything written before this call is on disk. Concurrent
    /// callers share one flush (group commit). Call it right after the
    /// writes it covers, with no `await` between them (see `health`).
    pub async fn durable(&self) -> Result<(), StoreError> {
        let t = self.current();
        // Read the mark whatever happens, so it never outlives this call.
        let replaced = self.touched_replaced(t.as_ref().map_or(u64::MAX, |t| t.gen));
        let t = t.ok_or_else(|| self.unavailable())?;
        if replaced {
            return Err(StoreError::Unavailable(
                "the data directory was reopened after a write failure; this write may not be on disk"
                    .into(),
            ));
        }
        if self.shared.failing.load(Ordering::Relaxed) {
            return Err(StoreError::Flush(
                "the disk refused the write (injected)".into(),
            ));
        }
        let (tx, rx) = oneshot::channel();
        let req = FlushRequest {
            trees: t.clone(),
            flushed_outbox: self.shared.flushed_outbox.clone(),
            reply: tx,
        };
        let r = match self.shared.committer.send(req) {
            Ok(()) => rx.await.ok(),
            Err(_) => None,
        };
        let r = match r {
            Some(r) => r,
            // The committer is gone (runtime shutting down): flush inline.
            None => {
                t.db.flush_async()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        drop(t);
        r.map_err(|e: String| {
            self.note_failure(&e);
            StoreError::Flush(e)
        })
    }

    /// Flushes synchronously; used at shutdown. Fails if the store cannot
    /// write, so the process can say so in its exit status.
    pub fn flush(&self) -> Result<(), StoreError> {
        let t = self.reader()?;
        if self.shared.failing.load(Ordering::Relaxed) {
            return Err(StoreError::Flush(
                "the disk refused the write (injected)".into(),
            ));
        }
        let last = last_outbox_seq(&t.meta)?;
        if let Err(e) = t.db.flush() {
            self.note_failure(&e.to_string());
            return Err(StoreError::Flush(e.to_string()));
        }
        self.shared.flushed_outbox.fetch_max(last, Ordering::SeqCst);
        Ok(())
    }

    /// The highest outbox sequence that is on disk.
    pub fn flushed_outbox_seq(&self) -> u64 {
        self.shared.flushed_outbox.load(Ordering::SeqCst)
    }

    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let tr = self.reader()?;
        match tr.meta.get(K_SCHEMA)? {
            Some(v) => decode_u64(&v, "meta"),
            None => Ok(0),
        }
    }

    /// Applies a trigger: opens an incident, or counts a repeat on the open one.
    /// Refused below the free-space floor (`set_min_free`), so the disk keeps
    /// room for acknowledging and resolving what is already open.
    pub fn trigger(&self, a: &NewAlert<'_>) -> Result<Triggered, StoreError> {
        self.admit()?;
        let tr = self.trees()?;
        let dkey = dedup_key(a.routing_key, a.dedup_key);
        // Encoded at most once, and only if this opens an incident, however
        // often a conflict runs the transaction again.
        let payload: std::cell::OnceCell<Option<sled::IVec>> = std::cell::OnceCell::new();
        let r = (
            &tr.meta,
            &tr.incidents,
            &tr.dedup,
            &tr.outbox,
            &tr.due,
            &tr.open,
            &tr.payloads,
        )
            .transaction(
                |(meta, incidents, dedup, outbox, due, open, payloads)| -> TxResult<Triggered> {
                    let w = Writes {
                        meta,
                        incidents,
                        outbox,
                        due,
                        open,
                    };
                    let mut previous: Option<Incident> = None;
                    if let Some(id) = dedup.get(&dkey)? {
                        let id = decode_u64(&id, "dedup").map_err(abort)?;
                        if let Some(current) = get_incident(incidents, id)? {
                            let joins = a
                                .join_within
                                .is_none_or(|w| a.at - current.last_alert_at <= w);
                            if current.is_open() && joins {
                                for m in &a.member_keys {
                                    let k = dedup_key(a.routing_key, m);
                                    dedup.insert(k.as_slice(), &id.to_be_bytes())?;
                                }
                                let mut next = current.with_repeat_alert(a.at);
                                next.merge_alerts(&a.alerts);
                                if matches!(a.alert.severity, Severity::Critical | Severity::Error)
                                {
                                    next.raise_urgency(a.at);
                                }
                                put_tracked(&w, Some(&current), &mut next, a.at)?;
                                // Refresh every copy's alert count; the worker folds runs of these.
                                let seq = Some(push_outbox(
                                    meta,
                                    outbox,
                                    &update_lane(&next),
                                    Outbound::UpdateIncident { incident: id },
                                    a.at,
                                )?);
                                return Ok(Triggered::Appended {
                                    incident: next,
                                    outbox: seq,
                                });
                            }
                            previous = Some(current);
                        }
                    }
                    // Resolved and re-triggered again and again: keep it in the
                    // last incident, reopened without paging anyone anew.
                    let flaps = match (&previous, a.flapping) {
                        (Some(prev), Some((_, window))) => {
                            let resolved_at = prev.resolved.as_ref().map(|s| s.at);
                            if resolved_at.is_some_and(|t| a.at - t <= window) {
                                let mut times: Vec<DateTime<Utc>> = prev
                                    .flap_times
                                    .iter()
                                    .copied()
                                    .filter(|t| a.at - *t <= window)
                                    .collect();
                                times.push(a.at);
                                times
                            } else {
                                vec![]
                            }
                        }
                        _ => vec![],
                    };
                    if let (Some(prev), Some((count, _))) = (&previous, a.flapping) {
                        if flaps.len() > count as usize {
                            let mut next = prev.reopen_flapping(a.at, flaps.clone());
                            next.merge_alerts(&a.alerts);
                            put_tracked(&w, Some(prev), &mut next, a.at)?;
                            let seq = Some(push_outbox(
                                meta,
                                outbox,
                                &update_lane(&next),
                                Outbound::UpdateIncident { incident: next.id },
                                a.at,
                            )?);
                            return Ok(Triggered::Appended {
                                incident: next,
                                outbox: seq,
                            });
                        }
                    }
                    let id = next_counter(meta, K_NEXT_INCIDENT)?;
                    let mut incident = Incident {
                        id,
                        service_id: a.service_id.to_string(),
                        routing_key: a.routing_key.to_string(),
                        dedup_key: a.dedup_key.to_string(),
                        alert: a.alert.without_custom_details(),
                        state: State::Triggered,
                        created_at: a.at,
                        alert_count: 1,
                        last_alert_at: a.at,
                        acknowledged: None,
                        resolved: None,
                        alert_channel: a.alert_channel.clone(),
                        message: None,
                        escalation: a.escalation.clone(),
                        paged: vec![],
                        dm_messages: vec![],
                        snoozed_until: None,
                        urgency: a.urgency,
                        held: vec![],
                        reminders: vec![],
                        changes: a.changes.clone(),
                        alerts: a.alerts.clone(),
                        call: None,
                        flap_times: flaps,
                        notices: vec![],
                        flapping: false,
                        coord: crate::warroom::Coordination {
                            room: a.room.clone(),
                            ..Default::default()
                        },
                    };
                    put_tracked(&w, None, &mut incident, a.at)?;
                    let payload = payload.get_or_init(|| {
                        a.custom_details.map(|d| {
                            sled::IVec::from(encode(&PayloadRecordRef::V1 { custom_details: d }))
                        })
                    });
                    if let Some(p) = payload {
                        payloads.insert(&id.to_be_bytes(), p.clone())?;
                    }
                    dedup.insert(dkey.as_slice(), &id.to_be_bytes())?;
                    for m in &a.member_keys {
                        let k = dedup_key(a.routing_key, m);
                        dedup.insert(k.as_slice(), &id.to_be_bytes())?;
                    }
                    let seq = match &a.alert_channel {
                        Some(channel) => Some(push_outbox(
                            meta,
                            outbox,
                            channel,
                            Outbound::PostIncident {
                                incident: id,
                                channel: channel.clone(),
                            },
                            a.at,
                        )?),
                        None => None,
                    };
                    Ok(Triggered::Opened {
                        incident,
                        outbox: seq,
                    })
                },
            );
        Ok(r?)
    }

    /// The open incident with this dedup key, if any.
    pub fn open_incident_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
    ) -> Result<Option<Incident>, StoreError> {
        let tr = self.reader()?;
        match tr.dedup.get(self::dedup_key(routing_key, dedup_key))? {
            Some(id) => Ok(self
                .incident(decode_u64(&id, "dedup")?)?
                .filter(Incident::is_open)),
            None => Ok(None),
        }
    }

    /// Acknowledges or resolves the open incident with this dedup key.
    pub fn transition_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
        t: Transition,
        by: Actor,
        at: DateTime<Utc>,
    ) -> Result<Changed, StoreError> {
        let tr = self.reader()?;
        match tr.dedup.get(self::dedup_key(routing_key, dedup_key))? {
            Some(id) => self.transition(decode_u64(&id, "dedup")?, t, by, at),
            None => Ok(Changed::NotFound),
        }
    }

    /// Acknowledges or resolves incident `id`. A compare-and-swap inside a
    /// transaction: concurrent or replayed requests change it at most once.
    pub fn transition(
        &self,
        id: u64,
        t: Transition,
        by: Actor,
        at: DateTime<Utc>,
    ) -> Result<Changed, StoreError> {
        self.edit(id, at, |current| current.apply(t, by.clone(), at))
    }

    /// Marks some of incident `id`'s alerts as no longer firing (`mark`
    /// edits the alert list and says whether the incident should now
    /// resolve) and resolves it if so, in one transaction: a crash never
    /// leaves the alerts marked and the incident open.
    pub fn alerts_stopped<M>(
        &self,
        id: u64,
        by: Actor,
        at: DateTime<Utc>,
        mark: M,
    ) -> Result<AlertsStopped, StoreError>
    where
        M: Fn(&mut Incident) -> bool,
    {
        let r = self.edit(id, at, |current| {
            // Resolved since the caller looked it up: nothing more to record.
            if !current.is_open() {
                return Err(NoChange::AlreadyResolved);
            }
            let mut next = current.clone();
            if mark(&mut next) {
                next = next.apply(Transition::Resolve, by.clone(), at)?;
            }
            Ok(next)
        })?;
        Ok(match r {
            Changed::Applied { incident, .. } if incident.is_open() => {
                AlertsStopped::Firing(incident)
            }
            r => AlertsStopped::Resolved(r),
        })
    }

    /// Changes incident `id` as `f` says, or not if `f` declines, and
    /// queues the update of every copy of its message.
    fn edit<F>(&self, id: u64, at: DateTime<Utc>, f: F) -> Result<Changed, StoreError>
    where
        F: Fn(&Incident) -> Result<Incident, NoChange>,
    {
        // Boxed: the declined answer carries a whole incident.
        let r = self.change(id, at, |current| -> Result<_, Box<Changed>> {
            let current = current.ok_or_else(|| Box::new(Changed::NotFound))?;
            let next = f(current).map_err(|why| {
                Box::new(Changed::Unchanged {
                    incident: current.clone(),
                    why,
                })
            })?;
            // The dedup entry stays: a later trigger with the key opens a
            // new incident, and can see this one to tell when it flaps.
            // Always: DM copies need the update even without a channel.
            let update = (
                update_lane(&next),
                Outbound::UpdateIncident { incident: id },
            );
            Ok((next, vec![update]))
        })?;
        Ok(match r {
            Ok((incident, seqs)) => Changed::Applied {
                incident,
                outbox: seqs.first().copied(),
            },
            Err(unchanged) => *unchanged,
        })
    }

    /// Changes one incident in one transaction with its indexes, the room
    /// work it sets off and the outbound work `f` asks for (whose sequence
    /// numbers come back). `f` sees the incident (`None` if there is none)
    /// and may decline with an `E`; it may run more than once, as a conflict
    /// retries the transaction, so it must not have side effects.
    fn change<E, F>(
        &self,
        id: u64,
        at: DateTime<Utc>,
        f: F,
    ) -> Result<Result<(Incident, Vec<u64>), E>, StoreError>
    where
        F: Fn(Option<&Incident>) -> Result<(Incident, Vec<(String, Outbound)>), E>,
    {
        let tr = self.trees()?;
        let trees = (&tr.meta, &tr.incidents, &tr.outbox, &tr.due, &tr.open);
        let r = trees.transaction(|(meta, incidents, outbox, due, open)| {
            let current = get_incident(incidents, id)?;
            let (mut next, ops) = match f(current.as_ref()) {
                Ok(x) => x,
                Err(declined) => return Ok(Err(declined)),
            };
            let w = Writes {
                meta,
                incidents,
                outbox,
                due,
                open,
            };
            put_tracked(&w, current.as_ref(), &mut next, at)?;
            let mut seqs = Vec::with_capacity(ops.len());
            for (lane, op) in ops {
                seqs.push(push_outbox(meta, outbox, &lane, op, at)?);
            }
            Ok(Ok((next, seqs)))
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

    /// Changes incident `id` through `f`, in one transaction with the due
    /// index and the Slack work `f` asks for. `f` may run more than once (a
    /// conflict retries the transaction), so it must not have side effects.
    /// `Ok(Err(why))` means `f` declined and nothing changed.
    pub fn update_incident<F>(
        &self,
        id: u64,
        at: DateTime<Utc>,
        f: F,
    ) -> Result<Result<Incident, String>, StoreError>
    where
        F: Fn(&Incident) -> Result<(Incident, Vec<(String, Outbound)>), String>,
    {
        let r = self.change(id, at, |current| {
            f(current.ok_or_else(|| format!("There is no incident #{id}."))?)
        })?;
        Ok(r.map(|(incident, _)| incident))
    }

    /// Drops a due-index entry the engine found stale (the incident moved on).
    pub fn forget_due(&self, at: DateTime<Utc>, id: u64) -> Result<(), StoreError> {
        let tr = self.trees()?;
        tr.due.remove(due_key(at, id))?;
        Ok(())
    }

    /// Records a DM that paged someone about incident `id`.
    pub fn add_dm_message(&self, id: u64, message: MessageRef) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let r = tr.incidents.transaction(|incidents| -> TxResult<()> {
            let Some(mut inc) = get_incident(incidents, id)? else {
                return Err(abort(StoreError::NoSuchIncident(id)));
            };
            if !inc.dm_messages.contains(&message) {
                inc.dm_messages.push(message.clone());
            }
            put_incident(incidents, &inc)?;
            Ok(())
        });
        Ok(r?)
    }

    /// Records the channel created for incident `id`'s room, and indexes it
    /// so commands and events in that channel find the incident.
    pub fn room_opened(
        &self,
        id: u64,
        channel: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let r = (&tr.incidents, &tr.rooms).transaction(|(incidents, rooms)| -> TxResult<()> {
            let Some(mut inc) = get_incident(incidents, id)? else {
                return Err(abort(StoreError::NoSuchIncident(id)));
            };
            if let Some(room) = &mut inc.coord.room {
                room.channel = Some(channel.to_string());
                room.name = Some(name.to_string());
                room.creating = None;
            }
            inc.coord.timeline.push(crate::warroom::Entry {
                at,
                by: None,
                kind: crate::warroom::EntryKind::Channel,
                text: format!("Channel <#{channel}> opened"),
            });
            put_incident(incidents, &inc)?;
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

    /// Records where an incident's message was posted.
    pub fn set_message(&self, id: u64, message: MessageRef) -> Result<(), StoreError> {
        let tr = self.trees()?;
        let r = tr.incidents.transaction(|incidents| -> TxResult<()> {
            let Some(mut inc) = get_incident(incidents, id)? else {
                return Err(abort(StoreError::NoSuchIncident(id)));
            };
            inc.message = Some(message.clone());
            put_incident(incidents, &inc)?;
            Ok(())
        });
        Ok(r?)
    }

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

    /// Answers a pending swap: compare-and-swap on its state. On acceptance the
    /// overrides are written in the same transaction; `notices` are queued only
    /// if this call made the change. Returns the request as it now is and
    /// whether this call changed it.
    pub fn answer_swap(
        &self,
        id: u64,
        accept: bool,
        at: DateTime<Utc>,
        notices: &[(String, Outbound)],
    ) -> Result<Option<(SwapRequest, bool)>, StoreError> {
        let tr = self.trees()?;
        let r = (&tr.meta, &tr.swaps, &tr.overrides, &tr.outbox).transaction(
            |(meta, swaps, overrides, outbox)| -> TxResult<Option<(SwapRequest, bool)>> {
                let Some(v) = swaps.get(id.to_be_bytes())? else {
                    return Ok(None);
                };
                let mut req = decode_swap(&v).map_err(abort)?;
                if req.state != SwapState::Pending {
                    return Ok(Some((req, false)));
                }
                req.state = if accept {
                    SwapState::Accepted
                } else {
                    SwapState::Declined
                };
                swaps.insert(&id.to_be_bytes(), encode(&SwapRecord::V1(req.clone())))?;
                if accept {
                    let put = |user: &str,
                               (start, end): (DateTime<Utc>, DateTime<Utc>)|
                     -> TxResult<()> {
                        let oid = next_counter(meta, K_NEXT_OVERRIDE)?;
                        let stored = StoredOverride {
                            id: oid,
                            schedule: req.schedule.clone(),
                            over: Override {
                                user: user.to_string(),
                                start,
                                end,
                            },
                            created_by: format!("swap:{id}"),
                            created_at: at,
                        };
                        overrides.insert(
                            override_key(&req.schedule, oid),
                            encode(&OverrideRecord::V1(stored)),
                        )?;
                        Ok(())
                    };
                    put(&req.other, req.mine)?;
                    if let Some(theirs) = req.theirs {
                        put(&req.requester, theirs)?;
                    }
                }
                for (lane, op) in notices {
                    push_outbox(meta, outbox, lane, op.clone(), at)?;
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

    /// Forgets Slack event ids first seen before `before` (Slack retries for
    /// minutes, not hours). Returns how many were removed.
    pub fn prune_slack_events(&self, before: DateTime<Utc>) -> Result<usize, StoreError> {
        let tr = self.trees()?;
        let mut removed = 0;
        for kv in tr.slack_events.iter() {
            let (k, v) = kv?;
            let seen = std::str::from_utf8(&v)
                .ok()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok());
            if seen.is_none_or(|t| t < before) {
                tr.slack_events.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Forgets a Slack `event_id` whose handling failed, so Slack's retry is taken.
    pub fn forget_slack_event(&self, event_id: &str) -> Result<(), StoreError> {
        let tr = self.trees()?;
        tr.slack_events.remove(event_id.as_bytes())?;
        Ok(())
    }

    /// True the first time a Slack `event_id` is seen; false for retries.
    pub fn first_sight_of_event(
        &self,
        event_id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let tr = self.trees()?;
        let r = tr.slack_events.compare_and_swap(
            event_id.as_bytes(),
            None as Option<&[u8]>,
            Some(at.to_rfc3339().as_bytes()),
        )?;
        Ok(r.is_ok())
    }
}

async fn run_committer(mut rx: mpsc::UnboundedReceiver<FlushRequest>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
        }
        // One database almost always; just after a reopen, requests for the
        // old one may still wait here, and each gets its own database's answer.
        while !batch.is_empty() {
            let gen = batch[0].trees.gen;
            let (same, rest): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|r| r.trees.gen == gen);
            batch = rest;
            let trees = same[0].trees.clone();
            let flushed_outbox = same[0].flushed_outbox.clone();
            let waiters: Vec<_> = same.into_iter().map(|r| r.reply).collect();
            // Everyone queued so far wrote before asking, so one flush covers them
            // all, including every outbox row numbered below the counter read now.
            let last = last_outbox_seq(&trees.meta);
            let r = trees
                .db
                .flush_async()
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            if let (Ok(()), Ok(last)) = (&r, last) {
                flushed_outbox.fetch_max(last, Ordering::SeqCst);
            }
            // Release the database before answering, so a caller that drops its
            // last handle after this reply finds the files unlocked.
            drop(trees);
            for w in waiters {
                let _ = w.send(r.clone());
            }
        }
    }
}

/// The last outbox sequence handed out so far (0 if none).
fn last_outbox_seq(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(K_NEXT_OUTBOX)? {
        Some(v) => Ok(decode_u64(&v, "meta")?.saturating_sub(1)),
        None => Ok(0),
    }
}

/// The outbox lane for re-rendering an incident's messages: its channel's lane
/// (so an update never overtakes the post), or its own when it has no channel.
pub fn update_lane(inc: &Incident) -> String {
    inc.alert_channel
        .clone()
        .unwrap_or_else(|| format!("incident:{}", inc.id))
}

fn dedup_key(routing_key: &str, dedup_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(routing_key.len() + 1 + dedup_key.len());
    k.extend_from_slice(routing_key.as_bytes());
    k.push(0);
    k.extend_from_slice(dedup_key.as_bytes());
    k
}

fn override_key(schedule: &str, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(schedule.len() + 9);
    k.extend_from_slice(schedule.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain data types to JSON cannot fail.
    serde_json::to_vec(v).expect("record types serialise")
}

fn decode_u64(v: &[u8], tree: &'static str) -> Result<u64, StoreError> {
    let b: [u8; 8] = v.try_into().map_err(|_| StoreError::Corrupt {
        tree,
        message: format!("expected 8 bytes, found {}", v.len()),
    })?;
    Ok(u64::from_be_bytes(b))
}

fn decode_incident(v: &[u8]) -> Result<Incident, StoreError> {
    IncidentRecord::decode(v).map_err(|e| StoreError::Corrupt {
        tree: "incidents",
        message: e.to_string(),
    })
}

fn decode_swap(v: &[u8]) -> Result<SwapRequest, StoreError> {
    serde_json::from_slice::<SwapRecord>(v)
        .map(|SwapRecord::V1(s)| s)
        .map_err(|e| StoreError::Corrupt {
            tree: "swaps",
            message: e.to_string(),
        })
}

fn decode_outbox(v: &[u8]) -> Result<OutboxItem, StoreError> {
    serde_json::from_slice::<OutboxRecord>(v)
        .map(OutboxRecord::into_current)
        .map_err(|e| StoreError::Corrupt {
            tree: "outbox",
            message: e.to_string(),
        })
}

fn get_incident(t: &TransactionalTree, id: u64) -> TxResult<Option<Incident>> {
    match t.get(id.to_be_bytes())? {
        Some(v) => Ok(Some(decode_incident(&v).map_err(abort)?)),
        None => Ok(None),
    }
}

fn due_key(at: DateTime<Utc>, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(
        &u64::try_from(at.timestamp_millis())
            .unwrap_or(0)
            .to_be_bytes(),
    );
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// Writes `new` and keeps the due index in step with its escalation, and
/// the open index with its state. Queues the room work the change sets off
/// (`warroom::follow_up`) in the same transaction, so it happens exactly when
/// the change does.
fn put_tracked(
    w: &Writes<'_>,
    old: Option<&Incident>,
    new: &mut Incident,
    at: DateTime<Utc>,
) -> TxResult<()> {
    for (lane, op) in crate::warroom::follow_up(old, new, at) {
        push_outbox(w.meta, w.outbox, &lane, op, at)?;
    }
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

/// Fills the `open` index from the incidents, for a store written before it existed.
fn build_open_index(incidents: &sled::Tree, open: &sled::Tree) -> Result<(), StoreError> {
    open.clear()?;
    for kv in incidents.iter() {
        let (k, v) = kv?;
        if decode_incident(&v)?.is_open() {
            open.insert(k, &[])?;
        }
    }
    Ok(())
}

fn put_incident(t: &TransactionalTree, i: &Incident) -> TxResult<()> {
    debug_assert!(
        i.alert.custom_details.is_none(),
        "custom details are written once, as a payload, never in the incident record"
    );
    t.insert(&i.id.to_be_bytes(), encode(&IncidentRecordRef::V2(i)))?;
    Ok(())
}

/// The upgrade from schema 1: every incident record that still holds its
/// alert's custom details gives them to `payloads` and is rewritten as v2.
/// One small transaction per incident (payload and record together), so a
/// crash part way leaves every incident whole, and the next open carries on
/// (records already v2 are skipped). Returns how many payloads were moved.
fn move_details_out(incidents: &sled::Tree, payloads: &sled::Tree) -> Result<usize, StoreError> {
    let mut moved = 0;
    for kv in incidents.iter() {
        let (k, v) = kv?;
        if IncidentRecord::is_current(&v) {
            continue;
        }
        let mut inc = decode_incident(&v)?;
        let details = inc.alert.custom_details.take();
        let payload = details
            .as_ref()
            .map(|d| encode(&PayloadRecordRef::V1 { custom_details: d }));
        let r = (incidents, payloads).transaction(|(incidents, payloads)| -> TxResult<()> {
            if let Some(p) = &payload {
                payloads.insert(&k, p.as_slice())?;
            }
            put_incident(incidents, &inc)?;
            Ok(())
        });
        r.map_err(StoreError::from)?;
        moved += usize::from(payload.is_some());
    }
    Ok(moved)
}

/// Counters start at 1 so `#0` never appears.
fn next_counter(meta: &TransactionalTree, key: &[u8]) -> TxResult<u64> {
    let n = match meta.get(key)? {
        Some(v) => decode_u64(&v, "meta").map_err(abort)?,
        None => 1,
    };
    meta.insert(key, &(n + 1).to_be_bytes())?;
    Ok(n)
}

fn push_outbox(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{tests::sample, Severity};
    use chrono::TimeZone;

    /// Opens `dir` again once the store that had it is gone. sled's own
    /// threads and the store's watcher may hold the directory's lock a few
    /// moments after the last handle is dropped, as a process exiting would.
    async fn try_reopen(dir: &Path) -> Result<Store, StoreError> {
        for _ in 0..200 {
            match Store::open(dir, 1 << 20) {
                Err(StoreError::Sled(sled::Error::Io(e))) if e.to_string().contains("lock") => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                other => return other,
            }
        }
        panic!("{} stayed locked for 2 s", dir.display());
    }

    async fn reopen(dir: &Path) -> Store {
        try_reopen(dir).await.unwrap()
    }

    fn at(min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 3, min, 0).unwrap()
    }

    fn alert<'a>(key: &'a str) -> NewAlert<'a> {
        NewAlert {
            routing_key: "rk",
            service_id: "api",
            dedup_key: key,
            alert: sample(0).alert,
            custom_details: None,
            alert_channel: Some("C1".into()),
            escalation: None,
            urgency: crate::config::Urgency::High,
            at: at(0),
            alerts: vec![],
            changes: vec![],
            join_within: None,
            member_keys: vec![],
            flapping: None,
            room: None,
        }
    }

    fn bob() -> Actor {
        Actor::Slack {
            user_id: "UBOB".into(),
        }
    }

    #[tokio::test]
    async fn the_open_index_follows_every_change_and_is_built_for_an_older_store() {
        let dir = tempfile::tempdir().unwrap();
        let ids =
            |s: &Store| -> Vec<u64> { s.open_incidents().unwrap().iter().map(|i| i.id).collect() };
        {
            let s = Store::open(dir.path(), 1 << 20).unwrap();
            for k in ["a", "b", "c", "a"] {
                s.trigger(&alert(k)).unwrap();
            }
            assert_eq!((s.open_count().unwrap(), ids(&s)), (3, vec![1, 2, 3]));
            s.transition(2, Transition::Acknowledge, bob(), at(1))
                .unwrap();
            s.transition(1, Transition::Resolve, bob(), at(2)).unwrap();
            // A replayed resolve changes nothing, the index included.
            s.transition(1, Transition::Resolve, bob(), at(3)).unwrap();
            assert_eq!((s.open_count().unwrap(), ids(&s)), (2, vec![2, 3]));
            // Re-triggered after its resolve: a new incident, open.
            s.trigger(&alert("a")).unwrap();
            s.update_incident(3, at(4), |i| {
                i.apply(Transition::Resolve, bob(), at(4))
                    .map(|n| (n, vec![]))
                    .map_err(|e| format!("{e:?}"))
            })
            .unwrap()
            .unwrap();
            assert_eq!((s.open_count().unwrap(), ids(&s)), (2, vec![2, 4]));
            s.flush().unwrap();
        }
        {
            let s = reopen(dir.path()).await;
            assert_eq!(ids(&s), vec![2, 4], "kept across a restart");
            // A store from before the index: no marker, no entries.
            let tr = s.trees().unwrap();
            tr.meta.remove(K_OPEN_INDEXED).unwrap();
            tr.open.clear().unwrap();
            drop(tr);
            s.flush().unwrap();
        }
        let s = reopen(dir.path()).await;
        assert_eq!(
            (s.open_count().unwrap(), ids(&s)),
            (2, vec![2, 4]),
            "rebuilt"
        );
        let all_open: Vec<u64> = s
            .incidents()
            .unwrap()
            .into_iter()
            .filter(Incident::is_open)
            .map(|i| i.id)
            .collect();
        assert_eq!(all_open, ids(&s));
    }

    #[tokio::test]
    async fn custom_details_are_written_once_apart_from_the_incident() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        let details = serde_json::json!({"log": "x".repeat(200_000), "host": "db-1"});
        let mut a = alert("big");
        a.custom_details = Some(&details);
        let Triggered::Opened { incident, .. } = s.trigger(&a).unwrap() else {
            panic!("opens")
        };
        assert_eq!(incident.alert.custom_details, None);
        assert_eq!(incident.alert.summary, a.alert.summary);
        let (record, payload) = s.stored_bytes(incident.id).unwrap();
        assert!(
            record < 1_000,
            "the record holds no details: {record} bytes"
        );
        assert!(payload > 200_000 && payload < 200_100, "{payload}");
        // Repeats, transitions and messages rewrite the small record only.
        let other = serde_json::json!({"log": "y".repeat(200_000)});
        let mut repeat = alert("big");
        repeat.custom_details = Some(&other);
        for _ in 0..5 {
            s.trigger(&repeat).unwrap();
        }
        s.set_message(
            incident.id,
            MessageRef {
                channel: "C1".into(),
                ts: "1.2".into(),
            },
        )
        .unwrap();
        s.transition(incident.id, Transition::Acknowledge, bob(), at(1))
            .unwrap();
        let (record_after, payload_after) = s.stored_bytes(incident.id).unwrap();
        assert!(record_after < 1_000, "{record_after}");
        assert_eq!(payload_after, payload, "the payload is never rewritten");
        assert_eq!(s.custom_details(incident.id).unwrap(), Some(details));
        let read = s.incident(incident.id).unwrap().unwrap();
        assert_eq!((read.alert_count, read.alert.custom_details), (6, None));
        // No details, no payload.
        let Triggered::Opened {
            incident: plain, ..
        } = s.trigger(&alert("plain")).unwrap()
        else {
            panic!("opens")
        };
        assert_eq!(s.custom_details(plain.id).unwrap(), None);
        assert_eq!(s.stored_bytes(plain.id).unwrap().1, 0);
    }

    #[tokio::test]
    async fn a_schema_1_directory_is_upgraded_and_reads_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let details = serde_json::json!({"mount": "/var", "log": ["a", "b"]});
        let mut with = sample(8);
        with.alert.custom_details = Some(details.clone());
        {
            // What schema 1 left behind: v1 records, details inline.
            let s = Store::open(dir.path(), 1 << 20).unwrap();
            let t = s.trees().unwrap();
            t.incidents
                .insert(7u64.to_be_bytes(), records::tests::V1_INCIDENT.as_bytes())
                .unwrap();
            let v1 = serde_json::to_vec(&IncidentRecord::V1(with.clone())).unwrap();
            assert!(v1.starts_with(br#"{"v":"1","#));
            t.incidents.insert(8u64.to_be_bytes(), v1).unwrap();
            t.meta.insert(K_SCHEMA, &1u64.to_be_bytes()).unwrap();
            t.meta.insert(K_NEXT_INCIDENT, &9u64.to_be_bytes()).unwrap();
            // Written behind the open index's back: let the next open rebuild it.
            t.meta.remove(K_OPEN_INDEXED).unwrap();
            s.flush().unwrap();
        }
        let check = |s: Store| {
            assert_eq!(s.schema_version().unwrap(), 2);
            assert_eq!(s.incident(7).unwrap().unwrap(), sample(7));
            let mut without = with.clone();
            without.alert.custom_details = None;
            assert_eq!(s.incident(8).unwrap().unwrap(), without);
            assert_eq!(s.custom_details(7).unwrap(), None);
            assert_eq!(s.custom_details(8).unwrap(), Some(details.clone()));
            for id in [7u64, 8] {
                let raw = s
                    .reader()
                    .unwrap()
                    .incidents
                    .get(id.to_be_bytes())
                    .unwrap()
                    .unwrap();
                assert!(IncidentRecord::is_current(&raw), "{id} rewritten as v2");
            }
            assert_eq!(s.open_count().unwrap(), 2);
            s
        };
        let s = check(reopen(dir.path()).await);
        // An upgraded store goes on as any other: new incidents, transitions.
        s.transition(8, Transition::Resolve, bob(), at(1)).unwrap();
        assert_eq!(s.custom_details(8).unwrap(), Some(details.clone()));
        assert!(matches!(
            s.trigger(&alert("new")).unwrap(),
            Triggered::Opened { incident, .. } if incident.id == 9
        ));
        s.flush().unwrap();
        drop(s);
        let s = reopen(dir.path()).await;
        assert_eq!(s.custom_details(8).unwrap(), Some(details));
        assert!(!s.incident(8).unwrap().unwrap().is_open());
    }

    #[tokio::test]
    async fn stopped_alerts_resolve_their_incident_with_the_last_one_in_one_step() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        let member = |key: &str| crate::incident::SubAlert {
            key: key.into(),
            summary: key.into(),
            firing: true,
            link: None,
            since: at(0),
        };
        let mut group = alert("group:db");
        group.alerts = vec![member("a"), member("b")];
        s.trigger(&group).unwrap();
        let stop = |key: &'static str| {
            move |inc: &mut Incident| {
                for a in inc.alerts.iter_mut().filter(|a| a.key == key) {
                    a.firing = false;
                }
                inc.all_alerts_resolved()
            }
        };
        let queued = |s: &Store| s.outbox_pending().unwrap().len();
        let before = queued(&s);
        match s.alerts_stopped(1, bob(), at(1), stop("a")).unwrap() {
            AlertsStopped::Firing(inc) => {
                assert!(inc.is_open());
                assert!(!inc.alerts[0].firing && inc.alerts[1].firing);
            }
            other => panic!("b still fires: {other:?}"),
        }
        assert_eq!(queued(&s), before + 1, "the message shows it");
        match s.alerts_stopped(1, bob(), at(2), stop("b")).unwrap() {
            AlertsStopped::Resolved(Changed::Applied { incident, outbox }) => {
                assert!(!incident.is_open());
                assert!(outbox.is_some());
            }
            other => panic!("the last alert resolves it: {other:?}"),
        }
        let stored = s.incident(1).unwrap().unwrap();
        assert!(!stored.is_open() && stored.all_alerts_resolved());
        assert_eq!(s.open_count().unwrap(), 0);
        // Again, whether or not the caller would resolve: already resolved,
        // nothing changes and nothing is queued.
        let before = queued(&s);
        for resolve in [true, false] {
            assert!(matches!(
                s.alerts_stopped(1, bob(), at(3), |_: &mut Incident| resolve)
                    .unwrap(),
                AlertsStopped::Resolved(Changed::Unchanged { .. })
            ));
        }
        assert_eq!(queued(&s), before);
        assert!(matches!(
            s.alerts_stopped(9, bob(), at(3), |_: &mut Incident| true)
                .unwrap(),
            AlertsStopped::Resolved(Changed::NotFound)
        ));
    }

    #[tokio::test]
    async fn triggers_dedupe_until_resolved_then_open_anew() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        let Triggered::Opened {
            incident: first,
            outbox: Some(_),
        } = s.trigger(&alert("k")).unwrap()
        else {
            panic!("first trigger opens")
        };
        assert_eq!(first.id, 1);
        assert!(
            matches!(s.trigger(&alert("k")).unwrap(), Triggered::Appended { incident, outbox: Some(_) } if incident.alert_count == 2)
        );
        assert!(
            matches!(s.trigger(&alert("other")).unwrap(), Triggered::Opened { incident, .. } if incident.id == 2)
        );
        let r = s
            .transition_by_key("rk", "k", Transition::Resolve, bob(), at(5))
            .unwrap();
        assert!(matches!(r, Changed::Applied { .. }));
        assert!(
            matches!(s.trigger(&alert("k")).unwrap(), Triggered::Opened { incident, .. } if incident.id == 3)
        );
        // The outbox holds, in order: post 1, update 1 (count), post 2, update 1 (resolved), post 3.
        let ops: Vec<Outbound> = s
            .outbox_pending()
            .unwrap()
            .into_iter()
            .map(|(_, i)| i.op)
            .collect();
        assert_eq!(ops.len(), 5);
        assert_eq!(ops[1], Outbound::UpdateIncident { incident: 1 });
        assert_eq!(ops[3], Outbound::UpdateIncident { incident: 1 });
    }

    #[tokio::test]
    async fn a_replayed_transition_changes_nothing_and_queues_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        s.trigger(&alert("k")).unwrap();
        let before = s.outbox_pending().unwrap().len();
        assert!(matches!(
            s.transition(1, Transition::Acknowledge, bob(), at(1))
                .unwrap(),
            Changed::Applied { .. }
        ));
        let again = s
            .transition(1, Transition::Acknowledge, bob(), at(2))
            .unwrap();
        assert!(matches!(
            again,
            Changed::Unchanged {
                why: NoChange::AlreadyAcknowledged,
                ..
            }
        ));
        assert_eq!(s.outbox_pending().unwrap().len(), before + 1);
        assert_eq!(
            s.incident(1).unwrap().unwrap().acknowledged.unwrap().at,
            at(1)
        );
        assert!(matches!(
            s.transition(42, Transition::Resolve, bob(), at(3)).unwrap(),
            Changed::NotFound
        ));
    }

    #[tokio::test]
    async fn concurrent_acknowledges_apply_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        s.trigger(&alert("k")).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let s = s.clone();
                std::thread::spawn(move || {
                    let who = Actor::Slack {
                        user_id: format!("U{i}"),
                    };
                    matches!(
                        s.transition(1, Transition::Acknowledge, who, at(1))
                            .unwrap(),
                        Changed::Applied { .. }
                    )
                })
            })
            .collect();
        let applied = handles
            .into_iter()
            .filter(|_| true)
            .map(|h| h.join().unwrap())
            .filter(|a| *a)
            .count();
        assert_eq!(applied, 1);
    }

    #[tokio::test]
    async fn records_survive_reopening_and_a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), 1 << 20).unwrap();
            let mut a = alert("k");
            a.alert.severity = Severity::Warning;
            s.trigger(&a).unwrap();
            s.durable().await.unwrap();
            assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
            s.trees()
                .unwrap()
                .meta
                .insert(K_SCHEMA, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            s.flush().unwrap();
        }
        match try_reopen(dir.path()).await {
            Err(StoreError::SchemaTooNew { found }) => assert_eq!(found, SCHEMA_VERSION + 1),
            Err(e) => panic!("wrong error: {e}"),
            Ok(_) => panic!("a newer schema must be refused"),
        }
    }

    #[tokio::test]
    async fn a_write_made_before_a_reopen_is_never_reported_durable_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        let other = s.clone();
        s.trigger(&alert("kept")).unwrap();
        s.durable().await.unwrap();
        s.trigger(&alert("in-doubt")).unwrap();
        // The disk fails, and the store is reopened before the writer asks
        // whether its write is on disk: it must not be told yes.
        s.note_failure("the disk failed (test)");
        assert!(matches!(s.health(), Health::Failed { .. }));
        assert!(matches!(
            s.trigger(&alert("refused")),
            Err(StoreError::Unavailable(_))
        ));
        s.reopen().await;
        match s.durable().await {
            Err(StoreError::Unavailable(why)) => assert!(why.contains("reopened"), "{why}"),
            r => panic!("a write from before the reopen was called durable: {r:?}"),
        }
        // Every clone now uses the reopened database: what was flushed is
        // there, and new writes are durable.
        assert!(matches!(s.health(), Health::Ok { .. }));
        assert!(other.open_incident_by_key("rk", "kept").unwrap().is_some());
        assert!(other
            .open_incident_by_key("rk", "refused")
            .unwrap()
            .is_none());
        other.trigger(&alert("after")).unwrap();
        other.durable().await.unwrap();
        assert!(s.open_incident_by_key("rk", "after").unwrap().is_some());
    }

    #[tokio::test]
    async fn overrides_are_kept_per_schedule_in_creation_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        let o = |u: &str| Override {
            user: u.into(),
            start: at(0),
            end: at(30),
        };
        s.add_override("primary", o("x"), "U1", at(0)).unwrap();
        s.add_override("primary-2", o("z"), "U1", at(0)).unwrap();
        let second = s.add_override("primary", o("y"), "U1", at(1)).unwrap();
        let users: Vec<String> = s
            .overrides("primary")
            .unwrap()
            .into_iter()
            .map(|o| o.over.user)
            .collect();
        assert_eq!(
            users,
            ["x", "y"],
            "no leak from a schedule whose id shares a prefix"
        );
        assert!(s.remove_override("primary", second.id).unwrap());
        assert!(!s.remove_override("primary", second.id).unwrap());
        assert_eq!(s.overrides("primary").unwrap().len(), 1);
    }

    #[tokio::test]
    async fn the_handoff_cursor_moves_with_its_notices() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(s.handoff_cursor("p").unwrap(), None);
        let note = Outbound::Notify {
            channel: "U1".into(),
            text: "you're on".into(),
        };
        s.advance_handoffs("p", at(10), Some("alice"), &[("U1".into(), note.clone())])
            .unwrap();
        assert_eq!(s.handoff_cursor("p").unwrap(), Some(at(10)));
        assert_eq!(
            s.handoff_user("p").unwrap(),
            Some(Some("alice".to_string()))
        );
        s.advance_handoffs("p", at(11), None, &[]).unwrap();
        assert_eq!(s.handoff_user("p").unwrap(), Some(None));
        assert_eq!(s.outbox_pending().unwrap()[0].1.op, note);
        assert_eq!(s.feed_seed().unwrap(), s.feed_seed().unwrap());
        assert_eq!(s.feed_generation("p").unwrap(), 0);
        assert_eq!(s.rotate_feed("p").unwrap(), 1);
        assert_eq!(s.rotate_feed("p").unwrap(), 2);
        assert_eq!(s.feed_generation("p").unwrap(), 2);
        assert_eq!(s.feed_generation("q").unwrap(), 0, "per schedule");
    }

    #[tokio::test]
    async fn outbox_rows_count_as_on_disk_only_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        s.trigger(&alert("k")).unwrap();
        assert_eq!(s.outbox_pending().unwrap().len(), 1);
        assert_eq!(s.flushed_outbox_seq(), 0, "committed, not yet flushed");
        s.durable().await.unwrap();
        assert_eq!(s.flushed_outbox_seq(), 1);
    }

    #[tokio::test]
    async fn slack_event_ids_are_seen_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        assert!(s.first_sight_of_event("Ev1", at(0)).unwrap());
        assert!(!s.first_sight_of_event("Ev1", at(1)).unwrap());
        assert!(s.first_sight_of_event("Ev2", at(1)).unwrap());
        assert_eq!(s.prune_slack_events(at(1)).unwrap(), 1);
        assert!(
            s.first_sight_of_event("Ev1", at(2)).unwrap(),
            "forgotten after pruning"
        );
        assert!(
            !s.first_sight_of_event("Ev2", at(2)).unwrap(),
            "kept: seen at the cut-off"
        );
    }
    #[tokio::test]
    async fn a_dead_letter_goes_back_to_the_end_of_its_lane_once() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), 1 << 20).unwrap();
        let op = Outbound::Notify {
            channel: "C1".into(),
            text: "hello".into(),
        };
        let first = s.enqueue("C1", op.clone(), at(0)).unwrap();
        s.outbox_attempted(first).unwrap();
        s.outbox_dead(first).unwrap();
        assert_eq!(s.dead_count(), 1);
        assert!(s.outbox_pending().unwrap().is_empty());
        let again = s.retry_dead(first, at(5)).unwrap().expect("a dead letter");
        assert!(
            again > first,
            "a new sequence, after everything queued before"
        );
        assert_eq!(s.dead_count(), 0);
        let pending = s.outbox_pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].0, &pending[0].1.op), (again, &op));
        assert_eq!(pending[0].1.attempts, 0);
        assert_eq!(pending[0].1.enqueued_at, at(5));
        assert_eq!(s.retry_dead(first, at(6)).unwrap(), None, "only once");
        assert_eq!(s.outbox_pending().unwrap().len(), 1);
    }
}
