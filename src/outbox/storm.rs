//! Storms: when several new incidents wait in one lane, which takes one
//! message per interval, a digest names them all in one message, and a
//! storm notice edits the lane's latest message to name them sooner still.
//! Both are courtesies: each incident's own message still follows.

use super::lane::Lane;
use super::worker::backoff;
use super::{Failure, OutboxWorker, Posted, DIGEST_MAX};
use std::time::Duration;
use tokio::time::Instant;

/// How long a digest may take, after its pacing window ends, to reach the
/// receiver: an incident seen less than this before the window's start plus
/// one interval would be named late by the digest, so a notice names it now.
const NOTICE_MARGIN: Duration = Duration::from_millis(50);
/// The least time a notice is given before it counts as failed.
pub(super) const NOTICE_MIN_TIME: Duration = Duration::from_millis(250);

/// The new incidents waiting in `lane` that no digest named yet, when one of
/// them would otherwise wait behind other messages: the next message names
/// them all, so none waits longer than one pacing interval to be seen.
pub(super) fn storm(lane: &Lane) -> Option<Vec<u64>> {
    let covered = |id: &u64| lane.covered.contains(id);
    if !lane.unnamed(&covered).any(|(i, _, _)| i > 0) {
        return None;
    }
    Some(
        lane.unnamed(&covered)
            .map(|(_, id, _)| id)
            .take(DIGEST_MAX)
            .collect(),
    )
}

impl OutboxWorker {
    /// When a storm notice should go out in `lane`, whose next call may go
    /// at `next`, the message it edits, and the incidents it names: those
    /// not yet named anywhere, when one of them was seen so soon after the
    /// last call that the next message would reach the receiver more than
    /// one interval after it. Notices are spaced by a tenth of the interval,
    /// so a burst costs a few edits.
    pub(super) fn notice_due(
        &self,
        lane: &Lane,
        next: Instant,
        now: Instant,
    ) -> Option<(Instant, Posted, Vec<u64>)> {
        if self.interval.is_zero() || !lane.paced || lane.failures > 0 {
            return None;
        }
        if lane.notices_paused_until.is_some_and(|t| t > now) {
            return None;
        }
        let latest = lane.latest.clone()?;
        let named = |id: &u64| lane.covered.contains(id) || lane.noticed.contains(id);
        let late = |seen: Instant| seen + self.interval < next + NOTICE_MARGIN;
        if !lane.unnamed(&named).any(|(_, _, seen)| late(seen)) {
            return None;
        }
        let ids: Vec<u64> = lane
            .unnamed(&named)
            .map(|(_, id, _)| id)
            .take(DIGEST_MAX)
            .collect();
        let when = lane
            .noticed_at
            .map_or(now, |t| (t + self.interval / 10).max(now));
        Some((when, latest, ids))
    }

    /// A digest is a courtesy: on a final failure its incidents are marked
    /// announced anyway, since each one's own message still goes out.
    pub(super) fn settle_digest(
        &self,
        lane: &mut Lane,
        name: &str,
        ids: Vec<u64>,
        ts: Option<String>,
        result: Result<Instant, Failure>,
    ) {
        lane.busy = false;
        lane.paced = false;
        let now = Instant::now();
        match result {
            Ok(answered) => {
                if let Some(ts) = ts {
                    lane.latest = Some(Posted::Digest {
                        ts,
                        named: ids.clone(),
                    });
                }
                lane.covered.extend(ids);
                lane.failures = 0;
                lane.ready_at = Some(answered + self.interval);
                lane.paced = true;
            }
            Err(Failure::RateLimited(wait)) => lane.ready_at = Some(now + wait),
            Err(Failure::Transient(why)) => {
                lane.failures += 1;
                let wait = backoff(lane.failures);
                tracing::warn!(lane = name, ?wait, %why, "storm digest failed; will retry");
                lane.ready_at = Some(now + wait);
                lane.digest_retry = Some(ids);
            }
            // Waits, with the lane, for the receiver to take the token again.
            Err(Failure::Unauthorized(_)) => lane.ready_at = None,
            Err(e) => {
                tracing::warn!(lane = name, error = ?e, "storm digest not sent; the incidents' own messages follow");
                lane.covered.extend(ids);
            }
        }
    }
}

/// A notice is a courtesy, never retried: the digest and each incident's
/// own message still follow. A 429 pauses notices only: Slack limits edits
/// per workspace, apart from the channel's messages.
pub(super) fn settle_notice(
    lane: &mut Lane,
    name: &str,
    ids: Vec<u64>,
    result: Result<Instant, Failure>,
) {
    lane.busy = false;
    let now = Instant::now();
    lane.noticed_at = Some(now);
    match result {
        Ok(_) => {
            if let Some(latest) = lane.latest.as_mut() {
                latest.names(&ids);
            }
        }
        Err(Failure::RateLimited(wait)) => {
            tracing::warn!(
                lane = name,
                ?wait,
                "storm notices paused: an edit was rate-limited"
            );
            lane.notices_paused_until = Some(now + wait);
        }
        Err(e) => {
            tracing::warn!(lane = name, error = ?e, "storm notice not sent; the digest and the incidents' own messages follow");
        }
    }
    lane.noticed.extend(ids);
}
