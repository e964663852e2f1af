//! Group commit: every caller waiting for its writes to reach the disk shares
//! one flush.

use super::{decode_u64, SledStore, Trees, K_NEXT_OUTBOX};
use crate::store::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A request to the group-commit task. It carries its own handle on the
/// database so the task holds none between requests: the files are released
/// as soon as the last `Store` is dropped.
pub(super) struct FlushRequest {
    trees: Arc<Trees>,
    flushed_outbox: Arc<AtomicU64>,
    /// Counts the flushes made.
    commits: Arc<AtomicU64>,
    reply: oneshot::Sender<Result<(), String>>,
}

impl SledStore {
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
        if self.shared.scratch.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (tx, rx) = oneshot::channel();
        let req = FlushRequest {
            trees: t.clone(),
            flushed_outbox: self.shared.flushed_outbox.clone(),
            commits: self.shared.commits.clone(),
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
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
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
        self.shared.commits.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = t.db.flush() {
            self.note_failure(&e.to_string());
            return Err(StoreError::Flush(e.to_string()));
        }
        self.shared.flushed_outbox.fetch_max(last, Ordering::SeqCst);
        Ok(())
    }

    /// How many flushes were made since the store opened.
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// The highest outbox sequence that is on disk.
    pub fn flushed_outbox_seq(&self) -> u64 {
        self.shared.flushed_outbox.load(Ordering::SeqCst)
    }
}

pub(super) async fn run_committer(mut rx: mpsc::UnboundedReceiver<FlushRequest>) {
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
            same[0].commits.fetch_add(1, Ordering::Relaxed);
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
pub(super) fn last_outbox_seq(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(K_NEXT_OUTBOX)? {
        Some(v) => Ok(decode_u64(&v, "meta")?.saturating_sub(1)),
        None => Ok(0),
    }
}
