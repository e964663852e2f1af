//! Renders an incident's war-room messages: the live summary, status updates,
//! announcements, the timeline, the resolve summary, the postmortem and the
//! declare modal, all from `templates/`.

use super::{actor_mention, clip, env, mention_user, render, render_page, slack_date, stamp};
use super::{RenderError, Rendered};
use crate::config::Config;
use crate::incident::{Actor, Incident, State};
use crate::warroom::{Entry, EntryKind, Sev};
use chrono::{DateTime, Duration, Utc};
use minijinja::context;

pub(super) const SUMMARY_BLOCKS: &str =
    include_str!("../../../templates/room.summary.blocks.json.j2");
pub(super) const SUMMARY_TEXT: &str = include_str!("../../../templates/room.summary.text.j2");
pub(super) const UPDATE_BLOCKS: &str =
    include_str!("../../../templates/room.update.blocks.json.j2");
pub(super) const UPDATE_TEXT: &str = include_str!("../../../templates/room.update.text.j2");
pub(super) const RESOLVED_BLOCKS: &str =
    include_str!("../../../templates/room.resolved.blocks.json.j2");
pub(super) const RESOLVED_TEXT: &str = include_str!("../../../templates/room.resolved.text.j2");
pub(super) const SEVERITY: &str = include_str!("../../../templates/room.severity.j2");
pub(super) const ROLE: &str = include_str!("../../../templates/room.role.j2");
pub(super) const NUDGE: &str = include_str!("../../../templates/room.nudge.j2");
pub(super) const TIMELINE: &str = include_str!("../../../templates/room.timeline.j2");
pub(super) const DECLARE: &str = include_str!("../../../templates/incident.declare.json.j2");
pub(super) const POSTMORTEM: &str = include_str!("../../../templates/postmortem.md.j2");

fn service_name(inc: &Incident, config: &Config) -> String {
    config
        .service(&inc.service_id)
        .map_or(inc.service_id.clone(), |s| s.name.clone())
}

fn state_label(inc: &Incident) -> (&'static str, &'static str) {
    match inc.state {
        State::Triggered => ("Triggered", "🔴"),
        State::Acknowledged => ("Acknowledged", "🟡"),
        State::Resolved => ("Resolved", "✅"),
    }
}

/// "1 h 5 min", "12 min", "40 s".
pub(crate) fn span(d: Duration) -> String {
    let secs = d.num_seconds().max(0);
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A person by Slack id: a mention in Slack, their configured name in files.
fn person(config: &Config, slack_id: &str, slack: bool) -> String {
    if slack {
        return format!("<@{slack_id}>");
    }
    config
        .users
        .iter()
        .find(|u| u.slack_id.as_deref() == Some(slack_id))
        .map_or(slack_id.to_string(), |u| u.name.clone())
}

fn actor(config: &Config, a: &Actor, slack: bool) -> String {
    match a {
        Actor::Slack { user_id } => person(config, user_id, slack),
        other if slack => actor_mention(other),
        Actor::Phone { user, .. } => format!(
            "{} (by phone)",
            config.user(user).map_or(user.as_str(), |u| u.name.as_str())
        ),
        other => actor_mention(other),
    }
}

fn when(at: DateTime<Utc>, slack: bool) -> String {
    if slack {
        slack_date(at)
    } else {
        at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
    }
}

/// Everything that happened, oldest first: the incident's own changes and
/// the entries people added, each with its time and author.
fn timeline_lines(inc: &Incident, config: &Config, slack: bool) -> Vec<String> {
    let mut items: Vec<(DateTime<Utc>, String)> = vec![(
        inc.created_at,
        format!(
            "Opened: {} (from {})",
            inc.alert.summary.replace(['<', '>'], " "),
            inc.alert.client.as_deref().unwrap_or(&inc.alert.source)
        ),
    )];
    for p in &inc.paged {
        let who = if slack {
            mention_user(config, &p.user)
        } else {
            config
                .user(&p.user)
                .map_or(p.user.clone(), |u| u.name.clone())
        };
        let level = p
            .level
            .map_or(String::new(), |l| format!(" (escalation level {})", l + 1));
        items.push((p.at, format!("Paged {who}{level}")));
    }
    if let Some(s) = &inc.acknowledged {
        items.push((
            s.at,
            format!("Acknowledged by {}", actor(config, &s.by, slack)),
        ));
    }
    if let Some(s) = &inc.resolved {
        items.push((s.at, format!("Resolved by {}", actor(config, &s.by, slack))));
    }
    for e in &inc.coord.timeline {
        let label = match e.kind {
            EntryKind::Note => "Note",
            EntryKind::Pin => "Pinned",
            EntryKind::Update => "Status update",
            EntryKind::Role => "Role",
            EntryKind::Severity => "Severity",
            EntryKind::Channel => "Channel",
        };
        let by = e.by.as_deref().map_or(String::new(), |b| {
            format!(" — {}", person(config, b, slack))
        });
        let text = if slack {
            e.text.clone()
        } else {
            // Slack's own markup means nothing in a file.
            e.text
                .replace("<@", "@")
                .replace("<#", "#")
                .replace('>', "")
        };
        items.push((e.at, format!("{label}: {text}{by}")));
    }
    items.sort_by_key(|(at, _)| *at);
    items
        .into_iter()
        .map(|(at, text)| format!("{} · {}", when(at, slack), clip(text, 500)))
        .collect()
}

/// Whoever worked it: paged people, whoever acknowledged, commander, comms.
fn responders(inc: &Incident, config: &Config, slack: bool) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut add = |p: String| {
        if !out.contains(&p) {
            out.push(p);
        }
    };
    for p in &inc.paged {
        add(if slack {
            mention_user(config, &p.user)
        } else {
            config
                .user(&p.user)
                .map_or(p.user.clone(), |u| u.name.clone())
        });
    }
    if let Some(s) = &inc.acknowledged {
        add(actor(config, &s.by, slack));
    }
    for r in [&inc.coord.commander, &inc.coord.comms]
        .into_iter()
        .flatten()
    {
        add(person(config, r, slack));
    }
    out
}

fn links(inc: &Incident) -> Vec<minijinja::Value> {
    let mut out: Vec<minijinja::Value> = inc
        .alert
        .links
        .iter()
        .map(|l| context! { href => l.href.clone(), text => l.text.clone() })
        .collect();
    if let Some(url) = &inc.alert.client_url {
        let text = inc.alert.client.clone().unwrap_or_else(|| "Details".into());
        out.push(context! { href => url.clone(), text => text });
    }
    out
}

fn update_ctx(e: &Entry, config: &Config) -> minijinja::Value {
    context! {
        text => e.text.clone(),
        by => e.by.as_deref().map_or("someone".to_string(), |b| person(config, b, true)),
        at => slack_date(e.at),
    }
}

/// The pinned live summary of an incident's channel.
pub fn room_summary(inc: &Incident, config: &Config) -> Result<Rendered, RenderError> {
    let (state_label, state_emoji) = state_label(inc);
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        service => service_name(inc, config),
        state_label => state_label,
        state_emoji => state_emoji,
        commander => inc.coord.commander.as_ref().map(|c| format!("<@{c}>")),
        comms => inc.coord.comms.as_ref().map(|c| format!("<@{c}>")),
        started => slack_date(inc.created_at),
        acknowledged => stamp(&inc.acknowledged),
        resolved => stamp(&inc.resolved),
        duration => inc.resolved.as_ref().map(|r| span(r.at - inc.created_at)),
        alert_count => inc.alert_count,
        description => inc.coord.description.clone(),
        latest => inc.latest_update().map(|e| update_ctx(e, config)),
        links => links(inc),
    };
    render("room.summary.blocks", "room.summary.text", ctx)
}

/// A status update as stakeholders see it, wherever it is posted.
pub fn status_update(
    inc: &Incident,
    config: &Config,
    update: &Entry,
) -> Result<Rendered, RenderError> {
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        state_label => state_label(inc).0,
        room => inc.room_channel(),
        ..update_ctx(update, config)
    };
    render("room.update.blocks", "room.update.text", ctx)
}

fn resolved_ctx(inc: &Incident, config: &Config) -> minijinja::Value {
    let end = inc.resolved.as_ref().map_or(inc.last_alert_at, |s| s.at);
    let archive_at = inc
        .coord
        .room
        .as_ref()
        .filter(|r| !r.kept && !r.archived)
        .and_then(|r| r.archive_at);
    context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        service => service_name(inc, config),
        duration => span(end - inc.created_at),
        tta => inc.acknowledged.as_ref().map(|a| span(a.at - inc.created_at)),
        alert_count => inc.alert_count,
        responders => responders(inc, config, true),
        resolved => stamp(&inc.resolved),
        timeline => timeline_lines(inc, config, true),
        archive_at => archive_at.map(slack_date),
        room => inc.room_channel(),
    }
}

/// The resolve summary: blocks (with "Keep channel") for the incident's
/// channel; its text is what stakeholders and subscribers get.
pub fn room_resolved(inc: &Incident, config: &Config) -> Result<Rendered, RenderError> {
    render(
        "room.resolved.blocks",
        "room.resolved.text",
        resolved_ctx(inc, config),
    )
}

/// "@bob changed #4 from SEV3 to SEV1."
pub fn severity_change(
    inc: &Incident,
    by: &str,
    before: Sev,
    repaged: bool,
) -> Result<String, RenderError> {
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        by => format!("<@{by}>"),
        before => before.as_str(),
        after => inc.sev().as_str(),
        raised => inc.sev() < before,
        repaged => repaged,
    };
    render_page("room.severity", ctx)
}

/// "@carol is now incident commander for #4 …"
pub fn role_change(inc: &Incident, role: &str, who: &str, by: &str) -> Result<String, RenderError> {
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        role => role,
        who => format!("<@{who}>"),
        by => format!("<@{by}>"),
    };
    render_page("room.role", ctx)
}

/// The commander's reminder that stakeholders are waiting for an update.
pub fn nudge(inc: &Incident, now: DateTime<Utc>) -> Result<String, RenderError> {
    let since = inc.latest_update().map_or(inc.created_at, |e| e.at);
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        commander => inc.coord.commander.as_ref().map(|c| format!("<@{c}>")),
        since => span(now - since),
        room => inc.room_channel(),
    };
    render_page("room.nudge", ctx)
}

/// `/incident timeline`.
pub fn timeline(inc: &Incident, config: &Config) -> Result<String, RenderError> {
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        state_label => state_label(inc).0,
        timeline => timeline_lines(inc, config, true),
    };
    render_page("room.timeline", ctx)
}

/// The postmortem draft (Markdown), from `templates/postmortem.md.j2`.
pub fn postmortem(inc: &Incident, config: &Config) -> Result<String, RenderError> {
    let end = inc.resolved.as_ref().map_or(inc.last_alert_at, |s| s.at);
    let updates: Vec<String> = inc
        .coord
        .timeline
        .iter()
        .filter(|e| e.kind == EntryKind::Update)
        .map(|e| {
            let by =
                e.by.as_deref()
                    .map_or("someone".to_string(), |b| person(config, b, false));
            format!("{} — {by}: {}", when(e.at, false), e.text)
        })
        .collect();
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        service => service_name(inc, config),
        started => when(inc.created_at, false),
        acknowledged => inc.acknowledged.as_ref().map(|a| format!("{} by {}", when(a.at, false), actor(config, &a.by, false))),
        resolved_at => when(end, false),
        duration => span(end - inc.created_at),
        tta => inc.acknowledged.as_ref().map(|a| span(a.at - inc.created_at)),
        alert_count => inc.alert_count,
        commander => inc.coord.commander.as_deref().map(|c| person(config, c, false)),
        comms => inc.coord.comms.as_deref().map(|c| person(config, c, false)),
        responders => responders(inc, config, false),
        description => inc.coord.description.clone(),
        timeline => timeline_lines(inc, config, false),
        updates => updates,
    };
    env()
        .get_template("postmortem.md")
        .and_then(|t| t.render(ctx))
        .map_err(|e| RenderError::Template("postmortem.md", e))
}

/// The `/incident new` modal, as Slack's view JSON.
pub fn declare_view(
    config: &Config,
    title: Option<&str>,
) -> Result<serde_json::Value, RenderError> {
    let services: Vec<minijinja::Value> = config
        .services
        .iter()
        .map(|s| context! { id => s.id.clone(), name => s.name.clone() })
        .collect();
    let levels: Vec<minijinja::Value> = Sev::ALL
        .iter()
        .zip([
            "SEV1 · critical: customers cannot use the product",
            "SEV2 · major: a key feature is down or degraded",
            "SEV3 · minor: limited impact, a workaround exists",
            "SEV4 · low: no customer impact yet",
        ])
        .map(|(s, label)| context! { value => s.as_str(), label => label })
        .collect();
    let json = env()
        .get_template("incident.declare")
        .and_then(|t| t.render(context! { services => services, levels => levels, title => title }))
        .map_err(|e| RenderError::Template("incident.declare", e))?;
    let view: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| RenderError::Blocks("incident.declare", e))?;
    // Checked against slack-morphism's types, as every Block Kit template is.
    serde_json::from_value::<slack_morphism::prelude::SlackView>(view.clone())
        .map_err(|e| RenderError::Blocks("incident.declare", e))?;
    Ok(view)
}
