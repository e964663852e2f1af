//! `/incident`: list, acknowledge, resolve and escalate incidents; declare
//! one; run its war room (channel, roles, updates, severity, notes, timeline).
//! The text is parsed into an [`IncidentCommand`] here, then dispatched to
//! the file that applies its group of subcommands.

mod act;
mod declare;
mod here;
mod list;
mod room;

use super::oncall::{parse_user, UserRef};
use super::{reply_text, spec, Invocation, Reply};
use crate::domain::incident::Transition;
use crate::domain::warroom::Role;
use crate::domain::warroom::Sev;
use crate::ops::Core;

/// Longest status update or note: it must fit one Block Kit section.
const TEXT_MAX: usize = 2800;

#[derive(Debug, Clone, PartialEq, Eq)]
/// An incident id of `None` means the incident whose channel the command
/// ran in; outside one, the person is shown the open incidents to pick from.
pub(in crate::slack::commands) enum IncidentCommand {
    List,
    Ack(Option<u64>),
    Resolve(Option<u64>),
    Escalate(Option<u64>),
    Assign(Option<u64>, UserRef),
    /// Minutes.
    Snooze(Option<u64>, i64),
    Help,
    /// Opens the declare form, with a title if one was given.
    New(Option<String>),
    Channel(Option<u64>),
    /// Merge the first incident into the second.
    Merge(u64, u64),
    Role(Option<u64>, Role, UserRef),
    Update(Option<u64>, String),
    Note(Option<u64>, String),
    Severity(Option<u64>, Sev),
    Timeline(Option<u64>),
    /// true: subscribe; false: unsubscribe.
    Subscribe(Option<u64>, bool),
}

/// Parses the text after `/incident`. The error is a message for the user.
pub(in crate::slack::commands) fn parse(text: &str) -> Result<IncidentCommand, String> {
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
    let id = || -> Result<Option<u64>, String> {
        match rest.as_slice() {
            [one] => parse_id(one).map(Some),
            [] => Ok(None),
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
        "snooze" => {
            let (id, d) = match rest.as_slice() {
                [one, d] => (Some(parse_id(one)?), d),
                [d] if parse_id(d).is_err() => (None, d),
                _ => return Err(format!("Usage: `/incident {}`", sub.usage)),
            };
            let d = crate::config::parse_duration(d).map_err(|e| format!("`{d}`: {e}"))?;
            if d > chrono::Duration::days(7) || d < chrono::Duration::minutes(1) {
                return Err("Snooze for at least a minute and at most 7 days.".into());
            }
            Ok(IncidentCommand::Snooze(id, d.num_minutes()))
        }
        "assign" => match rest.as_slice() {
            [one, who] => Ok(IncidentCommand::Assign(
                Some(parse_id(one)?),
                parse_user(who),
            )),
            [who] if parse_id(who).is_err() => Ok(IncidentCommand::Assign(None, parse_user(who))),
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
        "merge" => match rest.as_slice() {
            [from, into] => Ok(IncidentCommand::Merge(parse_id(from)?, parse_id(into)?)),
            _ => Err(format!("Usage: `/incident {}`", sub.usage)),
        },
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
    reply_text(apply(core, inv, cmd).await)
}

async fn apply(core: &Core, inv: &Invocation, cmd: IncidentCommand) -> Reply {
    use IncidentCommand as C;
    // The incident named, else this channel's, else a pick-list (as the reply).
    let here = |id| here::incident(core, inv, id);
    Ok(match cmd {
        C::Help => spec("/incident").expect("declared").help(),
        C::List => list::apply(core).await?,
        C::New(title) => declare::apply(core, inv, title.as_deref()).await?,
        C::Ack(id) => act::transition(core, inv, here(id).await?, Transition::Acknowledge).await?,
        C::Resolve(id) => act::transition(core, inv, here(id).await?, Transition::Resolve).await?,
        C::Escalate(id) => act::escalate(core, inv, here(id).await?).await?,
        C::Snooze(id, minutes) => act::snooze(core, inv, here(id).await?, minutes).await?,
        C::Assign(id, who) => act::assign(core, inv, here(id).await?, &who).await?,
        C::Channel(id) => room::open(core, inv, here(id).await?).await?,
        C::Merge(from, into) => act::merge(core, inv, from, into).await?,
        C::Role(id, role, who) => room::role(core, inv, here(id).await?, role, &who).await?,
        C::Update(id, text) => room::update(core, inv, here(id).await?, &text).await?,
        C::Note(id, text) => room::note(core, inv, here(id).await?, &text).await?,
        C::Severity(id, sev) => room::severity(core, inv, here(id).await?, sev).await?,
        C::Timeline(id) => room::timeline(core, here(id).await?).await?,
        C::Subscribe(id, on) => room::subscribe(core, inv, here(id).await?, on).await?,
    })
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
        check("ack 42", Ok(Ack(Some(42))));
        check("acknowledge #7", Ok(Ack(Some(7))));
        check("resolve #3", Ok(Resolve(Some(3))));
        check("resolve", Ok(Resolve(None)));
        check("escalate 4", Ok(Escalate(Some(4))));
        check("escalate", Ok(Escalate(None)));
        check(
            "assign #4 <@U0BOB|bob>",
            Ok(Assign(Some(4), UserRef::Slack("U0BOB".into()))),
        );
        check(
            "page 4 alice",
            Ok(Assign(Some(4), UserRef::Name("alice".into()))),
        );
        check(
            "assign @dave",
            Ok(Assign(None, UserRef::Name("dave".into()))),
        );
        check("assign 4", Err("Usage: `/incident assign [ID] @user`"));
        check("assign", Err("Usage: `/incident assign [ID] @user`"));
        check("snooze 4 1h", Ok(Snooze(Some(4), 60)));
        check("snooze 2h", Ok(Snooze(None, 120)));
        check("snooze #4 90m", Ok(Snooze(Some(4), 90)));
        check("snooze 4 8d", Err("at most 7 days"));
        check("snooze 4 soon", Err("`soon`"));
        check("snooze 4", Err("Usage: `/incident snooze [ID] DURATION`"));
        check("snooze", Err("Usage: `/incident snooze [ID] DURATION`"));
        check("help", Ok(Help));
        check("ack", Ok(Ack(None)));
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
        check("channel #12", Ok(Channel(Some(12))));
        check("merge #4 2", Ok(Merge(4, 2)));
        check("merge 4", Err("Usage: `/incident merge ID INTO_ID`"));
        check("merge 4 two", Err("`two` is not an incident id"));
        check("channel", Ok(Channel(None)));
        check(
            "commander <@U0CAROL|carol>",
            Ok(Role(
                None,
                crate::domain::warroom::Role::Commander,
                UserRef::Slack("U0CAROL".into()),
            )),
        );
        check(
            "comms 4 bob",
            Ok(Role(
                Some(4),
                crate::domain::warroom::Role::Comms,
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
        check("subscribe 3", Ok(Subscribe(Some(3), true)));
        check("unsubscribe #3", Ok(Subscribe(Some(3), false)));
        check("subscribe", Ok(Subscribe(None, true)));
        check("unsubscribe", Ok(Subscribe(None, false)));
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
