//! The outbox worker: drains queued outbound work (Slack calls, SMS, phone
//! calls) in order, per lane, at the receiver's pace.
//!
//! Every call tocsin makes to Slack or Twilio is first an outbox row in the
//! store. This worker sends one row per lane (a Slack channel, a phone number)
//! at a time, spaces a lane's messages by the configured interval, waits out
//! 429 `Retry-After`, retries transient failures with capped backoff, and
//! deletes a row only after the receiver accepted it. Rows are rendered when
//! sent, by `slack::deliver` and `twilio::deliver`.

use crate::config::Config;
use crate::slack::api::SlackApi;
use crate::slack::deliver::{Attempt, Posted, SlackDelivery, Suspect, DIGEST_MAX};
use crate::store::{Outbound, Store, StoreError};
use crate::twilio::api::TwilioApi;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

/// How a failed call should be retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// 429: wait at least this long before touching the lane again.
    RateLimited(Duration),
    /// 5xx, network trouble, garbled replies: retry with backoff.
    Transient(String),
    /// The receiver said no for good to this message (channel_not_found, …).
    Permanent(String),
    /// Slack refused the installation itself (`invalid_auth`, `token_revoked`,
    /// …): no message can go until the token works again, and none is to blame.
    Unauthorized(String),
    /// The receiver answered, but not in a form that says whether it took
    /// the work: retried a few times (the next lookup may find it was
    /// delivered), then moved to dead letters.
    Unreadable(String),
    /// No credentials for this receiver: the work waits for a restart that has them.
    Unconfigured(&'static str),
}

pub(crate) fn store_failure(e: StoreError) -> Failure {
    Failure::Transient(e.to_string())
}

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Longest a single delivery (all its Slack calls) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_RECHECK: Duration = Duration::from_secs(5);
/// How long a lane whose receiver has no credentials waits before looking again.
const PARKED: Duration = Duration::from_secs(3600);
/// Tries for a row whose replies cannot be read before it is a dead letter.
const UNREADABLE_TRIES: u32 = 5;
/// The longest wait between two checks of a refused Slack token, and between
/// two error lines about it.
const PROBE_CAP: Duration = Duration::from_secs(60);

pub struct OutboxWorker {
    pub store: Store,
    pub config: Arc<Config>,
    pub api: Option<SlackApi>,
    pub twilio: Option<TwilioApi>,
    /// Domain time, for the alert → first page latency.
    pub clock: crate::clock::Clock,
    /// Minimum spacing between two messages in one channel.
    pub interval: Duration,
    /// Poked whenever a row is added.
    pub ready: Arc<Notify>,
    /// First wait before checking a refused Slack token again (`auth.test`).
    pub auth_probe: Duration,
    /// Set while Slack refuses the token (a gauge on `/metrics`).
    pub auth_failing: Arc<AtomicBool>,
}

/// Slack refuses the bot token: every Slack lane waits, and `auth.test`
/// asks now and then whether it works again.
struct AuthPause {
    since: Instant,
    why: String,
    probes: u32,
    next_probe: Instant,
    probing: bool,
    logged_at: Instant,
}

#[derive(Default)]
struct Lane {
    /// Rows in order, each with when this worker first saw it.
    queue: VecDeque<(u64, Outbound, Instant)>,
    ready_at: Option<Instant>,
    /// `ready_at` is the pacing window after an accepted call, not a
    /// `Retry-After` or a backoff.
    paced: bool,
    busy: bool,
    failures: u32,
    /// Incidents a digest already announced; their own posts still follow.
    covered: HashSet<u64>,
    /// Incidents a storm notice already named; their digest and own posts follow.
    noticed: HashSet<u64>,
    noticed_at: Option<Instant>,
    /// No notices before this: Slack rate-limited the last one (edits are
    /// limited per workspace, so this says nothing about posting).
    notices_paused_until: Option<Instant>,
    /// The lane's latest message that a storm notice may edit.
    latest: Option<Posted>,
    /// A digest whose last attempt had an unclear outcome: it is tried
    /// again with the same incidents, looked up first.
    digest_retry: Option<Vec<u64>>,
}

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
    /// `auth.test` while Slack refuses the token (no lane).
    Probe,
}

/// A finished job: its lane, what it was, and on success when the receiver
/// answered its last call (the lane's pacing window starts there).
type Done = (String, Job, Result<Instant, Failure>);

/// How long a digest may take, after its pacing window ends, to reach Slack:
/// an incident seen less than this before the window's start plus one
/// interval would be named late by the digest, so a notice names it now.
const NOTICE_MARGIN: Duration = Duration::from_millis(50);
/// The least time a notice is given before it counts as failed.
const NOTICE_MIN_TIME: Duration = Duration::from_millis(250);

impl OutboxWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        if self.api.is_none() {
            tracing::warn!(
                "Slack is not configured (SLACK_BOT_TOKEN is unset): Slack messages are kept in the outbox until it is"
            );
        }
        if self.api.is_none() && self.twilio.is_none() {
            // Nothing to send to: every row would only be parked. Reading them
            // anyway costs ingest throughput, so wait for a run with credentials.
            let _ = shutdown.changed().await;
            return;
        }
        let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
        let mut last_seq = 0u64;
        // Rows left by an earlier process may have reached Slack just before
        // it stopped; rows whose last attempt had an unclear outcome too.
        let mut suspect: HashMap<u64, Suspect> = HashMap::new();
        let mut pause: Option<AuthPause> = None;
        let mut first_pass = true;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut inflight = tokio::task::JoinSet::new();
        let ctx = Arc::new(Delivery {
            store: self.store.clone(),
            slack: self.api.clone().map(|api| SlackDelivery {
                store: self.store.clone(),
                config: self.config.clone(),
                api,
                clock: self.clock.clone(),
                seen: Default::default(),
            }),
            twilio: self.twilio.clone(),
            config: self.config.clone(),
        });
        loop {
            match self.store.outbox_after(last_seq) {
                Ok(rows) => {
                    // Only rows already on disk: a row still waiting for its flush
                    // could vanish in a crash, and Slack must not see it first.
                    let on_disk = self.store.flushed_outbox_seq();
                    for (seq, item) in rows.into_iter().take_while(|(seq, _)| *seq <= on_disk) {
                        if first_pass {
                            suspect.insert(seq, Suspect::Restart);
                            if let Some(slack) = &ctx.slack {
                                slack.seen.restarted(item.enqueued_at.timestamp());
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
                self.fold_updates(lane);
                let Some((seq, front, _)) = lane.queue.front() else {
                    continue;
                };
                let seq = *seq;
                // Slack refuses the token: its lanes wait for the probe.
                if pause.is_some() && is_slack(front) {
                    continue;
                }
                if let Some(at) = lane.ready_at.filter(|at| *at > now) {
                    let mut at = at;
                    // Slack paces new messages per channel, not edits: an
                    // incident that the next message would name too late is
                    // named now in the latest one.
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
                // takes one message a second. Name them all in one message
                // now; each one's own message follows at Slack's pace.
                // A digest whose last attempt was unclear goes again as it
                // was, so it can be found if it did reach Slack.
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
                            // After an unclear failure Slack may have the message
                            // already: look before sending it again.
                            if matches!(result, Err(Failure::Transient(_) | Failure::Unreadable(_))) {
                                suspect.insert(seq, Suspect::Unclear);
                            }
                            let lane = lanes.get_mut(&name);
                            let still_queued = lane.map(|lane| {
                                self.settle(lane, &name, seq, result);
                                lane.queue.front().is_some_and(|(s, _, _)| *s == seq)
                            });
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
    /// storm of repeat alerts costs one Slack call per pacing interval.
    fn fold_updates(&self, lane: &mut Lane) {
        while let Some((seq, op @ Outbound::UpdateIncident { .. }, _)) = lane.queue.front() {
            if !lane.queue.iter().skip(1).any(|(_, later, _)| later == op) {
                break;
            }
            if let Err(e) = self.store.outbox_done(*seq) {
                tracing::error!(error = %e, "cannot drop a redundant update; sending it");
                break;
            }
            lane.queue.pop_front();
        }
    }

    /// A digest is a courtesy: on a final failure its incidents are marked
    /// announced anyway, since each one's own message still goes out.
    fn settle_digest(
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
            // Waits, with the lane, for Slack to take the token again.
            Err(Failure::Unauthorized(_)) => lane.ready_at = None,
            Err(e) => {
                tracing::warn!(lane = name, error = ?e, "storm digest not sent; the incidents' own messages follow");
                lane.covered.extend(ids);
            }
        }
    }

    fn settle(&self, lane: &mut Lane, name: &str, seq: u64, result: Result<Instant, Failure>) {
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
                // Slack counts a channel's messages by when they reach it,
                // which is no later than its answer: spacing from the answer
                // keeps the gap, without adding our own bookkeeping (the row's
                // removal and its flush) to every wait.
                lane.ready_at = Some(answered + self.interval);
            }
            Err(Failure::RateLimited(wait)) => {
                tracing::warn!(
                    lane = name,
                    seq,
                    ?wait,
                    "Slack rate limit; waiting as asked"
                );
                lane.ready_at = Some(now + wait);
            }
            // The row keeps its place; the lane waits for the token to work.
            Err(Failure::Unauthorized(_)) => lane.ready_at = None,
            Err(Failure::Unreadable(why)) if lane.failures + 1 >= UNREADABLE_TRIES => {
                tracing::error!(lane = name, seq, %why, tries = UNREADABLE_TRIES, "replies never readable; moved to the dead-letter list");
                self.bury(lane, seq);
            }
            Err(Failure::Transient(why) | Failure::Unreadable(why)) => {
                lane.failures += 1;
                let wait = backoff(lane.failures);
                tracing::warn!(lane = name, seq, attempt = lane.failures, ?wait, %why, "Slack call failed; will retry");
                if let Err(e) = self.store.outbox_attempted(seq) {
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
                tracing::error!(lane = name, seq, %why, "refused for good; moved to the dead-letter list");
                self.bury(lane, seq);
            }
        }
    }

    /// Moves the lane's first row to the dead letters; the lane goes on.
    fn bury(&self, lane: &mut Lane, seq: u64) {
        if let Err(e) = self.store.outbox_dead(seq) {
            tracing::error!(error = %e, "cannot move the message to the dead-letter list");
        }
        lane.queue.pop_front();
        lane.failures = 0;
    }

    /// Slack refused the token (`why`): every Slack lane waits from now.
    fn pause(&self, why: &str) -> AuthPause {
        let now = Instant::now();
        tracing::error!(%why, "Slack refuses the bot token: every Slack message waits until it works again (checking with auth.test)");
        self.auth_failing.store(true, Ordering::SeqCst);
        AuthPause {
            since: now,
            why: why.to_string(),
            probes: 0,
            next_probe: now + self.auth_probe,
            probing: false,
            logged_at: now,
        }
    }

    /// The probe's answer: resume, or wait longer (up to a minute) and say
    /// so once a minute.
    fn probed(&self, pause: &mut Option<AuthPause>, result: Result<Instant, Failure>) {
        let Some(p) = pause.as_mut() else {
            return;
        };
        let now = Instant::now();
        match result {
            Ok(_) => {
                tracing::info!(after = ?now - p.since, "Slack accepts the bot token again; resuming");
                self.auth_failing.store(false, Ordering::SeqCst);
                *pause = None;
            }
            Err(e) => {
                p.probes = p.probes.saturating_add(1);
                p.probing = false;
                let exp = p.probes.min(16);
                p.next_probe = now + self.auth_probe.saturating_mul(1 << exp).min(PROBE_CAP);
                if let Failure::Unauthorized(why) = &e {
                    p.why = why.clone();
                }
                if now - p.logged_at >= PROBE_CAP {
                    p.logged_at = now;
                    tracing::error!(why = %p.why, waiting = ?now - p.since, "Slack still refuses the bot token; every Slack message waits");
                }
            }
        }
    }
}

/// Whether `op` is Slack work (the lanes a refused Slack token holds up).
fn is_slack(op: &Outbound) -> bool {
    !matches!(
        op,
        Outbound::Sms { .. } | Outbound::Call { .. } | Outbound::Fetch { .. }
    )
}

/// GETs `url`: 2xx is done, 5xx and network trouble are retried, anything else is final.
async fn fetch(url: &str) -> Result<(), Failure> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    let https = crate::slack::api::https_or_http()
        .map_err(|e| Failure::Transient(format!("no HTTPS client: {e}")))?;
    let client = Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<bytes::Bytes>>(https);
    let uri: hyper::Uri = url
        .parse()
        .map_err(|e| Failure::Permanent(format!("bad URL {url}: {e}")))?;
    let resp = client
        .get(uri)
        .await
        .map_err(|e| Failure::Transient(format!("GET {url}: {e}")))?;
    let status = resp.status();
    if status.is_success() {
        tracing::info!(%url, "confirmed");
        Ok(())
    } else if status.is_server_error() {
        Err(Failure::Transient(format!("GET {url}: HTTP {status}")))
    } else {
        Err(Failure::Permanent(format!("GET {url}: HTTP {status}")))
    }
}

impl Lane {
    /// Incidents whose own post waits in this lane and that `named` does
    /// not count as named yet: (place in the queue, id, when it was seen).
    fn unnamed<'a>(
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

/// The new incidents waiting in `lane` that no digest named yet, when one of
/// them would otherwise wait behind other messages: the next message names
/// them all, so none waits longer than one pacing interval to be seen.
fn storm(lane: &Lane) -> Option<Vec<u64>> {
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
    /// last call that the next message would reach Slack more than one
    /// interval after it. Notices are spaced by a tenth of the interval, so
    /// a burst costs a few edits.
    fn notice_due(
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
}

/// A notice is a courtesy, never retried: the digest and each incident's
/// own message still follow. A 429 pauses notices only: Slack limits edits
/// per workspace, apart from the channel's messages.
fn settle_notice(lane: &mut Lane, name: &str, ids: Vec<u64>, result: Result<Instant, Failure>) {
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
                "storm notices paused: Slack rate-limited an edit"
            );
            lane.notices_paused_until = Some(now + wait);
        }
        Err(e) => {
            tracing::warn!(lane = name, error = ?e, "storm notice not sent; the digest and the incidents' own messages follow");
        }
    }
    lane.noticed.extend(ids);
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
fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_CAP)
}

struct Delivery {
    store: Store,
    config: Arc<Config>,
    slack: Option<SlackDelivery>,
    twilio: Option<TwilioApi>,
}

impl Delivery {
    async fn digest(
        &self,
        channel: &str,
        ids: &[u64],
        again: bool,
    ) -> Result<Option<String>, Failure> {
        let slack = self.slack.as_ref().ok_or(Failure::Unconfigured("Slack"))?;
        slack.digest(channel, ids, again).await
    }

    async fn probe(&self) -> Result<(), Failure> {
        let slack = self.slack.as_ref().ok_or(Failure::Unconfigured("Slack"))?;
        slack.api.auth_test().await
    }

    async fn notice(&self, channel: &str, latest: &Posted, ids: &[u64]) -> Result<(), Failure> {
        let slack = self.slack.as_ref().ok_or(Failure::Unconfigured("Slack"))?;
        slack.storm_notice(channel, latest, ids).await
    }

    /// Performs row `seq` and removes it once the receiver has it. Returns
    /// when the receiver answered (before the row's removal was flushed).
    async fn deliver(&self, seq: u64, suspect: Suspect) -> Result<Instant, Failure> {
        let Some(item) = self.store.outbox_item(seq).map_err(store_failure)? else {
            return Ok(Instant::now());
        };
        let attempt = Attempt {
            seq,
            since: item.enqueued_at.timestamp(),
            suspect,
        };
        self.perform(&item.op, attempt).await?;
        let answered = Instant::now();
        self.store.outbox_done(seq).map_err(store_failure)?;
        self.store.durable().await.map_err(store_failure)?;
        Ok(answered)
    }

    async fn perform(&self, op: &Outbound, attempt: Attempt) -> Result<(), Failure> {
        match op {
            Outbound::Fetch { url } => fetch(url).await,
            Outbound::Sms { .. } | Outbound::Call { .. } => {
                let twilio = self
                    .twilio
                    .as_ref()
                    .ok_or(Failure::Unconfigured("Twilio"))?;
                crate::twilio::deliver(twilio, &self.store, &self.config, op).await
            }
            op => {
                let slack = self.slack.as_ref().ok_or(Failure::Unconfigured("Slack"))?;
                slack.send(op, attempt).await
            }
        }
    }
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
}
