//! One lane: its rows in order and what the worker remembers about it
//! (pacing, failures, which incidents a storm digest or notice named).

use super::Posted;
use crate::store::Outbound;
use std::collections::{HashSet, VecDeque};
use tokio::time::Instant;

#[derive(Default)]
pub(super) struct Lane {
    /// Rows in order, each with when this worker first saw it.
    pub(super) queue: VecDeque<(u64, Outbound, Instant)>,
    pub(super) ready_at: Option<Instant>,
    /// `ready_at` is the pacing window after an accepted call, not a
    /// `Retry-After` or a backoff.
    pub(super) paced: bool,
    pub(super) busy: bool,
    pub(super) failures: u32,
    /// Incidents a digest already announced; their own posts still follow.
    pub(super) covered: HashSet<u64>,
    /// Incidents a storm notice already named; their digest and own posts follow.
    pub(super) noticed: HashSet<u64>,
    pub(super) noticed_at: Option<Instant>,
    /// No notices before this: the receiver rate-limited the last one
    /// (Slack limits edits per workspace, so this says nothing about posting).
    pub(super) notices_paused_until: Option<Instant>,
    /// The lane's latest message that a storm notice may edit.
    pub(super) latest: Option<Posted>,
    /// A digest whose last attempt had an unclear outcome: it is tried
    /// again with the same incidents, looked up first.
    pub(super) digest_retry: Option<Vec<u64>>,
}

impl Lane {
    /// Incidents whose own post waits in this lane and that `named` does
    /// not count as named yet: (place in the queue, id, when it was seen).
    pub(super) fn unnamed<'a>(
        &'a self,
        named: &'a dyn Fn(&u64) -> bool,
    ) -> impl Iterator<Item = (usize, u64, Instant)> + 'a {
        self.queue
            .iter()
            .enumerate()
            .filter_map(move |(i, (_, op, seen))| match op {
                Outbound::PostIncident { incident, .. } if !named(incident) => {
                    Some((i, *incident, *seen))
                }
                _ => None,
            })
    }
}
