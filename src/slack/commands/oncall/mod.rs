//! `/oncall`: who is on call, upcoming shifts, your shifts, overrides, load and
//! the calendar feed. The text is parsed into an [`OncallCommand`] here, then
//! dispatched to the file that applies that subcommand. This module also holds
//! the lookups the subcommands share (people, schedules, teams).

mod audit;
mod feed;
mod load;
mod maintenance;
mod overrides;
mod report;
mod swap;
mod who;

pub use swap::{answer_swap, ask_for_shift};

use super::{reply_text, spec, Invocation};
use crate::config::{Config, Schedule, Team, User};
use crate::domain::schedule::Override;
use crate::ops::Core;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::slack::commands) enum UserRef {
    /// `<@U123>` or `<@U123|name>` as Slack escapes a mention.
    Slack(String),
    /// `@alice` or `alice`: a config user id or name.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::slack::commands) enum OncallCommand {
    Who(Option<String>),
    Schedule {
        id: String,
        days: u32,
    },
    Mine,
    Override {
        schedule: String,
        user: UserRef,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Load {
        team: String,
        weeks: u32,
    },
    /// `rotate`: retire the old link and hand out a new one.
    Feed {
        schedule: String,
        rotate: bool,
    },
    /// `trade`: a two-way swap; otherwise "cover me".
    Swap {
        schedule: String,
        user: UserRef,
        nth: u32,
        trade: bool,
    },
    Report {
        team: Option<String>,
        days: i64,
    },
    Audit(Option<String>),
    /// `until: None` ends the window in force.
    Maintenance {
        service: String,
        until: Option<DateTime<Utc>>,
        reason: Option<String>,
    },
    Help,
}

/// The words after a subcommand, with what each parser needs to read them
/// and to say what it expected.
struct Args<'a> {
    /// The canonical subcommand name, whichever alias was typed.
    name: &'a str,
    usage: &'a str,
    rest: &'a [&'a str],
    /// The asker's zone: times are read in it.
    tz: Tz,
    now: DateTime<Utc>,
}

impl Args<'_> {
    fn usage(&self) -> String {
        format!("Usage: `/oncall {}`", self.usage)
    }

    /// The number at word `i`, `default` when there is none.
    fn number(&self, i: usize, default: u32, max: u32, what: &str) -> Result<u32, String> {
        match self.rest.get(i) {
            None => Ok(default),
            Some(w) => match w.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{w}` is not a number of {what} between 1 and {max}. {}",
                    self.usage()
                )),
            },
        }
    }

    fn too_many(&self, n: usize) -> Result<(), String> {
        if self.rest.len() > n {
            Err(format!("Too many words. {}", self.usage()))
        } else {
            Ok(())
        }
    }

    fn needed(&self, i: usize, what: &str) -> Result<String, String> {
        self.rest
            .get(i)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("Which {what}? {}", self.usage()))
    }

    fn first(&self) -> Option<String> {
        self.rest.first().map(|s| s.to_string())
    }
}

/// Parses the text after `/oncall`; times are read in `tz` relative to `now`.
pub(in crate::slack::commands) fn parse(
    text: &str,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<OncallCommand, String> {
    let spec = spec("/oncall").expect("/oncall is declared");
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Ok(OncallCommand::Who(None));
    };
    let Some(sub) = spec.resolve(first) else {
        return Err(format!("I don't know `/oncall {first}`.\n{}", spec.help()));
    };
    let args = Args {
        name: &sub.name,
        usage: &sub.usage,
        rest: &words[1..],
        tz,
        now,
    };
    match sub.name.as_str() {
        "who" => who::parse_who(&args),
        "schedule" => who::parse_schedule(&args),
        "mine" => who::parse_mine(&args),
        "override" => overrides::parse(&args),
        "load" => load::parse(&args),
        "feed" => feed::parse(&args),
        "swap" | "cover" => swap::parse(&args),
        "audit" => audit::parse(&args),
        "report" => report::parse(&args),
        "maintenance" => maintenance::parse(&args),
        "help" => {
            args.too_many(0)?;
            Ok(OncallCommand::Help)
        }
        other => Err(format!("`/oncall {other}` is declared but not handled")),
    }
}

/// Runs the command; the reply is shown only to the person who ran it.
pub async fn run(core: &Core, inv: &Invocation) -> String {
    let config = &core.config;
    let asker = find_user(config, &UserRef::Slack(inv.user_id.clone()));
    let tz = asker.map(|u| u.time_zone).unwrap_or(chrono_tz::UTC);
    let now = core.clock.now();
    let cmd = match parse(&inv.text, tz, now) {
        Ok(c) => c,
        Err(msg) => return msg,
    };
    let reply = match cmd {
        OncallCommand::Help => Ok(spec("/oncall").expect("declared").help()),
        OncallCommand::Who(filter) => who::who(core, filter.as_deref(), tz, now).await,
        OncallCommand::Schedule { id, days } => who::upcoming(core, &id, days, tz, now).await,
        OncallCommand::Mine => who::mine(core, asker, tz, now).await,
        OncallCommand::Override {
            schedule,
            user,
            from,
            to,
        } => overrides::apply(core, inv, &schedule, &user, from, to, tz).await,
        OncallCommand::Load { team, weeks } => load::apply(core, &team, weeks, now).await,
        OncallCommand::Feed { schedule, rotate } => feed::apply(core, inv, &schedule, rotate).await,
        OncallCommand::Swap {
            schedule,
            user,
            nth,
            trade,
        } => swap::request(core, asker, &schedule, &user, nth, trade, now).await,
        OncallCommand::Maintenance {
            service,
            until,
            reason,
        } => maintenance::apply(core, inv, asker, &service, until, reason, tz).await,
        OncallCommand::Audit(team) => audit::apply(core, asker, team, tz).await,
        OncallCommand::Report { team, days } => {
            report::apply(core, asker, team, days, now, &inv.channel_id).await
        }
    };
    reply_text(reply)
}

pub(in crate::slack::commands) fn parse_user(word: &str) -> UserRef {
    if let Some(inner) = word.strip_prefix("<@").and_then(|w| w.strip_suffix('>')) {
        let id = inner.split('|').next().unwrap_or(inner);
        // Only a real Slack id becomes a mention later; `<@U1><!here>` is not one.
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return UserRef::Slack(id.to_string());
        }
        return UserRef::Name(word.to_string());
    }
    UserRef::Name(word.trim_start_matches('@').to_string())
}

pub(in crate::slack::commands) fn find_user<'a>(
    config: &'a Config,
    r: &UserRef,
) -> Option<&'a User> {
    match r {
        UserRef::Slack(id) => config
            .users
            .iter()
            .find(|u| u.slack_id.as_deref() == Some(id.as_str())),
        UserRef::Name(n) => config
            .users
            .iter()
            .find(|u| u.id == *n)
            .or_else(|| config.users.iter().find(|u| u.name.eq_ignore_ascii_case(n))),
    }
}

/// The configured user `r` names, or a message saying there is none.
fn known_user<'a>(config: &'a Config, r: &UserRef) -> Result<&'a User, String> {
    find_user(config, r).ok_or_else(|| match r {
        UserRef::Slack(id) => format!("<@{id}> is not in tocsin's configuration."),
        UserRef::Name(n) => format!(
            "Nobody called `{}` is in tocsin's configuration.",
            crate::slack::mrkdwn::text(n)
        ),
    })
}

/// Shown in each reader's zone by Slack; the fallback is in the asker's zone.
fn when(t: DateTime<Utc>, tz: Tz) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        t.timestamp(),
        t.with_timezone(&tz).format("%a %Y-%m-%d %H:%M %Z")
    )
}

async fn overrides_of(core: &Core, schedule: &str) -> Result<Vec<Override>, String> {
    core.overrides(schedule)
        .await
        .map_err(|e| format!("Sorry, overrides cannot be read just now ({e})."))
}

/// The team named, or the asker's own; `usage` is shown when there is neither.
fn team_or_own<'a>(
    config: &'a Config,
    asker: Option<&User>,
    team: Option<String>,
    usage: &str,
) -> Result<&'a Team, String> {
    match team {
        Some(t) => config.team(&t).ok_or_else(|| {
            let known: Vec<&str> = config.teams.iter().map(|t| t.id.as_str()).collect();
            format!("There is no team `{t}`. Teams: {}.", list_or_none(&known))
        }),
        None => asker
            .and_then(|me| {
                config
                    .teams
                    .iter()
                    .find(|t| t.members.contains(&me.id) || t.leads.contains(&me.id))
            })
            .ok_or_else(|| format!("Which team? `{usage}`")),
    }
}

/// The team a schedule belongs to (the config guarantees there is one).
fn team_of<'a>(config: &'a Config, s: &Schedule) -> Result<&'a Team, String> {
    config
        .team(&s.team)
        .ok_or_else(|| format!("Schedule `{}` has no team `{}`.", s.id, s.team))
}

fn schedule<'a>(config: &'a Config, id: &str) -> Result<&'a Schedule, String> {
    config.schedule(id).ok_or_else(|| {
        let known: Vec<&str> = config.schedules.iter().map(|s| s.id.as_str()).collect();
        format!(
            "There is no schedule `{id}`. Schedules: {}.",
            list_or_none(&known)
        )
    })
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none are configured".into()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// 2026-11-25 at `h`:00 UTC, the tests' "now" being 10:00.
    pub(super) fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap()
    }

    pub(super) fn check(text: &str, expected: Result<OncallCommand, &str>) {
        match (parse(text, chrono_tz::UTC, t(10)), expected) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text:?}"),
            (Err(got), Err(want)) => {
                assert!(got.contains(want), "{text:?}: {got:?} lacks {want:?}")
            }
            (got, want) => panic!("{text:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn oncall_text_parses() {
        use OncallCommand::*;
        check("", Ok(Who(None)));
        check("help", Ok(Help));
        check("dance", Err("I don't know"));
    }

    #[test]
    fn a_mention_is_a_slack_id_only_when_it_looks_like_one() {
        assert_eq!(parse_user("<@U0BOB|bob>"), UserRef::Slack("U0BOB".into()));
        assert_eq!(parse_user("<@U0BOB>"), UserRef::Slack("U0BOB".into()));
        // A mention whose id is not a Slack id stays a name, never a mention.
        assert_eq!(
            parse_user("<@U0BOB><!here>"),
            UserRef::Name("<@U0BOB><!here>".into())
        );
        assert_eq!(parse_user("@alice"), UserRef::Name("alice".into()));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_explains(text in "\\PC{0,64}") {
            let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
            if let Err(msg) = parse(&text, chrono_tz::Australia::Sydney, now) {
                proptest::prop_assert!(!msg.is_empty());
            }
        }
    }
}
