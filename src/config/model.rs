//! The typed configuration the rest of tocsin reads: people, teams, schedules,
//! escalation policies, services and call routes, and the lookups over them.
//! Every value here has been checked; nothing in it points at a missing id.

use chrono::{Duration, NaiveDateTime, NaiveTime};
use chrono_tz::Tz;
use serde::Deserialize;

use super::levels::{Sev, Severity, DEFAULT_ARCHIVE_AFTER};

/// The whole validated configuration. Every cross-reference in it points at something that exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub schedules: Vec<Schedule>,
    pub escalation_policies: Vec<EscalationPolicy>,
    pub services: Vec<Service>,
    pub call_routes: Vec<CallRoute>,
    pub webhooks_out: Vec<WebhookOut>,
}

/// An incident event an outgoing webhook may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    Triggered,
    Acknowledged,
    Resolved,
    Escalated,
    Note,
}

impl WebhookEvent {
    pub fn parse(s: &str) -> Option<WebhookEvent> {
        Some(match s {
            "triggered" => WebhookEvent::Triggered,
            "acknowledged" => WebhookEvent::Acknowledged,
            "resolved" => WebhookEvent::Resolved,
            "escalated" => WebhookEvent::Escalated,
            "note" => WebhookEvent::Note,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Triggered => "triggered",
            WebhookEvent::Acknowledged => "acknowledged",
            WebhookEvent::Resolved => "resolved",
            WebhookEvent::Escalated => "escalated",
            WebhookEvent::Note => "note",
        }
    }
}

/// `[[webhooks_out]]`: a URL that is POSTed the events it asks for, signed
/// with its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookOut {
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub secret: String,
}

impl std::fmt::Debug for WebhookOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookOut")
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &"***")
            .finish()
    }
}

/// A phone number (of the Twilio account) whose calls reach whoever is on call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallRoute {
    /// The number that was called (Twilio's `To`), E.164.
    pub number: String,
    pub greeting: Option<String>,
    pub target: RouteTarget,
    /// Callers allowed (E.164); empty: anyone.
    pub allow: Vec<String>,
    /// Record a message when nobody answers.
    pub voicemail: bool,
    /// How long each responder's phone rings before the next is tried.
    pub ring_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    Service(String),
    /// Keys pressed (one digit each) → service ids, in digit order.
    Menu(Vec<(char, String)>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub slack_id: Option<String>,
    pub time_zone: Tz,
    pub phone: Option<String>,
    pub email: Option<String>,
    /// When low-urgency pages may reach this person (their zone); empty: the team's, else Mon–Fri 09–18.
    pub working_hours: Vec<Restriction>,
    /// How this person wants to be paged, in order of `after_minutes`; empty: a Slack DM at once.
    pub notify: Vec<NotifyRule>,
}

impl User {
    /// The person's notification rules, sorted by delay; a Slack DM at once when none are set.
    pub fn notify_rules(&self) -> Vec<NotifyRule> {
        if self.notify.is_empty() {
            return vec![NotifyRule {
                after_minutes: 0,
                via: Via::Slack,
            }];
        }
        let mut rules = self.notify.clone();
        rules.sort_by_key(|r| r.after_minutes);
        rules
    }
}

/// One step of a personal notification rule: `after_minutes` after being paged, notify `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotifyRule {
    pub after_minutes: u32,
    pub via: Via,
}

/// How a person is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    Slack,
    Sms,
    Phone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub leads: Vec<String>,
    pub members: Vec<String>,
    /// Anyone in the Slack workspace may act on the team's incidents, not
    /// only the people in the configuration (see `policy`).
    pub open_to_workspace: bool,
    /// Slack channel id where alerts for the team's services are posted.
    pub alert_channel: Option<String>,
    pub stakeholder_channel: Option<String>,
    /// Default working hours for members without their own.
    pub working_hours: Vec<Restriction>,
    /// When the weekly report goes to the team's channels.
    pub weekly_report: Option<WeeklyReport>,
    /// Incident channels: when they open on their own, how often the
    /// commander is asked for an update, when they are archived.
    pub rooms: RoomSettings,
}

/// A team's settings for incident channels (war rooms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSettings {
    /// Incidents at this level or worse get a channel at once.
    pub channel_at: Option<Sev>,
    /// Per level: ask the commander for an update after this long without one.
    pub update_every: Vec<(Sev, Duration)>,
    /// A resolved incident's channel is archived this long after.
    pub archive_after: Duration,
}

impl Default for RoomSettings {
    fn default() -> Self {
        RoomSettings {
            channel_at: None,
            update_every: vec![],
            archive_after: DEFAULT_ARCHIVE_AFTER,
        }
    }
}

/// Every week at `weekday` (0 = Monday) `at`, local to `time_zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeeklyReport {
    pub weekday: usize,
    pub at: NaiveTime,
    pub time_zone: Tz,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: String,
    pub team: String,
    pub time_zone: Tz,
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub name: String,
    /// Local wall-clock time in the schedule's zone.
    pub start: NaiveDateTime,
    pub rotation: Rotation,
    pub handoff: NaiveTime,
    pub users: Vec<String>,
    pub restrictions: Vec<Restriction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Daily,
    Weekly,
    Every(Duration),
}

/// A window when a layer is on call. It opens at `from` on each selected day
/// and closes at `to`, `close_after_days` days later: 0 for a window within
/// one day, 1 for one that crosses midnight (`to <= from` in the daily form),
/// up to 7 for a weekly window such as `fri 18:00` → `mon 09:00` (3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Restriction {
    /// Index 0 is Monday.
    pub days: [bool; 7],
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub close_after_days: u32,
}

impl Restriction {
    /// The daily form: `to <= from` crosses midnight (equal means 24 hours).
    pub fn daily(days: [bool; 7], from: NaiveTime, to: NaiveTime) -> Restriction {
        Restriction {
            days,
            from,
            to,
            close_after_days: u32::from(to <= from),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct EscalationPolicy {
    pub id: String,
    /// How many more times the whole policy runs after the last level.
    pub repeat: u32,
    pub levels: Vec<EscalationLevel>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct EscalationLevel {
    pub after_minutes: u32,
    pub targets: Vec<Target>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "lowercase")]
pub enum Target {
    User(String),
    /// Whoever is on call on the schedule when the level fires.
    Schedule(String),
    /// The team's leads.
    Team(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub team: String,
    pub escalation_policy: Option<String>,
    /// Always lowercase hex.
    pub integration_key: String,
    /// Low: pages wait for each responder's working hours (critical and error alerts are always high).
    pub urgency: Urgency,
    /// Jobs that must check in every `interval`, or an incident opens.
    pub heartbeats: Vec<Heartbeat>,
    /// Event rules, in order; the first whose conditions all hold applies.
    pub rules: Vec<Rule>,
    /// Planned maintenance: alerts are recorded, nobody is paged.
    pub maintenance: Vec<MaintenanceWindow>,
    /// Acknowledged within this many minutes counts as on target in reports.
    pub ack_target_minutes: Option<u32>,
    /// Alerts that join an open incident instead of opening their own.
    pub grouping: Option<Grouping>,
    /// Re-triggered more than `count` times within `window` after resolving:
    /// kept in one incident, nobody paged anew.
    pub flapping: Option<Flapping>,
    /// The mapping for `/integrations/webhook/{key}` payloads: a built-in name
    /// (`datadog`, …) or `integrations/NAME.toml` beside the config file.
    pub webhook: Option<String>,
    /// Mail intake: another address for the service, and how its mail is
    /// read. Mail to `<integration_key>@<TOCSIN_EMAIL_DOMAIN>` arrives
    /// without it too, read the default way.
    pub email: Option<EmailIntake>,
    /// Overrides the team's `channel_at` for this service's incidents.
    pub channel_at: Option<Sev>,
}

/// A service's `email`: a local part of its own (lower case) and minijinja
/// expressions over the mail (compiled by `ingest::email`); unset ones
/// take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmailIntake {
    pub local_part: Option<String>,
    pub title: Option<String>,
    pub details: Option<String>,
    pub severity: Option<String>,
    pub dedup_key: Option<String>,
    pub resolve_when: Option<String>,
}

/// Grouping: an alert joins the service's open group incident if that
/// incident's last alert came within `window`; with `key` (a minijinja
/// template over the alert's fields), only alerts whose key renders the same;
/// `intelligent`, only alerts similar enough to the incident's
/// (`domain::similarity`, learned from responders' merges and splits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub window: Duration,
    pub key: Option<String>,
    pub intelligent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flapping {
    pub count: u32,
    pub window: Duration,
}

/// A planned maintenance window from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    pub from: chrono::DateTime<chrono::Utc>,
    pub to: chrono::DateTime<chrono::Utc>,
    pub reason: Option<String>,
}

/// An event rule: when every condition holds, change or stop the alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub when: Vec<Condition>,
    pub action: RuleAction,
    pub severity: Option<Severity>,
    pub urgency: Option<Urgency>,
    /// Handle the alert as if it came to this service.
    pub route: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAction {
    /// Go on, with the rule's changes.
    Continue,
    /// Record the alert but page nobody.
    Suppress,
    /// Discard it.
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `summary`, `source`, `severity`, `component`, `group`, `class`, or
    /// `custom_details.a.b` (a path into the details).
    pub field: String,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub enum Op {
    Equals(String),
    Contains(String),
    Matches(regex::Regex),
    Gt(f64),
    Gte(f64),
    Lt(f64),
    Lte(f64),
}

impl PartialEq for Op {
    fn eq(&self, other: &Op) -> bool {
        match (self, other) {
            (Op::Equals(a), Op::Equals(b)) | (Op::Contains(a), Op::Contains(b)) => a == b,
            (Op::Matches(a), Op::Matches(b)) => a.as_str() == b.as_str(),
            (Op::Gt(a), Op::Gt(b))
            | (Op::Gte(a), Op::Gte(b))
            | (Op::Lt(a), Op::Lt(b))
            | (Op::Lte(a), Op::Lte(b)) => a == b,
            _ => false,
        }
    }
}

// Config refuses NaN, so numeric comparisons are reflexive.
impl Eq for Op {}

/// A heartbeat monitor: `POST|GET /heartbeat/{token}` at least every `interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// Unique across services.
    pub id: String,
    pub interval: Duration,
    /// 32 hex characters (128 bits), lowercase.
    pub token: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    #[default]
    High,
    Low,
}

impl Config {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }

    pub fn schedule(&self, id: &str) -> Option<&Schedule> {
        self.schedules.iter().find(|s| s.id == id)
    }

    pub fn policy(&self, id: &str) -> Option<&EscalationPolicy> {
        self.escalation_policies.iter().find(|p| p.id == id)
    }

    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The heartbeat monitor with this token, compared in constant time, and its service.
    pub fn heartbeat_by_token(&self, token: &str) -> Option<(&Service, &Heartbeat)> {
        use subtle::ConstantTimeEq;
        let token = token.to_ascii_lowercase();
        let mut found = None;
        // Look at every monitor, so the time taken says nothing about the token.
        for s in &self.services {
            for h in &s.heartbeats {
                if bool::from(h.token.as_bytes().ct_eq(token.as_bytes())) {
                    found = Some((s, h));
                }
            }
        }
        found
    }

    /// The call route for a called number (Twilio's `To`).
    pub fn call_route(&self, number: &str) -> Option<&CallRoute> {
        self.call_routes.iter().find(|r| r.number == number)
    }

    /// Case-insensitive because monitoring tools disagree on hex case.
    /// The service an integration key belongs to. Every key is compared in
    /// full and in constant time, so how long an answer takes tells a prober
    /// nothing about how close a guess came.
    pub fn service_by_key(&self, key: &str) -> Option<&Service> {
        use subtle::ConstantTimeEq;
        let key = key.to_ascii_lowercase();
        let mut found = None;
        for s in &self.services {
            let same: bool = s.integration_key.as_bytes().ct_eq(key.as_bytes()).into();
            if same && found.is_none() {
                found = Some(s);
            }
        }
        found
    }

    pub fn team_of_service(&self, service_id: &str) -> Option<&Team> {
        self.service(service_id).and_then(|s| self.team(&s.team))
    }
}
