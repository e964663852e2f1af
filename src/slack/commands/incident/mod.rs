//! `/incident`: list, acknowledge, resolve and escalate incidents; declare
//! one; run its war room (channel, roles, updates, severity, notes, timeline).

use super::oncall::{find_user, parse_user, UserRef};
use super::{spec, Invocation};
use crate::app::Core;
use crate::incident::Transition;
use crate::policy::{Action, Subject};
use crate::slack::mrkdwn;
use crate::slack::render::{actor_mention, no_change, slack_date};
use crate::store::{Changed, Outbound};
use crate::warroom::Role;
use crate::warroom::Sev;

/// Longest status update or note: it must fit one Block Kit section.
const TEXT_MAX: usize = 2800;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentCommand {
    List,
    Ack(u64),
    Resolve(u64),
    Escalate(u64),
    Assign(u64, UserRef),
    /// Minutes.
    Snooze(u64, i64),
    Help,
    /// Opens the declare form, with a title if one was given.
    New(Option<String>),
    Channel(u64),
    /// `None`: the incident whose channel the command ran in.
    Role(Option<u64>, Role, UserRef),
    Update(Option<u64>, String),
    Note(Option<u64>, String),
    Severity(Option<u64>, Sev),
    Timeline(Option<u64>),
    /// true: subscribe; false: unsubscribe.
    Subscribe(u64, bool),
}

/// Parses the text after `/incident`. The error is a message for the user.
pub fn parse(text: &str) -> Result<IncidentCommand, String> {
    let spec = spec("/incident").expect("/incident is declared");
    let mut words = text.split_whitespace();
    let Some(first) = words.next() else {
        return Ok(IncidentCommand::List);
    };
    let Some(sub) = spec.resolve(first) else {
        return Err(format!(
            "I don't know `/incident {first}`.\n{}",
            spec.help()
        ));
    };
    let rest: Vec<&str> = words.collect();
    let id = || -> Result<u64, String> {
        match rest.as_slice() {
            [one] => parse_id(one),
            [] => Err(format!("Which incident? Usage: `/incident {}`", sub.usage)),
            _ => Err(format!("Too many words. Usage: `/incident {}`", sub.usage)),
        }
    };
    let no_args = |cmd| {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(format!("`/incident {}` takes no arguments.", sub.name))
        }
    };
    match sub.name.as_str() {
        "list" => no_args(IncidentCommand::List),
        "help" => no_args(IncidentCommand::Help),
        "ack" => Ok(IncidentCommand::Ack(id()?)),
        "resolve" => Ok(IncidentCommand::Resolve(id()?)),
        "escalate" => Ok(IncidentCommand::Escalate(id()?)),
        "snooze" => match rest.as_slice() {
            [one, d] => {
                let d = crate::config::parse_duration(d).map_err(|e| format!("`{d}`: {e}"))?;
                if d > chrono::Duration::days(7) || d < chrono::Duration::minutes(1) {
                    return Err("Snooze for at least a minute and at most 7 days.".into());
                }
                Ok(IncidentCommand::Snooze(parse_id(one)?, d.num_minutes()))
            }
            _ => Err(format!("Usage: `/incident {}`", sub.usage)),
        },
        "assign" => match rest.as_slice() {
            [one, who] => Ok(IncidentCommand::Assign(parse_id(one)?, parse_user(who))),
            _ => Err(format!("Usage: `/incident {}`", sub.usage)),
        },
        "new" => {
            let title = tail(text, 1);
            if title.chars().count() > 150 {
                return Err("Keep the title to 150 characters; the form takes the details.".into());
            }
            Ok(IncidentCommand::New(
                (!title.is_empty()).then(|| title.to_string()),
            ))
        }
        "channel" => Ok(IncidentCommand::Channel(id()?)),
        "commander" | "comms" => {
            let role = if sub.name == "commander" {
                Role::Commander
            } else {
                Role::Comms
            };
            match rest.as_slice() {
                [who] => Ok(IncidentCommand::Role(None, role, parse_user(who))),
                [one, who] => Ok(IncidentCommand::Role(
                    Some(parse_id(one)?),
                    role,
                    parse_user(who),
                )),
                _ => Err(format!("Usage: `/incident {}`", sub.usage)),
            }
        }
        "update" | "note" => {
            let (id, body) = match rest.first() {
                Some(w) if w.starts_with('#') => (Some(parse_id(w)?), tail(text, 2)),
                _ => (None, tail(text, 1)),
            };
            if body.is_empty() {
                return Err(format!(
                    "What should it say? Usage: `/incident {}`",
                    sub.usage
                ));
            }
            if body.chars().count() > TEXT_MAX {
                return Err(format!("Keep it under {TEXT_MAX} characters."));
            }
            Ok(if sub.name == "update" {
                IncidentCommand::Update(id, body.to_string())
            } else {
                IncidentCommand::Note(id, body.to_string())
            })
        }
        "severity" => {
            let level = |w: &str| {
                Sev::parse(w).ok_or(format!(
                    "`{w}` is not a severity: use SEV1, SEV2, SEV3 or SEV4."
                ))
            };
            match rest.as_slice() {
                [s] => Ok(IncidentCommand::Severity(None, level(s)?)),
                [one, s] => Ok(IncidentCommand::Severity(Some(parse_id(one)?), level(s)?)),
                _ => Err(format!("Usage: `/incident {}`", sub.usage)),
            }
        }
        "timeline" => match rest.as_slice() {
            [] => Ok(IncidentCommand::Timeline(None)),
            [one] => Ok(IncidentCommand::Timeline(Some(parse_id(one)?))),
            _ => Err(format!("Usage: `/incident {}`", sub.usage)),
        },
        "subscribe" => Ok(IncidentCommand::Subscribe(id()?, true)),
        "unsubscribe" => Ok(IncidentCommand::Subscribe(id()?, false)),
        other => Err(format!("`/incident {other}` is declared but not handled")),
    }
}

/// `text` without its first `words` words, trimmed; the rest keeps its spacing.
fn tail(text: &str, words: usize) -> &str {
    let mut rest = text.trim_start();
    for _ in 0..words {
        rest = rest
            .find(char::is_whitespace)
            .map_or("", |i| &rest[i..])
            .trim_start();
    }
    rest.trim_end()
}

/// Accepts `42` or `#42`.
fn parse_id(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix('#').unwrap_or(s);
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "`{s}` is not an incident id; use the number shown as `#42`."
        )),
    }
}

/// Runs the command; the reply is shown only to the person who ran it.
pub async fn run(core: &Core, inv: &Invocation) -> String {
    let cmd = match parse(&inv.text) {
        Ok(c) => c,
        Err(msg) => return msg,
    };
    let result = match cmd {
        IncidentCommand::New(title) => return open_declare_form(core, inv, title.as_deref()).await,
        IncidentCommand::Channel(id) => {
            return answer(core.open_room(id, &inv.user_id).await, id, |_| {
                format!("Opening a channel for #{id}: its people and you are invited, and a live summary is pinned there.")
            })
        }
        IncidentCommand::Role(id, role, who) => {
            let id = match here(core, inv, id) {
                Ok(id) => id,
                Err(msg) => return msg,
            };
            let slack_id = match &who {
                UserRef::Slack(s) => s.clone(),
                name => match find_user(&core.config, name).and_then(|u| u.slack_id.clone()) {
                    Some(s) => s,
                    None => return "That person is not in tocsin's configuration with a Slack id; mention them as @user.".to_string(),
                },
            };
            return answer(
                core.set_role(id, role, &slack_id, &inv.user_id).await,
                id,
                |_| format!("<@{slack_id}> is now {} of #{id}.", role.label()),
            );
        }
        IncidentCommand::Update(id, text) => {
            let id = match here(core, inv, id) {
                Ok(id) => id,
                Err(msg) => return msg,
            };
            return answer(core.post_update(id, &inv.user_id, &text).await, id, |inc| {
                let mut places = vec![];
                if inc.coord.room.is_some() {
                    places.push("the incident channel".to_string());
                }
                if crate::warroom::stakeholder_channel(&core.config, &inc.service_id).is_some() {
                    places.push("the stakeholder channel".to_string());
                }
                if !inc.coord.subscribers.is_empty() {
                    places.push(format!("{} subscriber(s)", inc.coord.subscribers.len()));
                }
                if places.is_empty() {
                    format!("Update recorded on #{id}; the incident has no channel, stakeholder channel or subscribers to tell.")
                } else {
                    format!("Update posted on #{id} to {}.", places.join(", "))
                }
            });
        }
        IncidentCommand::Note(id, text) => {
            let id = match here(core, inv, id) {
                Ok(id) => id,
                Err(msg) => return msg,
            };
            return answer(core.add_note(id, &inv.user_id, &text).await, id, |_| {
                format!("Added to #{id}'s timeline.")
            });
        }
        IncidentCommand::Severity(id, sev) => {
            let id = match here(core, inv, id) {
                Ok(id) => id,
                Err(msg) => return msg,
            };
            return answer(core.set_severity(id, sev, &inv.user_id).await, id, |inc| {
                format!("#{id} is now {}.", inc.sev().as_str())
            });
        }
        IncidentCommand::Timeline(id) => {
            let id = match here(core, inv, id) {
                Ok(id) => id,
                Err(msg) => return msg,
            };
            return match core.store.incident(id) {
                Ok(Some(inc)) => crate::slack::render::timeline(&inc, &core.config)
                    .unwrap_or_else(|e| format!("Sorry, the timeline could not be shown ({e}).")),
                Ok(None) => format!("There is no incident #{id}."),
                Err(e) => format!("Sorry, incidents cannot be read just now ({e})."),
            };
        }
        IncidentCommand::Subscribe(id, on) => {
            return answer(core.subscribe(id, &inv.user_id, on).await, id, |_| {
                if on {
                    format!("You will get #{id}'s status updates and its resolve summary by DM.")
                } else {
                    format!("You will no longer get #{id}'s updates.")
                }
            })
        }
        IncidentCommand::Help => return spec("/incident").expect("declared").help(),
        IncidentCommand::List => return list(core),
        IncidentCommand::Escalate(id) => {
            return match core.escalate(id, &inv.user_id).await {
                Ok(Ok(_)) => format!("Escalating #{id}: the next level is being paged now."),
                Ok(Err(why)) => why,
                Err(e) => format!("Sorry, #{id} could not be escalated just now ({e})."),
            }
        }
        IncidentCommand::Snooze(id, minutes) => {
            return match core.snooze(id, minutes, &inv.user_id).await {
                Ok(Ok(inc)) => format!(
                    "#{id} is snoozed until {}; it pages again then unless resolved.",
                    inc.snoozed_until.map(slack_date).unwrap_or_default()
                ),
                Ok(Err(why)) => why,
                Err(e) => format!("Sorry, #{id} could not be snoozed just now ({e})."),
            }
        }
        IncidentCommand::Assign(id, who) => {
            let Some(user) = find_user(&core.config, &who) else {
                return "That person is not in tocsin's configuration.".to_string();
            };
            let mention = crate::slack::render::mention_user(&core.config, &user.id);
            return match core.assign(id, &user.id, &inv.user_id).await {
                Ok(Ok(_)) => format!("Paging {mention} about #{id} now."),
                Ok(Err(why)) => why,
                Err(e) => format!("Sorry, #{id} could not be assigned just now ({e})."),
            };
        }
        IncidentCommand::Ack(id) => (
            id,
            core.act(id, Transition::Acknowledge, &inv.user_id).await,
        ),
        IncidentCommand::Resolve(id) => (id, core.act(id, Transition::Resolve, &inv.user_id).await),
    };
    let result = match result {
        (id, Ok(Ok(changed))) => (id, Ok(changed)),
        (_, Ok(Err(why))) => return why,
        (id, Err(e)) => (id, Err(e)),
    };
    match result {
        (id, Ok(Changed::Applied { incident, .. })) => {
            format!(
                "#{id} *{}* is now {}.",
                mrkdwn::text(&incident.alert.summary),
                incident.state.as_str()
            )
        }
        (_, Ok(Changed::Unchanged { incident, why })) => no_change(&incident, why),
        (id, Ok(Changed::NotFound)) => format!("There is no incident #{id}."),
        (id, Err(e)) => {
            tracing::error!(incident = id, error = %e, "command failed");
            format!("Sorry, #{id} could not be changed just now ({e}). Please try again.")
        }
    }
}

/// The incident a command is about: the one named, else the one whose
/// channel the command ran in.
fn here(core: &Core, inv: &Invocation, id: Option<u64>) -> Result<u64, String> {
    if let Some(id) = id {
        return Ok(id);
    }
    match core.store.incident_by_room(&inv.channel_id) {
        Ok(Some(inc)) => Ok(inc.id),
        Ok(None) => Err("This is not an incident's channel: name the incident, like `#42`.".into()),
        Err(e) => Err(format!("Sorry, incidents cannot be read just now ({e}).")),
    }
}

/// The reply to a war-room change: `done` when it applied, else why not.
fn answer(
    r: crate::warroom::actions::Answer,
    id: u64,
    done: impl FnOnce(&crate::incident::Incident) -> String,
) -> String {
    match r {
        Ok(Ok(inc)) => done(&inc),
        Ok(Err(why)) => why,
        Err(e) => {
            tracing::error!(incident = id, error = %e, "command failed");
            format!("Sorry, #{id} could not be changed just now ({e}). Please try again.")
        }
    }
}

/// Queues the declare form for the person who ran `/incident new`.
async fn open_declare_form(core: &Core, inv: &Invocation, title: Option<&str>) -> String {
    let Some(trigger) = inv.trigger_id.clone().filter(|t| !t.is_empty()) else {
        return "Slack sent no trigger_id, so the form cannot open; please try again.".into();
    };
    if core.config.services.is_empty() {
        return "No services are configured, so there is nothing to declare an incident on.".into();
    }
    // Someone who may declare on no service is told now; the form is
    // checked again on submission, for the service picked there.
    let refusals: Vec<_> = (core.config.services.iter())
        .filter_map(|s| {
            let subject = Subject::service(&core.config, &s.id);
            crate::policy::may(&core.config, &inv.user_id, Action::Declare, &subject).err()
        })
        .collect();
    if let (Some(why), true) = (
        refusals.first(),
        refusals.len() == core.config.services.len(),
    ) {
        return why.to_string();
    }
    let view = match crate::slack::render::declare_view(&core.config, title) {
        Ok(v) => v,
        Err(e) => return format!("Sorry, the form could not be drawn ({e})."),
    };
    let op = Outbound::OpenView {
        trigger_id: trigger,
        view,
    };
    match core.enqueue(&format!("views:{}", inv.user_id), op).await {
        Ok(_) => "Opening the form to declare an incident…".into(),
        Err(e) => format!("Sorry, the form could not be opened just now ({e})."),
    }
}

fn list(core: &Core) -> String {
    match core.store.open_incidents() {
        Ok(open) if open.is_empty() => "No open incidents. :tada:".to_string(),
        Ok(open) => {
            let mut out = format!(
                "*{} open incident{}*\n",
                open.len(),
                if open.len() == 1 { "" } else { "s" }
            );
            for i in open.iter().take(50) {
                let state = match &i.acknowledged {
                    Some(s) => format!("acknowledged by {}", actor_mention(&s.by)),
                    None => "triggered".to_string(),
                };
                let room = i
                    .room_channel()
                    .map_or(String::new(), |c| format!(" · <#{c}>"));
                out.push_str(&format!(
                    "• #{} {} — {} ({} {}, {} alert{}), opened {}{room}\n",
                    i.id,
                    mrkdwn::text(&i.alert.summary),
                    state,
                    i.sev().as_str(),
                    i.alert.severity.as_str(),
                    i.alert_count,
                    if i.alert_count == 1 { "" } else { "s" },
                    slack_date(i.created_at)
                ));
            }
            if open.len() > 50 {
                out.push_str(&format!("…and {} more.\n", open.len() - 50));
            }
            out
        }
        Err(e) => format!("Sorry, incidents cannot be read just now ({e})."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<IncidentCommand, &str>) {
        match (parse(text), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text:?}"),
            (Err(got), Err(want)) => {
                assert!(got.contains(want), "{text:?}: {got:?} lacks {want:?}")
            }
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn incident_command_text_parses() {
        use IncidentCommand::*;
        check("", Ok(List));
        check("  list ", Ok(List));
        check("LIST", Ok(List));
        check("ack 42", Ok(Ack(42)));
        check("acknowledge #7", Ok(Ack(7)));
        check("resolve #3", Ok(Resolve(3)));
        check("escalate 4", Ok(Escalate(4)));
        check(
            "assign #4 <@U0BOB|bob>",
            Ok(Assign(4, UserRef::Slack("U0BOB".into()))),
        );
        check("page 4 alice", Ok(Assign(4, UserRef::Name("alice".into()))));
        check("assign 4", Err("Usage: `/incident assign ID @user`"));
        check("snooze 4 1h", Ok(Snooze(4, 60)));
        check("snooze #4 90m", Ok(Snooze(4, 90)));
        check("snooze 4 8d", Err("at most 7 days"));
        check("snooze 4 soon", Err("`soon`"));
        check("snooze 4", Err("Usage: `/incident snooze ID DURATION`"));
        check("help", Ok(Help));
        check("ack", Err("Which incident?"));
        check("ack 1 2", Err("Too many"));
        check("ack #", Err("not an incident id"));
        check("ack -4", Err("not an incident id"));
        check("ack 0", Err("not an incident id"));
        check("ack 99999999999999999999999", Err("not an incident id"));
        check("list all", Err("takes no arguments"));
        check("explode", Err("I don't know"));
        check("new", Ok(New(None)));
        check(
            "declare  Checkout is  down ",
            Ok(New(Some("Checkout is  down".into()))),
        );
        check("channel #12", Ok(Channel(12)));
        check("channel", Err("Which incident?"));
        check(
            "commander <@U0CAROL|carol>",
            Ok(Role(
                None,
                crate::warroom::Role::Commander,
                UserRef::Slack("U0CAROL".into()),
            )),
        );
        check(
            "comms 4 bob",
            Ok(Role(
                Some(4),
                crate::warroom::Role::Comms,
                UserRef::Name("bob".into()),
            )),
        );
        check("commander", Err("Usage: `/incident commander [ID] @user`"));
        check(
            "update   Rolled back  v1.2; errors falling",
            Ok(Update(None, "Rolled back  v1.2; errors falling".into())),
        );
        check(
            "update #7 3 servers down",
            Ok(Update(Some(7), "3 servers down".into())),
        );
        check(
            "update 3 servers down",
            Ok(Update(None, "3 servers down".into())),
        );
        check("update", Err("What should it say?"));
        check("update #7", Err("What should it say?"));
        check("update #x text", Err("not an incident id"));
        check(&format!("update {}", "x".repeat(3000)), Err("under 2800"));
        check(
            "note #2 the DB failed over",
            Ok(Note(Some(2), "the DB failed over".into())),
        );
        check("severity sev1", Ok(Severity(None, Sev::Sev1)));
        check("sev 9 SEV3", Ok(Severity(Some(9), Sev::Sev3)));
        check("severity SEV5", Err("not a severity"));
        check("severity", Err("Usage"));
        check("timeline", Ok(Timeline(None)));
        check("timeline #3", Ok(Timeline(Some(3))));
        check("subscribe 3", Ok(Subscribe(3, true)));
        check("unsubscribe #3", Ok(Subscribe(3, false)));
        check("subscribe", Err("Which incident?"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_explains(text in "\\PC{0,64}") {
            if let Err(msg) = parse(&text) {
                proptest::prop_assert!(!msg.is_empty());
            }
        }
    }
}
