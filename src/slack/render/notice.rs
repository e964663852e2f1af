//! Renders the notices the domain queues (a snooze running out, nobody
//! responding, a handoff, a status update, a maintenance window, …) into the
//! messages Slack is sent, from `templates/`. The notices carry facts; here
//! outside text is made inert and people become mentions.

use super::room::span;
use super::{mention_user, mrkdwn, render, render_page, slack_date, state_name};
use super::{RenderError, Rendered};
use crate::config::Config;
use crate::domain::report::Report;
use crate::domain::warroom::Audience;
use crate::store::Outbound;
use minijinja::context;

/// Where a notice goes: a channel (or a person, by Slack id), or the
/// incident's own channel, which the sender looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Channel(&'a str),
    Room(u64),
}

fn target(to: &Audience, incident: u64) -> Target<'_> {
    match to {
        Audience::Room => Target::Room(incident),
        Audience::Channel(c) => Target::Channel(c),
    }
}

/// A message of text alone, no blocks.
fn text(text: String) -> Rendered {
    Rendered {
        text,
        blocks: vec![],
        blocks_json: serde_json::Value::Null,
    }
}

/// A configured service's name (else its id), escaped like every name tocsin did not write.
fn service(config: &Config, id: &str) -> String {
    mrkdwn::text(config.service(id).map_or(id, |s| &s.name))
}

/// Each person's mention once, in order.
fn mentions(config: &Config, users: &[String]) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for u in users {
        let m = mention_user(config, u);
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

/// Where `op` goes and what it says, if it is a notice this renderer knows
/// (the weekly report is read from the store first: see [`weekly_report`]).
pub fn notice<'a>(
    op: &'a Outbound,
    config: &Config,
) -> Option<Result<(Target<'a>, Rendered), RenderError>> {
    let to_channel =
        |c: &'a String, r: Result<Rendered, RenderError>| Some(r.map(|r| (Target::Channel(c), r)));
    match op {
        Outbound::SnoozeOver {
            channel,
            incident,
            summary,
        } => to_channel(
            channel,
            Ok(text(format!(
                ":alarm_clock: The snooze on #{incident} {} is over and it is not resolved: paging again.",
                mrkdwn::text(summary)
            ))),
        ),
        Outbound::NobodyResponded {
            to,
            incident,
            summary,
            service: s,
            paged,
            rounds,
        } => {
            let ctx = context! {
                id => incident,
                title => mrkdwn::text(summary),
                service => service(config, s),
                paged => mentions(config, paged),
                rounds => rounds,
            };
            to_channel(to, render_page("escalation.nobody", ctx).map(text))
        }
        Outbound::PageReminder {
            to,
            incident,
            summary,
            severity,
            service: s,
            paged_at,
        } => {
            let ctx = context! {
                id => incident,
                title => mrkdwn::text(summary),
                severity => severity.as_str(),
                service => service(config, s),
                paged => slack_date(*paged_at),
            };
            to_channel(to, render_page("page.reminder", ctx).map(text))
        }
        Outbound::ShiftStarted {
            to,
            schedule,
            outgoing,
            until,
        } => {
            let ctx = context! {
                schedule => mrkdwn::text(schedule),
                outgoing => outgoing.as_deref().map(|u| mention_user(config, u)),
                until => slack_date(*until),
            };
            to_channel(to, render_page("handoff.dm", ctx).map(text))
        }
        Outbound::Handoff {
            channel,
            schedule,
            incoming,
            outgoing,
            until,
        } => {
            let ctx = context! {
                schedule => mrkdwn::text(schedule),
                incoming => incoming.as_deref().map(|u| mention_user(config, u)),
                outgoing => outgoing.as_deref().map(|u| mention_user(config, u)),
                until => slack_date(*until),
            };
            to_channel(channel, render_page("handoff.channel", ctx).map(text))
        }
        Outbound::UpdateDue {
            to,
            incident,
            summary,
            sev,
            commander,
            room,
            since,
            at,
        } => {
            let ctx = context! {
                id => incident,
                title => mrkdwn::text(summary),
                sev => sev.as_str(),
                commander => commander.as_deref().map(mrkdwn::user),
                since => span(*at - *since),
                room => room,
            };
            let r = render_page("room.nudge", ctx).map(text);
            Some(r.map(|r| (target(to, *incident), r)))
        }
        Outbound::RoleChanged {
            incident,
            summary,
            role,
            who,
            by,
        } => {
            let ctx = context! {
                id => incident,
                title => mrkdwn::text(summary),
                role => role.label(),
                who => mrkdwn::user(who),
                by => mrkdwn::user(by),
            };
            let r = render_page("room.role", ctx).map(text);
            Some(r.map(|r| (Target::Room(*incident), r)))
        }
        Outbound::ChannelKept { incident, by } => {
            let ctx = context! { by => mrkdwn::user(by) };
            let r = render_page("room.kept", ctx).map(text);
            Some(r.map(|r| (Target::Room(*incident), r)))
        }
        Outbound::StatusUpdate {
            to,
            incident,
            summary,
            sev,
            state,
            room,
            text,
            by,
            at,
        } => {
            let ctx = context! {
                id => incident,
                title => mrkdwn::text(summary),
                sev => sev.as_str(),
                state_label => state_name(*state),
                room => room,
                text => mrkdwn::text(text),
                by => by.as_deref().map_or("someone".to_string(), mrkdwn::user),
                at => slack_date(*at),
            };
            let r = render("room.update.blocks", "room.update.text", ctx);
            Some(r.map(|r| (target(to, *incident), r)))
        }
        Outbound::SeverityChanged {
            to,
            incident,
            summary,
            by,
            before,
            after,
            repaged,
        } => {
            let ctx = context! {
                id => incident,
                title => mrkdwn::text(summary),
                by => mrkdwn::user(by),
                before => before.as_str(),
                after => after.as_str(),
                raised => after < before,
                repaged => repaged,
            };
            let r = render_page("room.severity", ctx).map(text);
            Some(r.map(|r| (target(to, *incident), r)))
        }
        Outbound::MaintenanceStarted {
            channel,
            service,
            until,
            reason,
            by,
        } => {
            let name = config.service(service).map_or(service.as_str(), |s| &s.name);
            let reason = reason
                .as_ref()
                .map(|r| format!(" Reason: {}.", mrkdwn::text(r)))
                .unwrap_or_default();
            let by = by
                .as_ref()
                .map(|u| format!(" Started by {}.", mrkdwn::user(u)))
                .unwrap_or_default();
            to_channel(
                channel,
                Ok(text(format!(
                    ":construction: Maintenance on *{name}* until {}: alerts are recorded and nobody is paged.{reason}{by}",
                    slack_date(*until)
                ))),
            )
        }
        Outbound::MaintenanceOver {
            channel,
            service,
            held,
        } => {
            let name = config.service(service).map_or(service.as_str(), |s| &s.name);
            to_channel(
                channel,
                Ok(text(format!(
                    ":white_check_mark: Maintenance on *{name}* is over: paging resumes. {held} alert(s) arrived during it."
                ))),
            )
        }
        _ => super::swap::notice(op, config),
    }
}

/// The weekly report's message: `team`'s numbers over `days`, beside the period before.
pub fn weekly_report(
    now: &Report,
    before: &Report,
    team: &str,
    days: i64,
) -> Result<String, RenderError> {
    let text = super::report(now, before, team, days)?;
    Ok(format!(":bar_chart: *Weekly report*\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    #[test]
    fn a_kept_channel_is_told_in_the_channel() {
        let config = Config::parse("t.toml", "").unwrap();
        let op = Outbound::ChannelKept {
            incident: 2,
            by: "U0BOB".into(),
        };
        let (to, r) = notice(&op, &config).unwrap().unwrap();
        assert_eq!(to, Target::Room(2));
        assert_eq!(
            r.text,
            ":pushpin: <@U0BOB> kept the channel: it will not be archived."
        );
        assert!(r.blocks.is_empty());
    }

    #[test]
    fn handoff_notices_name_both_people_or_warn_of_nobody() {
        let config = Config::parse(
            "t.toml",
            "[[users]]\nid = \"a\"\nname = \"A\"\nslack_id = \"UA\"\n\
             [[users]]\nid = \"b\"\nname = \"B\"\nslack_id = \"UB\"\n",
        )
        .unwrap();
        let until = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let said = |op: Outbound| notice(&op, &config).unwrap().unwrap().1.text;
        let dm = said(Outbound::ShiftStarted {
            to: "UA".into(),
            schedule: "primary".into(),
            outgoing: Some("b".into()),
            until,
        });
        assert!(
            dm.starts_with(
                ":pager: You are now on call for `primary`, taking over from <@UB>, until <!date^"
            ),
            "{dm}"
        );
        let handoff = |incoming: Option<&str>| Outbound::Handoff {
            channel: "C1".into(),
            schedule: "primary".into(),
            incoming: incoming.map(str::to_string),
            outgoing: Some("b".into()),
            until,
        };
        let note = said(handoff(Some("a")));
        assert!(
            note.contains("<@UA> is now on call for `primary` (after <@UB>)"),
            "{note}"
        );
        assert!(said(handoff(None)).starts_with(":warning: Nobody is on call for `primary`"));
    }

    #[test]
    fn a_notice_goes_where_it_says() {
        let config = Config::default();
        let at = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let update = |to| Outbound::StatusUpdate {
            to,
            incident: 4,
            summary: "s".into(),
            sev: crate::domain::warroom::Sev::Sev2,
            state: crate::domain::incident::State::Triggered,
            room: None,
            text: "t".into(),
            by: None,
            at,
        };
        let room = update(Audience::Room);
        let (to, r) = notice(&room, &config).unwrap().unwrap();
        assert_eq!(to, Target::Room(4));
        assert!(
            !r.blocks.is_empty() && r.text.ends_with("t — someone"),
            "{}",
            r.text
        );
        let dm = update(Audience::Channel("U1".into()));
        assert_eq!(
            notice(&dm, &config).unwrap().unwrap().0,
            Target::Channel("U1")
        );
        assert!(notice(&Outbound::UpdateIncident { incident: 4 }, &config).is_none());
    }
}
