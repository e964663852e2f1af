//! What the outbox asks of the receivers it hands work to: a [`Receiver`]
//! performs the rows it takes; the [`Chat`] receiver also names incidents in
//! a storm and says when its refused token works again. The outbox knows
//! notices and lanes; each receiver knows its platform and renders its own
//! messages.

use super::Failure;
use crate::store::Outbound;
use async_trait::async_trait;

/// A receiver of outbox rows (chat, SMS and calls, plain HTTP).
#[async_trait]
pub trait Receiver: Send + Sync {
    /// Its name in logs.
    fn name(&self) -> &'static str;

    /// Whether this receiver performs `op`. Each row goes to the first
    /// receiver that takes it; a row none takes waits in the outbox.
    fn takes(&self, op: &Outbound) -> bool;

    /// Performs one row. `Ok` means the receiver has it, and the row goes.
    async fn perform(&self, op: &Outbound, attempt: Attempt) -> Result<(), Failure>;
}

/// The chat receiver: besides its rows, what the worker needs from it while
/// a channel's pace holds back a storm of new incidents, and while it
/// refuses its token. Its lanes are the ones a refused token holds up.
#[async_trait]
pub trait Chat: Receiver {
    /// One message in `lane` naming the new incidents `ids` ahead of their
    /// own messages; its id (to edit later) when one was sent. `again`: an
    /// attempt with these `ids` had an unclear outcome, so look for it first.
    async fn digest(&self, lane: &str, ids: &[u64], again: bool)
        -> Result<Option<String>, Failure>;

    /// Edits `latest`, the lane's latest message, to name `ids` too: the
    /// lane's next message may only go out too late for them.
    async fn storm_notice(&self, lane: &str, latest: &Posted, ids: &[u64]) -> Result<(), Failure>;

    /// Whether the token refused earlier works again.
    async fn probe(&self) -> Result<(), Failure>;

    /// An earlier run left a row queued at `since` (unix seconds): its
    /// message may be there already, from that time on.
    fn restarted(&self, since: i64);
}

/// Whether an earlier attempt of a piece of work may already have reached
/// its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspect {
    /// First attempt in this run, after no unclear one: just send.
    No,
    /// Left by an earlier run: look it up in what this run read of its
    /// lane, once for all such rows.
    Restart,
    /// An attempt in this run had an unclear outcome (a timeout, a lost
    /// reply): look again before sending.
    Unclear,
}

/// One attempt at an outbox row.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub seq: u64,
    /// When the row was queued (unix seconds): its message is no older.
    pub since: i64,
    pub suspect: Suspect,
}

impl Attempt {
    /// The name of the row's work, which a message can carry so that a
    /// later attempt finds it.
    pub fn key(&self) -> String {
        format!("outbox:{}", self.seq)
    }
}

/// At most this many incidents are named in one digest (about 200
/// characters each, well inside a chat message's size).
pub const DIGEST_MAX: usize = 100;

/// A lane's latest chat message that a storm notice can edit, with the
/// incidents it names so far (oldest first): each notice shows them again,
/// so a later notice never erases an earlier one's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// An incident's own message (its id is on the incident).
    Incident { id: u64, named: Vec<u64> },
    /// A storm digest, with the id its receiver gave it.
    Digest { ts: String, named: Vec<u64> },
}

impl Posted {
    /// Records that the message now also names `ids`.
    pub fn names(&mut self, ids: &[u64]) {
        let (Posted::Incident { named, .. } | Posted::Digest { named, .. }) = self;
        for id in ids {
            if !named.contains(id) {
                named.push(*id);
            }
        }
        // Only the latest DIGEST_MAX can be shown; keep no more than that.
        let extra = named.len().saturating_sub(DIGEST_MAX);
        named.drain(..extra);
    }

    /// What a notice naming `fresh` shows, in id order: the fresh ones,
    /// then those named before (latest first) while there is room.
    pub fn shown_with(&self, fresh: &[u64]) -> Vec<u64> {
        let (Posted::Incident { named, .. } | Posted::Digest { named, .. }) = self;
        let mut all: Vec<u64> = fresh.iter().take(DIGEST_MAX).copied().collect();
        for id in named.iter().rev() {
            if all.len() == DIGEST_MAX {
                break;
            }
            if !all.contains(id) {
                all.push(*id);
            }
        }
        all.sort_unstable();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_notice_keeps_what_earlier_ones_named() {
        let mut latest = Posted::Incident {
            id: 1,
            named: vec![],
        };
        assert_eq!(latest.shown_with(&[2]), [2]);
        latest.names(&[2]);
        // The second notice names #3 and still shows #2.
        assert_eq!(latest.shown_with(&[3]), [2, 3]);
        latest.names(&[3, 2]);
        assert_eq!(
            latest,
            Posted::Incident {
                id: 1,
                named: vec![2, 3]
            }
        );
        // A digest already naming 1..=100: new ones first, then the latest named.
        let mut digest = Posted::Digest {
            ts: "1.0".into(),
            named: (1..=100).collect(),
        };
        let shown = digest.shown_with(&[101, 102]);
        assert_eq!(shown.len(), DIGEST_MAX);
        assert!(shown.contains(&101) && shown.contains(&102));
        assert!(shown.contains(&100) && !shown.contains(&1) && !shown.contains(&2));
        assert!(shown.windows(2).all(|w| w[0] < w[1]), "in id order");
        // The record keeps only as many as can be shown, the latest.
        digest.names(&[101, 102]);
        let Posted::Digest { named, .. } = &digest else {
            unreachable!()
        };
        assert_eq!(named.len(), DIGEST_MAX);
        assert_eq!((named[0], named[99]), (3, 102));
    }
}
