//! Applies people's war-room requests: open a channel, give a role, post a
//! status update, change severity, add a note, subscribe, keep a channel,
//! declare an incident. Each is one `Store::update_incident` transaction that
//! also queues the messages it causes; the replies are for the person who
//! asked, as sentences their receiver words.

use crate::domain::escalation::Escalation;
use crate::domain::incident::{AlertDetails, Incident, State};
use crate::domain::policy::{self, Action, Subject};
use crate::domain::sentence::Sentence;
use crate::domain::warroom::{new_room, next_nudge, room_lane, stakeholder_channel, wants_room};
use crate::domain::warroom::{role_changed, severity_changed, status_update};
use crate::domain::warroom::{Audience, Entry, EntryKind, Fact, Role, RoomOp, Sev};
use crate::ingest::{AlertAction, AlertEvent};
use crate::ops::alert::{Ingest, IngestError, Outcome};
use crate::ops::{Core, Wake};
use crate::store::{update_lane, Outbound, StoreError, Triggered};
use chrono::{DateTime, Utc};

/// `Ok(Err(why))`: the request changed nothing, and `why` says so to the person.
pub type Answer = Result<Result<Incident, Sentence>, StoreError>;

/// What the `/incident new` modal asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    pub title: String,
    pub service: String,
    pub sev: Sev,
    pub description: Option<String>,
    /// Slack id of whoever declared it.
    pub by: String,
    /// The modal's view id: a retried submission finds the same incident.
    pub key: String,
}

fn entry(at: DateTime<Utc>, by: &str, kind: EntryKind, text: String) -> Entry {
    Entry {
        at,
        by: Some(by.to_string()),
        kind,
        text,
        fact: None,
    }
}

fn invite(id: u64, who: &str) -> (String, Outbound) {
    (
        room_lane(id),
        Outbound::Room {
            incident: id,
            work: RoomOp::Invite {
                users: vec![who.to_string()],
            },
        },
    )
}

fn refresh(inc: &Incident) -> (String, Outbound) {
    (
        update_lane(inc),
        Outbound::UpdateIncident { incident: inc.id },
    )
}

impl Core {
    /// One war-room change: `f` plans it (pure: it may run more than once),
    /// the store applies it with the messages it queues, durably.
    async fn room_change<F>(&self, id: u64, f: F) -> Answer
    where
        F: Fn(&Incident, DateTime<Utc>) -> Result<(Incident, Vec<(String, Outbound)>), Sentence>
            + Send
            + Sync,
    {
        let now = self.clock.now();
        let r = self.update_for(id, now, |inc| f(inc, now)).await?;
        if r.is_ok() {
            self.settle(Wake::BOTH);
        }
        Ok(r)
    }

    /// Gives incident `id` a channel of its own (the Open channel button,
    /// `/incident channel`); whoever asked (`by`) is invited too.
    pub async fn open_room(&self, id: u64, by: &str) -> Answer {
        self.room_change(id, |inc, _| {
            self.authorize(by, Action::OpenChannel, inc)?;
            if let Some(c) = inc.room_channel() {
                let already = format!("#{id} has a channel already: ");
                return Err(Sentence::new().text(already).channel(c).text("."));
            }
            if inc.coord.room.as_ref().is_some_and(|r| r.failed.is_none()) {
                return Err(format!("#{id}'s channel is being created.").into());
            }
            if inc.state == State::Resolved {
                return Err(format!("#{id} is resolved; it needs no channel now.").into());
            }
            let mut next = inc.clone();
            next.coord.room = Some(new_room(&self.config, &inc.service_id));
            Ok((next, vec![invite(id, by)]))
        })
        .await
    }

    /// Makes `who` (a Slack id) the incident's commander or comms lead.
    pub async fn set_role(&self, id: u64, role: Role, who: &str, by: &str) -> Answer {
        self.room_change(id, |inc, now| {
            self.authorize(by, Action::SetRole, inc)?;
            let current = match role {
                Role::Commander => &inc.coord.commander,
                Role::Comms => &inc.coord.comms,
            };
            if current.as_deref() == Some(who) {
                let already = format!(" is {} of #{id} already.", role.label());
                return Err(Sentence::new().user(who).text(already));
            }
            let mut next = inc.clone();
            match role {
                Role::Commander => next.coord.commander = Some(who.to_string()),
                Role::Comms => next.coord.comms = Some(who.to_string()),
            }
            let fact = Fact::Role {
                role,
                who: who.to_string(),
            };
            next.coord
                .timeline
                .push(Entry::fact(now, Some(by), EntryKind::Role, fact));
            next.coord.nudge_at = next_nudge(&self.config, &next);
            let mut ops = vec![refresh(inc)];
            if next.coord.room.is_some() {
                ops.push(role_changed(&next, role, who, by));
                ops.push(invite(id, who));
            }
            Ok((next, ops))
        })
        .await
    }

    /// A status update: in the incident's channel, the team's stakeholder
    /// channel, and a DM to every subscriber; the live summary shows it.
    pub async fn post_update(&self, id: u64, by: &str, text: &str) -> Answer {
        self.room_change(id, |inc, now| {
            self.authorize(by, Action::Update, inc)?;
            let mut next = inc.clone();
            let update = entry(now, by, EntryKind::Update, text.to_string());
            next.coord.timeline.push(update.clone());
            next.coord.nudge_at = next_nudge(&self.config, &next);
            let mut ops = vec![refresh(inc)];
            if next.coord.room.is_some() {
                ops.push(status_update(&next, Audience::Room, &update));
            }
            let targets = stakeholder_channel(&self.config, &inc.service_id)
                .map(str::to_string)
                .into_iter()
                .chain(next.coord.subscribers.clone());
            for to in targets {
                ops.push(status_update(&next, Audience::Channel(to), &update));
            }
            Ok((next, ops))
        })
        .await
    }

    /// Changes the incident's level. Raising it pages the escalation policy
    /// again from its first level (while nobody has acknowledged) and opens a
    /// channel when the new level is at the team's `channel_at`.
    pub async fn set_severity(&self, id: u64, sev: Sev, by: &str) -> Answer {
        self.room_change(id, |inc, now| {
            self.authorize(by, Action::Severity, inc)?;
            let before = inc.sev();
            if before == sev {
                return Err(format!("#{id} is {} already.", sev.as_str()).into());
            }
            if inc.state == State::Resolved {
                return Err(format!("#{id} is resolved.").into());
            }
            let mut next = inc.clone();
            next.coord.sev = Some(sev);
            let raised = sev < before;
            let mut repaged = false;
            if raised {
                if sev.at_least(Sev::Sev2) {
                    next.raise_urgency(now);
                }
                if let (State::Triggered, Some(e)) = (inc.state, &inc.escalation) {
                    next.escalation = Some(Escalation::start(e.policy.clone(), now));
                    repaged = true;
                }
                if next.coord.room.is_none() && wants_room(&self.config, &inc.service_id, sev) {
                    next.coord.room = Some(new_room(&self.config, &inc.service_id));
                }
            }
            let change = format!("{} → {}", before.as_str(), sev.as_str());
            next.coord
                .timeline
                .push(entry(now, by, EntryKind::Severity, change));
            next.coord.nudge_at = next_nudge(&self.config, &next);
            let mut ops = vec![refresh(inc)];
            let stakeholders = stakeholder_channel(&self.config, &inc.service_id);
            for to in inc.alert_channel.as_deref().into_iter().chain(stakeholders) {
                let to = Audience::Channel(to.to_string());
                ops.push(severity_changed(&next, to, by, before, repaged));
            }
            if next.coord.room.is_some() {
                ops.push(severity_changed(&next, Audience::Room, by, before, repaged));
            }
            Ok((next, ops))
        })
        .await
    }

    /// Adds a note to the timeline.
    pub async fn add_note(&self, id: u64, by: &str, text: &str) -> Answer {
        self.room_change(id, |inc, now| {
            self.authorize(by, Action::Note, inc)?;
            let mut next = inc.clone();
            next.coord
                .timeline
                .push(entry(now, by, EntryKind::Note, text.to_string()));
            Ok((next, vec![]))
        })
        .await
    }

    /// Adds a note to the timeline through the API (its write token stands
    /// for the policy), naming whoever the request named.
    pub async fn add_note_via_api(&self, id: u64, by: &str, text: &str) -> Answer {
        self.room_change(id, |inc, now| {
            let mut next = inc.clone();
            next.coord
                .timeline
                .push(super::incident::api_entry(now, text, by));
            Ok((next, vec![]))
        })
        .await
    }

    /// Adds a note a tool sent (the Opsgenie API's notes). The integration
    /// key is its authority, so no person's policy applies.
    pub async fn add_tool_note(&self, id: u64, text: &str) -> Answer {
        self.room_change(id, |inc, now| {
            let mut next = inc.clone();
            next.coord.timeline.push(Entry {
                at: now,
                by: None,
                kind: EntryKind::Note,
                text: text.to_string(),
                fact: None,
            });
            Ok((next, vec![]))
        })
        .await
    }

    /// Adds (or removes) `user` among those DM'd every update and the resolve summary.
    pub async fn subscribe(&self, id: u64, user: &str, on: bool) -> Answer {
        self.room_change(id, |inc, _| {
            let known = inc.coord.subscribers.iter().any(|s| s == user);
            if known == on {
                return Err(if on {
                    format!("You are subscribed to #{id} already.").into()
                } else {
                    format!("You are not subscribed to #{id}.").into()
                });
            }
            let mut next = inc.clone();
            if on {
                next.coord.subscribers.push(user.to_string());
            } else {
                next.coord.subscribers.retain(|s| s != user);
            }
            Ok((next, vec![]))
        })
        .await
    }

    /// "Keep channel": the resolved incident's channel is not archived.
    pub async fn keep_room(&self, id: u64, by: &str) -> Answer {
        self.room_change(id, |inc, now| {
            self.authorize(by, Action::KeepChannel, inc)?;
            let Some(room) = &inc.coord.room else {
                return Err(format!("#{id} has no channel.").into());
            };
            if room.archived {
                return Err(
                    format!("#{id}'s channel is archived already; unarchive it in Slack.").into(),
                );
            }
            if room.kept {
                return Err(format!("#{id}'s channel is being kept already.").into());
            }
            let mut next = inc.clone();
            if let Some(r) = &mut next.coord.room {
                r.kept = true;
                r.archive_at = None;
            }
            let fact = Fact::ChannelKept { by: by.to_string() };
            next.coord
                .timeline
                .push(Entry::fact(now, Some(by), EntryKind::Channel, fact));
            let kept = Outbound::ChannelKept {
                incident: id,
                by: by.to_string(),
            };
            Ok((next, vec![(room_lane(id), kept)]))
        })
        .await
    }

    /// Declares an incident by hand: opened through ingest (so it pages per
    /// the service's policy), then given its level, description and channel.
    pub async fn declare(
        &self,
        d: &Declaration,
    ) -> Result<Result<Incident, Sentence>, IngestError> {
        // The name is not echoed: it is outside text, and how to make it
        // inert depends on where the answer is shown (the modal checks it first).
        let Some(service) = self.config.service(&d.service) else {
            return Ok(Err("There is no such service.".into()));
        };
        let subject = Subject::service(&self.config, &service.id);
        if let Err(why) = policy::may(&self.config, &d.by, Action::Declare, &subject) {
            return Ok(Err(why.into()));
        }
        let dedup_key = format!("declared:{}", d.key);
        // Slack retried the submission: it is the same incident, not a repeat alert.
        if let Some(known) = self
            .store
            .open_incident_by_key(&service.integration_key, &dedup_key)
            .await?
        {
            return Ok(Ok(known));
        }
        let event = AlertEvent {
            routing_key: service.integration_key.clone(),
            dedup_key,
            action: AlertAction::Trigger(Box::new(AlertDetails {
                summary: d.title.clone(),
                source: "Slack".into(),
                severity: d.sev.to_severity(),
                component: None,
                group: None,
                class: Some("declared".into()),
                custom_details: d
                    .description
                    .as_ref()
                    .map(|t| serde_json::json!({ "description": t })),
                links: vec![],
                client: Some("Declared in Slack".into()),
                client_url: None,
            })),
        };
        let ingest = Ingest { core: self.clone() };
        let id = match ingest.apply(&event).await? {
            Outcome::Triggered(Triggered::Opened { incident, .. }) => incident.id,
            // Slack retried the submission: it is the same incident.
            Outcome::Triggered(Triggered::Appended { incident, .. }) => return Ok(Ok(incident)),
            _ => {
                return Ok(Err(format!(
                    "An event rule of `{}` stopped the incident from opening.",
                    d.service
                )
                .into()))
            }
        };
        let r = self
            .room_change(id, |inc, now| {
                let mut next = inc.clone();
                next.coord.sev = Some(d.sev);
                next.coord.description = d.description.clone();
                if next.coord.room.is_none() {
                    next.coord.room = Some(new_room(&self.config, &inc.service_id));
                }
                // A note, as it always was; the fact is worded by the receiver.
                let fact = Fact::Declared { by: d.by.clone() };
                next.coord
                    .timeline
                    .push(Entry::fact(now, Some(&d.by), EntryKind::Note, fact));
                Ok((next, vec![refresh(inc), invite(id, &d.by)]))
            })
            .await?;
        Ok(r)
    }
}
