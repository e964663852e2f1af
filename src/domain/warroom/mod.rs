//! War rooms: severity levels, an incident's own Slack channel, its roles and
//! timeline, and the room work a change to an incident sets off. Pure: no I/O,
//! no clock reads; `warroom::actions` is the edge that applies people's requests.

use crate::config::{Config, Team};
use crate::domain::incident::{Incident, State};
use crate::domain::notice::Outbound;
use crate::domain::sentence::Sentence;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

pub use crate::config::{Sev, DEFAULT_ARCHIVE_AFTER};

/// How people run an incident: its level, roles, room, subscribers and the
/// timeline entries people added. Empty for most incidents, and then not stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coordination {
    /// Set by a person; otherwise the level follows the alert's severity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sev: Option<Sev>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Slack user ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commander: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<Room>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<Entry>,
    /// Slack user ids DM'd every status update.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscribers: Vec<String>,
    /// When the commander is next asked for a status update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nudge_at: Option<DateTime<Utc>>,
}

impl Coordination {
    pub fn is_empty(&self) -> bool {
        *self == Coordination::default()
    }
}

/// The incident's own channel: the team's settings taken when it was asked
/// for (as escalation snapshots its policy), and how far opening it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub stakeholder_channel: Option<String>,
    pub archive_after_secs: i64,
    /// Slack channel id, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name last asked of `conversations.create`: if the answer was lost
    /// (a crash, a timeout), the next attempt looks for it before making another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creating: Option<String>,
    /// The pinned live summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_ts: Option<String>,
    /// Due once resolved, unless someone chose to keep the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub kept: bool,
    #[serde(default)]
    pub archived: bool,
    /// Slack refused to create the channel, and why; asking again retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

impl Room {
    /// A room asked for and not yet created, with the team's settings.
    pub(crate) fn asked(stakeholder_channel: Option<String>, archive_after_secs: i64) -> Room {
        Room {
            stakeholder_channel,
            archive_after_secs,
            channel: None,
            name: None,
            creating: None,
            summary_ts: None,
            archive_at: None,
            kept: false,
            archived: false,
            failed: None,
        }
    }

    /// Asked for, not yet created, and not given up on.
    fn to_open(room: Option<&Room>) -> bool {
        room.is_some_and(|r| r.channel.is_none() && r.failed.is_none())
    }
}

/// A timeline entry a person caused: a note, a pinned message, an update,
/// a role or severity change. State changes and pages come from the incident itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// Slack user id of whoever did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    pub kind: EntryKind,
    /// What it says. An entry with a [`Fact`] says it in the plain form
    /// (for a build that does not know the fact); older builds wrote their
    /// own lines here in Slack's markup.
    pub text: String,
    /// Whom or what one of tocsin's own lines names, kept as ids for each
    /// receiver to word; `None` in people's entries and in older ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fact: Option<Fact>,
}

impl Entry {
    /// One of tocsin's own lines: `fact`, in the kind of entry it is.
    pub fn fact(at: DateTime<Utc>, by: Option<&str>, kind: EntryKind, fact: Fact) -> Entry {
        let text = fact.sentence().map_or_else(String::new, |s| s.to_string());
        Entry {
            at,
            by: by.map(str::to_string),
            kind,
            text,
            fact: Some(fact),
        }
    }
}

/// What one of tocsin's own timeline lines records when it names a person
/// or a channel. The serde form is part of the incident record: variants
/// are only added, and one a newer build wrote reads as `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum Fact {
    /// `who` (a Slack id) was given `role`.
    Role { role: Role, who: String },
    /// The room's channel was created.
    ChannelOpened { channel: String },
    /// `by` (a Slack id) kept the channel from being archived.
    ChannelKept { by: String },
    /// `by` (a Slack id) declared the incident.
    Declared { by: String },
    /// A fact this build does not know: its entry's text says it.
    #[serde(other)]
    Unknown,
}

impl Fact {
    /// Its words, with the people and channels it names as ids.
    pub fn sentence(&self) -> Option<Sentence> {
        let s = Sentence::new();
        Some(match self {
            Fact::Role { role, who } => s.user(who).text(format!(" is {}", role.label())),
            Fact::ChannelOpened { channel } => s.text("Channel ").channel(channel).text(" opened"),
            Fact::ChannelKept { by } => s
                .user(by)
                .text(" kept the channel: it will not be archived"),
            Fact::Declared { by } => s.text("Declared by ").user(by),
            Fact::Unknown => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    Note,
    Pin,
    Update,
    Role,
    Severity,
    Channel,
    /// Snoozed, and the snooze running out unresolved.
    Snooze,
}

impl EntryKind {
    /// Entries whose text people wrote (a note, a pinned message, an update),
    /// as opposed to the lines tocsin writes itself.
    pub fn by_people(self) -> bool {
        matches!(self, EntryKind::Note | EntryKind::Pin | EntryKind::Update)
    }
}

/// The two roles people give in an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Commander,
    Comms,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Commander => "incident commander",
            Role::Comms => "comms lead",
        }
    }

    /// Whether timeline entry `e` records `who` (a Slack id) taking this role.
    pub fn taken_in(self, e: &Entry, who: &str) -> bool {
        match &e.fact {
            Some(Fact::Role { role, who: w }) => *role == self && w == who,
            Some(_) => false,
            // Older builds wrote the line itself: a mention, " is ", the role.
            None => {
                e.kind == EntryKind::Role
                    && (e.text.strip_suffix(self.label()))
                        .and_then(|t| t.strip_suffix(" is "))
                        .and_then(|t| t.strip_prefix('<'))
                        .and_then(|t| t.strip_prefix('@'))
                        .and_then(|t| t.strip_suffix('>'))
                        == Some(who)
            }
        }
    }
}

/// Work on an incident's room, rendered when sent (lane `room:{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "room", rename_all = "snake_case")]
pub enum RoomOp {
    /// Create the channel, invite the people, post and pin the live summary.
    Open,
    /// Invite these Slack users (someone paged or given a role later).
    Invite {
        users: Vec<String>,
    },
    /// A message in the room, already rendered.
    Post {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        blocks: Option<serde_json::Value>,
    },
    /// The resolve summary in the room, with the button that keeps the channel.
    Resolved,
    /// The postmortem draft, shared as a file in the room.
    Postmortem,
    Archive,
    /// A message someone marked with :pushpin:, read from Slack into the timeline.
    Pin {
        channel: String,
        ts: String,
        by: String,
    },
    /// The resolve summary, as a message to `to` (the stakeholder channel, a subscriber).
    Notice {
        to: String,
    },
}

pub fn room_lane(id: u64) -> String {
    format!("room:{id}")
}

/// Who a notice about an incident is for: a channel, or a person by DM
/// (a Slack id), or the incident's own channel, looked up when the notice
/// is sent (it may still be being created when the notice is queued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Room,
    Channel(String),
}

impl Audience {
    /// The outbox lane of a notice about incident `id`: the room's, or the channel's.
    pub fn lane(&self, id: u64) -> String {
        match self {
            Audience::Room => room_lane(id),
            Audience::Channel(c) => c.clone(),
        }
    }
}

/// A notice about `inc` for `to`, queued in its lane.
fn notice(
    inc: &Incident,
    to: Audience,
    f: impl FnOnce(Audience) -> Outbound,
) -> (String, Outbound) {
    (to.lane(inc.id), f(to))
}

/// The status update `update` on `inc`: the notice for `to`.
pub fn status_update(inc: &Incident, to: Audience, update: &Entry) -> (String, Outbound) {
    notice(inc, to, |to| Outbound::StatusUpdate {
        to,
        incident: inc.id,
        summary: inc.alert.summary.clone(),
        sev: inc.sev(),
        state: inc.state,
        room: inc.room_channel().map(str::to_string),
        text: update.text.clone(),
        by: update.by.clone(),
        at: update.at,
    })
}

/// `by` changed `inc`'s level from `before` (to the one it has now).
pub fn severity_changed(
    inc: &Incident,
    to: Audience,
    by: &str,
    before: Sev,
    repaged: bool,
) -> (String, Outbound) {
    notice(inc, to, |to| Outbound::SeverityChanged {
        to,
        incident: inc.id,
        summary: inc.alert.summary.clone(),
        by: by.to_string(),
        before,
        after: inc.sev(),
        repaged,
    })
}

/// `by` gave `who` `role` in `inc`: told in its channel.
pub fn role_changed(inc: &Incident, role: Role, who: &str, by: &str) -> (String, Outbound) {
    (
        room_lane(inc.id),
        Outbound::RoleChanged {
            incident: inc.id,
            summary: inc.alert.summary.clone(),
            role,
            who: who.to_string(),
            by: by.to_string(),
        },
    )
}

/// The commander of `inc` is asked, at `now`, for a status update.
pub fn update_due(inc: &Incident, to: Audience, now: DateTime<Utc>) -> (String, Outbound) {
    notice(inc, to, |to| Outbound::UpdateDue {
        to,
        incident: inc.id,
        summary: inc.alert.summary.clone(),
        sev: inc.sev(),
        commander: inc.coord.commander.clone(),
        room: inc.room_channel().map(str::to_string),
        since: inc.latest_update().map_or(inc.created_at, |e| e.at),
        at: now,
    })
}

impl Incident {
    /// Its level: set by a person, or following the alert's severity.
    pub fn sev(&self) -> Sev {
        self.coord
            .sev
            .unwrap_or_else(|| Sev::from_severity(self.alert.severity))
    }

    /// The room's channel id, once created.
    pub fn room_channel(&self) -> Option<&str> {
        self.coord.room.as_ref().and_then(|r| r.channel.as_deref())
    }

    /// The latest status update, if any.
    pub fn latest_update(&self) -> Option<&Entry> {
        self.coord
            .timeline
            .iter()
            .rev()
            .find(|e| e.kind == EntryKind::Update)
    }
}

/// A room for an incident of `service_id`, with its team's settings as they are now.
pub fn new_room(config: &Config, service_id: &str) -> Room {
    let archive_after = config
        .team_of_service(service_id)
        .map_or(DEFAULT_ARCHIVE_AFTER, |t| t.rooms.archive_after);
    Room::asked(
        stakeholder_channel(config, service_id).map(str::to_string),
        archive_after.num_seconds(),
    )
}

/// Where stakeholders of `service_id`'s incidents read updates: its team's channel.
pub fn stakeholder_channel<'a>(config: &'a Config, service_id: &str) -> Option<&'a str> {
    config
        .team_of_service(service_id)
        .and_then(|t| t.stakeholder_channel.as_deref())
}

/// Whether an incident of `service` at `sev` gets a room of its own at once:
/// the service's `channel_at`, else its team's.
pub fn wants_room(config: &Config, service_id: &str, sev: Sev) -> bool {
    let service = config.service(service_id).and_then(|s| s.channel_at);
    let team = config
        .team_of_service(service_id)
        .and_then(|t| t.rooms.channel_at);
    service.or(team).is_some_and(|at| sev.at_least(at))
}

/// How often the commander of an incident at `sev` is asked for an update.
pub fn update_every(team: Option<&Team>, sev: Sev) -> Option<Duration> {
    team.and_then(|t| {
        t.rooms
            .update_every
            .iter()
            .find(|(s, _)| *s == sev)
            .map(|(_, d)| *d)
    })
}

/// When the commander should next be asked for an update: an interval after
/// the latest update, or after they took the role, while the incident is open.
pub fn next_nudge(config: &Config, inc: &Incident) -> Option<DateTime<Utc>> {
    let commander = inc.coord.commander.as_ref()?;
    if !inc.is_open() {
        return None;
    }
    let every = update_every(config.team_of_service(&inc.service_id), inc.sev())?;
    let since = inc
        .coord
        .timeline
        .iter()
        .filter(|e| e.kind == EntryKind::Update || Role::Commander.taken_in(e, commander))
        .map(|e| e.at)
        .max()
        .unwrap_or(inc.created_at);
    Some(since + every)
}

/// Incident `inc` once its room's channel `channel` (named `name`) exists:
/// the room records it, and the timeline says so.
pub fn channel_opened(inc: &Incident, channel: &str, name: &str, at: DateTime<Utc>) -> Incident {
    let mut next = inc.clone();
    if let Some(room) = &mut next.coord.room {
        room.channel = Some(channel.to_string());
        room.name = Some(name.to_string());
        room.creating = None;
    }
    next.coord.timeline.push(Entry::fact(
        at,
        None,
        EntryKind::Channel,
        Fact::ChannelOpened {
            channel: channel.to_string(),
        },
    ));
    next
}

/// The room work a change from `old` to `new` sets off, and the timers it
/// moves on `new`. Composed by the store into every decision that changes an
/// incident, so the work is queued in the same transaction as the change.
pub fn follow_up(
    old: Option<&Incident>,
    new: &mut Incident,
    at: DateTime<Utc>,
) -> Vec<(String, Outbound)> {
    let id = new.id;
    let lane = room_lane(id);
    let room = |work: RoomOp| Outbound::Room { incident: id, work };
    let mut ops = vec![];
    // Reopened (it flaps): the channel stays; one already archived is
    // replaced by a fresh one, with the same settings.
    if new.state != State::Resolved && old.is_some_and(|o| o.state == State::Resolved) {
        if let Some(r) = &mut new.coord.room {
            r.archive_at = None;
            if r.archived {
                *r = Room::asked(r.stakeholder_channel.take(), r.archive_after_secs);
            }
        }
    }
    // Asked for now (or again, after Slack refused it, or after a reopen).
    let was_to_open = old.is_some_and(|o| Room::to_open(o.coord.room.as_ref()));
    if Room::to_open(new.coord.room.as_ref()) && !was_to_open {
        ops.push((lane.clone(), room(RoomOp::Open)));
    }
    let was_resolved = old.is_none_or(|o| o.state == State::Resolved);
    if new.state == State::Resolved && !was_resolved {
        new.coord.nudge_at = None;
        if let Some(r) = &mut new.coord.room {
            if !r.kept {
                r.archive_at = Some(at + Duration::seconds(r.archive_after_secs));
            }
            ops.push((lane.clone(), room(RoomOp::Resolved)));
            ops.push((lane.clone(), room(RoomOp::Postmortem)));
            if let Some(c) = r.stakeholder_channel.clone() {
                ops.push((c.clone(), room(RoomOp::Notice { to: c })));
            }
        }
        for s in &new.coord.subscribers {
            ops.push((s.clone(), room(RoomOp::Notice { to: s.clone() })));
        }
    }
    ops
}

/// The room's own due time: the archive once resolved, else the next nudge.
pub fn due(inc: &Incident) -> Option<DateTime<Utc>> {
    match inc.state {
        State::Resolved => inc
            .coord
            .room
            .as_ref()
            .filter(|r| r.channel.is_some() && !r.kept && !r.archived)
            .and_then(|r| r.archive_at),
        _ => inc.coord.nudge_at,
    }
}

/// What the room timer due at `due_at` does, if `due_at` is the room's:
/// archive the channel, or ask the commander for an update.
pub fn plan_timer(
    config: &Config,
    inc: &Incident,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<(Incident, Vec<(String, Outbound)>)> {
    let ms = |t: DateTime<Utc>| t.timestamp_millis();
    if due(inc).map(ms) != Some(ms(due_at)) {
        return None;
    }
    let mut next = inc.clone();
    let mut ops = vec![];
    let op = |work: RoomOp| Outbound::Room {
        incident: inc.id,
        work,
    };
    if inc.state == State::Resolved {
        if let Some(r) = &mut next.coord.room {
            r.archived = true;
        }
        ops.push((room_lane(inc.id), op(RoomOp::Archive)));
        return Some((next, ops));
    }
    if let Some(c) = &inc.coord.commander {
        ops.push(update_due(inc, Audience::Channel(c.clone()), now));
    }
    if inc.coord.room.is_some() {
        ops.push(update_due(inc, Audience::Room, now));
    }
    let every = update_every(config.team_of_service(&inc.service_id), inc.sev());
    next.coord.nudge_at = every.map(|d| now + d);
    Some((next, ops))
}

/// Slack's limit on channel names.
pub const CHANNEL_NAME_MAX: usize = 80;

/// `inc-YYYYMMDD-<id>-<slug>`: lowercase letters, digits and dashes, at most
/// 80 characters; `attempt` 2, 3, … adds `-2`, `-3` after a `name_taken`.
pub fn channel_name(inc: &Incident, attempt: u32) -> String {
    let head = format!("inc-{}-{}", inc.created_at.format("%Y%m%d"), inc.id);
    let tail = if attempt > 1 {
        format!("-{attempt}")
    } else {
        String::new()
    };
    let mut slug = String::new();
    for c in inc.alert.summary.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let room = CHANNEL_NAME_MAX.saturating_sub(head.len() + tail.len() + 1);
    let slug: String = slug.trim_matches('-').chars().take(room).collect();
    let slug = slug.trim_end_matches('-');
    let mut name = head;
    if !slug.is_empty() {
        name.push('-');
        name.push_str(slug);
    }
    name.push_str(&tail);
    name.chars().take(CHANNEL_NAME_MAX).collect()
}

#[cfg(test)]
mod tests;
