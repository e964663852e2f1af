//! The sled backend: the only code that touches sled (trees, keys, record
//! encoding, transactions, group commit). It runs the decisions it is handed
//! and knows no domain rules.
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
//! - `rooms`: Slack channel id of an incident's own channel → incident id;
//! - `message_refs`: incident id (u64 BE) → `MessageRefsRecord`: where the
//!   chat receiver's copies of the incident are (its post, the DMs that paged);
//! - `sandbox`: the sandbox workspace's records, key → bytes it encodes itself.

mod commit;
#[cfg(test)]
mod conformance;
mod health;
mod incidents;
mod messages;
mod outbox;
mod port;
mod schedules;
mod signals;
#[cfg(test)]
mod tests;

use health::Shared;
use outbox::push_outbox;

use crate::domain::incident::Incident;
use crate::store::records::{
    IncidentRecord, IncidentRecordRef, OutboxRecord, PayloadRecordRef, SwapRecord,
};
use crate::store::{OutboxItem, StoreError, SwapRequest};
use chrono::{DateTime, Utc};
use messages::encode_refs;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::Transactional;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

/// The schema this build reads and writes. 2: custom details moved out of
/// the incident records into `payloads`; 3: message references moved out
/// of them into `message_refs` (an older directory is upgraded when opened).
pub const SCHEMA_VERSION: u64 = 3;

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

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<TransactionError<StoreError>> for StoreError {
    fn from(e: TransactionError<StoreError>) -> Self {
        match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::from(e),
        }
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// A cheap, cloneable handle on the database. Every clone sees the same
/// database, including after a reopen (see `health`).
#[derive(Clone)]
pub struct SledStore {
    shared: Arc<Shared>,
}

impl SledStore {
    /// Opens (or creates) the store. Must be called inside a tokio runtime:
    /// it starts the group-commit task and the watcher that reopens the
    /// database after a write failure.
    pub fn open(dir: &Path, cache_capacity: u64) -> Result<SledStore, StoreError> {
        let trees = Trees::open(dir, cache_capacity, 0)?;
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(commit::run_committer(rx));
        let store = SledStore {
            shared: Arc::new(Shared::new(dir, cache_capacity, trees, tx)?),
        };
        store.watch();
        Ok(store)
    }

    /// A throw-away store in `dir` (a replay's): its writes are never
    /// flushed, so `durable()` returns at once; the caller removes `dir`.
    pub fn scratch(dir: &Path) -> Result<SledStore, StoreError> {
        let store = SledStore::open(dir, 256 * 1024 * 1024)?;
        store.shared.scratch.store(true, Ordering::Relaxed);
        Ok(store)
    }

    /// Makes every `durable()` and `flush()` fail (or succeed again): the
    /// fault-injection hook behind which tests play a disk that stopped
    /// taking writes.
    pub fn inject_write_failure(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::Relaxed);
    }

    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let tr = self.reader()?;
        match tr.meta.get(K_SCHEMA)? {
            Some(v) => decode_u64(&v, "meta"),
            None => Ok(0),
        }
    }
}

/// One opened database and its trees. Replaced as a whole by a reopen.
pub(super) struct Trees {
    /// Which opening this is: 0 at start, one more per reopen.
    gen: u64,
    db: sled::Db,
    meta: sled::Tree,
    incidents: sled::Tree,
    /// incident id → the opening alert's custom details, written once.
    payloads: sled::Tree,
    dedup: sled::Tree,
    outbox: sled::Tree,
    dead: sled::Tree,
    overrides: sled::Tree,
    swaps: sled::Tree,
    due: sled::Tree,
    /// incident id → (): the incidents not yet resolved.
    open: sled::Tree,
    slack_events: sled::Tree,
    /// service id, time (ms), sequence → change event.
    changes: sled::Tree,
    /// heartbeat monitor id → last beat (RFC 3339).
    heartbeats: sled::Tree,
    /// service id, time (ms), sequence → an alert a rule suppressed.
    suppressed: sled::Tree,
    /// service id, start (ms) → maintenance window.
    maintenance: sled::Tree,
    /// service id, time (ms), sequence → a labelled pair (a merge or a split).
    labels: sled::Tree,
    /// team id, time (ms), sequence → who changed what (overrides, maintenance).
    audit: sled::Tree,
    /// Slack channel id of an incident's own channel → incident id.
    rooms: sled::Tree,
    /// incident id → where the chat receiver's copies of it are.
    message_refs: sled::Tree,
    /// The sandbox workspace's own records, opaque here.
    sandbox: sled::Tree,
}

impl Trees {
    fn open(dir: &Path, cache_capacity: u64, gen: u64) -> Result<Trees, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_capacity)
            .open()?;
        let meta = db.open_tree("meta")?;
        let incidents = db.open_tree("incidents")?;
        let payloads = db.open_tree("payloads")?;
        let message_refs = db.open_tree("message_refs")?;
        match meta.get(K_SCHEMA)? {
            None => {
                meta.insert(K_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            }
            Some(v) => {
                let found = decode_u64(&v, "meta")?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew {
                        found,
                        known: SCHEMA_VERSION,
                    });
                }
                if found < SCHEMA_VERSION {
                    let (details, refs) = upgrade_incidents(&incidents, &payloads, &message_refs)?;
                    meta.insert(K_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
                    db.flush()?;
                    tracing::info!(
                        from = found,
                        to = SCHEMA_VERSION,
                        details,
                        refs,
                        "data directory upgraded: custom details and message references moved out of the incident records"
                    );
                }
            }
        }
        let open = db.open_tree("open")?;
        if meta.get(K_OPEN_INDEXED)?.is_none() {
            build_open_index(&incidents, &open)?;
            meta.insert(K_OPEN_INDEXED, &[1])?;
            db.flush()?;
        }
        Ok(Trees {
            gen,
            incidents,
            payloads,
            open,
            dedup: db.open_tree("dedup")?,
            outbox: db.open_tree("outbox")?,
            dead: db.open_tree("outbox_dead")?,
            overrides: db.open_tree("overrides")?,
            swaps: db.open_tree("swaps")?,
            due: db.open_tree("due")?,
            slack_events: db.open_tree("slack_events")?,
            changes: db.open_tree("changes")?,
            heartbeats: db.open_tree("heartbeats")?,
            suppressed: db.open_tree("suppressed")?,
            maintenance: db.open_tree("maintenance")?,
            labels: db.open_tree("labels")?,
            audit: db.open_tree("audit")?,
            rooms: db.open_tree("rooms")?,
            sandbox: db.open_tree("sandbox")?,
            message_refs,
            meta,
            db,
        })
    }
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
    t.insert(&i.id.to_be_bytes(), encode(&IncidentRecordRef::V3(i)))?;
    Ok(())
}

/// The upgrade from schema 1 or 2: every incident record not yet v3 gives
/// what it held inline to the trees that now keep it (a v1 record its
/// alert's custom details, to `payloads`; a v1 or v2 record its message
/// references, to `message_refs`) and is rewritten as v3. One small
/// transaction per incident (its payload, references and record together),
/// so a crash part way leaves every incident whole, and the next open
/// carries on (records already v3 are skipped). Returns how many payloads
/// and how many incidents' references were moved.
fn upgrade_incidents(
    incidents: &sled::Tree,
    payloads: &sled::Tree,
    message_refs: &sled::Tree,
) -> Result<(usize, usize), StoreError> {
    let (mut details_moved, mut refs_moved) = (0, 0);
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
        let refs = IncidentRecord::legacy_refs(&v).map_err(|e| StoreError::Corrupt {
            tree: "incidents",
            message: e.to_string(),
        })?;
        let refs = (!refs.is_empty()).then(|| encode_refs(&refs));
        let r = (incidents, payloads, message_refs).transaction(
            |(incidents, payloads, message_refs)| -> TxResult<()> {
                if let Some(p) = &payload {
                    payloads.insert(&k, p.as_slice())?;
                }
                if let Some(r) = &refs {
                    message_refs.insert(&k, r.as_slice())?;
                }
                put_incident(incidents, &inc)?;
                Ok(())
            },
        );
        r.map_err(StoreError::from)?;
        details_moved += usize::from(payload.is_some());
        refs_moved += usize::from(refs.is_some());
    }
    Ok((details_moved, refs_moved))
}

/// The number `next_counter` would hand out next, without taking it.
fn peek_counter(meta: &TransactionalTree, key: &[u8]) -> TxResult<u64> {
    match meta.get(key)? {
        Some(v) => decode_u64(&v, "meta").map_err(abort),
        None => Ok(1),
    }
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
