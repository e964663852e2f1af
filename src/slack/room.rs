//! Delivers war-room work: creates an incident's channel (suffixing the name
//! when Slack says `name_taken`), invites its people, posts and pins the live
//! summary, posts updates, the resolve summary and the postmortem, archives.
//!
//! Each step checks what the store says is done already, so a retry after a
//! crash or a failed call goes on from where the last attempt stopped.

use super::deliver::{Attempt, SlackDelivery};
use super::render;
use crate::domain::incident::Incident;
use crate::domain::warroom::{self, Entry, EntryKind, Room, RoomOp};
use crate::outbox::{store_failure, Failure};
use crate::store::{update_lane, Outbound};
use slack_morphism::prelude::*;

/// How many suffixed names (`-2`, `-3`, …) to try before giving up.
const NAME_ATTEMPTS: u32 = 20;

impl SlackDelivery {
    pub(super) async fn room(&self, id: u64, work: &RoomOp, at: Attempt) -> Result<(), Failure> {
        let Some(inc) = self.store.incident(id).await.map_err(store_failure)? else {
            return Ok(());
        };
        match work {
            RoomOp::Open if inc.coord.room.is_none() => Ok(()),
            RoomOp::Open => self.open_room(inc, at).await,
            // Subscribers hear of the resolve whether or not there is a channel.
            RoomOp::Notice { to } => {
                let r = render::room_resolved(&inc, &self.config).map_err(permanent)?;
                let content = SlackMessageContent::new().with_text(r.text);
                self.post_once(to, content, &at.key(), at.since, at.suspect)
                    .await
                    .map(drop)
            }
            _ => {
                let channel = inc
                    .room_channel()
                    .ok_or_else(|| {
                        Failure::Permanent("the incident's channel was never created".into())
                    })?
                    .to_string();
                self.in_room(&inc, &channel, work, at).await
            }
        }
    }

    async fn in_room(
        &self,
        inc: &Incident,
        channel: &str,
        work: &RoomOp,
        at: Attempt,
    ) -> Result<(), Failure> {
        match work {
            RoomOp::Invite { users } => self.api.invite(channel, users).await,
            RoomOp::Post { text, blocks } => {
                let mut content = SlackMessageContent::new().with_text(text.clone());
                if let Some(b) = blocks {
                    let blocks: Vec<SlackBlock> =
                        serde_json::from_value(b.clone()).map_err(|e| {
                            Failure::Permanent(format!("stored blocks are not Block Kit: {e}"))
                        })?;
                    content = content.with_blocks(blocks);
                }
                self.post_once(channel, content, &at.key(), at.since, at.suspect)
                    .await
                    .map(drop)
            }
            RoomOp::Resolved => {
                let r = render::room_resolved(inc, &self.config).map_err(permanent)?;
                let content = SlackMessageContent::new()
                    .with_text(r.text)
                    .with_blocks(r.blocks);
                self.post_once(channel, content, &at.key(), at.since, at.suspect)
                    .await
                    .map(drop)
            }
            RoomOp::Postmortem => {
                let text = render::postmortem(inc, &self.config).map_err(permanent)?;
                let name = format!("postmortem-{}.md", inc.id);
                let title = format!("Postmortem draft: #{} {}", inc.id, inc.alert.summary);
                self.api
                    .upload_file(channel, &name, &title, text.into_bytes())
                    .await
            }
            RoomOp::Archive => self.api.archive(channel).await,
            RoomOp::Pin { channel, ts, by } => {
                let Some(text) = self.api.message_text(channel, ts).await? else {
                    tracing::info!(
                        incident = inc.id,
                        "a pinned message is gone; nothing to record"
                    );
                    return Ok(());
                };
                // The timeline shows when the message was written, not when
                // it was marked (Slack's ts is unix seconds with a fraction).
                let written = ts
                    .split('.')
                    .next()
                    .and_then(|secs| secs.parse::<i64>().ok())
                    .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0));
                let now = self.clock.now();
                let entry = Entry {
                    at: written.unwrap_or(now),
                    by: Some(by.clone()),
                    kind: EntryKind::Pin,
                    text,
                    fact: None,
                };
                let r = self.store.update_incident(inc.id, now, |cur| {
                    // Each person's :pushpin: is its own event: record a message once.
                    if cur.coord.timeline.iter().any(|e| {
                        e.kind == EntryKind::Pin && e.at == entry.at && e.text == entry.text
                    }) {
                        return Err("already in the timeline".into());
                    }
                    let mut next = cur.clone();
                    next.coord.timeline.push(entry.clone());
                    Ok((next, vec![]))
                });
                // Declined: the message is in the timeline already.
                let _ = r.await.map_err(store_failure)?;
                Ok(())
            }
            RoomOp::Open | RoomOp::Notice { .. } => Ok(()),
        }
    }

    /// Creates the channel, invites the people, posts and pins the summary,
    /// and links the channel from the team's alert message.
    async fn open_room(&self, inc: Incident, at: Attempt) -> Result<(), Failure> {
        let id = inc.id;
        let channel = match inc.room_channel() {
            Some(c) => c.to_string(),
            None => match self.create_channel(&inc).await {
                Ok(c) => c,
                // Refused for good (a workspace policy, every name taken): the
                // incident says so and offers the button again.
                Err(Failure::Permanent(why)) => return self.refused(&inc, why).await,
                Err(e) => return Err(e),
            },
        };
        let people = self.room_people(&inc);
        if !people.is_empty() {
            match self.api.invite(&channel, &people).await {
                Ok(()) => {}
                // Slack refuses the whole list for one person it cannot add:
                // invite them one by one, so the others still come in.
                Err(Failure::Permanent(why)) => {
                    tracing::warn!(incident = id, %why, "inviting everyone at once failed; inviting one by one");
                    for person in &people {
                        match self
                            .api
                            .invite(&channel, std::slice::from_ref(person))
                            .await
                        {
                            Ok(()) => {}
                            Err(Failure::Permanent(why)) => {
                                tracing::warn!(incident = id, user = %person, %why, "could not invite a person to the incident channel")
                            }
                            Err(e) => return Err(e),
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let Some(inc) = self.store.incident(id).await.map_err(store_failure)? else {
            return Ok(());
        };
        let posted = inc.coord.room.as_ref().and_then(|r| r.summary_ts.clone());
        let ts = match posted {
            Some(ts) => ts,
            None => {
                let r = render::room_summary(&inc, &self.config).map_err(permanent)?;
                let content = SlackMessageContent::new()
                    .with_text(r.text)
                    .with_blocks(r.blocks);
                // Posted, then recorded: a crash between the two is caught
                // by the lookup on the retry.
                let key = format!("summary:{id}");
                let ts = self
                    .post_once(&channel, content, &key, at.since, at.suspect)
                    .await?;
                self.edit_room(id, vec![], |room| room.summary_ts = Some(ts.clone()))
                    .await?;
                ts
            }
        };
        self.api.pin(&channel, &ts).await?;
        // The alert message and DMs now link the channel, and the summary
        // catches up with anything that changed while it was being posted.
        self.update(id).await
    }

    async fn create_channel(&self, inc: &Incident) -> Result<String, Failure> {
        // An earlier attempt may have made the channel and lost Slack's answer.
        if let Some(name) = inc.coord.room.as_ref().and_then(|r| r.creating.clone()) {
            if let Some(channel) = self.api.find_channel(&name).await? {
                tracing::info!(incident = inc.id, %name, "found the channel an earlier attempt created");
                return self.opened(inc.id, channel, &name).await;
            }
        }
        for attempt in 1..=NAME_ATTEMPTS {
            let name = warroom::channel_name(inc, attempt);
            // Recorded first: if the answer is lost, the retry looks for this name.
            self.edit_room(inc.id, vec![], |room| room.creating = Some(name.clone()))
                .await?;
            match self.api.create_channel(&name).await {
                Ok(channel) => {
                    tracing::info!(incident = inc.id, %name, "incident channel created");
                    return self.opened(inc.id, channel, &name).await;
                }
                Err(Failure::Permanent(code)) if code == "name_taken" => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Failure::Permanent(format!(
            "every channel name up to -{NAME_ATTEMPTS} is taken"
        )))
    }

    async fn refused(&self, inc: &Incident, why: String) -> Result<(), Failure> {
        let id = inc.id;
        tracing::warn!(incident = id, %why, "Slack refused to create the incident channel");
        let show = (update_lane(inc), Outbound::UpdateIncident { incident: id });
        self.edit_room(id, vec![show], |room| {
            room.failed = Some(why.clone());
            room.creating = None;
        })
        .await
    }

    /// Changes incident `id`'s room record, durably, with `ops` queued alongside.
    async fn edit_room(
        &self,
        id: u64,
        ops: Vec<(String, Outbound)>,
        f: impl Fn(&mut Room) + Send + Sync,
    ) -> Result<(), Failure> {
        let r = self.store.update_incident(id, self.clock.now(), |inc| {
            let mut next = inc.clone();
            f(next.coord.room.as_mut().ok_or("the incident has no room")?);
            Ok((next, ops.clone()))
        });
        r.await
            .map_err(store_failure)?
            .map_err(Failure::Permanent)?;
        Ok(())
    }

    async fn opened(&self, id: u64, channel: String, name: &str) -> Result<String, Failure> {
        self.store
            .room_opened(id, &channel, name, self.clock.now())
            .await
            .map_err(store_failure)?;
        Ok(channel)
    }

    /// Slack ids of everyone the channel is for: the people paged, whoever
    /// acknowledged, the commander and comms lead, and the team's leads.
    fn room_people(&self, inc: &Incident) -> Vec<String> {
        let config = &self.config;
        let slack_of = |user: &str| config.user(user).and_then(|u| u.slack_id.clone());
        let mut out: Vec<String> = vec![];
        let leads = config
            .team_of_service(&inc.service_id)
            .map(|t| t.leads.clone())
            .unwrap_or_default();
        let acked = inc.acknowledged.as_ref().and_then(|s| match &s.by {
            crate::domain::incident::Actor::Slack { user_id } => Some(user_id.clone()),
            crate::domain::incident::Actor::Phone { slack_id, .. } => slack_id.clone(),
            _ => None,
        });
        let candidates = inc
            .paged
            .iter()
            .filter_map(|p| slack_of(&p.user))
            .chain(acked)
            .chain(inc.coord.commander.clone())
            .chain(inc.coord.comms.clone())
            .chain(leads.iter().filter_map(|l| slack_of(l)));
        for c in candidates {
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out
    }

    /// The pinned summary as a copy to edit (channel, ts, content), once posted.
    pub(super) fn summary_copy(
        &self,
        inc: &Incident,
    ) -> Result<Option<(String, String, SlackMessageContent)>, Failure> {
        let (Some(channel), Some(ts)) = (
            inc.room_channel(),
            inc.coord
                .room
                .as_ref()
                .and_then(|r| r.summary_ts.as_deref()),
        ) else {
            return Ok(None);
        };
        let r = render::room_summary(inc, &self.config).map_err(permanent)?;
        let content = SlackMessageContent::new()
            .with_text(r.text)
            .with_blocks(r.blocks);
        Ok(Some((channel.to_string(), ts.to_string(), content)))
    }

    /// Opens a modal for the person who asked for it.
    pub(super) async fn open_view(
        &self,
        trigger_id: &str,
        view: &serde_json::Value,
    ) -> Result<(), Failure> {
        let view: SlackView = serde_json::from_value(view.clone())
            .map_err(|e| Failure::Permanent(format!("stored view is not a Slack view: {e}")))?;
        match self.api.open_view(trigger_id, view).await {
            // The trigger is good for 3 s only: a late retry can never succeed.
            Err(Failure::Permanent(code)) if code == "expired_trigger_id" => {
                tracing::warn!(
                    "the modal was not opened in time; the person can run the command again"
                );
                Ok(())
            }
            other => other,
        }
    }
}

fn permanent(e: render::RenderError) -> Failure {
    Failure::Permanent(e.to_string())
}
