//! Renders an incident's war-room messages: the live summary, the timeline,
//! the resolve summary, the postmortem and the declare modal, all from
//! `templates/` (status updates and announcements are notices: `notice`).

use super::{actor_mention, clip, env, links, mention_user, mrkdwn, render, render_page};
use super::{sentence, slack_date, stamp, state_label};
use super::{service_name, title};
use super::{RenderError, Rendered};
use crate::config::Config;
use crate::domain::incident::{Actor, Incident};
use crate::domain::warroom::{Entry, EntryKind, Fact, Sev};
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
pub(super) const KEPT: &str = include_str!("../../../templates/room.kept.j2");
pub(super) const NUDGE: &str = include_str!("../../../templates/room.nudge.j2");
pub(super) const TIMELINE: &str = include_str!("../../../templates/room.timeline.j2");
pub(super) const DECLARE: &str = include_str!("../../../templates/incident.declare.json.j2");
pub(super) const POSTMORTEM: &str = include_str!("../../../templates/postmortem.md.j2");

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
        return mrkdwn::user(slack_id);
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
    let from = inc.alert.client.as_deref().unwrap_or(&inc.alert.source);
    let opened = if slack {
        format!("Opened: {} (from {})", title(inc), mrkdwn::text(from))
    } else {
        format!("Opened: {} (from {from})", inc.alert.summary)
    };
    let mut items: Vec<(DateTime<Utc>, String)> = vec![(inc.created_at, opened)];
    // People's entries before the incident's own changes made at the same
    // instant: a severity raise or a snooze ending comes before the page it causes.
    for e in &inc.coord.timeline {
        let label = match e.kind {
            EntryKind::Note => "Note",
            EntryKind::Pin => "Pinned",
            EntryKind::Update => "Status update",
            EntryKind::Role => "Role",
            EntryKind::Severity => "Severity",
            EntryKind::Channel => "Channel",
            EntryKind::Snooze => "Snooze",
        };
        let by = e.by.as_deref().map_or(String::new(), |b| {
            format!(" — {}", person(config, b, slack))
        });
        // A fact is worded here; other entries carry their words, and
        // tocsin's own lines from older builds carry Slack's markup in them.
        let fact = e.fact.as_ref().and_then(Fact::sentence);
        let text = match (fact, slack, e.kind.by_people()) {
            // A fact's words are tocsin's own, with its mentions built by
            // `mrkdwn`, whatever kind of entry carries it.
            (Some(s), true, _) => sentence(&s),
            (Some(s), false, _) => s.to_string(),
            // What people wrote never pings or links, however it was written
            // (so an older build's "Declared by" note stays inert).
            (None, true, true) => mrkdwn::text(&e.text),
            (None, true, false) => e.text.clone(),
            // Slack's own markup means nothing in a file.
            (None, false, _) => plain(&e.text),
        };
        items.push((e.at, format!("{label}: {text}{by}")));
    }
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
    items.sort_by_key(|(at, _)| *at);
    items
        .into_iter()
        .map(|(at, text)| format!("{} · {}", when(at, slack), clip(text, 500)))
        .collect()
}

/// Slack's own markup (`<@U1>`, `<#C1>`) means nothing in a file.
fn plain(text: &str) -> String {
    text.replace("<@", "@").replace("<#", "#").replace('>', "")
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

fn update_ctx(e: &Entry, config: &Config) -> minijinja::Value {
    context! {
        text => mrkdwn::text(&e.text),
        by => e.by.as_deref().map_or("someone".to_string(), |b| person(config, b, true)),
        at => slack_date(e.at),
    }
}

/// The pinned live summary of an incident's channel.
pub fn room_summary(inc: &Incident, config: &Config) -> Result<Rendered, RenderError> {
    let (state_label, state_emoji) = state_label(inc);
    let ctx = context! {
        id => inc.id,
        title => title(inc),
        sev => inc.sev().as_str(),
        service => service_name(inc, config),
        state_label => state_label,
        state_emoji => state_emoji,
        commander => inc.coord.commander.as_deref().map(mrkdwn::user),
        comms => inc.coord.comms.as_deref().map(mrkdwn::user),
        started => slack_date(inc.created_at),
        acknowledged => stamp(&inc.acknowledged),
        resolved => stamp(&inc.resolved),
        duration => inc.resolved.as_ref().map(|r| span(r.at - inc.created_at)),
        alert_count => inc.alert_count,
        description => inc.coord.description.as_deref().map(mrkdwn::text),
        latest => inc.latest_update().map(|e| update_ctx(e, config)),
        links => links(inc),
        past => super::past_lines(inc, config),
    };
    render("room.summary.blocks", "room.summary.text", ctx)
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
        title => title(inc),
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

/// `/incident timeline`.
pub fn timeline(inc: &Incident, config: &Config) -> Result<String, RenderError> {
    let ctx = context! {
        id => inc.id,
        title => title(inc),
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
            format!("{} — {by}: {}", when(e.at, false), plain(&e.text))
        })
        .collect();
    let ctx = context! {
        id => inc.id,
        title => inc.alert.summary.clone(),
        sev => inc.sev().as_str(),
        service => config.service(&inc.service_id).map_or(inc.service_id.clone(), |s| s.name.clone()),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::incident::tests::sample;
    use crate::domain::incident::{Link, Page, Stamp, Transition};
    use crate::domain::warroom::{role_changed, severity_changed, status_update, update_due};
    use crate::domain::warroom::{Audience, Role, Room};
    use chrono::TimeZone;
    use serde_json::Value;

    fn chars(v: &Value) -> usize {
        v.as_str().map_or(0, |s| s.chars().count())
    }

    /// Slack's Block Kit limits, as its API enforces them.
    fn check_limits(name: &str, blocks: &Value, max_blocks: usize) {
        let blocks = blocks
            .as_array()
            .unwrap_or_else(|| panic!("{name}: not a list"));
        assert!(
            blocks.len() <= max_blocks,
            "{name}: {} blocks",
            blocks.len()
        );
        for b in blocks {
            for id in [&b["block_id"], &b["element"]["action_id"]] {
                assert!(chars(id) <= 255, "{name}: id of {} chars", chars(id));
            }
            match b["type"].as_str().unwrap() {
                "header" => assert!(chars(&b["text"]["text"]) <= 150, "{name}: header"),
                "section" => {
                    assert!(chars(&b["text"]["text"]) <= 3000, "{name}: section text");
                    let fields = b["fields"].as_array().map_or(0, Vec::len);
                    assert!(fields <= 10, "{name}: {fields} fields");
                    for f in b["fields"].as_array().into_iter().flatten() {
                        assert!(chars(&f["text"]) <= 2000, "{name}: field");
                    }
                }
                "context" => {
                    let els = b["elements"].as_array().unwrap();
                    assert!(els.len() <= 10, "{name}: context elements");
                    for e in els {
                        assert!(chars(&e["text"]) <= 3000, "{name}: context text");
                    }
                }
                "actions" => {
                    let els = b["elements"].as_array().unwrap();
                    assert!(els.len() <= 25, "{name}: actions");
                    for e in els {
                        assert!(chars(&e["text"]["text"]) <= 75, "{name}: button text");
                        assert!(chars(&e["action_id"]) <= 255, "{name}: action_id");
                        assert!(chars(&e["value"]) <= 2000, "{name}: button value");
                    }
                }
                "input" => {
                    assert!(chars(&b["label"]["text"]) <= 2000, "{name}: label");
                    let options = b["element"]["options"].as_array();
                    assert!(options.map_or(0, Vec::len) <= 100, "{name}: options");
                    for o in options.into_iter().flatten() {
                        assert!(chars(&o["text"]["text"]) <= 75, "{name}: option text");
                        assert!(chars(&o["value"]) <= 150, "{name}: option value");
                    }
                    let max = b["element"]["max_length"].as_u64().unwrap_or(3000) as usize;
                    assert!(
                        chars(&b["element"]["initial_value"]) <= max,
                        "{name}: initial value"
                    );
                }
                other => panic!("{name}: unexpected block type {other}"),
            }
        }
    }

    /// An incident with everything filled in, far past every limit.
    fn busy() -> (Incident, Config) {
        let mut toml = String::new();
        for i in 0..150 {
            toml.push_str(&format!(
                "[[services]]\nid = \"s{i}\"\nname = \"{}\"\nteam = \"t\"\nintegration_key = \"{:032x}\"\n",
                "Service with a very long name ".repeat(5),
                i + 1
            ));
        }
        toml.push_str("[[teams]]\nid = \"t\"\nname = \"T\"\n");
        let config = Config::parse("t.toml", &toml).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
        let mut inc = sample(123_456_789);
        inc.alert.summary = "Checkout \"down\" <everywhere> & ".repeat(200);
        inc.alert.source = "x".repeat(5000);
        inc.alert.links = (0..30)
            .map(|i| Link {
                href: format!("https://example.com/{i}/{}", "p".repeat(3000)),
                text: Some("l".repeat(3000)),
            })
            .collect();
        inc.paged = (0..100)
            .map(|i| Page {
                user: format!("user{i}"),
                at,
                level: Some(i),
            })
            .collect();
        inc.acknowledged = Some(Stamp {
            by: crate::domain::incident::Actor::Slack {
                user_id: "U0BOB".into(),
            },
            at: at + Duration::minutes(4),
        });
        inc.coord.commander = Some("U0BOB".into());
        inc.coord.comms = Some("U0CAROL".into());
        inc.coord.description = Some("d".repeat(5000));
        inc.coord.room = Some(Room {
            channel: Some("C0ROOM".into()),
            name: Some("inc".into()),
            summary_ts: Some("1.2".into()),
            archive_at: Some(at + Duration::hours(3)),
            ..Room::asked(Some("C0EXEC".into()), 3600)
        });
        for i in 0..300 {
            inc.coord.timeline.push(Entry {
                at: at + Duration::minutes(i),
                by: Some("U0BOB".into()),
                kind: if i % 2 == 0 {
                    EntryKind::Update
                } else {
                    EntryKind::Pin
                },
                text: format!("{i} {}", "u".repeat(2800)),
                fact: None,
            });
        }
        (inc, config)
    }

    #[test]
    fn every_room_template_renders_within_slacks_limits() {
        let (inc, config) = busy();
        let update = inc.latest_update().unwrap().clone();
        let resolved = inc
            .apply(
                Transition::Resolve,
                crate::domain::incident::Actor::Slack {
                    user_id: "U0BOB".into(),
                },
                inc.created_at + Duration::hours(2),
            )
            .unwrap();
        let said = |(_, op): (String, crate::store::Outbound)| {
            super::super::notice(&op, &config).unwrap().unwrap().1
        };
        let cases = [
            ("incident", super::super::incident(&inc, &config).unwrap()),
            ("room.summary", room_summary(&inc, &config).unwrap()),
            (
                "room.summary resolved",
                room_summary(&resolved, &config).unwrap(),
            ),
            (
                "room.update",
                said(status_update(&inc, Audience::Room, &update)),
            ),
            ("room.resolved", room_resolved(&resolved, &config).unwrap()),
        ];
        for (name, r) in &cases {
            check_limits(name, &r.blocks_json, 50);
            assert!(!r.text.is_empty(), "{name}: no fallback text");
        }
        let resolved_buttons = cases[4].1.blocks_json.to_string();
        assert!(resolved_buttons.contains("\"Keep channel\""));
        let view = declare_view(&config, Some(&"t".repeat(400))).unwrap();
        assert!(chars(&view["title"]["text"]) <= 24);
        check_limits("incident.declare", &view["blocks"], 100);
        for (name, text) in [
            ("room.timeline", timeline(&inc, &config).unwrap()),
            (
                "room.nudge",
                said(update_due(
                    &inc,
                    Audience::Room,
                    inc.created_at + Duration::hours(1),
                ))
                .text,
            ),
            (
                "room.role",
                said(role_changed(&inc, Role::Comms, "U0CAROL", "U0BOB")).text,
            ),
            (
                "room.severity",
                said(severity_changed(
                    &inc,
                    Audience::Room,
                    "U0BOB",
                    Sev::Sev3,
                    true,
                ))
                .text,
            ),
            ("postmortem", postmortem(&resolved, &config).unwrap()),
        ] {
            assert!(!text.trim().is_empty(), "{name}: empty");
            assert!(
                !text.contains("{{") && !text.contains("{%"),
                "{name}: unrendered template"
            );
        }
    }

    #[test]
    fn facts_read_as_the_lines_older_builds_stored() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
        let config = Config::parse(
            "t.toml",
            "[[users]]\nid = \"bob\"\nname = \"Bob Example\"\nslack_id = \"U0BOB\"\n",
        )
        .unwrap();
        let role = Fact::Role {
            role: Role::Commander,
            who: "U0BOB".into(),
        };
        let cases = [
            (
                EntryKind::Role,
                Some("U0CAROL"),
                role,
                "<@U0BOB> is incident commander",
            ),
            (
                EntryKind::Channel,
                None,
                Fact::ChannelOpened {
                    channel: "C0ROOM1".into(),
                },
                "Channel <#C0ROOM1> opened",
            ),
            (
                EntryKind::Channel,
                Some("U0BOB"),
                Fact::ChannelKept { by: "U0BOB".into() },
                "<@U0BOB> kept the channel: it will not be archived",
            ),
            (
                EntryKind::Note,
                Some("U0BOB"),
                Fact::Declared { by: "U0BOB".into() },
                "Declared by <@U0BOB>",
            ),
        ];
        for (kind, by, fact, stored) in cases {
            let declared = matches!(fact, Fact::Declared { .. });
            let mut new = sample(1);
            new.coord.timeline.push(Entry::fact(at, by, kind, fact));
            let mut old = sample(1);
            old.coord.timeline.push(Entry {
                at,
                by: by.map(str::to_string),
                kind,
                text: stored.into(),
                fact: None,
            });
            for slack in [true, false] {
                if declared && slack {
                    // Older builds stored this line as a note, so Slack showed
                    // the mention escaped; the fact is worded with a live one.
                    let lines = timeline_lines(&new, &config, slack);
                    assert!(
                        lines.iter().any(|l| l.contains("Declared by <@U0BOB>")),
                        "{lines:?}"
                    );
                    let old = timeline_lines(&old, &config, slack);
                    assert!(
                        old.iter().any(|l| l.contains("Declared by &lt;@U0BOB&gt;")),
                        "{old:?}"
                    );
                    continue;
                }
                assert_eq!(
                    timeline_lines(&new, &config, slack),
                    timeline_lines(&old, &config, slack),
                    "{stored} (slack: {slack})"
                );
            }
        }
        let mut inc = sample(1);
        let role = Fact::Role {
            role: Role::Comms,
            who: "U0BOB".into(),
        };
        let by = Some("U0CAROL");
        inc.coord
            .timeline
            .push(Entry::fact(at, by, EntryKind::Role, role));
        let lines = timeline_lines(&inc, &config, true);
        assert!(
            lines[1].ends_with(" · Role: <@U0BOB> is comms lead — <@U0CAROL>"),
            "{lines:?}"
        );
        let lines = timeline_lines(&inc, &config, false);
        assert!(
            lines[1].ends_with(" · Role: @U0BOB is comms lead — U0CAROL"),
            "{lines:?}"
        );
    }

    #[test]
    fn the_postmortem_draft_has_the_facts_in_plain_markdown() {
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap();
        let config = Config::parse(
            "t.toml",
            "[[users]]\nid = \"bob\"\nname = \"Bob Example\"\nslack_id = \"U0BOB\"\n",
        )
        .unwrap();
        let mut inc = sample(9);
        inc.created_at = at;
        inc.coord.commander = Some("U0BOB".into());
        inc.coord.timeline.push(Entry {
            at: at + Duration::minutes(10),
            by: Some("U0BOB".into()),
            kind: EntryKind::Update,
            text: "Rolled back <@U0BOB>'s deploy".into(),
            fact: None,
        });
        let by = crate::domain::incident::Actor::Slack {
            user_id: "U0BOB".into(),
        };
        let inc = inc
            .apply(
                Transition::Acknowledge,
                by.clone(),
                at + Duration::minutes(2),
            )
            .unwrap()
            .apply(Transition::Resolve, by, at + Duration::minutes(75))
            .unwrap();
        let md = postmortem(&inc, &config).unwrap();
        for want in [
            "# Postmortem: #9 CPU on fire",
            "| Severity | SEV1 |",
            "| Duration | 1 h 15 min |",
            "| Time to acknowledge | 2 min |",
            "| Commander | Bob Example |",
            "- 2026-12-01 03:02:00 UTC · Acknowledged by Bob Example",
            "- 2026-12-01 03:10:00 UTC · Status update: Rolled back @U0BOB's deploy — Bob Example",
            "- 2026-12-01 04:15:00 UTC · Resolved by Bob Example",
            "- 2026-12-01 03:10:00 UTC — Bob Example: Rolled back @U0BOB's deploy",
        ] {
            assert!(md.contains(want), "{want:?} missing from:\n{md}");
        }
        assert!(!md.contains("<!date"), "Slack date tokens in a file:\n{md}");
    }
}
