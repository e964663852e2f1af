//! The outbox worker: drains queued Slack work in order, per channel, at Slack's pace.
//!
//! Every Slack call tocsin makes is first an outbox row in the store. This worker
//! sends one row per channel ("lane") at a time, spaces a channel's messages by
//! the configured interval, waits out 429 `Retry-After`, retries transient
//! failures with capped backoff, and deletes a row only after Slack accepted it.
//! After a crash, a post that may already have reached Slack is looked up in
//! the channel's history (by message metadata) before it is sent again.

use super::api::{Failure, SlackApi};
use super::render;
use crate::config::Config;
use crate::incident::MessageRef;
use crate::store::{SlackOp, Store, StoreError};
use slack_morphism::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

/// Metadata event type that marks tocsin's incident messages in Slack.
pub const INCIDENT_EVENT_TYPE: &str = "tocsin_incident";

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// Longest a single delivery (all its Slack calls) may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
const IDLE_RECHECK: Duration = Duration::from_secs(5);

pub struct OutboxWorker {
    pub store: Store,
    pub config: Arc<Config>,
    pub api: Option<SlackApi>,
    /// Minimum spacing between two messages in one channel.
    pub interval: Duration,
    /// Poked whenever a row is added.
    pub ready: Arc<Notify>,
}

#[derive(Default)]
struct Lane {
    queue: VecDeque<(u64, SlackOp)>,
    ready_at: Option<Instant>,
    busy: bool,
    failures: u32,
}

type Done = (String, u64, Result<(), Failure>);

impl OutboxWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let Some(api) = self.api.clone() else {
            let pending = self.store.outbox_pending().map(|p| p.len()).unwrap_or(0);
            tracing::warn!(
                pending,
                "Slack is not configured (SLACK_BOT_TOKEN is unset): Slack messages are kept in the outbox until it is"
            );
            let _ = shutdown.changed().await;
            return;
        };
        let mut lanes: BTreeMap<String, Lane> = BTreeMap::new();
        let mut last_seq = 0u64;
        // Rows left by an earlier process may have reached Slack just before it stopped.
        let mut suspect: HashSet<u64> = HashSet::new();
        let mut first_pass = true;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        let mut inflight = tokio::task::JoinSet::new();
        let ctx = Arc::new(Delivery {
            store: self.store.clone(),
            config: self.config.clone(),
            api,
        });
        loop {
            match self.store.outbox_after(last_seq) {
                Ok(rows) => {
                    // Only rows already on disk: a row still waiting for its flush
                    // could vanish in a crash, and Slack must not see it first.
                    let on_disk = self.store.flushed_outbox_seq();
                    for (seq, item) in rows.into_iter().take_while(|(seq, _)| *seq <= on_disk) {
                        if first_pass {
                            suspect.insert(seq);
                        }
                        lanes
                            .entry(item.lane)
                            .or_default()
                            .queue
                            .push_back((seq, item.op));
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
                let Some(&(seq, _)) = lane.queue.front() else {
                    continue;
                };
                if let Some(at) = lane.ready_at.filter(|at| *at > now) {
                    wake = Some(wake.map_or(at, |w| w.min(at)));
                    continue;
                }
                lane.busy = true;
                let (ctx, tx, name) = (ctx.clone(), done_tx.clone(), name.clone());
                let was_suspect = suspect.remove(&seq);
                inflight.spawn(async move {
                    // A hung connection must not hold the lane forever.
                    let r = tokio::time::timeout(CALL_TIMEOUT, ctx.deliver(seq, was_suspect))
                        .await
                        .unwrap_or_else(|_| {
                            Err(Failure::Transient("Slack did not answer in time".into()))
                        });
                    let _ = tx.send((name, seq, r));
                });
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
                Some((name, seq, result)) = done_rx.recv() => {
                    // After an unclear failure Slack may have the message already:
                    // look before sending it again.
                    if matches!(result, Err(Failure::Transient(_))) {
                        suspect.insert(seq);
                    }
                    if let Some(lane) = lanes.get_mut(&name) {
                        self.settle(lane, &name, seq, result);
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
        while let Some((seq, op @ SlackOp::UpdateIncident { .. })) = lane.queue.front() {
            if !lane.queue.iter().skip(1).any(|(_, later)| later == op) {
                break;
            }
            if let Err(e) = self.store.outbox_done(*seq) {
                tracing::error!(error = %e, "cannot drop a redundant update; sending it");
                break;
            }
            lane.queue.pop_front();
        }
    }

    fn settle(&self, lane: &mut Lane, name: &str, seq: u64, result: Result<(), Failure>) {
        lane.busy = false;
        let now = Instant::now();
        match result {
            Ok(()) => {
                lane.queue.pop_front();
                lane.failures = 0;
                lane.ready_at = Some(now + self.interval);
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
            Err(Failure::Transient(why)) => {
                lane.failures += 1;
                let wait = backoff(lane.failures);
                tracing::warn!(lane = name, seq, attempt = lane.failures, ?wait, %why, "Slack call failed; will retry");
                if let Err(e) = self.store.outbox_attempted(seq) {
                    tracing::error!(error = %e, "cannot record the failed attempt");
                }
                lane.ready_at = Some(now + wait);
            }
            Err(Failure::Permanent(why)) => {
                tracing::error!(lane = name, seq, %why, "Slack refused this message for good; moved to the dead-letter list");
                if let Err(e) = self.store.outbox_dead(seq) {
                    tracing::error!(error = %e, "cannot move the message to the dead-letter list");
                }
                lane.queue.pop_front();
                lane.failures = 0;
            }
        }
    }
}

/// Capped exponential backoff: 250 ms, 500 ms, 1 s, … 30 s.
fn backoff(failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(16);
    BACKOFF_START.saturating_mul(1 << exp).min(BACKOFF_CAP)
}

struct Delivery {
    store: Store,
    config: Arc<Config>,
    api: SlackApi,
}

fn store_failure(e: StoreError) -> Failure {
    Failure::Transient(e.to_string())
}

impl Delivery {
    /// Performs row `seq` and removes it once Slack has it.
    async fn deliver(&self, seq: u64, suspect: bool) -> Result<(), Failure> {
        let Some(item) = self.store.outbox_item(seq).map_err(store_failure)? else {
            return Ok(());
        };
        match &item.op {
            SlackOp::PostIncident { incident, channel } => {
                self.post(*incident, channel, suspect).await?
            }
            SlackOp::UpdateIncident { incident } => self.update(*incident).await?,
            SlackOp::PageUser {
                incident,
                user,
                page,
            } => self.page(*incident, user, *page, suspect).await?,
            SlackOp::Respond {
                response_url,
                text,
                replace,
            } => self.api.respond(response_url, text, *replace).await?,
            SlackOp::NotifyBlocks {
                channel,
                text,
                blocks,
            } => {
                let blocks: Vec<SlackBlock> =
                    serde_json::from_value(blocks.clone()).map_err(|e| {
                        Failure::Permanent(format!("stored blocks are not Block Kit: {e}"))
                    })?;
                let content = SlackMessageContent::new()
                    .with_text(text.clone())
                    .with_blocks(blocks);
                self.api.post_message(channel, content).await?;
            }
            SlackOp::Notify { channel, text } => {
                let content = SlackMessageContent::new().with_text(text.clone());
                self.api.post_message(channel, content).await?;
            }
        }
        self.store.outbox_done(seq).map_err(store_failure)?;
        self.store.durable().await.map_err(store_failure)
    }

    async fn post(&self, id: u64, channel: &str, suspect: bool) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).map_err(store_failure)? else {
            return Ok(());
        };
        if inc.message.is_some() {
            return Ok(());
        }
        if suspect {
            if let Some(ts) = self
                .find_posted(id, None, channel, inc.created_at.timestamp())
                .await
            {
                tracing::info!(
                    incident = id,
                    "found the message an earlier run posted; not posting again"
                );
                return self.remember(id, channel, ts);
            }
        }
        let r =
            render::incident(&inc, &self.config).map_err(|e| Failure::Permanent(e.to_string()))?;
        let meta = SlackMessageMetadata {
            event_type: INCIDENT_EVENT_TYPE.into(),
            event_payload: Some(HashMap::from([("incident".to_string(), id.to_string())])),
        };
        let content = SlackMessageContent::new()
            .with_text(r.text)
            .with_blocks(r.blocks)
            .with_metadata(meta);
        let ts = self.api.post_message(channel, content).await?;
        self.remember(id, channel, ts)
    }

    fn remember(&self, id: u64, channel: &str, ts: String) -> Result<(), Failure> {
        let m = MessageRef {
            channel: channel.to_string(),
            ts,
        };
        self.store.set_message(id, m).map_err(store_failure)
    }

    /// Looks for this incident's message (or page `page` of it) in the
    /// channel; `None` if absent or unknowable.
    async fn find_posted(
        &self,
        id: u64,
        page: Option<usize>,
        channel: &str,
        since: i64,
    ) -> Option<String> {
        let want = id.to_string();
        let want_page = page.map(|p| p.to_string());
        match self.api.history_since(channel, since - 60).await {
            Ok(messages) => messages.into_iter().find_map(|m| {
                let meta = m.content.metadata?;
                let payload = meta.event_payload?;
                let matches = meta.event_type == INCIDENT_EVENT_TYPE
                    && payload.get("incident") == Some(&want)
                    && payload.get("page") == want_page.as_ref();
                matches.then_some(m.origin.ts.0)
            }),
            Err(e) => {
                tracing::warn!(incident = id, error = ?e, "cannot read channel history; posting, which may repeat a message");
                None
            }
        }
    }

    /// DMs the incident, with its buttons, to a person being paged.
    async fn page(&self, id: u64, user: &str, page: usize, suspect: bool) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).map_err(store_failure)? else {
            return Ok(());
        };
        let channel = self.api.open_dm(user).await?;
        if suspect {
            if let Some(ts) = self
                .find_posted(id, Some(page), &channel, inc.created_at.timestamp())
                .await
            {
                return self
                    .store
                    .add_dm_message(id, MessageRef { channel, ts })
                    .map_err(store_failure);
            }
        }
        let r =
            render::incident(&inc, &self.config).map_err(|e| Failure::Permanent(e.to_string()))?;
        let meta = SlackMessageMetadata {
            event_type: INCIDENT_EVENT_TYPE.into(),
            event_payload: Some(HashMap::from([
                ("incident".to_string(), id.to_string()),
                ("page".to_string(), page.to_string()),
            ])),
        };
        let content = SlackMessageContent::new()
            .with_text(r.text)
            .with_blocks(r.blocks)
            .with_metadata(meta);
        let ts = self.api.post_message(&channel, content).await?;
        let dm = MessageRef { channel, ts };
        self.store
            .add_dm_message(id, dm.clone())
            .map_err(store_failure)?;
        // An ack may have landed while this DM was on its way, and the update
        // for it would not have known this copy: bring it up to date.
        match self.store.incident(id).map_err(store_failure)? {
            Some(now) if now.state != inc.state => {
                let r = render::incident(&now, &self.config)
                    .map_err(|e| Failure::Permanent(e.to_string()))?;
                let content = SlackMessageContent::new()
                    .with_text(r.text)
                    .with_blocks(r.blocks);
                self.api.update_message(&dm.channel, &dm.ts, content).await
            }
            _ => Ok(()),
        }
    }

    async fn update(&self, id: u64) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).map_err(store_failure)? else {
            return Ok(());
        };
        // Posts run first in the same lane; a copy not yet posted is not updated
        // (it is rendered fresh when it is posted).
        let r =
            render::incident(&inc, &self.config).map_err(|e| Failure::Permanent(e.to_string()))?;
        // Each copy on its own: one deleted message must not stop the others.
        let mut retry = None;
        for msg in inc.message.iter().chain(inc.dm_messages.iter()) {
            let content = SlackMessageContent::new()
                .with_text(r.text.clone())
                .with_blocks(r.blocks.clone());
            match self
                .api
                .update_message(&msg.channel, &msg.ts, content)
                .await
            {
                Ok(()) => {}
                Err(Failure::Permanent(why)) => {
                    tracing::warn!(incident = id, channel = %msg.channel, %why, "a copy could not be updated; skipping it");
                }
                Err(e @ Failure::RateLimited(_)) => return Err(e),
                Err(e) => retry = Some(e),
            }
        }
        retry.map_or(Ok(()), Err)
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
