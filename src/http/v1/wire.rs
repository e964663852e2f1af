//! The API's JSON forms, apart from the stored records: each derives its
//! OpenAPI schema, so the document describes exactly what is sent.

use crate::config::{Config, Service as ConfigService};
use crate::domain::incident::{Actor, Incident as DomainIncident, Stamp};
use crate::domain::policy;
use crate::domain::warroom::{EntryKind, Fact};
use crate::ops::OnCall as DomainOnCall;
use crate::store::StoredOverride;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An error, as RFC 9457 describes (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status and title say what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What was wrong, for a person to act on.
    pub detail: String,
}

/// An incident's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Triggered,
    Acknowledged,
    Resolved,
}

impl From<crate::domain::incident::State> for IncidentState {
    fn from(s: crate::domain::incident::State) -> Self {
        use crate::domain::incident::State;
        match s {
            State::Triggered => IncidentState::Triggered,
            State::Acknowledged => IncidentState::Acknowledged,
            State::Resolved => IncidentState::Resolved,
        }
    }
}

impl From<IncidentState> for crate::domain::incident::State {
    fn from(s: IncidentState) -> Self {
        use crate::domain::incident::State;
        match s {
            IncidentState::Triggered => State::Triggered,
            IncidentState::Acknowledged => State::Acknowledged,
            IncidentState::Resolved => State::Resolved,
        }
    }
}

/// Who did something and when.
#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// A configured user id when tocsin knows the person, else what it knows:
    /// a Slack id, an integration's name, or the `by` of an API request.
    pub by: String,
    /// `slack`, `phone`, `integration` or `api`.
    pub via: String,
    pub at: DateTime<Utc>,
}

/// An incident.
#[derive(Debug, Serialize, ToSchema)]
pub struct Incident {
    pub id: u64,
    pub title: String,
    pub service: String,
    /// The team owning the service; `null` if the service is no longer configured.
    pub team: Option<String>,
    pub state: IncidentState,
    /// The alert's severity: `critical`, `error`, `warning` or `info`.
    pub severity: String,
    /// The incident's level (`sev1` … `sev4`), once someone set one.
    pub level: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_alert_at: DateTime<Utc>,
    pub alert_count: u32,
    pub acknowledged: Option<Done>,
    pub resolved: Option<Done>,
    /// Everything that happened, oldest first; only in a single incident's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<TimelineEvent>>,
}

/// One line of an incident's timeline.
#[derive(Debug, Serialize, ToSchema)]
pub struct TimelineEvent {
    pub at: DateTime<Utc>,
    /// `opened`, `paged`, `acknowledged`, `resolved`, or an entry's kind:
    /// `note`, `pin`, `update`, `role`, `severity`, `channel`, `snooze`.
    pub kind: String,
    /// Who, when known (as in [`Done::by`]).
    pub by: Option<String>,
    pub text: String,
}

/// A page of incidents, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    pub incidents: Vec<Incident>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// Who asks for a change, for the record (an acknowledge, resolve or escalate).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Whoever the change is made for: a user id, an email, a script's name
    /// (1–100 letters, digits, spaces and `. _ - @ + : /`).
    pub by: String,
}

/// A note for an incident's timeline.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Note {
    /// As in [`Action::by`].
    pub by: String,
    /// The note, 1–3000 characters.
    pub text: String,
}

/// A person, by configured id.
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub name: String,
}

/// Who is on call for a schedule at an instant.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallShift {
    pub schedule: String,
    /// `null` when nobody is on call.
    pub user: Option<Person>,
    /// The shift holding the instant: its start (which may be before it) and end.
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Who is on call at `at`, per schedule.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnCallList {
    pub at: DateTime<Utc>,
    pub oncall: Vec<OnCallShift>,
}

/// An override: someone on call for a schedule over a span.
#[derive(Debug, Serialize, ToSchema)]
pub struct Override {
    pub id: u64,
    pub schedule: String,
    /// Configured user id.
    pub user: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// A Slack id, or `api:` and the `by` of the API request that set it.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// A schedule's overrides, oldest first (a later one wins where they overlap).
#[derive(Debug, Serialize, ToSchema)]
pub struct OverrideList {
    pub schedule: String,
    pub overrides: Vec<Override>,
}

/// An override to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOverride {
    /// Configured user id of whoever goes on call.
    pub user: String,
    pub start: DateTime<Utc>,
    /// After `start`, in the future, at most 90 days after `start`.
    pub end: DateTime<Utc>,
    /// As in [`Action::by`].
    pub by: String,
}

/// A configured service.
#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub team: String,
    pub escalation_policy: Option<String>,
}

/// Every configured service.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceList {
    pub services: Vec<Service>,
}

/// A Slack id as the API names people: their configured id when known.
fn person_of(config: &Config, slack_id: &str) -> String {
    policy::person(config, slack_id).map_or_else(|| slack_id.to_string(), |u| u.id.clone())
}

fn done(config: &Config, s: &Stamp) -> Done {
    let (by, via) = match &s.by {
        Actor::Slack { user_id } => (person_of(config, user_id), "slack"),
        Actor::Phone { user, .. } => (user.clone(), "phone"),
        Actor::Integration { client } => (
            client.clone().unwrap_or_else(|| "integration".into()),
            "integration",
        ),
        Actor::Api { by } => (by.clone(), "api"),
    };
    Done {
        by,
        via: via.into(),
        at: s.at,
    }
}

fn entry_kind(k: EntryKind) -> &'static str {
    match k {
        EntryKind::Note => "note",
        EntryKind::Pin => "pin",
        EntryKind::Update => "update",
        EntryKind::Role => "role",
        EntryKind::Severity => "severity",
        EntryKind::Channel => "channel",
        EntryKind::Snooze => "snooze",
    }
}

fn timeline(config: &Config, inc: &DomainIncident) -> Vec<TimelineEvent> {
    let event = |at, kind: &str, by: Option<String>, text: String| TimelineEvent {
        at,
        kind: kind.to_string(),
        by,
        text,
    };
    let mut out = vec![event(
        inc.created_at,
        "opened",
        None,
        format!("Opened: {}", inc.alert.summary),
    )];
    for e in &inc.coord.timeline {
        let text = e
            .fact
            .as_ref()
            .and_then(Fact::sentence)
            .map_or_else(|| e.text.clone(), |s| s.to_string());
        let by = e.by.as_deref().map(|b| person_of(config, b));
        out.push(event(e.at, entry_kind(e.kind), by, text));
    }
    for p in &inc.paged {
        let level = p
            .level
            .map_or(String::new(), |l| format!(" (escalation level {})", l + 1));
        out.push(event(
            p.at,
            "paged",
            None,
            format!("Paged {}{level}", p.user),
        ));
    }
    for (kind, stamp) in [
        ("acknowledged", &inc.acknowledged),
        ("resolved", &inc.resolved),
    ] {
        if let Some(s) = stamp {
            let d = done(config, s);
            out.push(event(
                s.at,
                kind,
                Some(d.by),
                format!("{kind} via {}", d.via),
            ));
        }
    }
    out.sort_by_key(|e| e.at);
    out
}

impl Incident {
    pub fn of(config: &Config, inc: &DomainIncident, with_timeline: bool) -> Incident {
        Incident {
            id: inc.id,
            title: inc.alert.summary.clone(),
            service: inc.service_id.clone(),
            team: config
                .team_of_service(&inc.service_id)
                .map(|t| t.id.clone()),
            state: inc.state.into(),
            severity: inc.alert.severity.as_str().to_string(),
            level: inc.coord.sev.map(|s| s.as_str().to_string()),
            created_at: inc.created_at,
            last_alert_at: inc.last_alert_at,
            alert_count: inc.alert_count,
            acknowledged: inc.acknowledged.as_ref().map(|s| done(config, s)),
            resolved: inc.resolved.as_ref().map(|s| done(config, s)),
            timeline: with_timeline.then(|| timeline(config, inc)),
        }
    }
}

impl OnCallShift {
    pub fn of(config: &Config, o: &DomainOnCall) -> OnCallShift {
        OnCallShift {
            schedule: o.schedule.clone(),
            user: o.shift.user.as_deref().map(|u| Person {
                id: u.to_string(),
                name: config.user(u).map_or(u.to_string(), |u| u.name.clone()),
            }),
            start: o.shift.start,
            end: o.shift.end,
        }
    }
}

impl From<&StoredOverride> for Override {
    fn from(o: &StoredOverride) -> Override {
        Override {
            id: o.id,
            schedule: o.schedule.clone(),
            user: o.over.user.clone(),
            start: o.over.start,
            end: o.over.end,
            created_by: o.created_by.clone(),
            created_at: o.created_at,
        }
    }
}

impl From<&ConfigService> for Service {
    fn from(s: &ConfigService) -> Service {
        Service {
            id: s.id.clone(),
            name: s.name.clone(),
            team: s.team.clone(),
            escalation_policy: s.escalation_policy.clone(),
        }
    }
}
