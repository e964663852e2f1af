//! Whether the store can write, and getting it writing again without a restart.
//!
//! sled 0.34 keeps the first I/O error it meets (a full disk's ENOSPC) and
//! refuses every later write until the database is opened again. So the
//! database lives behind a swappable handle (`Shared::current`): a watcher
//! task notices the error, waits until the disk has room again, and reopens
//! the same directory in place. Handlers, the outbox worker and the engine
//! keep their `Store`; the next operation they make uses the new database.
//!
//! What a reopen keeps: sled recovers everything that was flushed, which is
//! everything anyone was answered "stored" for. What it drops: writes made
//! after the last good flush, whose `durable()` failed, so their senders were
//! told to retry. A caller that wrote to the old database and reaches
//! `durable()` only after the swap must not be told its write is on disk; a
//! per-thread mark of the oldest generation the running task touched since
//! its last `durable()` catches that (writes and their `durable()` run with
//! no await between them, so in one poll of one task, on one thread).

use super::commit::{last_outbox_seq, FlushRequest};
use super::{SledStore, Trees};
use crate::store::port::low_space;
use crate::store::{Health, StoreError};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the watcher checks a healthy store, and retries a failed one.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// A reopen waits this long at most for operations still using the old database.
const DRAIN_WAIT: Duration = Duration::from_secs(5);
/// Free space a reopen needs beyond the floor, so it does not fail at once again.
const REOPEN_HEADROOM: u64 = 1024 * 1024;

/// What every clone of a `SledStore` shares.
pub(super) struct Shared {
    dir: PathBuf,
    cache_capacity: u64,
    /// `None` only while a reopen is under way.
    current: RwLock<Option<Arc<Trees>>>,
    pub(super) committer: mpsc::UnboundedSender<FlushRequest>,
    /// Highest outbox sequence known to be on disk: the worker sends nothing
    /// newer, so a crash can never roll back a change Slack already saw.
    pub(super) flushed_outbox: Arc<AtomicU64>,
    /// Flushes made since the store opened.
    pub(super) commits: Arc<AtomicU64>,
    /// The last fencing token a claim was given.
    claims: AtomicU64,
    /// Fault injection: while set, every flush fails as a full or broken disk would.
    pub(super) failing: AtomicBool,
    /// `TOCSIN_MIN_FREE_MB`, in bytes; 0 turns the floor off.
    min_free: AtomicU64,
    /// Why the store cannot write, from the first failure until a reopen works.
    fault: Mutex<Option<String>>,
    /// Whether `fault` is set, read on every write.
    faulted: AtomicBool,
    /// The newest generation opened so far.
    generation: AtomicU64,
    /// A throw-away database (a replay's): nothing is flushed, as nothing
    /// outlives the process.
    pub(super) scratch: AtomicBool,
}

thread_local! {
    /// The oldest database generation the task now running on this thread
    /// wrote to since its last `durable()`, with that task's id. A write no
    /// `durable()` follows (a mark of a Slack event, a cursor) leaves its
    /// task's mark behind; the next task's first write replaces it, so it is
    /// never charged to a task that did not make it.
    static TOUCHED: Cell<(Option<tokio::task::Id>, u64)> = const { Cell::new((None, u64::MAX)) };
}

impl Shared {
    pub(super) fn new(
        dir: &Path,
        cache_capacity: u64,
        trees: Trees,
        committer: mpsc::UnboundedSender<FlushRequest>,
    ) -> Result<Shared, StoreError> {
        // Whatever is here at open was read from disk.
        let flushed = last_outbox_seq(&trees.meta)?;
        Ok(Shared {
            dir: dir.to_path_buf(),
            cache_capacity,
            generation: AtomicU64::new(trees.gen),
            current: RwLock::new(Some(Arc::new(trees))),
            committer,
            flushed_outbox: Arc::new(AtomicU64::new(flushed)),
            commits: Arc::new(AtomicU64::new(0)),
            claims: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            min_free: AtomicU64::new(0),
            fault: Mutex::new(None),
            faulted: AtomicBool::new(false),
            scratch: AtomicBool::new(false),
        })
    }
}

impl SledStore {
    /// The database to write to now. Remembers, for `durable()`, that this
    /// thread wrote to this generation; not once the failure is known, as
    /// every write then fails and so leaves nothing to lose.
    pub(super) fn trees(&self) -> Result<Arc<Trees>, StoreError> {
        let t = self.reader()?;
        if !self.shared.faulted.load(Ordering::Acquire) {
            let task = tokio::task::try_id();
            TOUCHED.with(|c| {
                let (owner, oldest) = c.get();
                let oldest = if owner == task { oldest } else { u64::MAX };
                c.set((task, oldest.min(t.gen)));
            });
        }
        Ok(t)
    }

    /// The database to read from now.
    pub(super) fn reader(&self) -> Result<Arc<Trees>, StoreError> {
        self.current().ok_or_else(|| self.unavailable())
    }

    pub(super) fn current(&self) -> Option<Arc<Trees>> {
        match self.shared.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether this thread wrote to a database that has since been
    /// replaced; resets the mark.
    pub(super) fn touched_replaced(&self, current_gen: u64) -> bool {
        let (owner, oldest) = TOUCHED.with(|c| c.replace((None, u64::MAX)));
        owner == tokio::task::try_id() && oldest < current_gen
    }

    pub(super) fn unavailable(&self) -> StoreError {
        StoreError::Unavailable(
            self.fault()
                .unwrap_or_else(|| "the data directory is being reopened".into()),
        )
    }

    fn fault(&self) -> Option<String> {
        match self.shared.fault.lock() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records that the store cannot write; logged once per failure, not per request.
    pub(super) fn note_failure(&self, why: &str) {
        let mut f = match self.shared.fault.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        if f.is_none() {
            tracing::error!(
                reason = why,
                dir = %self.shared.dir.display(),
                "the store cannot write; refusing writes until it can, then reopening it"
            );
            *f = Some(why.to_string());
            self.shared.faulted.store(true, Ordering::Release);
        }
    }

    /// Refuses new alerts (and the like) below the free-space floor, before
    /// the disk fills, and while the store cannot write at all.
    pub(super) fn admit(&self) -> Result<(), StoreError> {
        if let Some(reason) = self.fault() {
            return Err(StoreError::Unavailable(reason));
        }
        let floor = self.shared.min_free.load(Ordering::Relaxed);
        if floor > 0 {
            if let Some(free) = self.free_space().filter(|f| *f < floor) {
                return Err(StoreError::LowSpace(low_space(free, floor)));
            }
        }
        Ok(())
    }

    /// A fencing token newer than every one given before (in this process,
    /// which is the only one that can hold the directory).
    pub(super) fn next_claim(&self) -> u64 {
        self.shared.claims.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Sets the free-space floor (`TOCSIN_MIN_FREE_MB`) in bytes; 0 turns it off.
    pub fn set_min_free(&self, bytes: u64) {
        self.shared.min_free.store(bytes, Ordering::Relaxed);
    }

    fn free_space(&self) -> Option<u64> {
        fs2::available_space(&self.shared.dir).ok()
    }

    /// Whether the store can take alerts now, and if not, why.
    pub fn health(&self) -> Health {
        if let Some(reason) = self.fault() {
            return Health::Failed { reason };
        }
        if self.current().is_none() {
            return Health::Failed {
                reason: "the data directory is being reopened".into(),
            };
        }
        let free = self.free_space();
        let floor = self.shared.min_free.load(Ordering::Relaxed);
        match free {
            Some(free) if floor > 0 && free < floor => Health::LowSpace { free, floor },
            free => Health::Ok { free },
        }
    }

    /// Starts the watcher: it holds only a weak handle, so it ends with the store.
    pub(super) fn watch(&self) {
        let weak = Arc::downgrade(&self.shared);
        tokio::spawn(watch(weak));
    }

    /// Checks that the database still writes: sled reports a kept error
    /// from any flush, even with nothing to write.
    async fn probe(&self) {
        let Some(t) = self.current() else { return };
        if let Err(e) = t.db.flush_async().await {
            self.note_failure(&e.to_string());
        }
    }

    /// Once the disk has room, swaps the failed database for a freshly
    /// opened one. Nothing is written to the new one before it has shown it
    /// can flush.
    pub(super) async fn reopen(&self) {
        let floor = self.shared.min_free.load(Ordering::Relaxed);
        let free = self.free_space().unwrap_or(0);
        if free < floor + REOPEN_HEADROOM {
            tracing::debug!(free, floor, "still too little space to reopen the store");
            return;
        }
        let old = match self.shared.current.write() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(old) = old {
            // Operations still running on the old database finish first (they
            // fail: it refuses writes); sled's file lock is released only when
            // the last handle goes.
            let deadline = tokio::time::Instant::now() + DRAIN_WAIT;
            while Arc::strong_count(&old) > 1 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if Arc::strong_count(&old) > 1 {
                tracing::warn!("the failed store is still in use; reopening later");
                self.install(old);
                return;
            }
            drop(old);
        }
        // (With no old database, an earlier attempt dropped it and could not
        // open the new one.)
        let gen = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let (dir, cache) = (self.shared.dir.clone(), self.shared.cache_capacity);
        let opened = tokio::task::spawn_blocking(move || {
            let t = Trees::open(&dir, cache, gen)?;
            // Show it writes before anyone relies on it.
            t.meta.insert(b"last_reopen", &gen.to_be_bytes())?;
            t.db.flush()?;
            Ok::<_, StoreError>(t)
        })
        .await;
        match opened {
            Ok(Ok(t)) => {
                if let Ok(last) = last_outbox_seq(&t.meta) {
                    self.shared.flushed_outbox.fetch_max(last, Ordering::SeqCst);
                }
                self.install(Arc::new(t));
                crate::metrics::global().inc("tocsin_store_reopens_total", &[]);
                let was = match self.shared.fault.lock() {
                    Ok(mut f) => f.take(),
                    Err(poisoned) => poisoned.into_inner().take(),
                };
                self.shared.faulted.store(false, Ordering::Release);
                tracing::info!(
                    was = was.as_deref().unwrap_or("?"),
                    "the store writes again: reopened the data directory"
                );
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot reopen the store yet; retrying"),
            Err(e) => tracing::warn!(error = %e, "the reopen task failed; retrying"),
        }
    }

    fn install(&self, t: Arc<Trees>) {
        match self.shared.current.write() {
            Ok(mut g) => *g = Some(t),
            Err(poisoned) => *poisoned.into_inner() = Some(t),
        }
    }
}

async fn watch(weak: Weak<Shared>) {
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let Some(shared) = weak.upgrade() else { return };
        let store = SledStore { shared };
        if store.fault().is_some() || store.current().is_none() {
            store.reopen().await;
        } else {
            store.probe().await;
        }
    }
}
