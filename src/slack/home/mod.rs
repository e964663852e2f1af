//! The App Home tab in Block Kit: a `domain::home::Home` drawn as a `home`
//! view for `views.publish`, within Slack's limits (100 blocks, 3,000
//! characters a section), and the buttons on it: Acknowledge and Resolve
//! (the incident message's own actions), Ask for cover and Offer a swap
//! (which open a form to pick the person, then ask as `/oncall cover` does).

pub mod shifts;

use super::mrkdwn;
use super::render::{mention_user, slack_date};
use crate::config::Config;
use crate::domain::home::{Home, MyIncident, Part, TeamHealth, TeamOnCall};
use crate::domain::incident::State;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// Slack's limit for a Home view.
pub const MAX_BLOCKS: usize = 100;
/// Most incidents drawn (two blocks each); the rest are counted.
const INCIDENTS_MAX: usize = 20;
/// Most teams drawn in each part.
const TEAMS_MAX: usize = 8;
/// A section's text is at most 3,000 characters; keep clear of it.
const SECTION_MAX: usize = 2900;

/// The `home` view for `home`, as Slack takes it in `views.publish`.
pub fn view(home: &Home, config: &Config, now: DateTime<Utc>) -> Value {
    let mut b = Blocks::default();
    b.header("On call now");
    if home.teams.is_empty() {
        b.context(match home.user {
            Some(_) => "You are in no team, so no schedule is shown here.".to_string(),
            None => "tocsin's configuration does not name you (no user has your Slack id), so only incidents you act on are shown.".to_string(),
        });
    }
    for t in home.teams.iter().take(TEAMS_MAX) {
        b.section(on_call(t, config));
    }
    b.divider();
    b.header(&format!("Your open incidents ({})", home.incidents.len()));
    if home.incidents.is_empty() {
        b.context("Nothing open for you. :tada:".to_string());
    }
    for i in home.incidents.iter().take(INCIDENTS_MAX) {
        b.section(incident_line(i));
        b.actions(&format!("home_incident_{}", i.id), incident_buttons(i));
    }
    if home.incidents.len() > INCIDENTS_MAX {
        b.context(format!(
            "…and {} more: `/incident list`.",
            home.incidents.len() - INCIDENTS_MAX
        ));
    }
    if home.user.is_some() {
        b.divider();
        b.header("Your next shifts");
        if home.shifts.is_empty() {
            b.context(format!(
                "No shifts in the next {} days.",
                crate::domain::home::HORIZON_DAYS
            ));
        }
        for (n, s) in home.shifts.iter().enumerate() {
            let span = format!("{} → {}", slack_date(s.start), slack_date(s.end));
            let now_marker = if s.start <= now { " (now)" } else { "" };
            b.section(format!(
                "`{}` {span}{now_marker}",
                mrkdwn::text(&s.schedule)
            ));
            b.actions(
                &format!("home_shift_{n}"),
                shifts::buttons(&s.schedule, s.start),
            );
        }
    }
    if !home.led.is_empty() {
        b.divider();
        b.header("Teams you lead");
        for t in home.led.iter().take(TEAMS_MAX) {
            b.section(health(t, config));
        }
    }
    b.context(format!("Updated {}.", slack_date(now)));
    json!({ "type": "home", "blocks": b.finish() })
}

fn on_call(t: &TeamOnCall, config: &Config) -> String {
    let who = |u: &Option<String>| match u {
        Some(u) => mention_user(config, u),
        None => "nobody".to_string(),
    };
    let mut out = format!("*{}*", mrkdwn::text(&t.name));
    if t.schedules.is_empty() {
        out.push_str("\nNo schedules.");
    }
    for s in &t.schedules {
        out.push_str(&format!(
            "\n`{}`: {}",
            mrkdwn::text(&s.schedule),
            who(&s.now)
        ));
        if let Some(until) = s.until {
            out.push_str(&format!(" until {}", slack_date(until)));
        }
        if let Some((next, at)) = &s.next {
            out.push_str(&format!("; then {} from {}", who(next), slack_date(*at)));
        }
    }
    out
}

fn incident_line(i: &MyIncident) -> String {
    let part = match i.part {
        Part::Commander => "you are commander",
        Part::Comms => "you are comms lead",
        Part::Acknowledged => "you acknowledged it",
        Part::Paged => "you were paged",
    };
    format!(
        "*#{} {}*\n{} · {} · {} · opened {} · {part}",
        i.id,
        mrkdwn::text(&i.summary),
        i.state.as_str(),
        i.sev.as_str(),
        mrkdwn::text(&i.service),
        slack_date(i.opened)
    )
}

/// The incident message's own buttons, so a click here does what it does there.
fn incident_buttons(i: &MyIncident) -> Vec<Value> {
    let mut out = vec![];
    if i.state == State::Triggered {
        out.push(button(
            "Acknowledge",
            "incident_acknowledge",
            &i.id.to_string(),
            Some("primary"),
        ));
    }
    if i.state != State::Resolved {
        out.push(button(
            "Resolve",
            "incident_resolve",
            &i.id.to_string(),
            None,
        ));
    }
    out
}

fn hours(d: Duration) -> String {
    format!("{:.0} h", d.num_minutes() as f64 / 60.0)
}

fn health(t: &TeamHealth, config: &Config) -> String {
    let days = crate::domain::home::HORIZON_DAYS;
    let mut out = format!(
        "*{}*: on call over the next {days} days\n",
        mrkdwn::text(&t.name)
    );
    let load: Vec<String> = t
        .load
        .iter()
        .map(|(u, d)| format!("{} {}", mention_user(config, u), hours(*d)))
        .collect();
    out.push_str(&load.join(" · "));
    out.push_str(&format!(
        "\nSpread: {} between the most and the least.",
        hours(t.spread)
    ));
    if t.gap_count == 0 {
        out.push_str("\n:white_check_mark: Every hour is covered.");
    } else {
        out.push_str(&format!(
            "\n:warning: {} uncovered stretch{}:",
            t.gap_count,
            if t.gap_count == 1 { "" } else { "es" }
        ));
        for (schedule, from, to) in &t.gaps {
            out.push_str(&format!(
                "\n• `{}` {} → {}",
                mrkdwn::text(schedule),
                slack_date(*from),
                slack_date(*to)
            ));
        }
        if t.gap_count > t.gaps.len() {
            out.push_str(&format!("\n…and {} more.", t.gap_count - t.gaps.len()));
        }
    }
    out
}

pub(super) fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    });
    if let Some(s) = style {
        b["style"] = json!(s);
    }
    b
}

/// Blocks being drawn, cut to Slack's limit when finished.
#[derive(Default)]
struct Blocks(Vec<Value>);

impl Blocks {
    fn header(&mut self, text: &str) {
        let text: String = text.chars().take(150).collect();
        self.0
            .push(json!({"type": "header", "text": {"type": "plain_text", "text": text}}));
    }
    fn section(&mut self, text: String) {
        self.0.push(
            json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_MAX)}}),
        );
    }
    fn context(&mut self, text: String) {
        self.0.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_MAX)}]}));
    }
    fn actions(&mut self, block_id: &str, elements: Vec<Value>) {
        if !elements.is_empty() {
            self.0
                .push(json!({"type": "actions", "block_id": block_id, "elements": elements}));
        }
    }
    fn divider(&mut self) {
        self.0.push(json!({"type": "divider"}));
    }
    /// The blocks, at most `MAX_BLOCKS`: past it, the last one says so.
    fn finish(mut self) -> Vec<Value> {
        if self.0.len() > MAX_BLOCKS {
            self.0.truncate(MAX_BLOCKS - 1);
            self.context(
                "More than fits here: `/incident list` and `/oncall mine` show the rest.".into(),
            );
        }
        self.0
    }
}

/// Cuts `s` to `max` characters at a line end where it can, marking the cut.
fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max - 1).collect();
    let at = cut.rfind('\n').unwrap_or(cut.len());
    format!("{}…", &cut[..at])
}

#[cfg(test)]
mod tests;
