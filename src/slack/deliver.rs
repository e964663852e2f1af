//! The outbox's chat receiver, Slack: renders the incident as it is now,
//! or a notice from the facts it carries, and calls the Web API. Every message tocsin posts carries message metadata
//! naming the work it is (an incident's post or page, an outbox row, a
//! digest). After a crash or an unclear failure, a post that may already be
//! in Slack is looked up by that metadata before it is sent again: after a
//! restart, one read of each channel's history serves all its waiting rows.

use super::api::SlackApi;
use super::render;
use crate::config::Config;
use crate::outbox::{self, store_failure, Chat, Failure};
use crate::store::{MessageRef, MessageRefs, Outbound, Store};
use async_trait::async_trait;
use slack_morphism::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Metadata event type that marks tocsin's incident messages in Slack.
pub const INCIDENT_EVENT_TYPE: &str = "tocsin_incident";
/// Metadata event type of tocsin's other messages; the payload's `key` names
/// the work (`outbox:SEQ`, `digest:IDS`, `summary:ID`).
pub const MESSAGE_EVENT_TYPE: &str = "tocsin_message";

/// The lane bookkeeping the outbox keeps, at the paths Slack's code names.
pub use crate::outbox::{Attempt, Posted, Suspect, DIGEST_MAX};

/// tocsin's messages in one channel: metadata key → ts.
type Keys = HashMap<String, String>;

/// What tocsin's messages each channel holds (metadata key → ts), read
/// once per channel for the rows an earlier run left.
#[derive(Default)]
pub struct Seen {
    channels: Mutex<HashMap<String, Arc<OnceCell<Keys>>>>,
    /// User id → DM channel id, for messages addressed to a person.
    dms: Mutex<HashMap<String, String>>,
    /// Unix seconds no later than any row the earlier run left.
    restart_since: Mutex<Option<i64>>,
}

impl Seen {
    /// Rows an earlier run left start from `since` (unix seconds) at the earliest.
    pub fn restarted(&self, since: i64) {
        if let Ok(mut s) = self.restart_since.lock() {
            *s = Some(s.map_or(since, |t| t.min(since)));
        }
    }

    fn cell(&self, channel: &str) -> Arc<OnceCell<Keys>> {
        let mut map = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(channel.to_string()).or_default().clone()
    }
}

/// The key a message of tocsin's carries in its metadata, if any.
fn message_key(m: &SlackHistoryMessage) -> Option<String> {
    let meta = m.content.metadata.as_ref()?;
    let payload = meta.event_payload.as_ref()?;
    match meta.event_type.as_str() {
        INCIDENT_EVENT_TYPE => {
            let id = payload.get("incident")?;
            Some(match payload.get("page") {
                Some(p) => format!("incident:{id}:page:{p}"),
                None => format!("incident:{id}"),
            })
        }
        MESSAGE_EVENT_TYPE => payload.get("key").cloned(),
        _ => None,
    }
}

/// A lookup that failed: a 429, a refused token or trouble on the way is
/// waited out like a failed post (the row is tried again later); a lookup
/// Slack refuses for good (a missing scope) posts, which may repeat one.
fn look_failed(channel: &str, key: &str, e: Failure) -> Result<Option<String>, Failure> {
    match e {
        Failure::RateLimited(_) | Failure::Unauthorized(_) | Failure::Transient(_) => Err(e),
        e => {
            tracing::warn!(%channel, key, error = ?e, "cannot read channel history; posting, which may repeat a message");
            Ok(None)
        }
    }
}

/// Metadata marking a message as the work `key`.
fn tagged(content: SlackMessageContent, key: &str) -> SlackMessageContent {
    content.with_metadata(SlackMessageMetadata {
        event_type: MESSAGE_EVENT_TYPE.into(),
        event_payload: Some(HashMap::from([("key".to_string(), key.to_string())])),
    })
}

/// Sends Slack work: posts, DMs, updates, plain notices and `response_url` answers.
pub struct SlackDelivery {
    pub store: Store,
    pub config: Arc<Config>,
    pub api: SlackApi,
    pub clock: crate::clock::Clock,
    pub seen: Seen,
}

impl SlackDelivery {
    /// Performs one piece of Slack work. When `at.suspect` says an earlier
    /// attempt may have reached Slack, a message is looked up before it is
    /// posted again.
    pub async fn send(&self, op: &Outbound, at: Attempt) -> Result<(), Failure> {
        match op {
            Outbound::PostIncident { incident, channel } => {
                self.post(*incident, channel, at.suspect).await?
            }
            Outbound::UpdateIncident { incident } => self.update(*incident).await?,
            Outbound::PageUser {
                incident,
                user,
                page,
            } => self.page(*incident, user, *page, at.suspect).await?,
            Outbound::Respond {
                response_url,
                text,
                replace,
            } => self.api.respond(response_url, text, *replace).await?,
            Outbound::NotifyBlocks {
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
                self.post_once(channel, content, &at.key(), at.since, at.suspect)
                    .await?;
            }
            Outbound::Notify { channel, text } => {
                let content = SlackMessageContent::new().with_text(text.clone());
                self.post_once(channel, content, &at.key(), at.since, at.suspect)
                    .await?;
            }
            Outbound::UploadFile {
                channel,
                file_name,
                title,
                content,
            } => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .map_err(|e| Failure::Permanent(format!("stored file is not base64: {e}")))?;
                self.api
                    .upload_file(channel, file_name, title, bytes)
                    .await?;
            }
            Outbound::Room { incident, work } => self.room(*incident, work, at).await?,
            Outbound::WeeklyReport {
                channel,
                team,
                from,
                to,
            } => self.weekly_report(channel, team, *from, *to, at).await?,
            Outbound::SnoozeOver { .. }
            | Outbound::NobodyResponded { .. }
            | Outbound::PageReminder { .. }
            | Outbound::ShiftStarted { .. }
            | Outbound::Handoff { .. }
            | Outbound::UpdateDue { .. }
            | Outbound::RoleChanged { .. }
            | Outbound::ChannelKept { .. }
            | Outbound::StatusUpdate { .. }
            | Outbound::SeverityChanged { .. }
            | Outbound::MaintenanceStarted { .. }
            | Outbound::MaintenanceOver { .. }
            | Outbound::SwapAsked { .. }
            | Outbound::SwapAnswered { .. }
            | Outbound::SwapAnnounced { .. } => self.notice(op, at).await?,
            Outbound::OpenView { trigger_id, view } => self.open_view(trigger_id, view).await?,
            Outbound::PublishHome { user } => self.publish_home(user).await?,
            Outbound::Sms { .. } | Outbound::Call { .. } | Outbound::Fetch { .. } => {
                return Err(Failure::Permanent("not Slack work".into()))
            }
        }
        Ok(())
    }

    /// Renders a domain notice and posts it where it goes, once.
    async fn notice(&self, op: &Outbound, at: Attempt) -> Result<(), Failure> {
        let fail = |e: render::RenderError| Failure::Permanent(e.to_string());
        let (to, r) = render::notice(op, &self.config)
            .ok_or_else(|| Failure::Permanent("not a notice".into()))?
            .map_err(fail)?;
        let channel = match to {
            render::Target::Channel(c) => c.to_string(),
            render::Target::Room(id) => {
                let Some(inc) = self.store.incident(id).await.map_err(store_failure)? else {
                    return Ok(());
                };
                inc.room_channel()
                    .ok_or_else(|| {
                        Failure::Permanent("the incident's channel was never created".into())
                    })?
                    .to_string()
            }
        };
        let mut content = SlackMessageContent::new().with_text(r.text);
        if !r.blocks.is_empty() {
            content = content.with_blocks(r.blocks);
        }
        self.post_once(&channel, content, &at.key(), at.since, at.suspect)
            .await
            .map(drop)
    }

    /// Draws `user`'s App Home as things are now and publishes it.
    async fn publish_home(&self, user: &str) -> Result<(), Failure> {
        let now = self.clock.now();
        let home = crate::ops::home::gather(&self.config, &self.store, user, now)
            .await
            .map_err(store_failure)?;
        let view = super::home::view(&home, &self.config, now);
        let view: SlackView = serde_json::from_value(view)
            .map_err(|e| Failure::Permanent(format!("the Home is not Block Kit: {e}")))?;
        self.api.publish_view(user, view).await
    }

    /// The weekly report of `team` over `[from, to)`, its numbers read now.
    async fn weekly_report(
        &self,
        channel: &str,
        team: &str,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
        at: Attempt,
    ) -> Result<(), Failure> {
        let Some(name) = self.config.team(team).map(|t| t.name.clone()) else {
            return Err(Failure::Permanent(format!("team {team} is not configured")));
        };
        let (now, before) =
            crate::ops::report::build_with_previous(&self.config, &self.store, team, from, to)
                .await
                .map_err(store_failure)?;
        let text = render::weekly_report(&now, &before, &name, (to - from).num_days())
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        let content = SlackMessageContent::new().with_text(text);
        self.post_once(channel, content, &at.key(), at.since, at.suspect)
            .await
            .map(drop)
    }

    async fn post(&self, id: u64, channel: &str, suspect: Suspect) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).await.map_err(store_failure)? else {
            return Ok(());
        };
        let refs = self.store.messages(id).await.map_err(store_failure)?;
        if refs.post.is_some() {
            return Ok(());
        }
        let key = format!("incident:{id}");
        let since = inc.created_at.timestamp();
        if let Some(ts) = self.already_posted(channel, &key, since, suspect).await? {
            tracing::info!(
                incident = id,
                "found the message an earlier run posted; not posting again"
            );
            return self.remember(id, channel, ts).await;
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
        self.first_page(&inc, &refs);
        self.remember(id, channel, ts).await
    }

    /// Posts `content` as the work `key`, unless `suspect` says an earlier
    /// attempt may have posted it and the channel's history shows it did.
    /// The message's ts.
    pub(super) async fn post_once(
        &self,
        channel: &str,
        content: SlackMessageContent,
        key: &str,
        since: i64,
        suspect: Suspect,
    ) -> Result<String, Failure> {
        if let Some(ts) = self.already_posted(channel, key, since, suspect).await? {
            tracing::info!(%channel, key, "found the message an earlier attempt posted; not posting again");
            return Ok(ts);
        }
        self.api.post_message(channel, tagged(content, key)).await
    }

    /// The incidents among `ids` that have no message of their own yet.
    async fn unposted(
        &self,
        ids: &[u64],
    ) -> Result<Vec<crate::domain::incident::Incident>, Failure> {
        let mut incidents = vec![];
        for id in ids {
            if let Some(inc) = self.store.incident(*id).await.map_err(store_failure)? {
                let refs = self.store.messages(*id).await.map_err(store_failure)?;
                if refs.post.is_none() {
                    incidents.push(inc);
                }
            }
        }
        Ok(incidents)
    }

    /// Alert → first message or page: observed once per incident, when its
    /// own channel post or its first DM is accepted, whichever comes first.
    fn first_page(&self, inc: &crate::domain::incident::Incident, refs: &MessageRefs) {
        if refs.is_empty() {
            let secs = (self.clock.now() - inc.created_at).num_milliseconds() as f64 / 1000.0;
            crate::metrics::global().observe("tocsin_alert_to_first_page_seconds", secs.max(0.0));
        }
    }

    async fn remember(&self, id: u64, channel: &str, ts: String) -> Result<(), Failure> {
        let m = MessageRef {
            channel: channel.to_string(),
            ts,
        };
        self.store
            .set_post_unflushed(id, m)
            .await
            .map_err(store_failure)
    }

    /// The ts of the message `key` if an earlier attempt put it in `channel`
    /// (no older than `since`, unix seconds); `None` if absent, unknowable or
    /// not `suspect`. A row an earlier run left is looked up in one read of
    /// the channel shared by all such rows; after an unclear failure the
    /// history is read afresh.
    async fn already_posted(
        &self,
        channel: &str,
        key: &str,
        since: i64,
        suspect: Suspect,
    ) -> Result<Option<String>, Failure> {
        if suspect == Suspect::No {
            return Ok(None);
        }
        let channel = match self.history_channel(channel).await {
            Ok(c) => c,
            Err(e) => return look_failed(channel, key, e),
        };
        let channel = channel.as_str();
        let read = |oldest: i64| async move {
            let messages = self.api.history_since(channel, oldest - 60).await?;
            Ok::<_, Failure>(
                messages
                    .into_iter()
                    .filter_map(|m| Some((message_key(&m)?, m.origin.ts.0)))
                    .collect::<Keys>(),
            )
        };
        let found = match suspect {
            Suspect::Restart => {
                let restart = *self
                    .seen
                    .restart_since
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let oldest = restart.map_or(since, |t| t.min(since));
                let cell = self.seen.cell(channel);
                cell.get_or_try_init(|| read(oldest))
                    .await
                    .map(|keys| keys.get(key).cloned())
            }
            _ => read(since).await.map(|keys| keys.get(key).cloned()),
        };
        found.or_else(|e| look_failed(channel, key, e))
    }

    /// The channel whose history holds a message sent to `channel`: a
    /// message to a person (a user id) lands in the bot's DM with them.
    async fn history_channel(&self, channel: &str) -> Result<String, Failure> {
        if !(channel.starts_with('U') || channel.starts_with('W')) {
            return Ok(channel.to_string());
        }
        let known = self
            .seen
            .dms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(channel)
            .cloned();
        if let Some(dm) = known {
            return Ok(dm);
        }
        let dm = self.api.open_dm(channel).await?;
        self.seen
            .dms
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(channel.to_string(), dm.clone());
        Ok(dm)
    }

    /// DMs the incident, with its buttons, to a person being paged.
    async fn page(
        &self,
        id: u64,
        user: &str,
        page: usize,
        suspect: Suspect,
    ) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).await.map_err(store_failure)? else {
            return Ok(());
        };
        let channel = self.api.open_dm(user).await?;
        let key = format!("incident:{id}:page:{page}");
        if let Some(ts) = self
            .already_posted(&channel, &key, inc.created_at.timestamp(), suspect)
            .await?
        {
            return self
                .store
                .add_dm_unflushed(id, MessageRef { channel, ts })
                .await
                .map_err(store_failure);
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
        let refs = self.store.messages(id).await.map_err(store_failure)?;
        self.first_page(&inc, &refs);
        let dm = MessageRef { channel, ts };
        self.store
            .add_dm_unflushed(id, dm.clone())
            .await
            .map_err(store_failure)?;
        // Paged after the incident got its channel: bring them in.
        if let Some(room) = inc.room_channel() {
            if let Err(e) = self.api.invite(room, &[user.to_string()]).await {
                tracing::warn!(incident = id, error = ?e, "could not invite a paged person to the incident channel");
            }
        }
        // An ack may have landed while this DM was on its way, and the update
        // for it would not have known this copy: bring it up to date.
        match self.store.incident(id).await.map_err(store_failure)? {
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

    pub(super) async fn update(&self, id: u64) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).await.map_err(store_failure)? else {
            return Ok(());
        };
        // Posts run first in the same lane; a copy not yet posted is not updated
        // (it is rendered fresh when it is posted).
        let r =
            render::incident(&inc, &self.config).map_err(|e| Failure::Permanent(e.to_string()))?;
        // Every copy: the alert message, each DM that paged someone, and the
        // incident channel's pinned summary (its own layout).
        let content = || {
            SlackMessageContent::new()
                .with_text(r.text.clone())
                .with_blocks(r.blocks.clone())
        };
        let refs = self.store.messages(id).await.map_err(store_failure)?;
        let mut copies: Vec<(String, String, SlackMessageContent)> = refs
            .post
            .iter()
            .chain(refs.dms.iter())
            .map(|m| (m.channel.clone(), m.ts.clone(), content()))
            .collect();
        copies.extend(self.summary_copy(&inc)?);
        // Each copy on its own: one deleted message must not stop the others.
        let mut retry = None;
        for (channel, ts, content) in copies {
            match self.api.update_message(&channel, &ts, content).await {
                Ok(()) => {}
                Err(Failure::Permanent(why)) => {
                    tracing::warn!(incident = id, %channel, %why, "a copy could not be updated; skipping it");
                }
                Err(e @ (Failure::RateLimited(_) | Failure::Unauthorized(_))) => return Err(e),
                Err(e) => retry = Some(e),
            }
        }
        retry.map_or(Ok(()), Err)
    }
}

/// Every piece of work but SMS, calls and plain visits is Slack's.
#[async_trait]
impl outbox::Receiver for SlackDelivery {
    fn name(&self) -> &'static str {
        "Slack"
    }

    fn takes(&self, op: &Outbound) -> bool {
        !matches!(
            op,
            Outbound::Sms { .. } | Outbound::Call { .. } | Outbound::Fetch { .. }
        )
    }

    async fn perform(&self, op: &Outbound, attempt: Attempt) -> Result<(), Failure> {
        self.send(op, attempt).await
    }
}

/// Storm digests and notices are Slack messages; a refused token is
/// checked with `auth.test`.
#[async_trait]
impl Chat for SlackDelivery {
    /// One message naming new incidents at once, sent in a storm ahead of
    /// their own messages. Incidents already posted are left out; `None`
    /// when that leaves none, else the message's ts. `retry`: an attempt
    /// with these `ids` had an unclear outcome, so look for it first.
    async fn digest(
        &self,
        channel: &str,
        ids: &[u64],
        retry: bool,
    ) -> Result<Option<String>, Failure> {
        let key = format!(
            "digest:{}",
            ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        );
        let mut oldest = None::<i64>;
        for id in ids {
            if let Ok(Some(i)) = self.store.incident(*id).await {
                let t = i.created_at.timestamp();
                oldest = Some(oldest.map_or(t, |o| o.min(t)));
            }
        }
        let oldest = oldest.unwrap_or_else(|| self.clock.now().timestamp());
        let suspect = if retry { Suspect::Unclear } else { Suspect::No };
        if let Some(ts) = self.already_posted(channel, &key, oldest, suspect).await? {
            tracing::info!(%channel, "found the storm digest an earlier attempt posted");
            return Ok(Some(ts));
        }
        let incidents = self.unposted(ids).await?;
        if incidents.is_empty() {
            return Ok(None);
        }
        let text = render::storm_digest(&incidents, &self.config)
            .map_err(|e| Failure::Permanent(e.to_string()))?;
        let content = tagged(SlackMessageContent::new().with_text(text), &key);
        // The latency histogram counts each incident's own message, once.
        self.api.post_message(channel, content).await.map(Some)
    }

    /// Names new incidents at once by editing the channel's latest message,
    /// when the next message may only go out too late for them: Slack paces
    /// new messages per channel, not edits. An incident message keeps its
    /// blocks and gains the digest below them (its next update drops it; the
    /// digest that follows as a message of its own stays); a digest grows.
    async fn storm_notice(
        &self,
        channel: &str,
        latest: &Posted,
        ids: &[u64],
    ) -> Result<(), Failure> {
        let incidents = self.unposted(&latest.shown_with(ids)).await?;
        if !incidents.iter().any(|i| ids.contains(&i.id)) {
            // All posted meanwhile: nothing new to name.
            return Ok(());
        }
        let fail = |e: render::RenderError| Failure::Permanent(e.to_string());
        let (ts, content) = match latest {
            Posted::Incident { id, .. } => {
                let Some(inc) = self.store.incident(*id).await.map_err(store_failure)? else {
                    return Ok(());
                };
                let refs = self.store.messages(*id).await.map_err(store_failure)?;
                let Some(m) = refs.post.as_ref().filter(|m| m.channel == channel) else {
                    return Ok(());
                };
                let mut r = render::incident(&inc, &self.config).map_err(fail)?;
                let room = render::MAX_BLOCKS.saturating_sub(r.blocks.len());
                r.blocks
                    .extend(render::storm_banner(&incidents, &self.config, room).map_err(fail)?);
                let content = SlackMessageContent::new()
                    .with_text(r.text)
                    .with_blocks(r.blocks);
                (m.ts.clone(), content)
            }
            Posted::Digest { ts, .. } => {
                let text = render::storm_digest(&incidents, &self.config).map_err(fail)?;
                (ts.clone(), SlackMessageContent::new().with_text(text))
            }
        };
        self.api.update_message(channel, &ts, content).await
    }

    async fn probe(&self) -> Result<(), Failure> {
        self.api.auth_test().await
    }

    fn restarted(&self, since: i64) {
        self.seen.restarted(since);
    }
}
