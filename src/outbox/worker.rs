//! The worker's loop: reads new rows into their lanes, sends each lane's
//! first row when its pacing window has passed, and settles the answer:
//! done, wait as asked, back off and retry, or a dead letter.

use super::lane::Lane;
use super::pause::AuthPause;
use super::storm::{settle_notice, storm, NOTICE_MIN_TIME};
use super::{store_failure, Attempt, Chat, Failure, OutboxWorker, Posted, Receiver, Suspect};
use crate::store::{Outbound, Store};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Longest a single delivery (all its calls) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_RECHECK: Duration = Duration::from_secs(5);
/// How long a lane whose receiver has no credentials waits before looking again.
const PARKED: Duration = Duration::from_secs(3600);
/// Tries for a row whose replies cannot be read before it is a dead letter.
const UNREADABLE_TRIES: u32 = 5;
/// How long a Home publish waits after it is queued: the changes of a burst
/// (an acknowledgement, then the resolve a moment later) fold into one.
const HOME_DEBOUNCE: Duration = Duration::from_millis(500);

/// What one in-flight delivery is about: an outbox row, a storm digest
/// announcing incidents whose own messages are still queued, or a storm
/// notice editing the lane's latest message to name them sooner still.
enum Job {
    Row(u64),
    Digest {
        ids: Vec<u64>,
        ts: Option<String>,
    },
    Notice(Vec<u64>),
    /// `Chat::probe` while the chat receiver refuses its token (no lane).
    Probe,
}

/// A finished job: its lane, what it was, and on success when the receiver
/// answered its last call (the lane's pacing window starts there).
type Done = (String, Job, Result<Instant, Failure>);

impl OutboxWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if self.chat.is_none() && self.receivers.is_empty() {
            // Nothing to send to: every row would only be parked. Reading them
            // anyway costs ingest throughput, so wait for a run with credentials.
            let _ = shutdown.changed().await;
            return;
        }
        let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
        let mut last_seq = 0u64;
        // Rows left by an earlier process may have reached their receiver
        // just before it stopped; rows whose last attempt had an unclear
        // outcome too.
        let mut suspect: HashMap<u64, Suspect> = HashMap::new();
        let mut pause: Option<AuthPause> = None;
        let mut first_pass = true;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut inflight = tokio::task::JoinSet::new();
        let ctx = Arc::new(Delivery {
            store: self.store.clone(),
            chat: self.chat.clone(),
            receivers: self.receivers.clone(),
        });
        loop {
            match self.store.outbox_after(last_seq).await {
                Ok(rows) => {
                    // Only rows already on disk: a row still waiting for its flush
                    // could vanish in a crash, and no receiver may see it first.
                    let on_disk = self.store.flushed_seq();
                    for (seq, item) in rows.into_iter().take_while(|(seq, _)| *seq <= on_disk) {
                        if first_pass {
                            suspect.insert(seq, Suspect::Restart);
                            if let Some(chat) = &ctx.chat {
                                chat.restarted(item.enqueued_at.timestamp());
                            }
                        }
                        lanes.entry(item.lane).or_default().queue.push_back((
                            seq,
                            item.op,
                            Instant::now(),
                        ));
                        last_seq = seq;
                    }
                    first_pass = false;
                }
                Err(e) => tracing::error!(error = %e, "cannot read the outbox; retrying"),
            }
            let now = Instant::now();
            let mut wake: Option<Instant> = None;
            for (name, lane) in lanes.iter_mut() {
                if lane.busy {
                    continue;
                }
                self.fold_updates(lane).await;
                let Some((seq, front, seen)) = lane.queue.front() else {
                    continue;
                };
                let seq = *seq;
                if let Outbound::PublishHome { .. } = front {
                    let at = *seen + HOME_DEBOUNCE;
                    if at > now {
                        wake = Some(wake.map_or(at, |w| w.min(at)));
                        continue;
                    }
                }
                // The chat receiver refuses its token: its lanes wait for the probe.
                if pause.is_some() && ctx.is_chat(front) {
                    continue;
                }
                if let Some(at) = lane.ready_at.filter(|at| *at > now) {
                    let mut at = at;
                    // A chat channel paces new messages, not edits (Slack
                    // does): an incident that the next message would name
                    // too late is named now in the latest one.
                    match self.notice_due(lane, at, now) {
                        Some((when, latest, ids)) if when <= now => {
                            lane.busy = true;
                            let (ctx, tx, name) = (ctx.clone(), done_tx.clone(), name.clone());
                            // A courtesy: it must not hold the lane past its next call.
                            let limit = (at - now).clamp(NOTICE_MIN_TIME, CALL_TIMEOUT);
                            inflight.spawn(async move {
                                let r = within(limit, ctx.notice(&name, &latest, &ids))
                                    .await
                                    .map(|()| Instant::now());
                                let _ = tx.send((name, Job::Notice(ids), r));
                            });
                            continue;
                        }
                        Some((when, _, _)) => at = at.min(when),
                        None => {}
                    }
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    continue;
                }
                lane.busy = true;
                // A storm: several new incidents wait for this channel, which
                // takes one message per interval. Name them all in one message
                // now; each one's own message follows at the channel's pace.
                // A digest whose last attempt was unclear goes again as it
                // was, so it can be found if it did reach the receiver.
                let retry = lane.digest_retry.take();
                let again = retry.is_some();
                let digest = retry.or_else(|| storm(lane).filter(|_| !self.interval.is_zero()));
                if let Some(ids) = digest {
                    let (ctx, tx, name) = (ctx.clone(), done_tx.clone(), name.clone());
                    inflight.spawn(async move {
                        let r = within(CALL_TIMEOUT, ctx.digest(&name, &ids, again)).await;
                        let (ts, r) = match r {
                            Ok(ts) => (ts, Ok(Instant::now())),
                            Err(e) => (None, Err(e)),
                        };
                        let _ = tx.send((name, Job::Digest { ids, ts }, r));
                    });
                    continue;
                }
                let (ctx, tx, name) = (ctx.clone(), done_tx.clone(), name.clone());
                // Kept until the row leaves the lane: a 429 or a refused
                // token does not make an earlier run's message less likely.
                let was_suspect = suspect.get(&seq).copied().unwrap_or(Suspect::No);
                inflight.spawn(async move {
                    // A hung connection must not hold the lane forever.
                    let r = within(CALL_TIMEOUT, ctx.deliver(seq, was_suspect)).await;
                    let _ = tx.send((name, Job::Row(seq), r));
                });
            }
            if let Some(p) = pause.as_mut().filter(|p| !p.probing) {
                if p.next_probe <= now {
                    p.probing = true;
                    let (ctx, tx) = (ctx.clone(), done_tx.clone());
                    inflight.spawn(async move {
                        let r = within(CALL_TIMEOUT, ctx.probe())
                            .await
                            .map(|()| Instant::now());
                        let _ = tx.send((String::new(), Job::Probe, r));
                    });
                } else {
                    wake = Some(wake.map_or(p.next_probe, |w| w.min(p.next_probe)));
                }
            }
            // Forget idle lanes once their pacing window has passed.
            lanes.retain(|_, l| {
                l.busy || !l.queue.is_empty() || l.ready_at.is_some_and(|t| t > now)
            });
            // Also look again now and then, in case a wake-up was missed.
            let sleep = tokio::time::sleep_until(
                wake.unwrap_or(now + IDLE_RECHECK).min(now + IDLE_RECHECK),
            );
            tokio::select! {
                _ = self.ready.notified() => {}
                Some((name, job, result)) = done_rx.recv() => {
                    if let Err(Failure::Unauthorized(why)) = &result {
                        if pause.is_none() && !matches!(job, Job::Probe) {
                            pause = Some(self.pause(why));
                        }
                    }
                    match job {
                        Job::Probe => self.probed(&mut pause, result),
                        Job::Row(seq) => {
                            // After an unclear failure the receiver may have the
                            // message already: look before sending it again.
                            if matches!(result, Err(Failure::Transient(_) | Failure::Unreadable(_))) {
                                suspect.insert(seq, Suspect::Unclear);
                            }
                            let mut still_queued = None;
                            if let Some(lane) = lanes.get_mut(&name) {
                                let by = lane.queue.front().and_then(|(_, op, _)| ctx.receiver(op));
                                let by = by.map_or("no receiver", |r| r.name());
                                self.settle(lane, (&name, by), seq, result).await;
                                still_queued =
                                    Some(lane.queue.front().is_some_and(|(s, _, _)| *s == seq));
                            }
                            if still_queued != Some(true) {
                                suspect.remove(&seq);
                            }
                        }
                        Job::Digest { ids, ts } => {
                            if let Some(lane) = lanes.get_mut(&name) {
                                self.settle_digest(lane, &name, ids, ts, result);
                            }
                        }
                        Job::Notice(ids) => {
                            if let Some(lane) = lanes.get_mut(&name) {
                                settle_notice(lane, &name, ids, result);
                            }
                        }
                    }
                }
                _ = sleep => {}
                _ = shutdown.changed() => break,
            }
            while inflight.try_join_next().is_some() {}
        }
        // Let calls already on the wire finish briefly, then drop the rest:
        // their rows stay in the outbox and are checked before being resent.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while inflight.join_next().await.is_some() {}
        })
        .await;
        inflight.abort_all();
        while inflight.join_next().await.is_some() {}
    }

    /// Drops an update that a later update of the same incident in this lane
    /// makes redundant: every update renders the incident's latest state, so a
    /// storm of repeat alerts costs one call per pacing interval. A Home
    /// publish is the same: it draws the Home as it is when sent, and the one
    /// kept takes the dropped one's time, so its debounce counts from the
    /// first of a burst (a steady stream of changes still publishes).
    async fn fold_updates(&self, lane: &mut Lane) {
        while let Some((
            seq,
            op @ (Outbound::UpdateIncident { .. } | Outbound::PublishHome { .. }),
            seen,
        )) = lane.queue.front()
        {
            let Some(later) = lane.queue.iter().skip(1).position(|(_, l, _)| l == op) else {
                break;
            };
            let (seq, seen) = (*seq, *seen);
            if let Err(e) = self.store.done_unflushed(seq).await {
                tracing::error!(error = %e, "cannot drop a redundant update; sending it");
                break;
            }
            lane.queue.pop_front();
            if let Some(kept) = lane.queue.get_mut(later) {
                kept.2 = kept.2.min(seen);
            }
        }
    }

    /// Row `seq`'s answer, from the receiver `by`, in lane `name`.
    async fn settle(
        &self,
        lane: &mut Lane,
        (name, by): (&str, &str),
        seq: u64,
        result: Result<Instant, Failure>,
    ) {
        lane.busy = false;
        lane.paced = false;
        let now = Instant::now();
        match result {
            Ok(answered) => {
                match lane.queue.pop_front().map(|(_, op, _)| op) {
                    Some(Outbound::PostIncident { incident, .. }) => {
                        lane.covered.remove(&incident);
                        lane.noticed.remove(&incident);
                        lane.latest = Some(Posted::Incident {
                            id: incident,
                            named: vec![],
                        });
                    }
                    // Edits and replies leave the channel's latest message as it was.
                    Some(
                        Outbound::UpdateIncident { .. }
                        | Outbound::Respond { .. }
                        | Outbound::OpenView { .. },
                    ) => {}
                    _ => lane.latest = None,
                }
                lane.failures = 0;
                lane.paced = true;
                // A receiver counts a channel's messages by when they reach
                // it, which is no later than its answer: spacing from the answer
                // keeps the gap, without adding our own bookkeeping (the row's
                // removal and its flush) to every wait.
                lane.ready_at = Some(answered + self.interval);
            }
            Err(Failure::RateLimited(wait)) => {
                tracing::warn!(
                    lane = name,
                    seq,
                    receiver = by,
                    ?wait,
                    "rate limited; waiting as asked"
                );
                lane.ready_at = Some(now + wait);
            }
            // The row keeps its place; the lane waits for the token to work.
            Err(Failure::Unauthorized(_)) => lane.ready_at = None,
            Err(Failure::Unreadable(why)) if lane.failures + 1 >= UNREADABLE_TRIES => {
                tracing::error!(lane = name, seq, receiver = by, %why, tries = UNREADABLE_TRIES, "replies never readable; moved to the dead-letter list");
                self.bury(lane, seq).await;
            }
            Err(Failure::Transient(why) | Failure::Unreadable(why)) => {
                lane.failures += 1;
                let wait = backoff(lane.failures);
                tracing::warn!(lane = name, seq, receiver = by, attempt = lane.failures, ?wait, %why, "call failed; will retry");
                if let Err(e) = self.store.attempted_unflushed(seq).await {
                    tracing::error!(error = %e, "cannot record the failed attempt");
                }
                lane.ready_at = Some(now + wait);
            }
            Err(Failure::Unconfigured(what)) => {
                // Credentials come only with a restart; the row stays for it.
                tracing::warn!(
                    lane = name,
                    seq,
                    "{what} is not configured: this work waits in the outbox"
                );
                lane.ready_at = Some(now + PARKED);
            }
            Err(Failure::Permanent(why)) => {
                tracing::error!(lane = name, seq, receiver = by, %why, "refused for good; moved to the dead-letter list");
                self.bury(lane, seq).await;
            }
        }
    }

    /// Moves the lane's first row to the dead letters; the lane goes on.
    async fn bury(&self, lane: &mut Lane, seq: u64) {
        if let Err(e) = self.store.dead_unflushed(seq).await {
            tracing::error!(error = %e, "cannot move the message to the dead-letter list");
        }
        lane.queue.pop_front();
        lane.failures = 0;
    }
}

/// `work`, or a transient failure if it takes longer than `limit`.
async fn within<T>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, Failure>>,
) -> Result<T, Failure> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or_else(|_| Err(Failure::Transient("no answer in time".into())))
}

/// Capped exponential backoff: 250 ms, 500 ms, 1 s, … 30 s.
pub(super) fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_CAP)
}

/// What the in-flight jobs share: the store and the receivers.
struct Delivery {
    store: Store,
    chat: Option<Arc<dyn Chat>>,
    receivers: Vec<Arc<dyn Receiver>>,
}

/// What a row none of the receivers takes waits for.
const NO_RECEIVER: Failure = Failure::Unconfigured("its receiver");

impl Delivery {
    fn chat(&self) -> Result<&dyn Chat, Failure> {
        self.chat.as_deref().ok_or(NO_RECEIVER)
    }

    /// Whether `op` is chat work (the lanes a refused chat token holds up).
    fn is_chat(&self, op: &Outbound) -> bool {
        self.chat.as_ref().is_some_and(|c| c.takes(op))
    }

    async fn digest(
        &self,
        channel: &str,
        ids: &[u64],
        again: bool,
    ) -> Result<Option<String>, Failure> {
        self.chat()?.digest(channel, ids, again).await
    }

    async fn probe(&self) -> Result<(), Failure> {
        self.chat()?.probe().await
    }

    async fn notice(&self, channel: &str, latest: &Posted, ids: &[u64]) -> Result<(), Failure> {
        self.chat()?.storm_notice(channel, latest, ids).await
    }

    /// Performs row `seq` and removes it once the receiver has it. Returns
    /// when the receiver answered (before the row's removal was flushed).
    async fn deliver(&self, seq: u64, suspect: Suspect) -> Result<Instant, Failure> {
        let Some(item) = self.store.outbox_item(seq).await.map_err(store_failure)? else {
            return Ok(Instant::now());
        };
        let attempt = Attempt {
            seq,
            since: item.enqueued_at.timestamp(),
            suspect,
        };
        self.perform(&item.op, attempt).await?;
        let answered = Instant::now();
        self.store.done(seq).await.map_err(store_failure)?;
        Ok(answered)
    }

    fn receiver(&self, op: &Outbound) -> Option<&dyn Receiver> {
        receiver_of(self.chat.as_deref(), &self.receivers, op)
    }

    /// Hands `op` to its receiver; with none, it waits in the outbox.
    async fn perform(&self, op: &Outbound, attempt: Attempt) -> Result<(), Failure> {
        match self.receiver(op) {
            Some(r) => r.perform(op, attempt).await,
            None => Err(NO_RECEIVER),
        }
    }
}

/// The receiver that takes `op`: the chat receiver, or the first other that does.
fn receiver_of<'a>(
    chat: Option<&'a dyn Chat>,
    others: &'a [Arc<dyn Receiver>],
    op: &Outbound,
) -> Option<&'a dyn Receiver> {
    let chat = chat.map(|c| c as &dyn Receiver);
    chat.into_iter()
        .chain(others.iter().map(|r| r.as_ref()))
        .find(|r| r.takes(op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let got: Vec<u64> = (1..=10).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(
            got,
            [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff(u32::MAX), BACKOFF_CAP);
    }

    /// Takes the rows `takes` says; nothing is ever sent.
    struct Fake(&'static str, fn(&Outbound) -> bool);

    #[async_trait::async_trait]
    impl Receiver for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn takes(&self, op: &Outbound) -> bool {
            (self.1)(op)
        }
        async fn perform(&self, _: &Outbound, _: Attempt) -> Result<(), Failure> {
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl Chat for Fake {
        async fn digest(&self, _: &str, _: &[u64], _: bool) -> Result<Option<String>, Failure> {
            Ok(None)
        }
        async fn storm_notice(&self, _: &str, _: &Posted, _: &[u64]) -> Result<(), Failure> {
            Ok(())
        }
        async fn probe(&self) -> Result<(), Failure> {
            Ok(())
        }
        fn restarted(&self, _: i64) {}
    }

    #[test]
    fn a_row_goes_to_the_chat_receiver_first_then_the_first_other_that_takes_it() {
        let chat = Fake("chat", |op| matches!(op, Outbound::Notify { .. }));
        let others: Vec<Arc<dyn Receiver>> = vec![
            Arc::new(Fake("phone", |op| matches!(op, Outbound::Sms { .. }))),
            Arc::new(Fake("anything", |_| true)),
        ];
        let notify = Outbound::Notify {
            channel: "C1".into(),
            text: "hi".into(),
        };
        let sms = Outbound::Sms {
            incident: 1,
            to: "+15550100".into(),
        };
        let fetch = Outbound::Fetch {
            url: "http://127.0.0.1/".into(),
        };
        let name = |chat: Option<&dyn Chat>, others: &[Arc<dyn Receiver>], op: &Outbound| {
            receiver_of(chat, others, op).map(|r| r.name())
        };
        assert_eq!(name(Some(&chat), &others, &notify), Some("chat"));
        assert_eq!(name(Some(&chat), &others, &sms), Some("phone"));
        assert_eq!(name(Some(&chat), &others, &fetch), Some("anything"));
        // Without the chat receiver its work goes to whoever else takes it, or waits.
        assert_eq!(name(None, &others, &notify), Some("anything"));
        assert_eq!(name(None, &others[..1], &notify), None);
    }
}
