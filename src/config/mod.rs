//! Loads `tocsin.toml`, the declarative list of users, teams, on-call schedules, escalation policies and services, and checks that it hangs together before the bot acts on it.

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::Path;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use chrono_tz::Tz;
use serde::Deserialize;
use toml::Spanned;

mod levels;

pub use levels::{Sev, Severity, DEFAULT_ARCHIVE_AFTER};

/// The whole validated configuration. Every cross-reference in it points at something that exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    pub users: Vec<User>,
    pub teams: Vec<Team>,
    pub schedules: Vec<Schedule>,
    pub escalation_policies: Vec<EscalationPolicy>,
    pub services: Vec<Service>,
    pub call_routes: Vec<CallRoute>,
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
    /// Overrides the team's `channel_at` for this service's incidents.
    pub channel_at: Option<Sev>,
}

/// Grouping: an alert joins the service's open group incident if that
/// incident's last alert came within `window`; with `key` (a minijinja
/// template over the alert's fields), only alerts whose key renders the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub window: Duration,
    pub key: Option<String>,
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

/// One problem in the file. `line` and `column` are 1-based; 0 means the file could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {}{message}", field_prefix(.field))]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Dotted path such as `services[1].escalation_policy`; empty when unknown.
    pub field: String,
    pub message: String,
}

/// Every problem found, in file order, so one edit-and-retry fixes them all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join_lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn field_prefix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!("{field}: ")
    }
}

fn join_lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Parses and validates `text`; `file` only labels the error messages.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigErrors> {
        let raw: RawConfig = match toml::from_str(text) {
            Ok(raw) => raw,
            Err(e) => {
                let (line, column) = match e.span() {
                    Some(span) => line_col(text, span.start),
                    None => (0, 0),
                };
                return Err(ConfigErrors(vec![ConfigError {
                    file: file.to_string(),
                    line,
                    column,
                    field: field_at(text, line),
                    message: e.message().trim().to_string(),
                }]));
            }
        };
        let mut cx = Checker {
            file,
            text,
            errors: Vec::new(),
        };
        let config = cx.convert(&raw);
        if cx.errors.is_empty() {
            Ok(config)
        } else {
            // Stable sort keeps checks on the same spot in the order they were made.
            cx.errors.sort_by_key(|e| (e.line, e.column));
            Err(ConfigErrors(cx.errors))
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&file, &text),
            Err(e) => Err(ConfigErrors(vec![ConfigError {
                file,
                line: 0,
                column: 0,
                field: String::new(),
                message: format!("cannot read config: {e}"),
            }])),
        }
    }

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

/// Parses durations such as "12h", "3d", "90m", "1h30m", "2w", "45s".
/// Units (w, d, h, m, s) go largest first, each at most once, and the total must be positive.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    const HINT: &str = "expected a duration like \"12h\", \"3d\", \"90m\" or \"1h30m\"";
    if s.is_empty() {
        return Err(format!("empty duration: {HINT}"));
    }
    if s.starts_with('-') {
        return Err(format!("negative duration `{s}` is not allowed"));
    }
    let too_large = || format!("duration `{s}` is too large");
    let mut total: i64 = 0;
    let mut last_rank: Option<u8> = None;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration `{s}`: {HINT}"));
        }
        let (number, tail) = rest.split_at(digits);
        let Some(unit) = tail.chars().next() else {
            return Err(format!(
                "duration `{s}` is missing a unit after `{number}`: use w, d, h, m or s"
            ));
        };
        let (rank, unit_secs): (u8, i64) = match unit {
            'w' => (0, 7 * 86_400),
            'd' => (1, 86_400),
            'h' => (2, 3_600),
            'm' => (3, 60),
            's' => (4, 1),
            _ => {
                return Err(format!(
                    "unknown unit `{unit}` in duration `{s}`: use w, d, h, m or s"
                ));
            }
        };
        // Ordering rules out ambiguous forms like "30m1h" or "1h1h".
        if last_rank.is_some_and(|last| rank <= last) {
            return Err(format!(
                "units in duration `{s}` must go from largest to smallest, each at most once (e.g. \"1h30m\")"
            ));
        }
        last_rank = Some(rank);
        let n: i64 = number.parse().map_err(|_| too_large())?;
        total = n
            .checked_mul(unit_secs)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(too_large)?;
        rest = &tail[unit.len_utf8()..];
    }
    if total == 0 {
        return Err(format!("duration `{s}` is zero; it must be positive"));
    }
    Duration::try_seconds(total).ok_or_else(too_large)
}

// ---- Raw file shape: mirrors the TOML, with spans kept for error locations. ----

type Str = Spanned<String>;

/// A notification rule later than a day after the page is surely a typo.
const MAX_NOTIFY_MINUTES: u32 = 24 * 60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    teams: Vec<Spanned<RawTeam>>,
    #[serde(default)]
    schedules: Vec<Spanned<RawSchedule>>,
    #[serde(default)]
    escalation_policies: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    services: Vec<Spanned<RawService>>,
    #[serde(default)]
    call_routes: Vec<Spanned<RawCallRoute>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCallRoute {
    number: Str,
    greeting: Option<String>,
    service: Option<Str>,
    menu: Option<Spanned<std::collections::BTreeMap<String, Str>>>,
    #[serde(default)]
    allow: Vec<Str>,
    #[serde(default)]
    voicemail: bool,
    ring_seconds: Option<Spanned<u32>>,
}

/// Rings shorter than this rarely reach a person; longer ones hit voicemail boxes.
const RING_SECONDS: std::ops::RangeInclusive<u32> = 5..=60;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: Str,
    name: String,
    slack_id: Option<String>,
    time_zone: Option<Str>,
    phone: Option<Str>,
    email: Option<Str>,
    #[serde(default)]
    working_hours: Vec<RawRestriction>,
    #[serde(default)]
    notify: Vec<Spanned<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotify {
    after_minutes: u32,
    via: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeam {
    id: Str,
    name: String,
    #[serde(default)]
    leads: Vec<Str>,
    #[serde(default)]
    members: Vec<Str>,
    #[serde(default)]
    open_to_workspace: bool,
    alert_channel: Option<String>,
    stakeholder_channel: Option<String>,
    #[serde(default)]
    working_hours: Vec<RawRestriction>,
    weekly_report: Option<RawWeeklyReport>,
    channel_at: Option<Str>,
    #[serde(default)]
    update_every: std::collections::BTreeMap<String, Str>,
    archive_after: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWeeklyReport {
    at: Str,
    time_zone: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    id: Str,
    team: Str,
    time_zone: Str,
    #[serde(default)]
    layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    name: Str,
    // A Value so both a quoted string and a bare TOML local datetime are accepted.
    start: Spanned<toml::Value>,
    rotation: Str,
    handoff: Option<Str>,
    users: Option<Spanned<Vec<Str>>>,
    #[serde(default)]
    restrictions: Vec<Spanned<RawRestriction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestriction {
    /// Absent for the weekly form, whose `from`/`to` name their weekday.
    #[serde(default)]
    days: Option<Str>,
    from: Str,
    to: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    id: Str,
    #[serde(default)]
    repeat: u32,
    #[serde(default)]
    levels: Vec<Spanned<RawLevel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    after_minutes: u32,
    targets: Option<Spanned<Vec<Str>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    id: Str,
    name: String,
    team: Str,
    escalation_policy: Option<Str>,
    integration_key: Str,
    urgency: Option<Str>,
    #[serde(default)]
    heartbeats: Vec<RawHeartbeat>,
    webhook: Option<Str>,
    #[serde(default)]
    rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    maintenance: Vec<Spanned<RawWindow>>,
    grouping: Option<Spanned<RawGrouping>>,
    flapping: Option<Spanned<RawFlapping>>,
    ack_target_minutes: Option<Spanned<u32>>,
    channel_at: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrouping {
    window: Str,
    key: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlapping {
    count: Spanned<u32>,
    window: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    from: Str,
    to: Str,
    reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(default)]
    when: Vec<Spanned<RawCondition>>,
    action: Option<Str>,
    severity: Option<Str>,
    urgency: Option<Str>,
    route: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    field: Str,
    equals: Option<String>,
    contains: Option<String>,
    matches: Option<String>,
    gt: Option<f64>,
    gte: Option<f64>,
    lt: Option<f64>,
    lte: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeartbeat {
    id: Str,
    interval: Str,
    token: Str,
}

// ---- Conversion and cross-checks ----

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
    errors: Vec<ConfigError>,
}

/// Ids of everything defined, gathered up front so references may point forward in the file.
struct Known<'r> {
    services: HashSet<&'r str>,
    users: HashSet<&'r str>,
    teams: HashSet<&'r str>,
    schedules: HashSet<&'r str>,
    policies: HashSet<&'r str>,
}

fn ids<T>(items: &[Spanned<T>], id: impl Fn(&T) -> &Str) -> HashSet<&str> {
    items
        .iter()
        .map(|i| id(i.get_ref()).get_ref().as_str())
        .collect()
}

impl Checker<'_> {
    fn err(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.errors.push(ConfigError {
            file: self.file.to_string(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        });
    }

    /// Records the error, if any, and hands back the value or a placeholder.
    /// Placeholders never escape: any recorded error makes `parse` fail.
    fn take<T>(&mut self, r: Result<T, String>, span: Range<usize>, field: &str, fallback: T) -> T {
        r.unwrap_or_else(|m| {
            self.err(span, field, m);
            fallback
        })
    }

    fn check_ids<T>(&mut self, kind: &str, items: &[Spanned<T>], id: impl Fn(&T) -> &Str) {
        let mut first_line: HashMap<&str, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            let id = id(item.get_ref());
            let field = format!("{kind}[{i}].id");
            if let Err(m) = validate_id(id.get_ref()) {
                self.err(id.span(), field, m);
                continue;
            }
            match first_line.get(id.get_ref().as_str()) {
                Some(line) => {
                    let m = format!(
                        "duplicate id `{}` (first defined on line {line})",
                        id.get_ref()
                    );
                    self.err(id.span(), field, m);
                }
                None => {
                    first_line.insert(id.get_ref(), line_col(self.text, id.span().start).0);
                }
            }
        }
    }

    fn check_optional(
        &mut self,
        v: &Option<Str>,
        field: String,
        check: fn(&str) -> Result<(), String>,
    ) {
        let Some(v) = v else { return };
        if let Err(m) = check(v.get_ref()) {
            self.err(v.span(), field, m);
        }
    }

    fn check_ref(&mut self, known: &HashSet<&str>, kind: &str, r: &Str, field: String) -> bool {
        let ok = known.contains(r.get_ref().as_str());
        if !ok {
            self.err(r.span(), field, format!("unknown {kind} `{}`", r.get_ref()));
        }
        ok
    }

    fn convert(&mut self, raw: &RawConfig) -> Config {
        self.check_ids("users", &raw.users, |u| &u.id);
        self.check_ids("teams", &raw.teams, |t| &t.id);
        self.check_ids("schedules", &raw.schedules, |s| &s.id);
        self.check_ids("escalation_policies", &raw.escalation_policies, |p| &p.id);
        self.check_ids("services", &raw.services, |s| &s.id);
        let known = Known {
            services: ids(&raw.services, |s| &s.id),
            users: ids(&raw.users, |u| &u.id),
            teams: ids(&raw.teams, |t| &t.id),
            schedules: ids(&raw.schedules, |s| &s.id),
            policies: ids(&raw.escalation_policies, |p| &p.id),
        };
        Config {
            users: raw
                .users
                .iter()
                .enumerate()
                .map(|(i, u)| self.user(i, u.get_ref()))
                .collect(),
            teams: (raw.teams.iter().enumerate())
                .map(|(i, t)| self.team(i, t.get_ref(), &known))
                .collect(),
            schedules: (raw.schedules.iter().enumerate())
                .map(|(i, s)| self.schedule(i, s, &known))
                .collect(),
            escalation_policies: (raw.escalation_policies.iter().enumerate())
                .map(|(i, p)| self.policy(i, p, &known))
                .collect(),
            services: self.services(&raw.services, &known),
            call_routes: self.call_routes(&raw.call_routes, &ids(&raw.services, |s| &s.id)),
        }
    }

    fn call_routes(
        &mut self,
        raw: &[Spanned<RawCallRoute>],
        services: &HashSet<&str>,
    ) -> Vec<CallRoute> {
        let mut numbers: HashMap<String, usize> = HashMap::new();
        let mut out = vec![];
        for (i, r) in raw.iter().enumerate() {
            let (span, r) = (r.span(), r.get_ref());
            let path = format!("call_routes[{i}]");
            let number = r.number.get_ref().clone();
            if let Err(m) = validate_phone(&number) {
                self.err(r.number.span(), format!("{path}.number"), m);
            } else if let Some(line) = numbers.get(&number) {
                let m = format!("number already routed by the call route on line {line}");
                self.err(r.number.span(), format!("{path}.number"), m);
            } else {
                numbers.insert(number.clone(), line_col(self.text, r.number.span().start).0);
            }
            for (k, a) in r.allow.iter().enumerate() {
                if let Err(m) = validate_phone(a.get_ref()) {
                    self.err(a.span(), format!("{path}.allow[{k}]"), m);
                }
            }
            let target = match (&r.service, &r.menu) {
                (Some(svc), None) => {
                    self.check_ref(services, "service", svc, format!("{path}.service"));
                    RouteTarget::Service(svc.get_ref().clone())
                }
                (None, Some(menu)) => {
                    let mut options = vec![];
                    for (key, svc) in menu.get_ref() {
                        let field = format!("{path}.menu.{key}");
                        match key.chars().collect::<Vec<_>>()[..] {
                            [d] if d.is_ascii_digit() => options.push((d, svc.get_ref().clone())),
                            _ => self.err(
                                menu.span(),
                                field.clone(),
                                format!("menu key `{key}` must be one digit, 0 to 9"),
                            ),
                        }
                        self.check_ref(services, "service", svc, field);
                    }
                    if menu.get_ref().is_empty() {
                        self.err(
                            menu.span(),
                            format!("{path}.menu"),
                            "a menu needs at least one option",
                        );
                    }
                    RouteTarget::Menu(options)
                }
                _ => {
                    self.err(
                        span.clone(),
                        path.clone(),
                        "set exactly one of `service` and `menu`",
                    );
                    RouteTarget::Menu(vec![])
                }
            };
            let ring_seconds = match &r.ring_seconds {
                None => 20,
                Some(n) if RING_SECONDS.contains(n.get_ref()) => *n.get_ref(),
                Some(n) => {
                    let m = format!(
                        "ring_seconds must be from {} to {}",
                        RING_SECONDS.start(),
                        RING_SECONDS.end()
                    );
                    self.err(n.span(), format!("{path}.ring_seconds"), m);
                    20
                }
            };
            out.push(CallRoute {
                number,
                greeting: r.greeting.clone(),
                target,
                allow: r.allow.iter().map(|a| a.get_ref().clone()).collect(),
                voicemail: r.voicemail,
                ring_seconds,
            });
        }
        out
    }

    fn user(&mut self, i: usize, u: &RawUser) -> User {
        let path = format!("users[{i}]");
        let time_zone = match &u.time_zone {
            Some(tz) => {
                let field = format!("{path}.time_zone");
                self.take(parse_tz(tz.get_ref()), tz.span(), &field, Tz::UTC)
            }
            None => Tz::UTC,
        };
        self.check_optional(&u.phone, format!("{path}.phone"), validate_phone);
        self.check_optional(&u.email, format!("{path}.email"), validate_email);
        User {
            id: u.id.get_ref().clone(),
            name: u.name.clone(),
            slack_id: u.slack_id.clone(),
            time_zone,
            phone: u.phone.as_ref().map(|p| p.get_ref().clone()),
            email: u.email.as_ref().map(|e| e.get_ref().clone()),
            working_hours: (u.working_hours.iter().enumerate())
                .map(|(k, r)| self.restriction(r, &format!("{path}.working_hours[{k}]")))
                .collect(),
            notify: (u.notify.iter().enumerate())
                .filter_map(|(k, r)| self.notify_rule(u, r, &format!("{path}.notify[{k}]")))
                .collect(),
        }
    }

    fn notify_rule(
        &mut self,
        u: &RawUser,
        r: &Spanned<RawNotify>,
        path: &str,
    ) -> Option<NotifyRule> {
        let raw = r.get_ref();
        let via = match raw.via.get_ref().as_str() {
            "slack" => Via::Slack,
            "sms" => Via::Sms,
            "phone" => Via::Phone,
            other => {
                let m = format!("invalid via `{other}`: expected \"slack\", \"sms\" or \"phone\"");
                self.err(raw.via.span(), format!("{path}.via"), m);
                return None;
            }
        };
        let missing = match via {
            Via::Slack if u.slack_id.is_none() => Some("slack_id"),
            Via::Sms | Via::Phone if u.phone.is_none() => Some("phone"),
            _ => None,
        };
        if let Some(field) = missing {
            let m = format!(
                "notify via {} needs the user's `{field}`",
                raw.via.get_ref()
            );
            self.err(raw.via.span(), format!("{path}.via"), m);
        }
        if raw.after_minutes > MAX_NOTIFY_MINUTES {
            let m = format!("after_minutes is at most {MAX_NOTIFY_MINUTES} (a day)");
            self.err(r.span(), format!("{path}.after_minutes"), m);
        }
        Some(NotifyRule {
            after_minutes: raw.after_minutes,
            via,
        })
    }

    fn team(&mut self, i: usize, t: &RawTeam, known: &Known) -> Team {
        let path = format!("teams[{i}]");
        for (j, m) in t.members.iter().enumerate() {
            self.check_ref(&known.users, "user", m, format!("{path}.members[{j}]"));
        }
        for (j, lead) in t.leads.iter().enumerate() {
            let field = format!("{path}.leads[{j}]");
            // An unknown lead is reported once, as unknown, not also as a non-member.
            if self.check_ref(&known.users, "user", lead, field.clone())
                && !t.members.iter().any(|m| m.get_ref() == lead.get_ref())
            {
                let m = format!("lead `{}` is not listed in members", lead.get_ref());
                self.err(lead.span(), field, m);
            }
        }
        Team {
            id: t.id.get_ref().clone(),
            name: t.name.clone(),
            leads: t.leads.iter().map(|l| l.get_ref().clone()).collect(),
            members: t.members.iter().map(|m| m.get_ref().clone()).collect(),
            open_to_workspace: t.open_to_workspace,
            alert_channel: t.alert_channel.clone(),
            stakeholder_channel: t.stakeholder_channel.clone(),
            working_hours: (t.working_hours.iter().enumerate())
                .map(|(k, r)| self.restriction(r, &format!("{path}.working_hours[{k}]")))
                .collect(),
            weekly_report: t.weekly_report.as_ref().and_then(|w| {
                let when = parse_day_time(w.at.get_ref());
                let (weekday, at) = self.take(
                    when.map(Some),
                    w.at.span(),
                    &format!("{path}.weekly_report.at"),
                    None,
                )?;
                let time_zone = match &w.time_zone {
                    Some(tz) => {
                        let field = format!("{path}.weekly_report.time_zone");
                        self.take(parse_tz(tz.get_ref()), tz.span(), &field, Tz::UTC)
                    }
                    None => Tz::UTC,
                };
                Some(WeeklyReport {
                    weekday,
                    at,
                    time_zone,
                })
            }),
            rooms: self.rooms(t, &path),
        }
    }

    fn rooms(&mut self, t: &RawTeam, path: &str) -> RoomSettings {
        let mut out = RoomSettings {
            channel_at: self.sev(t.channel_at.as_ref(), &format!("{path}.channel_at")),
            ..RoomSettings::default()
        };
        for (level, every) in &t.update_every {
            let field = format!("{path}.update_every.{level}");
            let Some(sev) = Sev::parse(level) else {
                let m = format!("`{level}` is not a severity level: use SEV1, SEV2, SEV3 or SEV4");
                self.err(every.span(), field, m);
                continue;
            };
            let d = parse_duration(every.get_ref()).and_then(|d| {
                if d < Duration::minutes(1) || d > Duration::days(7) {
                    Err("ask for updates at least a minute and at most 7 days apart".to_string())
                } else {
                    Ok(d)
                }
            });
            if let Ok(d) = self.take(d.map(Ok), every.span(), &field, Err(())) {
                out.update_every.push((sev, d));
            }
        }
        if let Some(a) = &t.archive_after {
            let d = parse_duration(a.get_ref()).and_then(|d| {
                if d > Duration::days(90) {
                    Err("archive within 90 days".to_string())
                } else {
                    Ok(d)
                }
            });
            let field = format!("{path}.archive_after");
            out.archive_after = self.take(d, a.span(), &field, out.archive_after);
        }
        out
    }

    fn sev(&mut self, s: Option<&Str>, field: &str) -> Option<Sev> {
        let s = s?;
        let r = Sev::parse(s.get_ref()).ok_or_else(|| {
            format!(
                "`{}` is not a severity level: use SEV1, SEV2, SEV3 or SEV4",
                s.get_ref()
            )
        });
        self.take(r.map(Some), s.span(), field, None)
    }

    fn schedule(&mut self, i: usize, s: &Spanned<RawSchedule>, known: &Known) -> Schedule {
        let path = format!("schedules[{i}]");
        let raw = s.get_ref();
        self.check_ref(&known.teams, "team", &raw.team, format!("{path}.team"));
        let tz_field = format!("{path}.time_zone");
        let time_zone = parse_tz(raw.time_zone.get_ref());
        let tz_ok = time_zone.is_ok();
        let time_zone = self.take(time_zone, raw.time_zone.span(), &tz_field, Tz::UTC);
        if raw.layers.is_empty() {
            self.err(s.span(), format!("{path}.layers"), "schedule has no layers");
        }
        let layers = (raw.layers.iter().enumerate())
            .map(|(j, l)| {
                // Skip the DST check against a placeholder zone.
                let zone = tz_ok.then_some(time_zone);
                self.layer(&format!("{path}.layers[{j}]"), l, zone, known)
            })
            .collect();
        Schedule {
            id: raw.id.get_ref().clone(),
            team: raw.team.get_ref().clone(),
            time_zone,
            layers,
        }
    }

    fn layer(&mut self, path: &str, l: &Spanned<RawLayer>, tz: Option<Tz>, known: &Known) -> Layer {
        let raw = l.get_ref();
        if raw.name.get_ref().trim().is_empty() {
            self.err(
                raw.name.span(),
                format!("{path}.name"),
                "layer name is empty",
            );
        }
        let start_field = format!("{path}.start");
        let start = match parse_start(raw.start.get_ref()) {
            Ok(start) => {
                // A start the clocks skip over has no instant to anchor the rotation on.
                if tz.is_some_and(|tz| tz.from_local_datetime(&start).earliest().is_none()) {
                    let tz = tz.map_or("", |tz| tz.name());
                    let m = format!(
                        "start {start} does not exist in {tz}: clocks skip it for daylight saving"
                    );
                    self.err(raw.start.span(), start_field, m);
                }
                start
            }
            Err(m) => {
                self.err(raw.start.span(), start_field, m);
                NaiveDateTime::MIN
            }
        };
        let rot_field = format!("{path}.rotation");
        let rotation = parse_rotation(raw.rotation.get_ref());
        let rotation = self.take(rotation, raw.rotation.span(), &rot_field, Rotation::Daily);
        let handoff = match &raw.handoff {
            Some(h) => {
                let field = format!("{path}.handoff");
                self.take(parse_hhmm(h.get_ref()), h.span(), &field, NaiveTime::MIN)
            }
            None => start.time(),
        };
        let users_field = format!("{path}.users");
        let users = match &raw.users {
            None => {
                self.err(l.span(), users_field, "layer has no users");
                Vec::new()
            }
            Some(users) if users.get_ref().is_empty() => {
                self.err(users.span(), users_field, "layer has no users");
                Vec::new()
            }
            Some(users) => {
                for (k, u) in users.get_ref().iter().enumerate() {
                    self.check_ref(&known.users, "user", u, format!("{users_field}[{k}]"));
                }
                users
                    .get_ref()
                    .iter()
                    .map(|u| u.get_ref().clone())
                    .collect()
            }
        };
        let restrictions = (raw.restrictions.iter().enumerate())
            .map(|(k, r)| self.restriction(r.get_ref(), &format!("{path}.restrictions[{k}]")))
            .collect();
        Layer {
            name: raw.name.get_ref().clone(),
            start,
            rotation,
            handoff,
            users,
            restrictions,
        }
    }

    fn policy(&mut self, i: usize, p: &Spanned<RawPolicy>, known: &Known) -> EscalationPolicy {
        let path = format!("escalation_policies[{i}]");
        let raw = p.get_ref();
        if raw.levels.is_empty() {
            self.err(
                p.span(),
                format!("{path}.levels"),
                "escalation policy has no levels",
            );
        }
        let levels = (raw.levels.iter().enumerate())
            .map(|(j, level)| {
                let field = format!("{path}.levels[{j}].targets");
                let targets = match &level.get_ref().targets {
                    Some(t) if !t.get_ref().is_empty() => (t.get_ref().iter().enumerate())
                        .filter_map(|(k, t)| self.target(t, format!("{field}[{k}]"), known))
                        .collect(),
                    other => {
                        let span = other.as_ref().map_or(level.span(), |t| t.span());
                        self.err(span, field, "escalation level has no targets");
                        Vec::new()
                    }
                };
                EscalationLevel {
                    after_minutes: level.get_ref().after_minutes,
                    targets,
                }
            })
            .collect();
        EscalationPolicy {
            id: raw.id.get_ref().clone(),
            repeat: raw.repeat,
            levels,
        }
    }

    fn target(&mut self, t: &Str, field: String, known: &Known) -> Option<Target> {
        let target = match parse_target(t.get_ref()) {
            Ok(target) => target,
            Err(m) => {
                self.err(t.span(), field, m);
                return None;
            }
        };
        let (set, kind, id) = match &target {
            Target::User(id) => (&known.users, "user", id),
            Target::Schedule(id) => (&known.schedules, "schedule", id),
            Target::Team(id) => (&known.teams, "team", id),
        };
        if !set.contains(id.as_str()) {
            self.err(t.span(), field, format!("unknown {kind} `{id}`"));
        }
        Some(target)
    }

    /// One time window: the daily form (`days`, `from`, `to`) or the weekly
    /// form (`from = "fri 18:00"`, `to = "mon 09:00"`).
    fn restriction(&mut self, r: &RawRestriction, p: &str) -> Restriction {
        let Some(days_raw) = &r.days else {
            // Weekly form: from = "fri 18:00", to = "mon 09:00".
            let from = parse_day_time(r.from.get_ref());
            let (fd, from) = self.take(
                from,
                r.from.span(),
                &format!("{p}.from"),
                (0, NaiveTime::MIN),
            );
            let to = parse_day_time(r.to.get_ref());
            let (td, to) = self.take(to, r.to.span(), &format!("{p}.to"), (0, NaiveTime::MIN));
            let mut days = [false; 7];
            days[fd] = true;
            let mut close_after_days = ((td + 7 - fd) % 7) as u32;
            if close_after_days == 0 && to <= from {
                close_after_days = 7;
            }
            return Restriction {
                days,
                from,
                to,
                close_after_days,
            };
        };
        let days = parse_days(days_raw.get_ref());
        let days = self.take(days, days_raw.span(), &format!("{p}.days"), [false; 7]);
        let from = parse_hhmm(r.from.get_ref());
        let from = self.take(from, r.from.span(), &format!("{p}.from"), NaiveTime::MIN);
        let to = parse_hhmm(r.to.get_ref());
        let to = self.take(to, r.to.span(), &format!("{p}.to"), NaiveTime::MIN);
        Restriction::daily(days, from, to)
    }

    fn services(&mut self, raw: &[Spanned<RawService>], known: &Known) -> Vec<Service> {
        let mut key_lines: HashMap<String, usize> = HashMap::new();
        // Heartbeat ids and tokens, each unique across every service.
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let s = s.get_ref();
            let path = format!("services[{i}]");
            self.check_ref(&known.teams, "team", &s.team, format!("{path}.team"));
            if let Some(p) = &s.escalation_policy {
                self.check_ref(
                    &known.policies,
                    "escalation policy",
                    p,
                    format!("{path}.escalation_policy"),
                );
            }
            let key_field = format!("{path}.integration_key");
            let key_span = s.integration_key.span();
            let integration_key = match parse_integration_key(s.integration_key.get_ref()) {
                Ok(key) => {
                    // Two services on one key would make routing an alert ambiguous.
                    if let Some(line) = key_lines.get(&key) {
                        let m =
                            format!("integration key already used by the service on line {line}");
                        self.err(key_span, key_field, m);
                    } else {
                        key_lines.insert(key.clone(), line_col(self.text, key_span.start).0);
                    }
                    key
                }
                Err(m) => {
                    self.err(key_span, key_field, m);
                    String::new()
                }
            };
            let urgency = match s.urgency.as_ref() {
                None => Urgency::High,
                Some(u) => match u.get_ref().as_str() {
                    "high" => Urgency::High,
                    "low" => Urgency::Low,
                    other => {
                        let m = format!("invalid urgency `{other}`: expected \"high\" or \"low\"");
                        self.err(u.span(), format!("{path}.urgency"), m);
                        Urgency::High
                    }
                },
            };
            let channel_at = self.sev(s.channel_at.as_ref(), &format!("{path}.channel_at"));
            out.push(Service {
                channel_at,
                id: s.id.get_ref().clone(),
                name: s.name.clone(),
                team: s.team.get_ref().clone(),
                escalation_policy: s.escalation_policy.as_ref().map(|p| p.get_ref().clone()),
                integration_key,
                urgency,
                heartbeats: (s.heartbeats.iter().enumerate())
                    .map(|(k, h)| self.heartbeat(h, &format!("{path}.heartbeats[{k}]"), &mut seen))
                    .collect(),
                ack_target_minutes: s.ack_target_minutes.as_ref().map(|m| {
                    if *m.get_ref() == 0 {
                        self.err(
                            m.span(),
                            format!("{path}.ack_target_minutes"),
                            "must be at least 1",
                        );
                    }
                    *m.get_ref()
                }),
                grouping: s
                    .grouping
                    .as_ref()
                    .map(|g| self.grouping(g.get_ref(), &format!("{path}.grouping"))),
                flapping: s
                    .flapping
                    .as_ref()
                    .map(|f| self.flapping(f.get_ref(), &format!("{path}.flapping"))),
                maintenance: (s.maintenance.iter().enumerate())
                    .filter_map(|(k, w)| self.window(w, &format!("{path}.maintenance[{k}]")))
                    .collect(),
                rules: (s.rules.iter().enumerate())
                    .map(|(k, r)| self.rule(r, &format!("{path}.rules[{k}]"), known))
                    .collect(),
                webhook: s.webhook.as_ref().map(|w| {
                    // A file name is made from it: keep it to an id's characters.
                    if let Err(m) = validate_id(w.get_ref()).and_then(|()| {
                        if w.get_ref().starts_with('.') {
                            Err("a mapping name cannot start with `.`".into())
                        } else {
                            Ok(())
                        }
                    }) {
                        self.err(w.span(), format!("{path}.webhook"), m);
                    }
                    w.get_ref().clone()
                }),
            });
        }
        out
    }

    /// A positive duration of at most a week, or an error at `field`.
    fn short_duration(&mut self, v: &Str, field: String) -> Duration {
        match parse_duration(v.get_ref()) {
            Ok(d) if d <= Duration::days(7) => d,
            Ok(_) => {
                self.err(v.span(), field, "at most 7 days");
                Duration::days(7)
            }
            Err(m) => {
                self.err(v.span(), field, m);
                Duration::minutes(1)
            }
        }
    }

    fn grouping(&mut self, g: &RawGrouping, path: &str) -> Grouping {
        let window = self.short_duration(&g.window, format!("{path}.window"));
        if let Some(key) = &g.key {
            if let Err(e) = minijinja::Environment::new().template_from_str(key.get_ref()) {
                self.err(
                    key.span(),
                    format!("{path}.key"),
                    format!("bad template: {e}"),
                );
            }
        }
        Grouping {
            window,
            key: g.key.as_ref().map(|k| k.get_ref().clone()),
        }
    }

    fn flapping(&mut self, f: &RawFlapping, path: &str) -> Flapping {
        let window = self.short_duration(&f.window, format!("{path}.window"));
        let count = *f.count.get_ref();
        if count == 0 {
            self.err(
                f.count.span(),
                format!("{path}.count"),
                "count must be at least 1",
            );
        }
        Flapping { count, window }
    }

    fn window(&mut self, w: &Spanned<RawWindow>, path: &str) -> Option<MaintenanceWindow> {
        let raw = w.get_ref();
        let mut instant = |v: &Str, field: &str| {
            let parsed = chrono::DateTime::parse_from_rfc3339(v.get_ref())
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| {
                    format!(
                        "`{}` is not an RFC 3339 time like 2026-12-01T22:00:00Z ({e})",
                        v.get_ref()
                    )
                });
            match parsed {
                Ok(t) => Some(t),
                Err(m) => {
                    self.err(v.span(), format!("{path}.{field}"), m);
                    None
                }
            }
        };
        let (from, to) = (instant(&raw.from, "from")?, instant(&raw.to, "to")?);
        if to <= from {
            self.err(
                raw.to.span(),
                format!("{path}.to"),
                "a window must end after it starts",
            );
            return None;
        }
        Some(MaintenanceWindow {
            from,
            to,
            reason: raw.reason.clone(),
        })
    }

    fn rule(&mut self, r: &Spanned<RawRule>, path: &str, known: &Known) -> Rule {
        let raw = r.get_ref();
        if raw.when.is_empty() {
            self.err(
                r.span(),
                format!("{path}.when"),
                "a rule needs at least one condition in `when`",
            );
        }
        let when = (raw.when.iter().enumerate())
            .filter_map(|(k, c)| self.condition(c, &format!("{path}.when[{k}]")))
            .collect();
        let action = match raw.action.as_ref().map(|a| (a, a.get_ref().as_str())) {
            None | Some((_, "continue")) => RuleAction::Continue,
            Some((_, "suppress")) => RuleAction::Suppress,
            Some((_, "drop")) => RuleAction::Drop,
            Some((a, other)) => {
                let m = format!(
                    "invalid action `{other}`: expected \"suppress\", \"drop\" or \"continue\""
                );
                self.err(a.span(), format!("{path}.action"), m);
                RuleAction::Continue
            }
        };
        let severity = raw.severity.as_ref().and_then(|v| {
            let parsed = Severity::parse(v.get_ref());
            if parsed.is_none() {
                let m = format!(
                    "invalid severity `{}`: expected critical, error, warning or info",
                    v.get_ref()
                );
                self.err(v.span(), format!("{path}.severity"), m);
            }
            parsed
        });
        let urgency = raw
            .urgency
            .as_ref()
            .and_then(|v| match v.get_ref().as_str() {
                "high" => Some(Urgency::High),
                "low" => Some(Urgency::Low),
                other => {
                    let m = format!("invalid urgency `{other}`: expected \"high\" or \"low\"");
                    self.err(v.span(), format!("{path}.urgency"), m);
                    None
                }
            });
        if let Some(route) = &raw.route {
            self.check_ref(&known.services, "service", route, format!("{path}.route"));
        }
        Rule {
            when,
            action,
            severity,
            urgency,
            route: raw.route.as_ref().map(|r| r.get_ref().clone()),
        }
    }

    fn condition(&mut self, c: &Spanned<RawCondition>, path: &str) -> Option<Condition> {
        let raw = c.get_ref();
        let field = raw.field.get_ref().clone();
        let known_field = matches!(
            field.as_str(),
            "summary" | "source" | "severity" | "component" | "group" | "class"
        ) || field
            .strip_prefix("custom_details.")
            .is_some_and(|p| !p.is_empty());
        if !known_field {
            let m = format!(
                "unknown field `{field}`: expected summary, source, severity, component, group, class or custom_details.PATH"
            );
            self.err(raw.field.span(), format!("{path}.field"), m);
        }
        let mut ops: Vec<Op> = vec![];
        if let Some(v) = &raw.equals {
            ops.push(Op::Equals(v.clone()));
        }
        if let Some(v) = &raw.contains {
            ops.push(Op::Contains(v.clone()));
        }
        if let Some(v) = &raw.matches {
            match regex::Regex::new(v) {
                Ok(re) => ops.push(Op::Matches(re)),
                Err(e) => {
                    self.err(
                        c.span(),
                        format!("{path}.matches"),
                        format!("invalid regex: {e}"),
                    );
                    return None;
                }
            }
        }
        for (v, op) in [
            (raw.gt, Op::Gt as fn(f64) -> Op),
            (raw.gte, Op::Gte),
            (raw.lt, Op::Lt),
            (raw.lte, Op::Lte),
        ] {
            if let Some(v) = v {
                if v.is_nan() {
                    self.err(
                        c.span(),
                        path.to_string(),
                        "a comparison needs a number, not nan",
                    );
                    return None;
                }
                ops.push(op(v));
            }
        }
        match ops.len() {
            1 => Some(Condition {
                field,
                op: ops.remove(0),
            }),
            _ => {
                let m = "give exactly one of equals, contains, matches, gt, gte, lt, lte";
                self.err(c.span(), path.to_string(), m);
                None
            }
        }
    }

    fn heartbeat(
        &mut self,
        h: &RawHeartbeat,
        path: &str,
        seen: &mut HashMap<String, usize>,
    ) -> Heartbeat {
        let id = h.id.get_ref().clone();
        if let Err(m) = validate_id(&id) {
            self.err(h.id.span(), format!("{path}.id"), m);
        } else if let Some(line) = seen.get(&format!("id:{id}")) {
            let m = format!("heartbeat id already used on line {line}");
            self.err(h.id.span(), format!("{path}.id"), m);
        } else {
            seen.insert(format!("id:{id}"), line_col(self.text, h.id.span().start).0);
        }
        let interval = match parse_duration(h.interval.get_ref()) {
            Ok(d) if d >= Duration::minutes(1) => d,
            Ok(_) => {
                let m = "interval must be at least a minute";
                self.err(h.interval.span(), format!("{path}.interval"), m);
                Duration::minutes(1)
            }
            Err(m) => {
                self.err(h.interval.span(), format!("{path}.interval"), m);
                Duration::minutes(1)
            }
        };
        let token = match parse_integration_key(h.token.get_ref()) {
            Ok(t) => {
                if let Some(line) = seen.get(&format!("token:{t}")) {
                    let m = format!("token already used by the heartbeat on line {line}");
                    self.err(h.token.span(), format!("{path}.token"), m);
                } else {
                    seen.insert(
                        format!("token:{t}"),
                        line_col(self.text, h.token.span().start).0,
                    );
                }
                t
            }
            Err(m) => {
                self.err(h.token.span(), format!("{path}.token"), m);
                String::new()
            }
        };
        Heartbeat {
            id,
            interval,
            token,
        }
    }
}

// ---- Field parsers: each returns a message naming the bad value. ----

fn validate_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("id is empty".into());
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!(
            "id `{id}` contains `{c}`: only letters, digits, `_`, `.` and `-` are allowed"
        ));
    }
    Ok(())
}

fn parse_tz(s: &str) -> Result<Tz, String> {
    s.parse::<Tz>().map_err(|_| {
        // Suggest the right spelling when only the case is off.
        let hint = chrono_tz::TZ_VARIANTS
            .iter()
            .find(|tz| tz.name().eq_ignore_ascii_case(s))
            .map_or("Europe/London", |tz| tz.name());
        format!("unknown time zone `{s}`: use an IANA name such as \"{hint}\"")
    })
}

fn validate_phone(s: &str) -> Result<(), String> {
    let ok = s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid phone `{s}`: expected E.164, a `+` then 8 to 15 digits, e.g. \"+447700900001\""
        ))
    }
}

fn validate_email(s: &str) -> Result<(), String> {
    match s.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !s.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(format!("invalid email `{s}`: expected name@domain")),
    }
}

fn parse_hhmm(s: &str) -> Result<NaiveTime, String> {
    let bad = || format!("invalid time `{s}`: expected HH:MM, e.g. \"09:00\"");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if !(1..=2).contains(&h.len()) || m.len() != 2 || !digits(h) || !digits(m) {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    NaiveTime::from_hms_opt(h, m, 0)
        .ok_or_else(|| format!("invalid time `{s}`: hours go 00-23 and minutes 00-59"))
}

/// `"fri 18:00"`: a weekday (index 0 = Monday) and a time, for weekly windows.
fn parse_day_time(s: &str) -> Result<(usize, NaiveTime), String> {
    let bad = || {
        format!("invalid weekly time `{s}`: expected a day and HH:MM like \"fri 18:00\" (or give `days` and plain HH:MM times)")
    };
    let (day, time) = s.trim().split_once(' ').ok_or_else(bad)?;
    let days = parse_days(day).map_err(|_| bad())?;
    let mut selected = days.iter().enumerate().filter(|(_, d)| **d).map(|(i, _)| i);
    let (Some(d), None) = (selected.next(), selected.next()) else {
        return Err(bad());
    };
    Ok((d, parse_hhmm(time.trim())?))
}

fn parse_days(spec: &str) -> Result<[bool; 7], String> {
    const SHORT: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    const LONG: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = spec.trim().to_ascii_lowercase();
    if lower == "daily" || lower == "all" {
        return Ok([true; 7]);
    }
    let day = |d: &str| {
        let d = d.trim();
        if d.is_empty() {
            return Err(format!("invalid days `{spec}`: empty day name"));
        }
        (SHORT.iter().position(|s| *s == d))
            .or_else(|| LONG.iter().position(|s| *s == d))
            .ok_or_else(|| {
                format!("invalid days `{spec}`: unknown day `{d}`; use mon..sun, e.g. \"mon-fri\" or \"sat,sun\"")
            })
    };
    let mut days = [false; 7];
    for part in lower.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                // Ranges may wrap past Sunday, e.g. "fri-mon".
                let (mut d, end) = (day(a)?, day(b)?);
                days[d] = true;
                while d != end {
                    d = (d + 1) % 7;
                    days[d] = true;
                }
            }
            None => days[day(part)?] = true,
        }
    }
    Ok(days)
}

fn parse_start(v: &toml::Value) -> Result<NaiveDateTime, String> {
    const HINT: &str =
        "expected a local date and time like \"2026-11-02T09:00:00\" or \"2026-11-02T09:00\"";
    match v {
        toml::Value::String(s) => [
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%d %H:%M",
        ]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .ok_or_else(|| format!("invalid start `{s}`: {HINT}")),
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (_, _, Some(_)) => Err(format!(
                "start `{dt}` has a UTC offset; write local time, the schedule's time_zone places it"
            )),
            (Some(d), Some(t), None) => {
                NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                    .and_then(|date| {
                        date.and_hms_nano_opt(
                            t.hour.into(),
                            t.minute.into(),
                            t.second.into(),
                            t.nanosecond,
                        )
                    })
                    .ok_or_else(|| format!("invalid start `{dt}`: {HINT}"))
            }
            _ => Err(format!("start `{dt}` needs both a date and a time: {HINT}")),
        },
        other => Err(format!(
            "invalid start: {HINT}, found a {}",
            other.type_str()
        )),
    }
}

fn parse_rotation(s: &str) -> Result<Rotation, String> {
    if s.eq_ignore_ascii_case("daily") {
        return Ok(Rotation::Daily);
    }
    if s.eq_ignore_ascii_case("weekly") {
        return Ok(Rotation::Weekly);
    }
    parse_duration(s).map(Rotation::Every).map_err(|e| {
        format!("invalid rotation `{s}`: expected \"daily\", \"weekly\" or a duration; {e}")
    })
}

fn parse_target(s: &str) -> Result<Target, String> {
    match s.split_once(':') {
        Some(("user", id)) if !id.is_empty() => Ok(Target::User(id.to_string())),
        Some(("schedule", id)) if !id.is_empty() => Ok(Target::Schedule(id.to_string())),
        Some(("team", id)) if !id.is_empty() => Ok(Target::Team(id.to_string())),
        _ => Err(format!(
            "invalid target `{s}`: expected \"user:ID\", \"schedule:ID\" or \"team:ID\""
        )),
    }
}

fn parse_integration_key(s: &str) -> Result<String, String> {
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(s.to_ascii_lowercase())
    } else {
        Err(format!(
            "invalid integration key `{s}`: expected exactly 32 hex characters"
        ))
    }
}

// ---- Locations ----

/// 1-based line and column (in chars) of a byte offset; never panics on odd offsets.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// Best-effort dotted path for a TOML-level error, since toml does not expose one:
/// replays `[[table]]` headers up to `line` and adds the key set on that line.
fn field_at(text: &str, line: usize) -> String {
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut table = String::new();
    let mut key = String::new();
    for (i, l) in text.lines().take(line).enumerate() {
        let l = l.trim();
        let header = |open: &str, close: &str| {
            let inner = l.strip_prefix(open)?;
            inner.find(close).map(|end| inner[..end].trim().to_string())
        };
        if let Some(name) = header("[[", "]]") {
            // A new element restarts the numbering of arrays nested in it.
            let nested = format!("{name}.");
            counts.retain(|k, _| !k.starts_with(&nested));
            counts
                .entry(name.clone())
                .and_modify(|n| *n += 1)
                .or_insert(0);
            table = render_path(&name, &counts);
        } else if let Some(name) = header("[", "]") {
            table = render_path(&name, &counts);
        } else if let Some((k, _)) = l.split_once('=').filter(|_| i + 1 == line) {
            key = k.trim().trim_matches('"').to_string();
        }
    }
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key,
        (false, false) => format!("{table}.{key}"),
    }
}

fn render_path(name: &str, counts: &HashMap<String, usize>) -> String {
    let mut prefix = String::new();
    let mut out = Vec::new();
    for seg in name.split('.') {
        let seg = seg.trim();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(seg);
        out.push(match counts.get(&prefix) {
            Some(n) => format!("{seg}[{n}]"),
            None => seg.to_string(),
        });
    }
    out.join(".")
}

#[cfg(test)]
mod tests {
    #[test]
    fn urgency_and_working_hours_are_read_and_checked() {
        let base = "[[users]]\nid = \"a\"\nname = \"A\"\nworking_hours = [{ days = \"mon-thu\", from = \"08:00\", to = \"16:00\" }]\n\
                    [[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"a\"]\nworking_hours = [{ days = \"mon-fri\", from = \"10:00\", to = \"19:00\" }]\n\
                    [[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\nurgency = \"low\"\n";
        let c = Config::parse("t.toml", base).unwrap();
        assert_eq!(c.services[0].urgency, Urgency::Low);
        assert_eq!(c.users[0].working_hours[0].from, hm(8, 0));
        assert_eq!(c.teams[0].working_hours[0].to, hm(19, 0));
        let bad = base
            .replace("urgency = \"low\"", "urgency = \"medium\"")
            .replace("\"08:00\"", "\"8am\"");
        let e = Config::parse("t.toml", &bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["users[0].working_hours[0].from", "services[0].urgency"],
            "{e}"
        );
    }

    #[test]
    fn notification_rules_are_read_sorted_and_checked() {
        let base = "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\nphone = \"+447700900001\"\n\
                    notify = [{ after_minutes = 10, via = \"phone\" }, { after_minutes = 0, via = \"slack\" }, { after_minutes = 5, via = \"sms\" }]\n\
                    [[users]]\nid = \"b\"\nname = \"B\"\n";
        let c = Config::parse("t.toml", base).unwrap();
        let rules: Vec<(u32, Via)> = c.users[0]
            .notify_rules()
            .iter()
            .map(|r| (r.after_minutes, r.via))
            .collect();
        assert_eq!(rules, [(0, Via::Slack), (5, Via::Sms), (10, Via::Phone)]);
        // Without rules: a Slack DM at once.
        assert_eq!(c.users[1].notify_rules()[0].via, Via::Slack);

        let bad = base.replace("phone = \"+447700900001\"\n", "").replace(
            "after_minutes = 0, via = \"slack\"",
            "after_minutes = 2000, via = \"pager\"",
        );
        let e = Config::parse("t.toml", &bad).unwrap_err();
        let got: Vec<(&str, usize)> = e.0.iter().map(|e| (e.field.as_str(), e.line)).collect();
        assert_eq!(
            got,
            [
                ("users[0].notify[0].via", 5),
                ("users[0].notify[1].via", 5),
                ("users[0].notify[2].via", 5)
            ],
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("notify via phone needs the user's `phone`"),
            "{e}"
        );
        assert!(e.to_string().contains("invalid via `pager`"), "{e}");
        let late = base.replace("after_minutes = 10", "after_minutes = 1441");
        let e = Config::parse("t.toml", &late).unwrap_err();
        assert_eq!(e.0[0].field, "users[0].notify[0].after_minutes");
    }

    #[test]
    fn call_routes_are_read_and_checked() {
        let base = "[[users]]\nid = \"a\"\nname = \"A\"\n[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"a\"]\n\
                    [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                    [[services]]\nid = \"net\"\nname = \"Net\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdee\"\n";
        let good = format!(
            "{base}[[call_routes]]\nnumber = \"+15550100\"\ngreeting = \"Hi.\"\nservice = \"api\"\nallow = [\"+15550199\"]\nvoicemail = true\n\
             [[call_routes]]\nnumber = \"+15550101\"\nmenu = {{ \"2\" = \"net\", \"1\" = \"api\" }}\nring_seconds = 30\n"
        );
        let c = Config::parse("t.toml", &good).unwrap();
        let r = c.call_route("+15550100").unwrap();
        assert_eq!(r.target, RouteTarget::Service("api".into()));
        assert_eq!((r.voicemail, r.ring_seconds, r.allow.len()), (true, 20, 1));
        let m = c.call_route("+15550101").unwrap();
        assert_eq!(
            m.target,
            RouteTarget::Menu(vec![('1', "api".into()), ('2', "net".into())])
        );
        assert_eq!(m.ring_seconds, 30);
        assert!(c.call_route("+15550102").is_none());

        let bad = format!(
            "{base}[[call_routes]]\nnumber = \"555-0100\"\nservice = \"nope\"\nallow = [\"x\"]\n\
             [[call_routes]]\nnumber = \"+15550101\"\nmenu = {{ \"12\" = \"api\" }}\nring_seconds = 2\n\
             [[call_routes]]\nnumber = \"+15550101\"\nservice = \"api\"\nmenu = {{ \"1\" = \"api\" }}\n"
        );
        let e = Config::parse("t.toml", &bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "call_routes[0].number",
                "call_routes[0].service",
                "call_routes[0].allow[0]",
                "call_routes[1].menu.12",
                "call_routes[1].ring_seconds",
                "call_routes[2]",
                "call_routes[2].number",
            ],
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("already routed by the call route on line"),
            "{e}"
        );
    }

    #[test]
    fn heartbeats_are_read_and_checked() {
        let base = "[[teams]]\nid = \"t\"\nname = \"T\"\n\
                    [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                    heartbeats = [{ id = \"backup\", interval = \"25h\", token = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\" }]\n";
        let c = Config::parse("t.toml", base).unwrap();
        let (svc, hb) = c
            .heartbeat_by_token("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .unwrap();
        assert_eq!((svc.id.as_str(), hb.id.as_str()), ("api", "backup"));
        assert_eq!(hb.interval, Duration::hours(25));
        assert!(c.heartbeat_by_token("b".repeat(32).as_str()).is_none());
        let bad = base.replace(
            "}]",
            "}, { id = \"backup\", interval = \"30s\", token = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" }, { id = \"x\", interval = \"soon\", token = \"123\" }]",
        );
        let e = Config::parse("t.toml", &bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "services[0].heartbeats[1].id",
                "services[0].heartbeats[1].interval",
                "services[0].heartbeats[1].token",
                "services[0].heartbeats[2].interval",
                "services[0].heartbeats[2].token",
            ],
            "{e}"
        );
    }

    #[test]
    fn grouping_and_flapping_are_read_and_checked() {
        let base = "[[teams]]\nid = \"t\"\nname = \"T\"\n\
                    [[services]]\nid = \"api\"\nname = \"API\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n\
                    grouping = { window = \"10m\", key = \"{{ component }}\" }\nflapping = { count = 3, window = \"30m\" }\n";
        let c = Config::parse("t.toml", base).unwrap();
        let g = c.services[0].grouping.clone().unwrap();
        assert_eq!(
            (g.window, g.key.as_deref()),
            (Duration::minutes(10), Some("{{ component }}"))
        );
        assert_eq!(
            c.services[0].flapping,
            Some(Flapping {
                count: 3,
                window: Duration::minutes(30)
            })
        );
        let bad = base
            .replace("{{ component }}", "{{ component ")
            .replace("count = 3", "count = 0")
            .replace("\"30m\"", "\"30d\"");
        let e = Config::parse("t.toml", &bad).unwrap_err();
        let fields: Vec<&str> = e.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "services[0].grouping.key",
                "services[0].flapping.count",
                "services[0].flapping.window"
            ],
            "{e}"
        );
    }

    #[test]
    fn weekly_restrictions_name_their_days() {
        let text = "[[users]]\nid = \"a\"\nname = \"A\"\n[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"a\"]\n\
                    [[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"w\"\n\
                    start = \"2026-11-02T09:00:00\"\nrotation = \"weekly\"\nusers = [\"a\"]\n\
                    restrictions = [{ from = \"fri 18:00\", to = \"mon 09:00\" }, { from = \"wed 12:00\", to = \"wed 11:00\" }]\n";
        let c = Config::parse("t.toml", text).unwrap();
        let r = &c.schedules[0].layers[0].restrictions;
        assert_eq!(r[0].days, [false, false, false, false, true, false, false]);
        assert_eq!(
            (r[0].from, r[0].to, r[0].close_after_days),
            (hm(18, 0), hm(9, 0), 3)
        );
        assert_eq!(
            r[1].close_after_days, 7,
            "same day, earlier time: a full week round"
        );
        let bad = text.replace("fri 18:00", "18:00");
        let e = Config::parse("t.toml", &bad).unwrap_err();
        assert!(e.0[0].field.ends_with("restrictions[0].from"), "{e}");
        assert!(e.0[0].message.contains("fri 18:00"), "{e}");
    }

    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"
[[users]]
id = "alice"                 # stable id used everywhere below
name = "Alice Example"
slack_id = "U0ALICE"
time_zone = "Europe/London"
phone = "+447700900001"
email = "a@example.com"

[[users]]
id = "bob"
name = "Bob"

[[users]]
id = "carol"
name = "Carol"
time_zone = "America/New_York"

[[teams]]
id = "platform"
name = "Platform"
leads = ["alice"]
members = ["alice", "bob", "carol"]
alert_channel = "C0PLATFORM"
stakeholder_channel = "C0EXEC"

[[schedules]]
id = "platform-primary"
team = "platform"
time_zone = "Europe/London"
[[schedules.layers]]
name = "weekly"
start = "2026-11-02T09:00:00"
rotation = "weekly"
handoff = "09:00"
users = ["alice", "bob", "carol"]
restrictions = [{ days = "mon-fri", from = "09:00", to = "18:00" }]
[[schedules.layers]]
name = "nights"
start = 2026-11-02T18:00:00
rotation = "1h30m"
users = ["bob"]
restrictions = [{ days = "mon,wed-fri", from = "22:00", to = "06:00" }, { days = "sat,sun", from = "00:00", to = "00:00" }]

[[escalation_policies]]
id = "platform-default"
repeat = 2
[[escalation_policies.levels]]
after_minutes = 0
targets = ["schedule:platform-primary"]
[[escalation_policies.levels]]
after_minutes = 15
targets = ["user:alice"]

[[services]]
id = "api"
name = "Public API"
team = "platform"
escalation_policy = "platform-default"
integration_key = "5F0C1E9A7B3D4C2E8F6A0B1C2D3E4F5A"
"#;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn full_example_parses_with_right_values() {
        let c = Config::parse("tocsin.toml", EXAMPLE).unwrap_or_else(|e| panic!("{e}"));
        let alice = c.user("alice").unwrap();
        assert_eq!(alice.name, "Alice Example");
        assert_eq!(alice.slack_id.as_deref(), Some("U0ALICE"));
        assert_eq!(alice.time_zone, chrono_tz::Europe::London);
        assert_eq!(alice.phone.as_deref(), Some("+447700900001"));
        assert_eq!(alice.email.as_deref(), Some("a@example.com"));
        assert_eq!(c.user("bob").unwrap().time_zone, Tz::UTC);
        assert_eq!(
            c.user("carol").unwrap().time_zone,
            chrono_tz::America::New_York
        );

        let team = c.team("platform").unwrap();
        assert_eq!(team.leads, ["alice"]);
        assert_eq!(team.members, ["alice", "bob", "carol"]);
        assert_eq!(team.alert_channel.as_deref(), Some("C0PLATFORM"));
        assert_eq!(team.stakeholder_channel.as_deref(), Some("C0EXEC"));

        let s = c.schedule("platform-primary").unwrap();
        assert_eq!(s.team, "platform");
        assert_eq!(s.time_zone, chrono_tz::Europe::London);
        let weekly = &s.layers[0];
        let start = NaiveDate::from_ymd_opt(2026, 11, 2)
            .unwrap()
            .and_time(hm(9, 0));
        assert_eq!(weekly.start, start);
        assert_eq!(weekly.rotation, Rotation::Weekly);
        assert_eq!(weekly.handoff, hm(9, 0));
        assert_eq!(weekly.users, ["alice", "bob", "carol"]);
        assert_eq!(
            weekly.restrictions,
            [Restriction::daily(
                [true, true, true, true, true, false, false],
                hm(9, 0),
                hm(18, 0)
            )]
        );
        let nights = &s.layers[1];
        assert_eq!(
            nights.start.time(),
            hm(18, 0),
            "bare TOML datetime accepted"
        );
        assert_eq!(nights.handoff, hm(18, 0), "handoff defaults to start time");
        assert_eq!(nights.rotation, Rotation::Every(Duration::minutes(90)));
        assert_eq!(
            nights.restrictions[0].days,
            [true, false, true, true, true, false, false]
        );
        assert_eq!(
            nights.restrictions[1].days,
            [false, false, false, false, false, true, true]
        );

        let p = c.policy("platform-default").unwrap();
        assert_eq!(p.repeat, 2);
        assert_eq!(
            p.levels,
            [
                EscalationLevel {
                    after_minutes: 0,
                    targets: vec![Target::Schedule("platform-primary".into())]
                },
                EscalationLevel {
                    after_minutes: 15,
                    targets: vec![Target::User("alice".into())]
                },
            ]
        );

        let api = c.service("api").unwrap();
        assert_eq!(api.integration_key, "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a");
        assert_eq!(api.escalation_policy.as_deref(), Some("platform-default"));
        let by_key = c
            .service_by_key("5F0C1E9A7B3D4C2E8F6A0B1C2D3E4F5A")
            .unwrap();
        assert_eq!(by_key.id, "api");
        assert!(c
            .service_by_key("00000000000000000000000000000000")
            .is_none());
        assert_eq!(c.team_of_service("api").unwrap().id, "platform");
        assert!(c.team_of_service("nope").is_none());
    }

    #[test]
    fn empty_file_is_empty_config() {
        assert_eq!(Config::parse("f", ""), Ok(Config::default()));
        assert_eq!(Config::parse("f", "# nothing yet\n"), Ok(Config::default()));
    }

    /// Parses `input` and asserts exactly `expected` errors as (line, field, message fragment).
    fn check(name: &str, input: &str, expected: &[(usize, &str, &str)]) -> Result<(), String> {
        let got = match Config::parse("t.toml", input) {
            Ok(_) => Vec::new(),
            Err(ConfigErrors(errs)) => errs,
        };
        let matches = got.len() == expected.len()
            && got.iter().zip(expected).all(|(g, (line, field, msg))| {
                g.line == *line && g.field == *field && g.message.contains(msg) && g.column > 0
            });
        if matches {
            Ok(())
        } else {
            let got: Vec<String> = got.iter().map(|e| format!("  {e}")).collect();
            Err(format!(
                "{name}: expected {expected:?}, got:\n{}",
                got.join("\n")
            ))
        }
    }

    /// (name, input, expected errors as (line, field, message fragment)).
    type Case<'a> = (&'a str, &'a str, &'a [(usize, &'a str, &'a str)]);

    fn run(cases: &[Case]) {
        let failures: Vec<String> = (cases.iter())
            .filter_map(|(name, input, expected)| check(name, input, expected).err())
            .collect();
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    // Two known users, reused by cases that need someone to reference.
    const USERS: &str =
        "[[users]]\nid = \"alice\"\nname = \"A\"\n[[users]]\nid = \"bob\"\nname = \"B\"\n";

    fn with_users(rest: &str) -> String {
        format!("{USERS}{rest}")
    }

    #[test]
    fn toml_level_errors() {
        run(&[
            (
                "syntax",
                "[[users]]\nid = \"x\nname = \"X\"\n",
                &[(2, "users[0].id", "string")],
            ),
            (
                "unknown top-level key",
                "[[users]]\nid = \"a\"\nname = \"A\"\n[[userz]]\nid = \"b\"\n",
                &[(4, "userz[0]", "unknown field `userz`")],
            ),
            (
                "unknown nested key",
                "[[users]]\nid = \"a\"\nname = \"A\"\n[[users]]\nid = \"b\"\nnmae = \"B\"\n",
                &[(6, "users[1].nmae", "unknown field `nmae`")],
            ),
            (
                "type error",
                "[[escalation_policies]]\nid = \"p\"\nrepeat = -1\n",
                &[(3, "escalation_policies[0].repeat", "-1")],
            ),
            (
                "missing field",
                "[[users]]\nid = \"a\"\n",
                &[(1, "users[0]", "missing field `name`")],
            ),
            (
                "nested array index resets per parent",
                "[[escalation_policies]]\nid = \"a\"\n[[escalation_policies.levels]]\nafter_minutes = 0\n[[escalation_policies]]\nid = \"b\"\n[[escalation_policies.levels]]\nbogus = 1\n",
                &[(
                    8,
                    "escalation_policies[1].levels[0].bogus",
                    "unknown field `bogus`",
                )],
            ),
        ]);
    }

    #[test]
    fn id_rules() {
        run(&[
            (
                "duplicate user",
                "[[users]]\nid = \"a\"\nname = \"A\"\n[[users]]\nid = \"a\"\nname = \"A2\"\n",
                &[(
                    5,
                    "users[1].id",
                    "duplicate id `a` (first defined on line 2)",
                )],
            ),
            (
                "empty id",
                "[[users]]\nid = \"\"\nname = \"A\"\n",
                &[(2, "users[0].id", "id is empty")],
            ),
            (
                "bad id chars",
                "[[teams]]\nid = \"plat form\"\nname = \"P\"\n",
                &[(2, "teams[0].id", "contains ` `")],
            ),
            (
                "duplicate team",
                "[[teams]]\nid = \"t\"\nname = \"T\"\n[[teams]]\nid = \"t\"\nname = \"T\"\n",
                &[(5, "teams[1].id", "duplicate id `t`")],
            ),
            (
                "duplicate schedule",
                "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"l\"\nstart = \"2026-01-01T00:00\"\nrotation = \"daily\"\nusers = []\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\nlayers = []\n",
                &[
                    (12, "schedules[0].layers[0].users", "layer has no users"),
                    (13, "schedules[1].layers", "schedule has no layers"),
                    (14, "schedules[1].id", "duplicate id `s`"),
                ],
            ),
            (
                "duplicate policy",
                "[[escalation_policies]]\nid = \"p\"\nlevels = [{ after_minutes = 0, targets = [\"user:x\"] }]\n[[escalation_policies]]\nid = \"p\"\n",
                &[
                    (
                        3,
                        "escalation_policies[0].levels[0].targets[0]",
                        "unknown user `x`",
                    ),
                    (4, "escalation_policies[1].levels", "has no levels"),
                    (5, "escalation_policies[1].id", "duplicate id `p`"),
                ],
            ),
            (
                "duplicate service",
                "[[teams]]\nid = \"t\"\nname = \"T\"\n[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"00000000000000000000000000000001\"\n[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"00000000000000000000000000000002\"\n",
                &[(10, "services[1].id", "duplicate id `s`")],
            ),
        ]);
    }

    #[test]
    fn user_field_rules() {
        run(&[
            (
                "bad user time zone",
                "[[users]]\nid = \"a\"\nname = \"A\"\ntime_zone = \"Europe/Londn\"\n",
                &[(
                    4,
                    "users[0].time_zone",
                    "`Europe/Londn`: use an IANA name such as \"Europe/London\"",
                )],
            ),
            (
                "time zone case hint",
                "[[users]]\nid = \"a\"\nname = \"A\"\ntime_zone = \"europe/paris\"\n",
                &[(4, "users[0].time_zone", "\"Europe/Paris\"")],
            ),
            (
                "phone no plus",
                "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"07700900001\"\n",
                &[(4, "users[0].phone", "E.164")],
            ),
            (
                "phone too short",
                "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"+4477\"\n",
                &[(4, "users[0].phone", "E.164")],
            ),
            (
                "phone letters",
                "[[users]]\nid = \"a\"\nname = \"A\"\nphone = \"+44770090000x\"\n",
                &[(4, "users[0].phone", "E.164")],
            ),
            (
                "bad email",
                "[[users]]\nid = \"a\"\nname = \"A\"\nemail = \"nobody\"\n",
                &[(4, "users[0].email", "invalid email")],
            ),
        ]);
    }

    #[test]
    fn team_rules() {
        run(&[
            (
                "unknown member",
                &with_users(
                    "[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"alice\", \"dave\"]\n",
                ),
                &[(10, "teams[0].members[1]", "unknown user `dave`")],
            ),
            (
                "unknown lead",
                &with_users(
                    "[[teams]]\nid = \"t\"\nname = \"T\"\nleads = [\"zed\"]\nmembers = [\"alice\"]\n",
                ),
                &[(10, "teams[0].leads[0]", "unknown user `zed`")],
            ),
            (
                "lead not member",
                &with_users(
                    "[[teams]]\nid = \"t\"\nname = \"T\"\nleads = [\"bob\"]\nmembers = [\"alice\"]\n",
                ),
                &[(
                    10,
                    "teams[0].leads[0]",
                    "lead `bob` is not listed in members",
                )],
            ),
            (
                "open_to_workspace not a boolean",
                &with_users(
                    "[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"alice\"]\nopen_to_workspace = \"yes\"\n",
                ),
                &[(11, "teams[0].open_to_workspace", "expected a boolean")],
            ),
        ]);
        let open = Config::parse(
            "t.toml",
            &with_users("[[teams]]\nid = \"t\"\nname = \"T\"\nopen_to_workspace = true\n"),
        )
        .unwrap();
        assert!(open.teams[0].open_to_workspace);
        let closed = Config::parse(
            "t.toml",
            &with_users("[[teams]]\nid = \"t\"\nname = \"T\"\n"),
        )
        .unwrap();
        assert!(!closed.teams[0].open_to_workspace, "closed unless asked");
    }

    #[test]
    fn room_settings_rules() {
        // Lines 1-6 users, 7 [[teams]], 8 id, 9 name, then the case's lines.
        let team = |rest: &str| with_users(&format!("[[teams]]\nid = \"t\"\nname = \"T\"\n{rest}"));
        run(&[
            (
                "good",
                &team("channel_at = \"sev2\"\nupdate_every = { SEV1 = \"30m\", SEV2 = \"1h\" }\narchive_after = \"2h\"\n"),
                &[],
            ),
            (
                "bad level",
                &team("channel_at = \"SEV9\"\n"),
                &[(10, "teams[0].channel_at", "`SEV9` is not a severity level")],
            ),
            (
                "bad update level and interval",
                &team("update_every = { P1 = \"30m\", SEV2 = \"10s\" }\n"),
                &[
                    (10, "teams[0].update_every.P1", "`P1` is not a severity level"),
                    (10, "teams[0].update_every.SEV2", "at least a minute"),
                ],
            ),
            (
                "bad archive delay",
                &team("archive_after = \"soon\"\n"),
                &[(10, "teams[0].archive_after", "")],
            ),
            (
                "archive too late",
                &team("archive_after = \"100d\"\n"),
                &[(10, "teams[0].archive_after", "within 90 days")],
            ),
        ]);
        let c = Config::parse(
            "t.toml",
            &team("channel_at = \"SEV2\"\nupdate_every = { SEV1 = \"30m\" }\narchive_after = \"2h\"\n"),
        )
        .unwrap();
        let rooms = &c.teams[0].rooms;
        assert_eq!(rooms.channel_at, Some(Sev::Sev2));
        assert_eq!(rooms.update_every, [(Sev::Sev1, Duration::minutes(30))]);
        assert_eq!(rooms.archive_after, Duration::hours(2));
        let plain = Config::parse("t.toml", &team("")).unwrap();
        assert_eq!(plain.teams[0].rooms, RoomSettings::default());
    }

    /// A schedule for team "t" (defined first) whose single layer has `layer` appended.
    fn schedule_with(tz: &str, layer: &str) -> String {
        with_users(&format!(
            "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"{tz}\"\n[[schedules.layers]]\nname = \"l\"\n{layer}"
        ))
    }

    const OK_LAYER: &str =
        "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nusers = [\"alice\"]\n";

    #[test]
    fn schedule_rules() {
        // Lines 1-6 users, 7-9 team, 10-13 schedule, 14 layer header, 15 `name`, layer text from 16.
        run(&[
            ("valid layer", &schedule_with("UTC", OK_LAYER), &[]),
            (
                "unknown team",
                &with_users(
                    "[[schedules]]\nid = \"s\"\nteam = \"nope\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"l\"\nstart = \"2026-11-02T09:00\"\nrotation = \"daily\"\nusers = [\"bob\"]\n",
                ),
                &[(9, "schedules[0].team", "unknown team `nope`")],
            ),
            (
                "bad schedule time zone",
                &schedule_with("Mars/Olympus", OK_LAYER),
                &[(
                    13,
                    "schedules[0].time_zone",
                    "`Mars/Olympus`: use an IANA name such as \"Europe/London\"",
                )],
            ),
            (
                "empty layers",
                &with_users(
                    "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n",
                ),
                &[(10, "schedules[0].layers", "schedule has no layers")],
            ),
            (
                "empty layer name",
                &schedule_with("UTC", OK_LAYER).replace("name = \"l\"", "name = \"\""),
                &[(15, "schedules[0].layers[0].name", "layer name is empty")],
            ),
            (
                "bad start",
                &schedule_with(
                    "UTC",
                    "start = \"next monday\"\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
                ),
                &[(
                    16,
                    "schedules[0].layers[0].start",
                    "invalid start `next monday`",
                )],
            ),
            (
                "start with offset",
                &schedule_with(
                    "UTC",
                    "start = 2026-11-02T09:00:00Z\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
                ),
                &[(16, "schedules[0].layers[0].start", "UTC offset")],
            ),
            (
                "start date only",
                &schedule_with(
                    "UTC",
                    "start = 2026-11-02\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
                ),
                &[(
                    16,
                    "schedules[0].layers[0].start",
                    "needs both a date and a time",
                )],
            ),
            (
                "start in DST gap",
                &schedule_with(
                    "Europe/London",
                    "start = \"2026-03-29T01:30\"\nrotation = \"weekly\"\nusers = [\"alice\"]\n",
                ),
                &[(
                    16,
                    "schedules[0].layers[0].start",
                    "does not exist in Europe/London",
                )],
            ),
            (
                "bad rotation",
                &schedule_with(
                    "UTC",
                    "start = \"2026-11-02T09:00\"\nrotation = \"fortnightly\"\nusers = [\"alice\"]\n",
                ),
                &[(
                    17,
                    "schedules[0].layers[0].rotation",
                    "invalid rotation `fortnightly`",
                )],
            ),
            (
                "zero rotation",
                &schedule_with(
                    "UTC",
                    "start = \"2026-11-02T09:00\"\nrotation = \"0h\"\nusers = [\"alice\"]\n",
                ),
                &[(17, "schedules[0].layers[0].rotation", "is zero")],
            ),
            (
                "bad handoff",
                &schedule_with(
                    "UTC",
                    "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nhandoff = \"25:00\"\nusers = [\"alice\"]\n",
                ),
                &[(18, "schedules[0].layers[0].handoff", "invalid time `25:00`")],
            ),
            (
                "unknown layer user",
                &schedule_with(
                    "UTC",
                    "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nusers = [\"alice\", \"eve\"]\n",
                ),
                &[(18, "schedules[0].layers[0].users[1]", "unknown user `eve`")],
            ),
            (
                "empty layer users",
                &schedule_with(
                    "UTC",
                    "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\nusers = []\n",
                ),
                &[(18, "schedules[0].layers[0].users", "layer has no users")],
            ),
            (
                "missing layer users",
                &schedule_with(
                    "UTC",
                    "start = \"2026-11-02T09:00\"\nrotation = \"weekly\"\n",
                ),
                &[(14, "schedules[0].layers[0].users", "layer has no users")],
            ),
            (
                "bad days",
                &schedule_with(
                    "UTC",
                    &format!(
                        "{OK_LAYER}restrictions = [{{ days = \"mon-fry\", from = \"09:00\", to = \"17:00\" }}]\n"
                    ),
                ),
                &[(
                    19,
                    "schedules[0].layers[0].restrictions[0].days",
                    "unknown day `fry`",
                )],
            ),
            (
                "bad from and to",
                &schedule_with(
                    "UTC",
                    &format!(
                        "{OK_LAYER}restrictions = [{{ days = \"all\", from = \"9am\", to = \"17:0\" }}]\n"
                    ),
                ),
                &[
                    (
                        19,
                        "schedules[0].layers[0].restrictions[0].from",
                        "invalid time `9am`",
                    ),
                    (
                        19,
                        "schedules[0].layers[0].restrictions[0].to",
                        "invalid time `17:0`",
                    ),
                ],
            ),
        ]);
    }

    #[test]
    fn policy_rules() {
        let policy = |levels: &str| {
            with_users(&format!(
                "[[teams]]\nid = \"t\"\nname = \"T\"\n[[schedules]]\nid = \"s\"\nteam = \"t\"\ntime_zone = \"UTC\"\n[[schedules.layers]]\nname = \"l\"\n{OK_LAYER}[[escalation_policies]]\nid = \"p\"\n{levels}"
            ))
        };
        // Policy header is line 19; `levels` text starts on line 21.
        run(&[
            (
                "valid",
                &policy(
                    "[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"schedule:s\", \"user:bob\"]\n",
                ),
                &[],
            ),
            (
                "no levels",
                &policy(""),
                &[(19, "escalation_policies[0].levels", "has no levels")],
            ),
            (
                "empty targets",
                &policy("[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = []\n"),
                &[(
                    23,
                    "escalation_policies[0].levels[0].targets",
                    "has no targets",
                )],
            ),
            (
                "missing targets",
                &policy("[[escalation_policies.levels]]\nafter_minutes = 0\n"),
                &[(
                    21,
                    "escalation_policies[0].levels[0].targets",
                    "has no targets",
                )],
            ),
            (
                "malformed target",
                &policy(
                    "[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"group:t\"]\n",
                ),
                &[(
                    23,
                    "escalation_policies[0].levels[0].targets[0]",
                    "invalid target `group:t`",
                )],
            ),
            (
                "unknown target user",
                &policy(
                    "[[escalation_policies.levels]]\nafter_minutes = 0\ntargets = [\"user:zed\"]\n",
                ),
                &[(
                    23,
                    "escalation_policies[0].levels[0].targets[0]",
                    "unknown user `zed`",
                )],
            ),
            (
                "unknown target schedule",
                &policy(
                    "[[escalation_policies.levels]]\nafter_minutes = 0\n[[escalation_policies.levels]]\nafter_minutes = 5\ntargets = [\"schedule:nope\"]\n",
                ),
                &[
                    (
                        21,
                        "escalation_policies[0].levels[0].targets",
                        "has no targets",
                    ),
                    (
                        25,
                        "escalation_policies[0].levels[1].targets[0]",
                        "unknown schedule `nope`",
                    ),
                ],
            ),
        ]);
    }

    #[test]
    fn service_rules() {
        let services = |rest: &str| {
            format!(
                "[[teams]]\nid = \"t\"\nname = \"T\"\n[[escalation_policies]]\nid = \"p\"\nlevels = [{{ after_minutes = 0, targets = [\"schedule:nope\"] }}]\n{rest}"
            )
        };
        // The shared policy targets an unknown schedule on line 6, so every case expects that first.
        let p6 = (
            6,
            "escalation_policies[0].levels[0].targets[0]",
            "unknown schedule `nope`",
        );
        run(&[
            (
                "unknown team and policy",
                &services(
                    "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"u\"\nescalation_policy = \"q\"\nintegration_key = \"0123456789abcdef0123456789ABCDEF\"\n",
                ),
                &[
                    p6,
                    (10, "services[0].team", "unknown team `u`"),
                    (
                        11,
                        "services[0].escalation_policy",
                        "unknown escalation policy `q`",
                    ),
                ],
            ),
            (
                "bad integration key",
                &services(
                    "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdeg\"\n",
                ),
                &[
                    p6,
                    (11, "services[0].integration_key", "expected exactly 32 hex"),
                ],
            ),
            (
                "short integration key",
                &services(
                    "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"abc\"\n",
                ),
                &[p6, (11, "services[0].integration_key", "`abc`")],
            ),
            (
                "duplicate key ignoring case",
                &services(
                    "[[services]]\nid = \"s\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789abcdef0123456789abcdef\"\n[[services]]\nid = \"s2\"\nname = \"S\"\nteam = \"t\"\nintegration_key = \"0123456789ABCDEF0123456789ABCDEF\"\n",
                ),
                &[
                    p6,
                    (
                        16,
                        "services[1].integration_key",
                        "already used by the service on line 11",
                    ),
                ],
            ),
        ]);
    }

    #[test]
    fn reports_every_problem_in_file_order() {
        let input = with_users(
            "[[teams]]\nid = \"t\"\nname = \"T\"\nmembers = [\"ghost\"]\n[[users]]\nid = \"bob\"\nname = \"B2\"\nphone = \"12345\"\n",
        );
        run(&[(
            "three problems",
            &input,
            &[
                (10, "teams[0].members[0]", "unknown user `ghost`"),
                (
                    12,
                    "users[2].id",
                    "duplicate id `bob` (first defined on line 5)",
                ),
                (14, "users[2].phone", "E.164"),
            ],
        )]);
    }

    #[test]
    fn error_display_and_load() {
        let err = Config::parse("x.toml", "[[users]]\nid = \"\"\nname = \"A\"\n").unwrap_err();
        assert_eq!(err.to_string(), "x.toml:2:6: users[0].id: id is empty");
        let two = ConfigErrors(vec![err.0[0].clone(), err.0[0].clone()]);
        assert_eq!(two.to_string().lines().count(), 2);

        let missing = Path::new("/nonexistent/dir/tocsin.toml");
        let err = Config::load(missing).unwrap_err();
        assert_eq!((err.0.len(), err.0[0].line), (1, 0));
        assert!(err
            .to_string()
            .starts_with("/nonexistent/dir/tocsin.toml:0:0: cannot read config"));

        let path =
            std::env::temp_dir().join(format!("tocsin-config-test-{}.toml", std::process::id()));
        std::fs::write(&path, EXAMPLE).unwrap();
        let loaded = Config::load(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(loaded.unwrap().services.len(), 1);
    }

    #[test]
    fn parse_duration_table() {
        let ok: &[(&str, i64)] = &[
            ("12h", 12 * 3600),
            ("3d", 3 * 86_400),
            ("90m", 90 * 60),
            ("1h30m", 5400),
            ("2w", 14 * 86_400),
            ("45s", 45),
            ("1w2d3h4m5s", 604_800 + 2 * 86_400 + 3 * 3600 + 4 * 60 + 5),
            ("0h30m", 1800),
        ];
        for (s, secs) in ok {
            assert_eq!(parse_duration(s), Ok(Duration::seconds(*secs)), "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "empty"),
            ("0m", "zero"),
            ("-5m", "negative"),
            ("12", "missing a unit"),
            ("h", "invalid duration"),
            ("5x", "unknown unit `x`"),
            ("1h 30m", "invalid duration"),
            ("30m1h", "largest to smallest"),
            ("1h1h", "largest to smallest"),
            ("99999999999999999999h", "too large"),
            ("9223372036854775807s", "too large"),
            ("2562047788016h", "too large"),
            ("1.5h", "unknown unit `.`"),
            ("5é", "unknown unit `é`"),
        ];
        for (s, frag) in bad {
            match parse_duration(s) {
                Err(m) => assert!(m.contains(frag), "{s:?}: {m}"),
                Ok(d) => panic!("{s:?} parsed as {d:?}"),
            }
        }
    }

    #[test]
    fn helpers_tables() {
        assert_eq!(parse_days("daily"), Ok([true; 7]));
        assert_eq!(parse_days("ALL"), Ok([true; 7]));
        assert_eq!(
            parse_days("fri-mon"),
            Ok([true, false, false, false, true, true, true])
        );
        assert_eq!(
            parse_days("Saturday, sun"),
            Ok([false, false, false, false, false, true, true])
        );
        assert!(parse_days("").is_err());
        assert!(parse_days("mon,,tue").is_err());
        assert_eq!(parse_hhmm("9:05"), Ok(hm(9, 5)));
        assert_eq!(parse_hhmm("23:59"), Ok(hm(23, 59)));
        for bad in ["24:00", "12:60", "1200", "12:5", ":30", "+1:30", "12:30:00"] {
            assert!(parse_hhmm(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rotation("Daily"), Ok(Rotation::Daily));
        assert_eq!(
            parse_rotation("12h"),
            Ok(Rotation::Every(Duration::hours(12)))
        );
        assert!(parse_target("user:").is_err());
        assert_eq!(
            parse_target("schedule:a:b"),
            Ok(Target::Schedule("a:b".into()))
        );
        assert_eq!(line_col("ab\ncé\nx", 6), (2, 3));
        assert_eq!(line_col("é", 1), (1, 1), "offset inside a char is clamped");
        assert_eq!(line_col("abc", 99), (1, 4));
    }

    proptest! {
        #[test]
        fn parse_duration_never_panics(s in ".{0,24}") {
            let _ = parse_duration(&s);
        }

        #[test]
        fn parse_duration_hours_round_trip(n in 1i64..=2_562_047_788_015) {
            prop_assert_eq!(parse_duration(&format!("{n}h")), Ok(Duration::hours(n)));
        }

        #[test]
        fn time_zones_parse_or_explain(s in "(?s).{0,40}") {
            if let Err(m) = parse_tz(&s) {
                prop_assert!(m.contains("unknown time zone"), "{}", m);
            }
        }

        #[test]
        fn every_iana_zone_parses_in_any_case_hint(i in 0usize..chrono_tz::TZ_VARIANTS.len()) {
            let tz = chrono_tz::TZ_VARIANTS[i];
            prop_assert_eq!(parse_tz(tz.name()), Ok(tz));
            // A wrong case is refused with the right spelling as the hint.
            let shouted = tz.name().to_ascii_uppercase();
            if shouted != tz.name() && shouted.parse::<Tz>().is_err() {
                let m = parse_tz(&shouted).unwrap_err();
                prop_assert!(m.contains(tz.name()), "{}", m);
            }
        }

        #[test]
        fn config_parse_never_panics_on_arbitrary_text(s in "(?s).{0,200}") {
            let _ = Config::parse("p.toml", &s);
        }

        #[test]
        fn config_parse_never_panics_on_tomlish_text(s in "[\\[\\]a-z_.=\" \n0-9:,{}#+-]{0,200}") {
            let _ = Config::parse("p.toml", &s);
        }

        #[test]
        fn config_parse_never_panics_on_mutated_example(at in 0usize..EXAMPLE.len(), cut in 0usize..8, insert in "(?s).{0,8}") {
            // EXAMPLE is ASCII, so every byte offset is a char boundary.
            let end = (at + cut).min(EXAMPLE.len());
            let text = format!("{}{}{}", &EXAMPLE[..at], insert, &EXAMPLE[end..]);
            if let Err(e) = Config::parse("p.toml", &text) {
                prop_assert!(!e.0.is_empty());
            }
        }
    }
}
