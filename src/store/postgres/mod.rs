//! The PostgreSQL backend: the only code that names tokio-postgres. It runs
//! the decisions it is handed, one SQL transaction per port call, and knows
//! no domain rules. Several tocsin processes may share one database.
//!
//! **Durability and group commit.** Sessions run with `synchronous_commit =
//! off`: a transaction's `COMMIT` returns once it is in the WAL buffers, and
//! its locks are released then, not after the disk flush. A write the port
//! calls durable then waits for [`PgStore::durable`], which runs one small
//! transaction with `synchronous_commit = on` for every caller waiting at
//! that moment; the WAL is one sequence, so flushing that transaction's
//! commit flushes every commit before it. The port's unflushed writes
//! simply do not wait.
//!
//! **Outbox order.** Sequences come from the `counters` row `outbox`,
//! updated inside the writing transaction and so held until it commits: a
//! row is numbered only after every lower row is committed, and a reader
//! never sees a later row before an earlier one of any node. The flush
//! reads that counter, so [`PgStore::flushed_seq`] says which rows are on
//! disk as well as committed.

#[cfg(test)]
mod conformance;
mod incidents;
mod port;
mod schema;
mod signals;

use crate::domain::incident::Incident;
use crate::store::records::{IncidentRecord, IncidentRecordRef, OutboxRecord, SwapRecord};
use crate::store::{Health, OutboxItem, StoreError, SwapRequest};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// The schema this build reads and writes: its newest migration.
pub const SCHEMA_VERSION: u64 = schema::MIGRATIONS[schema::MIGRATIONS.len() - 1].0 as u64;

/// Connections per process.
const POOL_SIZE: usize = 16;
/// How long a call waits for a connection (or to make one) before the
/// database counts as unreachable.
const CONNECT_WAIT: Duration = Duration::from_secs(5);
/// Tries of a transaction that lost a serialization or deadlock race.
const RETRIES: usize = 50;
/// Held while migrations run, so nodes starting together migrate once.
const MIGRATION_LOCK: i64 = 0x746f_6373_696e_0001;

/// A handle on one PostgreSQL database (and schema). Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    /// The connection settings, for the flush at shutdown (its own connection).
    config: tokio_postgres::Config,
    committer: mpsc::UnboundedSender<oneshot::Sender<Result<(), StoreError>>>,
    /// The outbox counter as of the last flush: every row up to it is on disk.
    flushed_outbox: AtomicU64,
    commits: AtomicU64,
    /// The dead letters, as last counted.
    dead: AtomicU64,
    /// Fault injection: while set, every flush fails.
    failing: AtomicBool,
    /// Why the database cannot be used, from a failure until a flush works.
    fault: Mutex<Option<String>>,
}

/// Why a transaction stopped: retry it, or give up with a store error.
pub(super) enum Failure {
    Retry,
    Store(StoreError),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => Failure::Retry,
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => Failure::Retry,
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => Failure::Retry,
            Some(c) => {
                let code = c.code();
                // Connection problems, too many connections, a server
                // shutting down or starting up, a read-only standby.
                if code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "25006"
                {
                    Failure::Store(StoreError::Unavailable(format!("the database: {e}")))
                } else {
                    Failure::Store(StoreError::Backend(db_message(&e)))
                }
            }
            // No SQL state: the connection itself failed.
            None => Failure::Store(StoreError::Unavailable(format!(
                "the database cannot be reached: {}",
                db_message(&e)
            ))),
        }
    }
}

impl From<deadpool_postgres::PoolError> for Failure {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => Failure::from(e),
            e => Failure::Store(StoreError::Unavailable(format!(
                "the database cannot be reached: {e}"
            ))),
        }
    }
}

/// The error with its cause, which tokio-postgres keeps apart.
fn db_message(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

type Fail<T> = Result<T, Failure>;

impl PgStore {
    /// Connects to `url` (`postgres://…`), in `schema` if given (created if
    /// missing), applies the migrations this build has and the database
    /// lacks, and refuses a database migrated by a newer build. Must be
    /// called inside a tokio runtime: it starts the group-commit task.
    pub async fn open(url: &str, schema: Option<&str>) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            StoreError::Backend(format!("TOCSIN_STORE is not a PostgreSQL URL: {e}"))
        })?;
        let mut options = config.get_options().unwrap_or("").to_string();
        options.push_str(" -c synchronous_commit=off");
        if let Some(s) = schema {
            options.push_str(&format!(" -c search_path={s}"));
        }
        config.options(options.trim());
        if config.get_application_name().is_none() {
            config.application_name("tocsin");
        }
        config.connect_timeout(CONNECT_WAIT);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_WAIT))
            .create_timeout(Some(CONNECT_WAIT))
            .recycle_timeout(Some(CONNECT_WAIT))
            .build()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let store = PgStore {
            shared: Arc::new(Shared {
                pool,
                config,
                committer: tx,
                flushed_outbox: AtomicU64::new(0),
                commits: AtomicU64::new(0),
                dead: AtomicU64::new(0),
                failing: AtomicBool::new(false),
                fault: Mutex::new(None),
            }),
        };
        store.migrate(schema).await.map_err(plain)?;
        tokio::spawn(run_committer(Arc::downgrade(&store.shared), rx));
        store.durable().await?;
        Ok(store)
    }

    async fn migrate(&self, schema: Option<&str>) -> Fail<()> {
        let mut c = self.client().await?;
        if let Some(s) = schema {
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {s}"))
                .await?;
        }
        let tx = c.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit = on")
            .await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS tocsin_migrations (
                version bigint PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let found: Option<i64> = tx
            .query_one("SELECT max(version) FROM tocsin_migrations", &[])
            .await?
            .get(0);
        let found = found.unwrap_or(0);
        if found as u64 > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: found as u64,
                known: SCHEMA_VERSION,
            }
            .into());
        }
        for (version, sql) in schema::MIGRATIONS.iter().filter(|(v, _)| *v > found) {
            tx.batch_execute(sql).await?;
            tx.execute(
                "INSERT INTO tocsin_migrations (version) VALUES ($1)",
                &[version],
            )
            .await?;
            tracing::info!(version, "database migrated");
        }
        tx.commit().await?;
        Ok(())
    }

    /// A pooled connection.
    pub(super) async fn client(&self) -> Fail<deadpool_postgres::Object> {
        Ok(self.shared.pool.get().await?)
    }

    /// Runs `f` until it does not ask to be retried; a database that cannot
    /// be reached is remembered for `health`.
    pub(super) async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Fail<T>>,
    {
        for _ in 0..RETRIES {
            match f().await {
                Ok(t) => return Ok(t),
                Err(Failure::Retry) => tokio::task::yield_now().await,
                Err(Failure::Store(e)) => return Err(self.noted(e)),
            }
        }
        Err(StoreError::Backend(format!(
            "a transaction lost {RETRIES} races in a row; giving up"
        )))
    }

    /// `e`, remembered as the reason the store is down when it is that.
    fn noted(&self, e: StoreError) -> StoreError {
        if let StoreError::Unavailable(why) = &e {
            *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
        }
        e
    }

    /// A write made with `run`, once it is on disk.
    pub(super) async fn durably<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Fail<T>>,
    {
        let t = self.run(f).await?;
        self.durable().await?;
        Ok(t)
    }

    /// Waits until every transaction committed before the call is on disk.
    /// Concurrent callers share one flush.
    pub async fn durable(&self) -> Result<(), StoreError> {
        if self.shared.failing.load(Ordering::Relaxed) {
            return Err(StoreError::Flush(
                "the database refused the write (injected)".into(),
            ));
        }
        let (tx, rx) = oneshot::channel();
        if self.shared.committer.send(tx).is_err() {
            return self.flush_now().await.map_err(|e| self.noted(e));
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => self.flush_now().await,
        }
    }

    /// One flush: a transaction committed synchronously, which reads the
    /// outbox counter first.
    async fn flush_now(&self) -> Result<(), StoreError> {
        let r = async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.batch_execute("SET LOCAL synchronous_commit = on")
                .await?;
            let last: i64 = tx
                .query_one("SELECT value FROM counters WHERE name = 'outbox'", &[])
                .await?
                .get(0);
            // An id makes the commit write (and flush) a record.
            tx.execute("SELECT pg_current_xact_id()", &[]).await?;
            tx.commit().await?;
            Ok::<_, Failure>(last)
        }
        .await;
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        match r {
            Ok(last) => {
                self.shared
                    .flushed_outbox
                    .fetch_max(last as u64, Ordering::SeqCst);
                *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = None;
                Ok(())
            }
            Err(Failure::Retry) => Err(StoreError::Flush("the flush lost a race".into())),
            Err(Failure::Store(e)) => Err(self.noted(e)),
        }
    }

    pub fn health(&self) -> Health {
        match &*self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(reason) => Health::Failed {
                reason: reason.clone(),
            },
            None => Health::Ok { free: None },
        }
    }

    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    pub fn flushed_seq(&self) -> u64 {
        self.shared.flushed_outbox.load(Ordering::SeqCst)
    }

    pub fn inject_write_failure(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::Relaxed);
    }

    /// Flushes from outside any runtime (at shutdown), on a connection of
    /// its own made on a thread of its own.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.shared.failing.load(Ordering::Relaxed) {
            return Err(StoreError::Flush(
                "the database refused the write (injected)".into(),
            ));
        }
        let config = self.shared.config.clone();
        let flushed = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let (client, conn) = config.connect(NoTls).await.map_err(|e| db_message(&e))?;
                tokio::spawn(conn);
                client
                    .batch_execute(
                        "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT",
                    )
                    .await
                    .map_err(|e| db_message(&e))
            })
        })
        .join()
        .map_err(|_| "the flush thread panicked".to_string())
        .and_then(|r| r);
        flushed.map_err(StoreError::Flush)
    }

    pub async fn schema_version(&self) -> Result<u64, StoreError> {
        self.run(|| async {
            let c = self.client().await?;
            let v: Option<i64> = c
                .query_one("SELECT max(version) FROM tocsin_migrations", &[])
                .await?
                .get(0);
            Ok(v.unwrap_or(0) as u64)
        })
        .await
    }
}

/// A failure outside `run` as a store error.
fn plain(f: Failure) -> StoreError {
    match f {
        Failure::Retry => StoreError::Backend("a race while migrating; try again".into()),
        Failure::Store(e) => e,
    }
}

/// Serves flush requests, one flush for every request waiting when it
/// starts. Ends with the last handle on the store.
async fn run_committer(
    shared: std::sync::Weak<Shared>,
    mut rx: mpsc::UnboundedReceiver<oneshot::Sender<Result<(), StoreError>>>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiters = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiters.push(more);
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let store = PgStore { shared };
        let r = store.flush_now().await;
        drop(store);
        for w in waiters {
            let _ = w.send(r.as_ref().map(|_| ()).map_err(clone_error));
        }
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Unavailable(s) => StoreError::Unavailable(s.clone()),
        StoreError::Flush(s) => StoreError::Flush(s.clone()),
        e => StoreError::Flush(e.to_string()),
    }
}

// Queries, prepared once per connection.

pub(super) async fn rows<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Fail<Vec<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, params).await?)
}

pub(super) async fn row<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Fail<Option<Row>> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, params).await?)
}

pub(super) async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Fail<u64> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, params).await?)
}

/// Takes `n` outbox sequences, the last of which comes back. Holds the
/// counter's row until the transaction ends: call it last.
pub(super) async fn take_outbox<C: GenericClient>(c: &C, n: usize) -> Fail<u64> {
    let r = row(
        c,
        "UPDATE counters SET value = value + $1 WHERE name = 'outbox' RETURNING value",
        &[&(n as i64)],
    )
    .await?
    .ok_or_else(|| corrupt("counters", "no outbox counter"))?;
    Ok(r.get::<_, i64>(0) as u64)
}

/// Queues `rows` in one transaction: their sequences, in order.
pub(super) async fn push_outbox<C: GenericClient>(
    c: &C,
    rows: &[(String, crate::store::Outbound)],
    at: DateTime<Utc>,
) -> Fail<Vec<u64>> {
    if rows.is_empty() {
        return Ok(vec![]);
    }
    let last = take_outbox(c, rows.len()).await?;
    let first = last + 1 - rows.len() as u64;
    let mut seqs = Vec::with_capacity(rows.len());
    for (i, (lane, op)) in rows.iter().enumerate() {
        let seq = first + i as u64;
        let item = OutboxItem {
            lane: lane.clone(),
            op: op.clone(),
            enqueued_at: at,
            attempts: 0,
        };
        exec(
            c,
            "INSERT INTO outbox (seq, lane, record) VALUES ($1, $2, $3)",
            &[&(seq as i64), lane, &encode(&OutboxRecord::V1(item))],
        )
        .await?;
        seqs.push(seq);
    }
    Ok(seqs)
}

pub(super) fn corrupt(tree: &'static str, message: impl std::fmt::Display) -> Failure {
    Failure::Store(StoreError::Corrupt {
        tree,
        message: message.to_string(),
    })
}

pub(super) fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Serialising our own plain data types to JSON cannot fail.
    serde_json::to_vec(v).expect("record types serialise")
}

pub(super) fn encode_incident(i: &Incident) -> Vec<u8> {
    encode(&IncidentRecordRef::V3(i))
}

pub(super) fn decode_incident(v: &[u8]) -> Fail<Incident> {
    IncidentRecord::decode(v).map_err(|e| corrupt("incidents", e))
}

pub(super) fn decode_outbox(v: &[u8]) -> Fail<OutboxItem> {
    serde_json::from_slice::<OutboxRecord>(v)
        .map(OutboxRecord::into_current)
        .map_err(|e| corrupt("outbox", e))
}

pub(super) fn decode_swap(v: &[u8]) -> Fail<SwapRequest> {
    serde_json::from_slice::<SwapRecord>(v)
        .map(|SwapRecord::V1(s)| s)
        .map_err(|e| corrupt("swaps", e))
}

/// Nanoseconds since the epoch, as times are kept.
pub(super) fn ns(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

pub(super) fn from_ns(v: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(v)
}

pub(super) fn from_ms(v: i64, tree: &'static str) -> Fail<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| corrupt(tree, "time out of range"))
}

/// The dedup table's key: routing key, NUL, dedup key (as the embedded store
/// keys it; PostgreSQL text cannot hold the NUL, so it is `bytea`).
pub(super) fn dedup_key(routing_key: &str, dedup_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(routing_key.len() + 1 + dedup_key.len());
    k.extend_from_slice(routing_key.as_bytes());
    k.push(0);
    k.extend_from_slice(dedup_key.as_bytes());
    k
}

/// A stable 64-bit lock id for `key`, the same on every node.
pub(super) fn lock_id(key: &[u8]) -> i64 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(key);
    i64::from_be_bytes(d[..8].try_into().expect("a digest has 8 bytes"))
}
