//! The file's shape as deserialised, field for field, with the source spans
//! kept so that every later check can point at a line and column.

use serde::Deserialize;
use toml::Spanned;

pub(super) type Str = Spanned<String>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) users: Vec<Spanned<RawUser>>,
    #[serde(default)]
    pub(super) teams: Vec<Spanned<RawTeam>>,
    #[serde(default)]
    pub(super) schedules: Vec<Spanned<RawSchedule>>,
    #[serde(default)]
    pub(super) escalation_policies: Vec<Spanned<RawPolicy>>,
    #[serde(default)]
    pub(super) services: Vec<Spanned<RawService>>,
    #[serde(default)]
    pub(super) call_routes: Vec<Spanned<RawCallRoute>>,
    #[serde(default)]
    pub(super) webhooks_out: Vec<Spanned<RawWebhookOut>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhookOut {
    pub(super) url: Str,
    #[serde(default)]
    pub(super) events: Vec<Str>,
    pub(super) secret: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCallRoute {
    pub(super) number: Str,
    pub(super) greeting: Option<String>,
    pub(super) service: Option<Str>,
    pub(super) menu: Option<Spanned<std::collections::BTreeMap<String, Str>>>,
    #[serde(default)]
    pub(super) allow: Vec<Str>,
    #[serde(default)]
    pub(super) voicemail: bool,
    pub(super) ring_seconds: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub(super) id: Str,
    pub(super) name: String,
    pub(super) slack_id: Option<String>,
    pub(super) time_zone: Option<Str>,
    pub(super) phone: Option<Str>,
    pub(super) email: Option<Str>,
    #[serde(default)]
    pub(super) working_hours: Vec<RawRestriction>,
    #[serde(default)]
    pub(super) notify: Vec<Spanned<RawNotify>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) after_minutes: u32,
    pub(super) via: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTeam {
    pub(super) id: Str,
    pub(super) name: String,
    #[serde(default)]
    pub(super) leads: Vec<Str>,
    #[serde(default)]
    pub(super) members: Vec<Str>,
    #[serde(default)]
    pub(super) open_to_workspace: bool,
    pub(super) alert_channel: Option<String>,
    pub(super) stakeholder_channel: Option<String>,
    #[serde(default)]
    pub(super) working_hours: Vec<RawRestriction>,
    pub(super) weekly_report: Option<RawWeeklyReport>,
    pub(super) channel_at: Option<Str>,
    #[serde(default)]
    pub(super) update_every: std::collections::BTreeMap<String, Str>,
    pub(super) archive_after: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWeeklyReport {
    pub(super) at: Str,
    pub(super) time_zone: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub(super) id: Str,
    pub(super) team: Str,
    pub(super) time_zone: Str,
    #[serde(default)]
    pub(super) layers: Vec<Spanned<RawLayer>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLayer {
    pub(super) name: Str,
    // A Value so both a quoted string and a bare TOML local datetime are accepted.
    pub(super) start: Spanned<toml::Value>,
    pub(super) rotation: Str,
    pub(super) handoff: Option<Str>,
    pub(super) users: Option<Spanned<Vec<Str>>>,
    #[serde(default)]
    pub(super) restrictions: Vec<Spanned<RawRestriction>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRestriction {
    /// Absent for the weekly form, whose `from`/`to` name their weekday.
    #[serde(default)]
    pub(super) days: Option<Str>,
    pub(super) from: Str,
    pub(super) to: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) id: Str,
    #[serde(default)]
    pub(super) repeat: u32,
    #[serde(default)]
    pub(super) levels: Vec<Spanned<RawLevel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLevel {
    pub(super) after_minutes: u32,
    pub(super) targets: Option<Spanned<Vec<Str>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub(super) id: Str,
    pub(super) name: String,
    pub(super) team: Str,
    pub(super) escalation_policy: Option<Str>,
    pub(super) integration_key: Str,
    pub(super) urgency: Option<Str>,
    #[serde(default)]
    pub(super) heartbeats: Vec<RawHeartbeat>,
    pub(super) webhook: Option<Str>,
    pub(super) email: Option<Spanned<RawEmail>>,
    #[serde(default)]
    pub(super) rules: Vec<Spanned<RawRule>>,
    #[serde(default)]
    pub(super) maintenance: Vec<Spanned<RawWindow>>,
    pub(super) grouping: Option<Spanned<RawGrouping>>,
    pub(super) flapping: Option<Spanned<RawFlapping>>,
    pub(super) ack_target_minutes: Option<Spanned<u32>>,
    pub(super) channel_at: Option<Str>,
}

/// `email = "db-alerts"` (a local part) or `email = { local_part, title, … }`.
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawEmail {
    LocalPart(String),
    Table(RawEmailTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEmailTable {
    pub(super) local_part: Option<String>,
    pub(super) title: Option<String>,
    pub(super) details: Option<String>,
    pub(super) severity: Option<String>,
    pub(super) dedup_key: Option<String>,
    pub(super) resolve_when: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrouping {
    pub(super) window: Str,
    pub(super) key: Option<Str>,
    pub(super) mode: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFlapping {
    pub(super) count: Spanned<u32>,
    pub(super) window: Str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWindow {
    pub(super) from: Str,
    pub(super) to: Str,
    pub(super) reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(default)]
    pub(super) when: Vec<Spanned<RawCondition>>,
    pub(super) action: Option<Str>,
    pub(super) severity: Option<Str>,
    pub(super) urgency: Option<Str>,
    pub(super) route: Option<Str>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCondition {
    pub(super) field: Str,
    pub(super) equals: Option<String>,
    pub(super) contains: Option<String>,
    pub(super) matches: Option<String>,
    pub(super) gt: Option<f64>,
    pub(super) gte: Option<f64>,
    pub(super) lt: Option<f64>,
    pub(super) lte: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeartbeat {
    pub(super) id: Str,
    pub(super) interval: Str,
    pub(super) token: Str,
}
