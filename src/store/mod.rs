//! The store: durable state and the outbound work queued with it.
//!
//! - [`port`]: the storage interface the application uses, and its errors;
//! - `sled`: the embedded backend, the only code that knows its database;
//! - `records`: the versioned JSON forms records are stored in;
//! - `signals`: the stored kinds that are not incidents (changes,
//!   maintenance windows, suppressed alerts, the audit log);
//! - this file: [`Store`], the handle callers hold. It composes the
//!   domain's decisions (what a trigger does, the room work a change sets
//!   off, what answering a swap writes) and hands them to the backend
//!   through the port, which only reads, runs them and writes.

#[cfg(test)]
mod conformance;
pub mod port;
mod postgres;
mod records;
mod signals;
mod sled;

pub use backend::SCHEMA_VERSION;
pub use port::{
    Applied, Change, Declined, Health, Storage, StoreError, TriggerKeys, TriggerKind, Triggering,
};
pub use records::{
    MessageRef, MessageRefs, Outbound, OutboxItem, StoredOverride, SwapRequest, SwapState,
};
pub use signals::{AuditEntry, Suppressed, Window, CHANGE_RETENTION_DAYS};

use crate::domain::incident::trigger::{self, Alerted, Decision};
use crate::domain::incident::{Actor, AlertDetails, Incident, NoChange, Transition};
use crate::domain::schedule::Override;
use chrono::{DateTime, Utc};
use port::SwapAnswer;
// The embedded backend, the only one `Store::open` knows today.
use self::sled as backend;
use crate::domain::home::{self, Directory};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// Where a store is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The embedded database in a directory of its own.
    Sled {
        dir: std::path::PathBuf,
        cache_capacity: u64,
    },
    /// A PostgreSQL database several processes may share.
    Postgres { url: String },
}

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
    pub escalation: Option<crate::domain::escalation::Escalation>,
    pub urgency: crate::config::Urgency,
    pub at: DateTime<Utc>,
    /// The grouped alerts this report carries (empty for a single alert).
    pub alerts: Vec<crate::domain::incident::SubAlert>,
    /// Recent changes to the service, shown on a new incident.
    pub changes: Vec<crate::domain::incident::Change>,
    /// Grouping: join the open incident of `dedup_key` only if its last alert
    /// came within this long, and point these member keys at it too.
    pub join_within: Option<chrono::Duration>,
    pub member_keys: Vec<String>,
    /// Flapping: re-triggered `.0` times within `.1` after resolving, the
    /// last incident is reopened instead of paging anew.
    pub flapping: Option<(u32, chrono::Duration)>,
    /// A room of its own from the start (its level is at the team's `channel_at`).
    pub room: Option<crate::domain::warroom::Room>,
    /// What intelligent grouping knew of it, kept if it opens an incident.
    pub insight: crate::domain::incident::Insight,
}

impl NewAlert<'_> {
    /// The alert as the trigger decision needs it.
    fn alerted(&self) -> Alerted<'_> {
        Alerted {
            service_id: self.service_id,
            routing_key: self.routing_key,
            dedup_key: self.dedup_key,
            alert: &self.alert,
            alert_channel: self.alert_channel.as_deref(),
            escalation: self.escalation.as_ref(),
            urgency: self.urgency,
            alerts: &self.alerts,
            changes: &self.changes,
            join_within: self.join_within,
            flapping: self.flapping,
            room: self.room.as_ref(),
            insight: &self.insight,
        }
    }
}

/// A cheap, cloneable handle on the store. Every clone sees the same
/// database, including after the backend reopened it.
///
/// The storage operations that carry no domain rule are the port's own,
/// reached through `Deref` to [`port::Storage`]; those that change an
/// incident or answer a swap are defined here, where the decision is made,
/// and handed to the port. Every write returns once it is durable.
#[derive(Clone)]
pub struct Store {
    storage: Arc<dyn Storage>,
    /// Whose App Home an incident change concerns (config ids to Slack
    /// ids); until it is set, changes refresh no Home.
    homes: Arc<OnceLock<Directory>>,
}

impl std::ops::Deref for Store {
    type Target = dyn Storage;
    fn deref(&self) -> &Self::Target {
        &*self.storage
    }
}

impl Store {
    /// Opens (or creates) the embedded store in `dir`, the only backend
    /// today. Must be called inside a tokio runtime: it starts the
    /// group-commit task and the watcher that reopens the database after a
    /// write failure.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(backend::SledStore::open(
            dir,
            cache_capacity,
        )?)))
    }

    /// A throw-away store in `dir`, for a replay: nothing is flushed (a
    /// write is "durable" at once), and nothing outlives the process.
    pub fn scratch(dir: &Path) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(backend::SledStore::scratch(dir)?)))
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://…`),
    /// migrating it to this build's schema; refused if a newer build
    /// migrated it further. Must be called inside a tokio runtime.
    pub async fn open_postgres(url: &str) -> Result<Store, StoreError> {
        Ok(Store::new(Arc::new(
            postgres::PgStore::open(url, None).await?,
        )))
    }

    /// Opens the store `at` names.
    pub async fn open_at(at: &Location) -> Result<Store, StoreError> {
        match at {
            Location::Sled {
                dir,
                cache_capacity,
            } => Store::open(dir, *cache_capacity),
            Location::Postgres { url } => Store::open_postgres(url).await,
        }
    }

    /// A store over any backend.
    pub fn new(storage: Arc<dyn Storage>) -> Store {
        Store {
            storage,
            homes: Arc::default(),
        }
    }

    /// From now on, every incident change also queues a republish of the
    /// App Homes it makes stale (`domain::home::touched`). Set once, at start.
    pub fn refresh_homes(&self, people: Directory) {
        let _ = self.homes.set(people);
    }

    /// [`with_follow_up`], and the Home refreshes the change causes, queued
    /// before `ops` (whose last row callers take as the change's own).
    fn follow_up(
        &self,
        old: Option<&Incident>,
        next: Incident,
        ops: Vec<(String, Outbound)>,
        at: DateTime<Utc>,
    ) -> Change {
        let mut rows = match self.homes.get() {
            Some(dir) => home::refresh(home::touched(old, &next, dir)),
            None => vec![],
        };
        rows.extend(ops);
        with_follow_up(old, next, rows, at)
    }

    /// The same store through the port.
    pub fn port(&self) -> Arc<dyn Storage> {
        self.storage.clone()
    }

    /// Applies a trigger: opens an incident, or counts a repeat on the open one.
    /// Refused below the free-space floor (`set_min_free`), so the disk keeps
    /// room for acknowledging and resolving what is already open.
    pub async fn trigger(&self, a: &NewAlert<'_>) -> Result<Triggered, StoreError> {
        let keys = TriggerKeys {
            routing_key: a.routing_key,
            dedup_key: a.dedup_key,
            member_keys: &a.member_keys,
            custom_details: a.custom_details,
            at: a.at,
        };
        let alerted = a.alerted();
        let (kind, applied) = self
            .storage
            .trigger(&keys, &|previous, new_id| {
                self.decide_trigger(previous, &alerted, new_id, a.at)
            })
            .await?;
        let announced = applied.outbox.last().copied();
        Ok(match kind {
            TriggerKind::Opened => Triggered::Opened {
                incident: applied.incident,
                outbox: announced.filter(|_| a.alert_channel.is_some()),
            },
            TriggerKind::Appended | TriggerKind::Reopened => Triggered::Appended {
                incident: applied.incident,
                outbox: announced,
            },
        })
    }

    /// Acknowledges or resolves the open incident with this dedup key.
    pub async fn transition_by_key(
        &self,
        routing_key: &str,
        dedup_key: &str,
        t: Transition,
        by: Actor,
        at: DateTime<Utc>,
    ) -> Result<Changed, StoreError> {
        match self.storage.id_by_key(routing_key, dedup_key).await? {
            Some(id) => self.transition(id, t, by, at).await,
            None => Ok(Changed::NotFound),
        }
    }

    /// Acknowledges or resolves incident `id`. A compare-and-swap inside a
    /// transaction: concurrent or replayed requests change it at most once.
    pub async fn transition(
        &self,
        id: u64,
        t: Transition,
        by: Actor,
        at: DateTime<Utc>,
    ) -> Result<Changed, StoreError> {
        self.edit(id, at, |current| current.apply(t, by.clone(), at))
            .await
    }

    /// Marks some of incident `id`'s alerts as no longer firing (`mark`
    /// edits the alert list and says whether the incident should now
    /// resolve) and resolves it if so, in one transaction: a crash never
    /// leaves the alerts marked and the incident open.
    pub async fn alerts_stopped<M>(
        &self,
        id: u64,
        by: Actor,
        at: DateTime<Utc>,
        mark: M,
    ) -> Result<AlertsStopped, StoreError>
    where
        M: Fn(&mut Incident) -> bool + Send + Sync,
    {
        let r = self
            .edit(id, at, |current| {
                // Resolved since the caller looked it up: nothing more to record.
                if !current.is_open() {
                    return Err(NoChange::AlreadyResolved);
                }
                let mut next = current.clone();
                if mark(&mut next) {
                    next = next.apply(Transition::Resolve, by.clone(), at)?;
                }
                Ok(next)
            })
            .await?;
        Ok(match r {
            Changed::Applied { incident, .. } if incident.is_open() => {
                AlertsStopped::Firing(incident)
            }
            r => AlertsStopped::Resolved(r),
        })
    }

    /// Changes incident `id` as `f` says, or not if `f` declines, and
    /// queues the update of every copy of its message.
    async fn edit<F>(&self, id: u64, at: DateTime<Utc>, f: F) -> Result<Changed, StoreError>
    where
        F: Fn(&Incident) -> Result<Incident, NoChange> + Send + Sync,
    {
        let decide = |current: Option<&Incident>| {
            let current = current.ok_or(Declined::NotFound)?;
            let next = f(current).map_err(|why| Declined::Unchanged {
                incident: Box::new(current.clone()),
                why,
            })?;
            // The dedup entry stays: a later trigger with the key opens a
            // new incident, and can see this one to tell when it flaps.
            // Always: DM copies need the update even without a channel.
            let update = (
                update_lane(&next),
                Outbound::UpdateIncident { incident: id },
            );
            Ok(self.follow_up(Some(current), next, vec![update], at))
        };
        let r = self.storage.update_incident(id, at, &decide).await?;
        Ok(match r {
            // The update is the last row queued.
            Ok(a) => Changed::Applied {
                outbox: a.outbox.last().copied(),
                incident: a.incident,
            },
            Err(Declined::Unchanged { incident, why }) => Changed::Unchanged {
                incident: *incident,
                why,
            },
            Err(Declined::NotFound | Declined::Refused(_)) => Changed::NotFound,
        })
    }

    /// Changes incident `id` through `f`, in one transaction with the due
    /// index and the Slack work `f` asks for. `f` may run more than once (a
    /// conflict retries the transaction), so it must not have side effects.
    /// `Ok(Err(why))` means `f` declined and nothing changed.
    pub async fn update_incident<F>(
        &self,
        id: u64,
        at: DateTime<Utc>,
        f: F,
    ) -> Result<Result<Incident, String>, StoreError>
    where
        F: Fn(&Incident) -> Result<(Incident, Vec<(String, Outbound)>), String> + Send + Sync,
    {
        let decide = |current: Option<&Incident>| {
            let current =
                current.ok_or_else(|| Declined::Refused(format!("There is no incident #{id}.")))?;
            let (next, ops) = f(current).map_err(Declined::Refused)?;
            Ok(self.follow_up(Some(current), next, ops, at))
        };
        let r = self.storage.update_incident(id, at, &decide).await?;
        Ok(match r {
            Ok(a) => Ok(a.incident),
            Err(Declined::Refused(why)) => Err(why),
            Err(Declined::NotFound) => Err(format!("There is no incident #{id}.")),
            Err(Declined::Unchanged { why, .. }) => Err(format!("{why:?}")),
        })
    }

    /// Records the channel created for incident `id`'s room, and indexes it
    /// so commands and events in that channel find the incident.
    pub async fn room_opened(
        &self,
        id: u64,
        channel: &str,
        name: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.storage
            .room_opened(id, channel, &|inc| {
                crate::domain::warroom::channel_opened(inc, channel, name, at)
            })
            .await
    }

    /// Answers a pending swap: compare-and-swap on its state. On acceptance the
    /// overrides are written in the same transaction; `notices` are queued only
    /// if this call made the change. Returns the request as it now is and
    /// whether this call changed it.
    pub async fn answer_swap(
        &self,
        id: u64,
        accept: bool,
        at: DateTime<Utc>,
        notices: &[(String, Outbound)],
    ) -> Result<Option<(SwapRequest, bool)>, StoreError> {
        self.storage
            .answer_swap(id, at, &|req| answer_swap(req, accept, notices))
            .await
    }
}

impl Store {
    /// What an alert does (`incident::trigger::decide`), with the room work it
    /// sets off and the message it posts or refreshes, queued last.
    fn decide_trigger(
        &self,
        previous: Option<&Incident>,
        a: &Alerted<'_>,
        new_id: u64,
        at: DateTime<Utc>,
    ) -> Triggering {
        let refresh = |next: &Incident| {
            // Refresh every copy's alert count; the worker folds runs of these.
            vec![(
                update_lane(next),
                Outbound::UpdateIncident { incident: next.id },
            )]
        };
        match trigger::decide(previous, a, at) {
            Decision::Append(next) => {
                let ops = refresh(&next);
                Triggering::Append(self.follow_up(previous, next, ops, at))
            }
            Decision::Reopen(next) => {
                let ops = refresh(&next);
                Triggering::Reopen(self.follow_up(previous, next, ops, at))
            }
            Decision::Open(mut new) => {
                new.id = new_id;
                let post = a.alert_channel.map(|channel| {
                    (
                        channel.to_string(),
                        Outbound::PostIncident {
                            incident: new_id,
                            channel: channel.to_string(),
                        },
                    )
                });
                Triggering::Open(self.follow_up(None, new, post.into_iter().collect(), at))
            }
        }
    }
}

/// A decided change with the room work it sets off (`warroom::follow_up`,
/// which may also move the incident's room timers) queued before `ops`, so
/// the work is queued exactly when the change happens, whatever path made it.
/// Every decision an incident change hands a backend goes through here.
pub fn with_follow_up(
    old: Option<&Incident>,
    mut next: Incident,
    ops: Vec<(String, Outbound)>,
    at: DateTime<Utc>,
) -> Change {
    let mut outbound = crate::domain::warroom::follow_up(old, &mut next, at);
    outbound.extend(ops);
    Change {
        incident: next,
        outbound,
    }
}

/// Answering swap `req`: only a pending request changes. Accepting it puts
/// the other person on the requester's shift and, for a swap, the requester
/// on theirs; `notices` go out only with the change.
pub fn answer_swap(
    req: &SwapRequest,
    accept: bool,
    notices: &[(String, Outbound)],
) -> Option<SwapAnswer> {
    if req.state != SwapState::Pending {
        return None;
    }
    let mut request = req.clone();
    request.state = if accept {
        SwapState::Accepted
    } else {
        SwapState::Declined
    };
    let over = |user: &str, (start, end): (DateTime<Utc>, DateTime<Utc>)| Override {
        user: user.to_string(),
        start,
        end,
    };
    let mut overrides = vec![];
    if accept {
        overrides.push(over(&req.other, req.mine));
        if let Some(theirs) = req.theirs {
            overrides.push(over(&req.requester, theirs));
        }
    }
    Some(SwapAnswer {
        request,
        overrides,
        created_by: format!("swap:{}", req.id),
        outbound: notices.to_vec(),
    })
}

/// The outbox lane for re-rendering an incident's messages: its channel's lane
/// (so an update never overtakes the post), or its own when it has no channel.
pub fn update_lane(inc: &Incident) -> String {
    inc.alert_channel
        .clone()
        .unwrap_or_else(|| format!("incident:{}", inc.id))
}
