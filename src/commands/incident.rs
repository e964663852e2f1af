//! `/incident`: list open incidents, acknowledge or resolve one.

use super::oncall::{find_user, parse_user, UserRef};
use super::{spec, Invocation};
use crate::app::Core;
use crate::incident::{Actor, Transition};
use crate::slack::render::{actor_mention, no_change, slack_date};
use crate::store::Changed;

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
        other => Err(format!("`/incident {other}` is declared but not handled")),
    }
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
    let actor = Actor::Slack {
        user_id: inv.user_id.clone(),
    };
    let result = match cmd {
        IncidentCommand::Help => return spec("/incident").expect("declared").help(),
        IncidentCommand::List => return list(core),
        IncidentCommand::Escalate(id) => {
            return match core.escalate(id).await {
                Ok(Ok(_)) => format!("Escalating #{id}: the next level is being paged now."),
                Ok(Err(why)) => why,
                Err(e) => format!("Sorry, #{id} could not be escalated just now ({e})."),
            }
        }
        IncidentCommand::Snooze(id, minutes) => {
            return match core.snooze(id, minutes).await {
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
            return match core.assign(id, &user.id).await {
                Ok(Ok(_)) => format!("Paging {mention} about #{id} now."),
                Ok(Err(why)) => why,
                Err(e) => format!("Sorry, #{id} could not be assigned just now ({e})."),
            };
        }
        IncidentCommand::Ack(id) => (
            id,
            core.transition(id, Transition::Acknowledge, actor).await,
        ),
        IncidentCommand::Resolve(id) => (id, core.transition(id, Transition::Resolve, actor).await),
    };
    match result {
        (id, Ok(Changed::Applied { incident, .. })) => {
            format!(
                "#{id} *{}* is now {}.",
                incident.alert.summary,
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
                out.push_str(&format!(
                    "• #{} {} — {} ({}, {} alert{}), opened {}\n",
                    i.id,
                    i.alert.summary,
                    state,
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
