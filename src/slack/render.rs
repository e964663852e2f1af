//! Renders messages from `templates/` into Block Kit, the only place message layout lives.

use super::mrkdwn;
use crate::config::Config;
use crate::domain::incident::{Actor, Incident, NoChange, Stamp, State};
use chrono::{DateTime, Utc};
use minijinja::{context, Environment};
use slack_morphism::prelude::SlackBlock;
use std::sync::OnceLock;

const INCIDENT_BLOCKS: &str = include_str!("../../templates/incident.blocks.json.j2");
const INCIDENT_TEXT: &str = include_str!("../../templates/incident.text.j2");
const NOBODY: &str = include_str!("../../templates/escalation.nobody.j2");
const HANDOFF_DM: &str = include_str!("../../templates/handoff.dm.j2");
const HANDOFF_CHANNEL: &str = include_str!("../../templates/handoff.channel.j2");
const STORM_DIGEST: &str = include_str!("../../templates/storm.digest.j2");
const REPORT_TEXT: &str = include_str!("../../templates/report.text.j2");
const PAGE_REMINDER: &str = include_str!("../../templates/page.reminder.j2");

mod notice;
mod reply;
mod room;
#[cfg(test)]
mod safety_tests;
mod swap;
pub use notice::{notice, weekly_report, Target};
pub use reply::{refusal, sentence};
pub use room::{declare_view, postmortem, room_resolved, room_summary, timeline};

/// Every template, by the name the renderers use.
const TEMPLATES: &[(&str, &str)] = &[
    ("incident.blocks", INCIDENT_BLOCKS),
    ("incident.text", INCIDENT_TEXT),
    ("swap.blocks", swap::ASK_BLOCKS),
    ("swap.text", swap::ASK_TEXT),
    ("swap.answered", swap::ANSWERED),
    ("swap.announced", swap::ANNOUNCED),
    ("escalation.nobody", NOBODY),
    ("handoff.dm", HANDOFF_DM),
    ("handoff.channel", HANDOFF_CHANNEL),
    ("report.text", REPORT_TEXT),
    ("storm.digest", STORM_DIGEST),
    ("page.reminder", PAGE_REMINDER),
    ("room.summary.blocks", room::SUMMARY_BLOCKS),
    ("room.summary.text", room::SUMMARY_TEXT),
    ("room.update.blocks", room::UPDATE_BLOCKS),
    ("room.update.text", room::UPDATE_TEXT),
    ("room.resolved.blocks", room::RESOLVED_BLOCKS),
    ("room.resolved.text", room::RESOLVED_TEXT),
    ("room.severity", room::SEVERITY),
    ("room.role", room::ROLE),
    ("room.kept", room::KEPT),
    ("room.nudge", room::NUDGE),
    ("room.timeline", room::TIMELINE),
    ("incident.declare", room::DECLARE),
    ("postmortem.md", room::POSTMORTEM),
];

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("template {0}: {1}")]
    Template(&'static str, minijinja::Error),
    #[error("template {0} did not produce valid Block Kit: {1}")]
    Blocks(&'static str, serde_json::Error),
}

/// A message ready for `chat.postMessage` / `chat.update`.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub text: String,
    pub blocks: Vec<SlackBlock>,
    /// The raw Block Kit JSON (what Slack receives), for checks and tests.
    pub blocks_json: serde_json::Value,
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // Nothing is escaped for HTML: outside text is escaped for mrkdwn
        // before it reaches a template, and `tojson` quotes it in Block Kit.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.add_filter("clip", clip);
        // For `plain_text` objects: context values arrive mrkdwn-escaped.
        env.add_filter("plain", |s: String| mrkdwn::plain(&s));
        env.add_function("mins", |s: Option<f64>| {
            s.map_or("–".to_string(), |v| format!("{:.1} min", v / 60.0))
        });
        env.add_function("pct", |x: Option<f64>| {
            x.map_or("–".to_string(), |v| format!("{:.0}%", v * 100.0))
        });
        env.add_function("trend", |now: i64, before: i64| match now.cmp(&before) {
            std::cmp::Ordering::Greater => format!("(▲ {} from {before})", now - before),
            std::cmp::Ordering::Less => format!("(▼ {} from {before})", before - now),
            std::cmp::Ordering::Equal => "(same as before)".to_string(),
        });
        // Built-in templates are compiled into the binary; a broken one fails the tests.
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                panic!("template {name} does not parse: {e}");
            }
        }
        env
    })
}

/// Cuts `s` to at most `max` characters, marking the cut; Block Kit rejects longer fields.
fn clip(s: String, max: usize) -> String {
    if s.chars().count() <= max {
        return s;
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `<@U123>` for people, the tool's name for integrations.
pub fn actor_mention(a: &Actor) -> String {
    match a {
        Actor::Slack { user_id } => mrkdwn::user(user_id),
        Actor::Integration { client: Some(c) } => format!("{} (via integration)", mrkdwn::text(c)),
        Actor::Integration { client: None } => "the monitoring integration".to_string(),
        Actor::Phone {
            slack_id: Some(s), ..
        } => format!("{} (by phone)", mrkdwn::user(s)),
        Actor::Phone { user, .. } => format!("{} (by phone)", mrkdwn::text(user)),
        Actor::Api { by } => format!("{} (through the API)", mrkdwn::text(by)),
    }
}

/// Why an acknowledge or resolve changed nothing, and who got there first.
pub fn no_change(inc: &Incident, why: NoChange) -> String {
    let stamp = match why {
        NoChange::AlreadyAcknowledged => inc.acknowledged.as_ref(),
        NoChange::AlreadyResolved => inc.resolved.as_ref(),
    };
    match stamp {
        Some(s) => format!(
            "#{}: {why} (by {} {}).",
            inc.id,
            actor_mention(&s.by),
            slack_date(s.at)
        ),
        None => format!("#{}: {why}.", inc.id),
    }
}

/// A Slack date token: shown in each reader's own time zone, with a UTC fallback.
pub fn slack_date(at: DateTime<Utc>) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} at {{time}}|{}>",
        at.timestamp(),
        at.format("%Y-%m-%d %H:%M UTC")
    )
}

fn stamp(s: &Option<Stamp>) -> minijinja::Value {
    match s {
        Some(s) => context! { by => actor_mention(&s.by), at => slack_date(s.at) },
        None => minijinja::Value::from(()),
    }
}

/// The buttons that apply in the incident's current state, in display order.
fn buttons(inc: &Incident) -> Vec<minijinja::Value> {
    let id = inc.id.to_string();
    let b = |action_id: &str, label: &str, value: String, style: Option<&str>| {
        context! { action_id => action_id, label => label, value => value, style => style }
    };
    let mut out = vec![];
    if inc.state == State::Triggered {
        out.push(b(
            "incident_acknowledge",
            "Acknowledge",
            id.clone(),
            Some("primary"),
        ));
    }
    if inc.state != State::Resolved {
        out.push(b("incident_resolve", "Resolve", id.clone(), None));
    }
    if inc.state == State::Triggered && inc.escalation.as_ref().is_some_and(|e| !e.exhausted) {
        out.push(b(
            "incident_escalate",
            "Escalate",
            id.clone(),
            Some("danger"),
        ));
    }
    if inc.state == State::Acknowledged {
        out.push(b(
            "incident_snooze_1h",
            "Snooze 1h",
            format!("{id}:60"),
            None,
        ));
        out.push(b(
            "incident_snooze_4h",
            "Snooze 4h",
            format!("{id}:240"),
            None,
        ));
    }
    if let (true, Some(n)) = (inc.state != State::Resolved, inc.insight.nearest) {
        let label = format!("Merge into #{}", n.id);
        out.push(b("incident_merge", &label, format!("{id}:{}", n.id), None));
    }
    let no_room = inc.coord.room.as_ref().is_none_or(|r| r.failed.is_some());
    if inc.state != State::Resolved && no_room {
        out.push(b("incident_open_channel", "Open channel", id, None));
    }
    out
}

/// The service's name, escaped for mrkdwn like every name tocsin did not write.
fn service_name(inc: &Incident, config: &Config) -> String {
    mrkdwn::text(
        config
            .service(&inc.service_id)
            .map_or(&inc.service_id, |s| &s.name),
    )
}

/// The alert's title, escaped for mrkdwn (`| plain` undoes it in headers).
fn title(inc: &Incident) -> String {
    mrkdwn::text(&inc.alert.summary)
}

/// (label, emoji) of the incident's state.
fn state_label(inc: &Incident) -> (&'static str, &'static str) {
    let emoji = match inc.state {
        State::Triggered => "🔴",
        State::Acknowledged => "🟡",
        State::Resolved => "✅",
    };
    (state_name(inc.state), emoji)
}

/// A state as people read it.
fn state_name(state: State) -> &'static str {
    match state {
        State::Triggered => "Triggered",
        State::Acknowledged => "Acknowledged",
        State::Resolved => "Resolved",
    }
}

/// The alert's links, and the sending tool's page for it, as finished
/// mrkdwn: a link only where the URL is safe, else the label alone.
fn links(inc: &Incident) -> Vec<String> {
    let mut out: Vec<String> = inc
        .alert
        .links
        .iter()
        .map(|l| mrkdwn::link(&l.href, l.text.as_deref().unwrap_or("Details")))
        .collect();
    if let Some(url) = &inc.alert.client_url {
        out.push(mrkdwn::link(
            url,
            inc.alert.client.as_deref().unwrap_or("Details"),
        ));
    }
    out
}

/// The incident's alert message, in its current state.
pub fn incident(inc: &Incident, config: &Config) -> Result<Rendered, RenderError> {
    let service = service_name(inc, config);
    let (state_label, state_emoji) = state_label(inc);
    let links = links(inc);
    let mut paging: Vec<String> = vec![];
    for p in &inc.paged {
        let m = mention_user(config, &p.user);
        if !paging.contains(&m) {
            paging.push(m);
        }
    }
    let ctx = context! {
        id => inc.id,
        title => title(inc),
        service => service,
        severity => inc.alert.severity.as_str(),
        sev => inc.sev().as_str(),
        room => inc.room_channel(),
        room_failed => inc.coord.room.as_ref().and_then(|r| r.failed.as_deref()).map(mrkdwn::text),
        commander => inc.coord.commander.as_deref().map(mrkdwn::user),
        source => mrkdwn::text(&inc.alert.source),
        alert_count => inc.alert_count,
        opened => slack_date(inc.created_at),
        state => inc.state.as_str(),
        state_label => state_label,
        state_emoji => state_emoji,
        acknowledged => stamp(&inc.acknowledged),
        resolved => stamp(&inc.resolved),
        links => links,
        paging => paging,
        exhausted => inc.escalation.as_ref().is_some_and(|e| e.exhausted),
        snoozed_until => inc.snoozed_until.map(slack_date),
        waiting => inc.held.iter().map(|h| format!("{} at {}", mention_user(config, &h.user), slack_date(h.until))).collect::<Vec<_>>(),
        buttons => buttons(inc),
        call => call_lines(inc, config),
        alerts => alert_lines(inc).into_iter().map(|(text, _)| text).collect::<Vec<_>>(),
        split_lines => split_lines(inc),
        flapping => inc.flapping.then_some(inc.flap_times.len()),
        changes => inc.changes.iter().rev().take(5).map(|c| change_line(c, inc.created_at)).collect::<Vec<_>>(),
        alerts_more => inc.alerts.len().saturating_sub(ALERT_LINES),
        alerts_firing => inc.alerts.iter().filter(|a| a.firing).count(),
        outlier => outlier_line(inc),
        outlier_label => inc.insight.outlier.map(|o| o.as_str()),
        past => past_lines(inc, config),
    };
    render("incident.blocks", "incident.text", ctx)
}

/// "deploy api v1.2.3 (ci), 12 min before": a change, timed from the incident's start.
fn change_line(c: &crate::domain::incident::Change, opened: DateTime<Utc>) -> String {
    let minutes = (opened - c.at).num_minutes().max(0);
    let what = match &c.link {
        Some(l) => mrkdwn::link(&l.href, &c.summary),
        None => mrkdwn::text(&c.summary),
    };
    let source = c
        .source
        .as_ref()
        .map(|s| format!(" ({})", mrkdwn::text(s)))
        .unwrap_or_default();
    format!("{what}{source}, {minutes} min before")
}

/// Grouped alerts shown in full before the rest are summed up.
const ALERT_LINES: usize = 5;

/// The grouped alert lines with their **Split out** buttons, when any line
/// was grouped by similarity and the incident is open; empty otherwise.
fn split_lines(inc: &Incident) -> Vec<minijinja::Value> {
    let lines = alert_lines(inc);
    if inc.state == State::Resolved || lines.iter().all(|(_, split)| split.is_none()) {
        return vec![];
    }
    lines
        .into_iter()
        .map(|(text, split)| context! { text => text, split => split })
        .collect()
}

/// The first few grouped alerts, firing ones first, each linked to its
/// source; with the value of its **Split out** button if similarity put it
/// here (and its key fits a button's value).
fn alert_lines(inc: &Incident) -> Vec<(String, Option<String>)> {
    let mut alerts: Vec<_> = inc.alerts.iter().collect();
    alerts.sort_by_key(|a| !a.firing);
    alerts
        .into_iter()
        .take(ALERT_LINES)
        .map(|a| {
            let mark = if a.firing { "🔴" } else { "✅" };
            let why = a
                .similar
                .as_ref()
                .map(|s| format!(" · similar to #{}: {}", inc.id, score(s.score)))
                .unwrap_or_default();
            let split = (a.similar.is_some() && a.key.len() <= 1900)
                .then(|| format!("{}:{}", inc.id, a.key));
            let text = match &a.link {
                Some(l) => format!("{mark} {}{why}", mrkdwn::link(l, &a.summary)),
                None => format!("{mark} {}{why}", mrkdwn::text(&a.summary)),
            };
            (text, split)
        })
        .collect()
}

/// A similarity in thousandths as people read it: `0.86`.
fn score(per_mille: u16) -> String {
    format!("{:.2}", f64::from(per_mille) / 1000.0)
}

/// The outlier label as one line of the message.
fn outlier_line(inc: &Incident) -> Option<String> {
    use crate::domain::similarity::Outlier;
    let days = crate::domain::grouping::OUTLIER_DAYS;
    inc.insight.outlier.map(|o| match o {
        Outlier::Frequent => format!(":repeat: *Frequent:* this kind was at least 20% of the service's incidents in the last {days} days"),
        Outlier::Rare => format!(":mag: *Rare:* this kind was at most 5% of the service's incidents in the last {days} days"),
        Outlier::Anomaly => format!(":warning: *Anomaly:* nothing like it on this service in the last {days} days"),
    })
}

/// Resolved incidents like this one, a line each: what fixed it last time.
pub(crate) fn past_lines(inc: &Incident, config: &Config) -> Vec<String> {
    inc.insight
        .past
        .iter()
        .map(|p| {
            let took = (p.resolved.at - p.opened).num_minutes().max(0);
            let service = config
                .service(&p.service_id)
                .map_or(p.service_id.as_str(), |s| s.name.as_str());
            let mut line = format!(
                "#{} {} ({}, {}): {}, resolved by {} after {}",
                p.id,
                mrkdwn::text(&p.title),
                mrkdwn::text(service),
                score(p.score),
                slack_date(p.opened),
                actor_mention(&p.resolved.by),
                duration_words(took),
            );
            if let Some(note) = &p.note {
                line.push_str(&format!(" · last note: {}", mrkdwn::text(note)));
            }
            if let Some(room) = &p.room {
                line.push_str(&format!(" · postmortem in {}", mrkdwn::channel(room)));
            }
            line
        })
        .collect()
}

/// `42 min`, `3 h 5 min`, `2 d 4 h`.
fn duration_words(minutes: i64) -> String {
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 24 * 60 => format!("{} h {} min", m / 60, m % 60),
        m => format!("{} d {} h", m / (24 * 60), m % (24 * 60) / 60),
    }
}

/// A routed phone call in a few lines: who called which number, each ring,
/// and the voicemail with its transcription.
fn call_lines(inc: &Incident, config: &Config) -> Vec<String> {
    let Some(c) = &inc.call else {
        return vec![];
    };
    let mut out = vec![format!(
        ":telephone_receiver: Call from {} to {}",
        mrkdwn::text(&c.caller),
        mrkdwn::text(&c.route)
    )];
    for a in &c.attempts {
        let who = mention_user(config, &a.user);
        out.push(match (a.status.as_str(), a.talk_seconds) {
            ("answered" | "completed", Some(talk)) => format!(
                "{who} answered after {} s of ringing; talked {talk} s",
                a.rang_seconds
            ),
            ("answered" | "completed", None) => {
                format!("{who} answered after {} s of ringing", a.rang_seconds)
            }
            (status, _) => format!(
                "{who}: {} after {} s",
                mrkdwn::text(&status.replace('-', " ")),
                a.rang_seconds
            ),
        });
    }
    if c.caller_hung_up {
        out.push("The caller hung up before anyone answered.".into());
    }
    if let Some(v) = &c.voicemail {
        out.push(format!(
            "{} ({} s)",
            mrkdwn::link(&v.recording_url, "Voicemail"),
            v.seconds
        ));
        if let Some(t) = &v.transcription {
            out.push(format!("> {}", mrkdwn::text(t)));
        }
    }
    out
}

/// The fields a short page in Slack (a storm digest line) speaks of.
fn page_context(inc: &Incident, config: &Config) -> minijinja::Value {
    context! {
        id => inc.id,
        title => title(inc),
        severity => inc.alert.severity.as_str(),
        service => service_name(inc, config),
    }
}

fn render_page(name: &'static str, ctx: minijinja::Value) -> Result<String, RenderError> {
    env()
        .get_template(name)
        .and_then(|t| t.render(ctx))
        .map(|s| s.trim().to_string())
        .map_err(|e| RenderError::Template(name, e))
}

/// `/oncall report`: a team's numbers over `days`, beside the period before.
pub fn report(
    now: &crate::domain::report::Report,
    before: &crate::domain::report::Report,
    team: &str,
    days: i64,
) -> Result<String, RenderError> {
    let ctx = context! {
        now => minijinja::Value::from_serialize(now),
        before => minijinja::Value::from_serialize(before),
        team => team,
        days => days,
    };
    render_page("report.text", ctx)
}

/// Several new incidents named in one message, during an alert storm.
pub fn storm_digest(incidents: &[Incident], config: &Config) -> Result<String, RenderError> {
    let items: Vec<minijinja::Value> = incidents.iter().map(|i| page_context(i, config)).collect();
    render_page("storm.digest", context! { incidents => items })
}

/// Slack's limits for one message's blocks and one section's text.
pub const MAX_BLOCKS: usize = 50;
const SECTION_MAX: usize = 3000;

/// The storm digest as sections appended to an incident message: at most
/// `room` blocks of at most 3,000 characters, cut at line ends, saying how
/// many were left out when it does not fit.
pub fn storm_banner(
    incidents: &[Incident],
    config: &Config,
    room: usize,
) -> Result<Vec<SlackBlock>, RenderError> {
    let text = storm_digest(incidents, config)?;
    let mut chunks: Vec<String> = vec![String::new()];
    let lines: Vec<&str> = text.lines().collect();
    for (n, line) in lines.iter().enumerate() {
        let line = clip(line.to_string(), SECTION_MAX);
        let full = chunks.len() == room;
        let last = chunks.last_mut().expect("one chunk at least");
        if last.chars().count() + line.chars().count() < SECTION_MAX {
            if !last.is_empty() {
                last.push('\n');
            }
            last.push_str(&line);
            continue;
        }
        if full {
            // Replace the last line that fits with a count of what is left.
            let mut left = lines.len() - n;
            if let Some(cut) = last.rfind('\n') {
                last.truncate(cut);
                left += 1;
            }
            last.push_str(&format!("\n… and {left} more"));
            break;
        }
        chunks.push(line);
    }
    chunks.truncate(room);
    chunks
        .into_iter()
        .map(|t| {
            serde_json::from_value(serde_json::json!({
                "type": "section",
                "text": {"type": "mrkdwn", "text": t},
            }))
            .map_err(|e| RenderError::Blocks("storm.digest", e))
        })
        .collect()
}

/// `<@U…>` for a configured user with a Slack id, else their name (or id).
pub fn mention_user(config: &Config, user: &str) -> String {
    match config.user(user) {
        Some(crate::config::User {
            slack_id: Some(s), ..
        }) => mrkdwn::user(s),
        Some(u) => mrkdwn::text(&u.name),
        None => mrkdwn::text(user),
    }
}

fn render(
    blocks_name: &'static str,
    text_name: &'static str,
    ctx: minijinja::Value,
) -> Result<Rendered, RenderError> {
    let text = env()
        .get_template(text_name)
        .and_then(|t| t.render(&ctx))
        .map_err(|e| RenderError::Template(text_name, e))?;
    let (blocks, blocks_json) = render_blocks(blocks_name, ctx)?;
    Ok(Rendered {
        text: text.trim().to_string(),
        blocks,
        blocks_json,
    })
}

/// Renders a Block Kit template and checks it against slack-morphism's types.
fn render_blocks(
    name: &'static str,
    ctx: minijinja::Value,
) -> Result<(Vec<SlackBlock>, serde_json::Value), RenderError> {
    let json = env()
        .get_template(name)
        .and_then(|t| t.render(&ctx))
        .map_err(|e| RenderError::Template(name, e))?;
    let blocks_json: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| RenderError::Blocks(name, e))?;
    let blocks =
        serde_json::from_value(blocks_json.clone()).map_err(|e| RenderError::Blocks(name, e))?;
    Ok((blocks, blocks_json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::{tests::sample, Link, Transition};
    use chrono::TimeZone;

    fn buttons(r: &Rendered) -> Vec<String> {
        r.blocks_json
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().unwrap().clone())
            .map(|e| e["text"]["text"].as_str().unwrap().to_string())
            .collect()
    }

    fn all_text(r: &Rendered) -> String {
        r.blocks_json.to_string()
    }

    #[test]
    fn buttons_follow_the_state() {
        let cfg = Config::default();
        let at = Utc.with_ymd_and_hms(2026, 11, 25, 4, 0, 0).unwrap();
        let by = Actor::Slack {
            user_id: "UBOB".into(),
        };
        let open = sample(7);
        let acked = open.apply(Transition::Acknowledge, by.clone(), at).unwrap();
        let resolved = acked.apply(Transition::Resolve, by, at).unwrap();
        let cases = [
            (&open, vec!["Acknowledge", "Resolve", "Open channel"]),
            (
                &acked,
                vec!["Resolve", "Snooze 1h", "Snooze 4h", "Open channel"],
            ),
            (&resolved, vec![]),
        ];
        for (inc, want) in cases {
            let r = incident(inc, &cfg).unwrap();
            assert_eq!(buttons(&r), want, "{:?}", inc.state);
        }
        let r = incident(&acked, &cfg).unwrap();
        assert!(all_text(&r).contains("Acknowledged by <@UBOB>"));
        assert!(r.text.contains("acknowledged by <@UBOB>"));
    }

    #[test]
    fn hostile_text_stays_inside_its_json_strings_and_limits() {
        let mut inc = sample(1);
        inc.alert.summary = format!("\"}}]{{\n<script> {}", "x".repeat(5000));
        inc.alert.links = vec![Link {
            href: "http://example.com/a\"b".into(),
            text: None,
        }];
        let r = incident(&inc, &Config::default()).unwrap();
        let header = r.blocks_json[0]["text"]["text"].as_str().unwrap();
        assert!(header.chars().count() <= 150, "{}", header.chars().count());
        // The fallback is mrkdwn: escaped. The header is plain_text: as typed.
        assert!(r.text.contains("&lt;script&gt;"));
        assert!(header.contains("<script>"));
    }

    #[test]
    fn a_storm_banner_fits_the_blocks_left_and_counts_what_it_leaves_out() {
        let incidents: Vec<Incident> = (1..=100)
            .map(|id| {
                let mut inc = sample(id);
                inc.alert.summary = format!("{id} {}", "y".repeat(400));
                inc
            })
            .collect();
        let cfg = Config::default();
        let sections = |room| {
            let blocks = storm_banner(&incidents, &cfg, room).unwrap();
            let v = serde_json::to_value(&blocks).unwrap();
            v.as_array()
                .unwrap()
                .iter()
                .map(|b| b["text"]["text"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        // Room for everything: every incident named, each section within Slack's limit.
        let all = sections(MAX_BLOCKS);
        assert!(all.len() > 1, "100 long lines need several sections");
        let joined = all.join("\n");
        for id in 1..=100 {
            assert!(joined.contains(&format!("• #{id} [")), "#{id}");
        }
        assert!(all.iter().all(|t| t.chars().count() <= SECTION_MAX));
        assert!(!joined.contains("more"));
        // Room for two: the rest are counted, and named + counted = 100.
        let two = sections(2);
        assert_eq!(two.len(), 2);
        assert!(two.iter().all(|t| t.chars().count() <= SECTION_MAX));
        let joined = two.join("\n");
        let named = joined.matches("• #").count();
        let left: usize = joined
            .rsplit("… and ")
            .next()
            .and_then(|t| t.trim_end_matches(" more").parse().ok())
            .expect("a count of the rest");
        assert_eq!(named + left, 100, "{joined}");
        assert!(sections(0).is_empty());
    }

    #[test]
    fn the_fallback_text_says_what_happened() {
        let r = incident(&sample(42), &Config::default()).unwrap();
        assert_eq!(
            r.text,
            "[Triggered] #42 CPU on fire (api, critical, 1 alert)"
        );
    }
}
