//! `/oncall`: who is on call, upcoming shifts, your shifts, overrides, load and
//! the calendar feed. Parsed into an [`OncallCommand`] first, then applied.

use super::when::parse_range;
use super::{spec, Invocation};
use crate::app::Core;
use crate::config::{Config, Schedule, User};
use crate::policy;
use crate::schedule::{ical, load::load, shifts, Override, Shift};
use crate::slack::render::{self, mention_user as mention, SwapAsk};
use crate::store::{Outbound, SwapRequest, SwapState};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    /// `<@U123>` or `<@U123|name>` as Slack escapes a mention.
    Slack(String),
    /// `@alice` or `alice`: a config user id or name.
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OncallCommand {
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

/// Parses the text after `/oncall`; times are read in `tz` relative to `now`.
pub fn parse(text: &str, tz: Tz, now: DateTime<Utc>) -> Result<OncallCommand, String> {
    let spec = spec("/oncall").expect("/oncall is declared");
    let words: Vec<&str> = text.split_whitespace().collect();
    let Some(first) = words.first() else {
        return Ok(OncallCommand::Who(None));
    };
    let Some(sub) = spec.resolve(first) else {
        return Err(format!("I don't know `/oncall {first}`.\n{}", spec.help()));
    };
    let usage = || format!("Usage: `/oncall {}`", sub.usage);
    let rest = &words[1..];
    let number = |w: Option<&&str>, default: u32, max: u32, what: &str| -> Result<u32, String> {
        match w {
            None => Ok(default),
            Some(w) => match w.parse::<u32>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(format!(
                    "`{w}` is not a number of {what} between 1 and {max}. {}",
                    usage()
                )),
            },
        }
    };
    let too_many = |n: usize| -> Result<(), String> {
        if rest.len() > n {
            Err(format!("Too many words. {}", usage()))
        } else {
            Ok(())
        }
    };
    let needed = |i: usize, what: &str| -> Result<String, String> {
        rest.get(i)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("Which {what}? {}", usage()))
    };
    match sub.name.as_str() {
        "who" => {
            too_many(1)?;
            Ok(OncallCommand::Who(rest.first().map(|s| s.to_string())))
        }
        "schedule" => {
            too_many(2)?;
            Ok(OncallCommand::Schedule {
                id: needed(0, "schedule")?,
                days: number(rest.get(1), 7, 90, "days")?,
            })
        }
        "mine" => {
            too_many(0)?;
            Ok(OncallCommand::Mine)
        }
        "override" => {
            let schedule = needed(0, "schedule")?;
            let user = parse_user(&needed(1, "person")?);
            if rest.len() < 3 {
                return Err(format!("From when to when? {}", usage()));
            }
            let (from, to) =
                parse_range(&rest[2..], tz, now).map_err(|e| format!("{e}. {}", usage()))?;
            Ok(OncallCommand::Override {
                schedule,
                user,
                from,
                to,
            })
        }
        "load" => {
            too_many(2)?;
            Ok(OncallCommand::Load {
                team: needed(0, "team")?,
                weeks: number(rest.get(1), 4, 52, "weeks")?,
            })
        }
        "feed" => {
            too_many(2)?;
            let rotate = match rest.get(1) {
                None => false,
                Some(w) if w.eq_ignore_ascii_case("rotate") => true,
                Some(w) => return Err(format!("`{w}` is not `rotate`. {}", usage())),
            };
            Ok(OncallCommand::Feed {
                schedule: needed(0, "schedule")?,
                rotate,
            })
        }
        "swap" | "cover" => {
            too_many(3)?;
            Ok(OncallCommand::Swap {
                schedule: needed(0, "schedule")?,
                user: parse_user(&needed(1, "person")?),
                nth: number(rest.get(2), 1, 20, "shifts")?,
                trade: sub.name == "swap",
            })
        }
        "audit" => {
            too_many(1)?;
            Ok(OncallCommand::Audit(rest.first().map(|s| s.to_string())))
        }
        "report" => {
            too_many(2)?;
            let mut team = None;
            let mut days = 7;
            for w in rest {
                match *w {
                    "7d" => days = 7,
                    "30d" => days = 30,
                    "90d" => days = 90,
                    other if team.is_none() => team = Some(other.to_string()),
                    other => return Err(format!("`{other}` is not 7d, 30d or 90d. {}", usage())),
                }
            }
            Ok(OncallCommand::Report { team, days })
        }
        "maintenance" => {
            let service = needed(0, "service")?;
            let length = needed(1, "duration")?;
            let reason = (rest.len() > 2).then(|| rest[2..].join(" "));
            if length == "end" || length == "off" {
                return Ok(OncallCommand::Maintenance {
                    service,
                    until: None,
                    reason: None,
                });
            }
            let d =
                crate::config::parse_duration(&length).map_err(|e| format!("{e}. {}", usage()))?;
            if d > chrono::Duration::days(crate::maintenance::MAX_DAYS) {
                return Err(format!(
                    "At most {} days; put longer windows in the config file.",
                    crate::maintenance::MAX_DAYS
                ));
            }
            Ok(OncallCommand::Maintenance {
                service,
                until: Some(now + d),
                reason,
            })
        }
        "help" => {
            too_many(0)?;
            Ok(OncallCommand::Help)
        }
        other => Err(format!("`/oncall {other}` is declared but not handled")),
    }
}

pub(crate) fn parse_user(word: &str) -> UserRef {
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

pub(crate) fn find_user<'a>(config: &'a Config, r: &UserRef) -> Option<&'a User> {
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

fn overrides_of(core: &Core, schedule: &str) -> Result<Vec<Override>, String> {
    core.store
        .overrides(schedule)
        .map(|v| v.into_iter().map(|o| o.over).collect())
        .map_err(|e| format!("Sorry, overrides cannot be read just now ({e})."))
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
    let result = match cmd {
        OncallCommand::Help => Ok(spec("/oncall").expect("declared").help()),
        OncallCommand::Who(filter) => who(core, filter.as_deref(), tz, now),
        OncallCommand::Schedule { id, days } => upcoming(core, &id, days, tz, now),
        OncallCommand::Mine => mine(core, asker, tz, now),
        OncallCommand::Override {
            schedule,
            user,
            from,
            to,
        } => set_override(core, inv, &schedule, &user, from, to, tz).await,
        OncallCommand::Load { team, weeks } => team_load(core, &team, weeks, now),
        OncallCommand::Feed { schedule, rotate } => feed(core, inv, &schedule, rotate).await,
        OncallCommand::Swap {
            schedule,
            user,
            nth,
            trade,
        } => request_swap(core, asker, &schedule, &user, nth, trade, now).await,
        OncallCommand::Maintenance {
            service,
            until,
            reason,
        } => maintenance(core, inv, asker, &service, until, reason, tz).await,
        OncallCommand::Audit(team) => audit(core, asker, team, tz),
        OncallCommand::Report { team, days } => {
            report(core, asker, team, days, now, &inv.channel_id).await
        }
    };
    result.unwrap_or_else(|e| e)
}

/// The team named, or the asker's own; `usage` is shown when there is neither.
fn team_or_own<'a>(
    config: &'a Config,
    asker: Option<&User>,
    team: Option<String>,
    usage: &str,
) -> Result<&'a crate::config::Team, String> {
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

/// `/oncall audit`: the team's recent changes, newest first.
fn audit(
    core: &Core,
    asker: Option<&User>,
    team: Option<String>,
    tz: Tz,
) -> Result<String, String> {
    let team = team_or_own(&core.config, asker, team, "/oncall audit TEAM")?;
    let entries = core
        .store
        .audit(&team.id, 20)
        .map_err(|e| format!("Sorry, the audit log cannot be read just now ({e})."))?;
    if entries.is_empty() {
        return Ok(format!(
            "Nothing has changed in {}'s on-call arrangements yet.",
            team.name
        ));
    }
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            format!(
                "• {} <@{}> {}: {}",
                when(e.at, tz),
                e.actor,
                e.action,
                e.detail
            )
        })
        .collect();
    Ok(format!(
        "*Changes to {}*, newest first:\n{}",
        team.name,
        lines.join("\n")
    ))
}

/// Records who changed a team's arrangements; a failure is logged, never fatal.
fn record_audit(core: &Core, team: &str, actor: &str, action: &str, detail: String) {
    let e = crate::store::AuditEntry {
        at: core.clock.now(),
        team: team.to_string(),
        actor: actor.to_string(),
        action: action.to_string(),
        detail,
    };
    if let Err(err) = core.store.add_audit(&e) {
        tracing::error!(error = %err, "cannot write the audit log");
    }
}

/// `/oncall report`: the asker's team by default; the charts are shared in
/// the channel the command ran in.
async fn report(
    core: &Core,
    asker: Option<&User>,
    team: Option<String>,
    days: i64,
    now: DateTime<Utc>,
    channel: &str,
) -> Result<String, String> {
    let config = &core.config;
    let team = team_or_own(config, asker, team, "/oncall report TEAM [7d|30d|90d]")?;
    let length = chrono::Duration::days(days);
    let (current, before) = crate::report::gather::build_with_previous(
        config,
        &core.store,
        &team.id,
        now - length,
        now,
    )
    .map_err(|e| format!("Sorry, the report cannot be built just now ({e})."))?;
    let text = crate::slack::render::report(&current, &before, &team.name, days)
        .map_err(|e| format!("Sorry, the report could not be written ({e})."))?;
    let mut queued = 0;
    for (lane, op) in crate::report::gather::chart_uploads(&current, channel) {
        match core.enqueue(&lane, op).await {
            Ok(_) => queued += 1,
            Err(e) => tracing::warn!(error = %e, "a report chart could not be queued"),
        }
    }
    Ok(if queued > 0 {
        format!("{text}\n_The charts ({queued}) are being posted in this channel._")
    } else {
        text
    })
}

/// `/oncall maintenance`: members and leads of the service's team only.
async fn maintenance(
    core: &Core,
    inv: &Invocation,
    asker: Option<&User>,
    service: &str,
    until: Option<DateTime<Utc>>,
    reason: Option<String>,
    tz: Tz,
) -> Result<String, String> {
    let config = &core.config;
    let svc = config.service(service).ok_or_else(|| {
        let known: Vec<&str> = config.services.iter().map(|s| s.id.as_str()).collect();
        format!(
            "There is no service `{service}`. Services: {}.",
            list_or_none(&known)
        )
    })?;
    let team = config.team(&svc.team);
    let allowed = asker.is_some_and(|me| team.is_some_and(|t| t.leads.contains(&me.id)));
    if !allowed {
        return Err(format!(
            "Only a lead of {} can put {} in maintenance or end it.",
            team.map_or(svc.team.as_str(), |t| t.name.as_str()),
            svc.name
        ));
    }
    let failed =
        |e: crate::store::StoreError| format!("Sorry, that could not be saved ({e}). Try again.");
    match until {
        Some(until) => {
            record_audit(
                core,
                &svc.team,
                &inv.user_id,
                "maintenance",
                format!(
                    "{} until {}{}",
                    svc.name,
                    until.format("%Y-%m-%d %H:%M UTC"),
                    // The audit line is shown as mrkdwn; the reason is what a person typed.
                    reason
                        .as_ref()
                        .map(|r| format!(" ({})", crate::slack::mrkdwn::text(r)))
                        .unwrap_or_default()
                ),
            );
            crate::maintenance::start(core, &svc.id, until, reason, &inv.user_id)
                .await
                .map_err(failed)?;
            Ok(format!(
                "{} is in maintenance until {}: its alerts are recorded and nobody is paged. `/oncall maintenance {} end` finishes it early.",
                svc.name,
                when(until, tz),
                svc.id
            ))
        }
        None => match crate::maintenance::end(core, &svc.id)
            .await
            .map_err(failed)?
        {
            Some(_) => {
                record_audit(
                    core,
                    &svc.team,
                    &inv.user_id,
                    "maintenance",
                    format!("{} ended early", svc.name),
                );
                core.store.durable().await.map_err(failed)?;
                Ok(format!(
                    "Maintenance on {} is over; paging resumes.",
                    svc.name
                ))
            }
            None => Ok(format!("{} is not in maintenance.", svc.name)),
        },
    }
}

/// The team a schedule belongs to (the config guarantees there is one).
fn team_of<'a>(config: &'a Config, s: &Schedule) -> Result<&'a crate::config::Team, String> {
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

/// The current shift of a schedule: who (if anyone) and until when.
fn current(s: &Schedule, o: &[Override], now: DateTime<Utc>) -> Shift {
    let horizon = now + Duration::days(60);
    shifts(s, o, now, horizon)
        .into_iter()
        .next()
        .unwrap_or(Shift {
            user: None,
            start: now,
            end: horizon,
        })
}

fn who(core: &Core, filter: Option<&str>, tz: Tz, now: DateTime<Utc>) -> Result<String, String> {
    let config = &core.config;
    let chosen: Vec<&Schedule> = match filter {
        None => config.schedules.iter().collect(),
        Some(f) => match (config.schedule(f), config.team(f)) {
            (Some(s), _) => vec![s],
            (None, Some(team)) => config
                .schedules
                .iter()
                .filter(|s| s.team == team.id)
                .collect(),
            (None, None) => {
                let mut known: Vec<&str> = config.teams.iter().map(|t| t.id.as_str()).collect();
                known.extend(config.schedules.iter().map(|s| s.id.as_str()));
                return Err(format!(
                    "No team or schedule is called `{f}`. Try one of: {}.",
                    list_or_none(&known)
                ));
            }
        },
    };
    if chosen.is_empty() {
        return Ok("No schedules are configured yet.".into());
    }
    let mut out = String::from("*On call now*\n");
    for s in chosen {
        let shift = current(s, &overrides_of(core, &s.id)?, now);
        let until = if shift.end >= now + Duration::days(60) {
            "for the next 60 days or more".to_string()
        } else {
            format!("until {}", when(shift.end, tz))
        };
        match &shift.user {
            Some(u) => out.push_str(&format!("• `{}`: {} {until}\n", s.id, mention(config, u))),
            None => out.push_str(&format!("• `{}`: :warning: nobody {until}\n", s.id)),
        }
    }
    Ok(out)
}

fn upcoming(
    core: &Core,
    id: &str,
    days: u32,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let s = schedule(&core.config, id)?;
    let list = shifts(
        s,
        &overrides_of(core, id)?,
        now,
        now + Duration::days(days.into()),
    );
    let mut out = format!(
        "*`{id}` for the next {days} day{}*\n",
        if days == 1 { "" } else { "s" }
    );
    for sh in list.iter().take(40) {
        let who = sh
            .user
            .as_deref()
            .map(|u| mention(&core.config, u))
            .unwrap_or_else(|| ":warning: nobody".into());
        out.push_str(&format!(
            "• {} → {}: {who}\n",
            when(sh.start, tz),
            when(sh.end, tz)
        ));
    }
    if list.len() > 40 {
        out.push_str(&format!("…and {} more shifts.\n", list.len() - 40));
    }
    Ok(out)
}

fn mine(core: &Core, asker: Option<&User>, tz: Tz, now: DateTime<Utc>) -> Result<String, String> {
    let me = asker.ok_or(
        "You are not in tocsin's configuration (no user has your Slack id), so you have no shifts.",
    )?;
    let mut mine: Vec<(DateTime<Utc>, DateTime<Utc>, &str)> = vec![];
    for s in &core.config.schedules {
        for sh in shifts(
            s,
            &overrides_of(core, &s.id)?,
            now,
            now + Duration::days(28),
        ) {
            if sh.user.as_deref() == Some(me.id.as_str()) {
                mine.push((sh.start, sh.end, s.id.as_str()));
            }
        }
    }
    if mine.is_empty() {
        return Ok("You have no shifts in the next 28 days.".into());
    }
    mine.sort();
    let mut out = String::from("*Your next shifts*\n");
    for (start, end, id) in mine.iter().take(10) {
        out.push_str(&format!(
            "• `{id}`: {} → {}\n",
            when(*start, tz),
            when(*end, tz)
        ));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn set_override(
    core: &Core,
    inv: &Invocation,
    schedule_id: &str,
    target: &UserRef,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
) -> Result<String, String> {
    let config = &core.config;
    let s = schedule(config, schedule_id)?;
    let who = known_user(config, target)?;
    let team = team_of(config, s)?;
    policy::may_override(config, &inv.user_id, team, &who.id).map_err(|r| r.to_string())?;
    let over = Override {
        user: who.id.clone(),
        start: from,
        end: to,
    };
    let stored = core
        .store
        .add_override(schedule_id, over, &inv.user_id, core.clock.now())
        .map_err(|e| format!("Sorry, the override could not be saved ({e})."))?;
    record_audit(
        core,
        &s.team,
        &inv.user_id,
        "override",
        format!(
            "#{} {} on call for {schedule_id} from {} to {}",
            stored.id,
            who.name,
            from.format("%Y-%m-%d %H:%M UTC"),
            to.format("%Y-%m-%d %H:%M UTC")
        ),
    );
    core.store
        .durable()
        .await
        .map_err(|e| format!("Sorry, the override could not be saved ({e})."))?;
    core.engine_wake.notify_one();
    Ok(format!(
        "Override #{}: {} is on call for `{schedule_id}` from {} to {}.",
        stored.id,
        mention(config, &who.id),
        when(from, tz),
        when(to, tz)
    ))
}

async fn request_swap(
    core: &Core,
    asker: Option<&User>,
    schedule_id: &str,
    target: &UserRef,
    nth: u32,
    trade: bool,
    now: DateTime<Utc>,
) -> Result<String, String> {
    let config = &core.config;
    let s = schedule(config, schedule_id)?;
    let me = asker.ok_or(
        "Only people in tocsin's configuration can ask for swaps (no user has your Slack id).",
    )?;
    let other = known_user(config, target)?;
    if other.id == me.id {
        return Err("Ask someone else: you cannot swap with yourself.".into());
    }
    policy::may_swap(config, team_of(config, s)?, &me.id, &other.id, trade)
        .map_err(|r| r.to_string())?;
    let Some(other_slack) = other.slack_id.clone() else {
        return Err(format!(
            "{} has no Slack id in the configuration, so I cannot ask them.",
            other.name
        ));
    };
    let list = shifts(
        s,
        &overrides_of(core, schedule_id)?,
        now,
        now + Duration::days(60),
    );
    let of = |u: &str| -> Vec<&Shift> {
        list.iter()
            .filter(|sh| sh.user.as_deref() == Some(u))
            .collect()
    };
    let Some(mine) = of(&me.id).get(nth as usize - 1).copied() else {
        return Err(format!(
            "You have no shift #{nth} on `{schedule_id}` in the next 60 days."
        ));
    };
    let theirs = if trade {
        match of(&other.id).first() {
            Some(t) => Some((t.start, t.end)),
            None => {
                return Err(format!(
                    "{} has no shift on `{schedule_id}` in the next 60 days to trade.",
                    mention(config, &other.id)
                ))
            }
        }
    } else {
        None
    };
    let req = SwapRequest {
        id: core
            .store
            .new_swap_id()
            .map_err(|e| format!("Sorry, the request could not be saved ({e})."))?,
        schedule: schedule_id.to_string(),
        requester: me.id.clone(),
        other: other.id.clone(),
        mine: (mine.start, mine.end),
        theirs,
        state: SwapState::Pending,
        created_at: now,
    };
    let ask = render::swap_request(&SwapAsk {
        id: req.id,
        schedule: schedule_id,
        requester: mention(config, &me.id),
        mine: req.mine,
        theirs,
    })
    .map_err(|e| format!("Sorry, the request could not be written ({e})."))?;
    let op = Outbound::NotifyBlocks {
        channel: other_slack.clone(),
        text: ask.text,
        blocks: ask.blocks_json,
    };
    core.store
        .add_swap(&req, &(other_slack, op))
        .map_err(|e| format!("Sorry, the request could not be saved ({e})."))?;
    core.store
        .durable()
        .await
        .map_err(|e| format!("Sorry, the request could not be saved ({e})."))?;
    core.outbox_ready.notify_one();
    Ok(format!(
        "I asked {} to {} your `{schedule_id}` shift ({} → {}). I'll DM you their answer.",
        mention(config, &other.id),
        if trade { "trade for" } else { "cover" },
        render::slack_date(mine.start),
        render::slack_date(mine.end)
    ))
}

/// Someone clicked Accept or Decline on a swap request DM.
pub async fn answer_swap(
    core: &Core,
    id: u64,
    clicker: &str,
    accept: bool,
    response_url: Option<&str>,
) -> Result<Option<String>, String> {
    let config = &core.config;
    let Some(req) = core.store.swap(id).map_err(|e| e.to_string())? else {
        return Ok(Some("That swap request no longer exists.".into()));
    };
    let other_slack = config.user(&req.other).and_then(|u| u.slack_id.clone());
    if other_slack.as_deref() != Some(clicker) {
        return Ok(Some(format!(
            "This request is for {}, not you.",
            mention(config, &req.other)
        )));
    }
    // Accepting puts people on call; the configuration may have changed
    // since the request was made. Declining is always possible.
    let allowed = if !accept {
        Ok(())
    } else {
        config
            .schedule(&req.schedule)
            .ok_or_else(|| format!("Schedule `{}` is no longer configured.", req.schedule))
            .and_then(|s| team_of(config, s))
            .and_then(|team| {
                let trade = req.theirs.is_some();
                policy::may_swap(config, team, &req.requester, &req.other, trade)
                    .map_err(|r| r.to_string())
            })
    };
    if let Err(why) = allowed {
        return Ok(Some(why));
    }
    let span = |(a, b): (DateTime<Utc>, DateTime<Utc>)| {
        format!("{} → {}", render::slack_date(a), render::slack_date(b))
    };
    let (who, requester) = (mention(config, &req.other), mention(config, &req.requester));
    let mut notices: Vec<(String, Outbound)> = vec![];
    let requester_dm = |text: String| {
        config
            .user(&req.requester)
            .and_then(|u| u.slack_id.clone())
            .map(|c| (c.clone(), Outbound::Notify { channel: c, text }))
    };
    let (to_requester, to_clicker) = if accept {
        let trade = req
            .theirs
            .map(|t| format!(", and you take theirs ({})", span(t)))
            .unwrap_or_default();
        (
            format!(
                ":white_check_mark: {who} accepted: they are on call for `{}` {}{trade}.",
                req.schedule,
                span(req.mine)
            ),
            format!(
                ":white_check_mark: Accepted. You are on call for `{}` {}.",
                req.schedule,
                span(req.mine)
            ),
        )
    } else {
        (
            format!(
                ":x: {who} declined to take your `{}` shift ({}).",
                req.schedule,
                span(req.mine)
            ),
            ":x: Declined. I let them know.".to_string(),
        )
    };
    notices.extend(requester_dm(to_requester));
    if accept {
        if let Some(channel) = config
            .schedule(&req.schedule)
            .and_then(|s| config.team(&s.team))
            .and_then(|t| t.alert_channel.clone())
        {
            let text = format!(
                ":repeat: `{}`: {who} covers {requester} {}{}.",
                req.schedule,
                span(req.mine),
                req.theirs
                    .map(|t| format!("; {requester} covers {who} {}", span(t)))
                    .unwrap_or_default()
            );
            notices.push((channel.clone(), Outbound::Notify { channel, text }));
        }
    }
    if let Some(url) = response_url {
        // Replace the question, so its buttons cannot be clicked again.
        notices.push((
            format!("respond:{url}"),
            Outbound::Respond {
                response_url: url.to_string(),
                text: to_clicker,
                replace: true,
            },
        ));
    }
    let answered = core
        .store
        .answer_swap(id, accept, core.clock.now(), &notices)
        .map_err(|e| e.to_string())?;
    // An accepted swap moves shifts: the team's audit log says who agreed to what.
    if let (Some((_, true)), true) = (&answered, accept) {
        if let Some(team) = config.schedule(&req.schedule).map(|s| s.team.clone()) {
            let trade = req
                .theirs
                .map(|t| format!("; {requester} covers {who} {}", span(t)))
                .unwrap_or_default();
            let detail = format!(
                "{who} covers {requester} on {} {}{trade} (asked by {requester})",
                req.schedule,
                span(req.mine)
            );
            record_audit(core, &team, clicker, "swap", detail);
        }
    }
    core.store.durable().await.map_err(|e| e.to_string())?;
    match answered {
        Some((_, true)) => {
            core.outbox_ready.notify_one();
            core.engine_wake.notify_one();
            Ok(None)
        }
        Some((r, false)) => Ok(Some(format!(
            "This request was already {}.",
            if r.state == SwapState::Accepted {
                "accepted"
            } else {
                "declined"
            }
        ))),
        None => Ok(Some("That swap request no longer exists.".into())),
    }
}

fn hours(d: Duration) -> String {
    format!("{:.0} h", d.num_minutes() as f64 / 60.0)
}

fn team_load(core: &Core, team_id: &str, weeks: u32, now: DateTime<Utc>) -> Result<String, String> {
    let config = &core.config;
    let team = config.team(team_id).ok_or_else(|| {
        let known: Vec<&str> = config.teams.iter().map(|t| t.id.as_str()).collect();
        format!(
            "There is no team `{team_id}`. Teams: {}.",
            list_or_none(&known)
        )
    })?;
    let span = Duration::weeks(weeks.into());
    let tz_of = |u: &str| {
        config
            .user(u)
            .map(|u| u.time_zone)
            .unwrap_or(chrono_tz::UTC)
    };
    let mut periods = vec![];
    for (label, from, to) in [("last", now - span, now), ("next", now, now + span)] {
        let mut all = vec![];
        for s in config.schedules.iter().filter(|s| s.team == team.id) {
            all.extend(shifts(s, &overrides_of(core, &s.id)?, from, to));
        }
        periods.push((label, load(&all, tz_of)));
    }
    let mut out = format!(
        "*On-call load for {} ({weeks} week{} each way)*\n",
        team.name,
        if weeks == 1 { "" } else { "s" }
    );
    let zero = crate::schedule::load::Load {
        user: String::new(),
        on_call: Duration::zero(),
        off_hours: Duration::zero(),
        weekend: Duration::zero(),
    };
    let mut people: Vec<String> = team.members.clone();
    for (_, loads) in &periods {
        for l in loads {
            if !people.contains(&l.user) {
                people.push(l.user.clone());
            }
        }
    }
    for p in &people {
        let mut line = format!("• {}:", mention(config, p));
        for (label, loads) in &periods {
            let l = loads.iter().find(|l| l.user == *p).unwrap_or(&zero);
            line.push_str(&format!(
                " {label} {} (nights {}, weekends {});",
                hours(l.on_call),
                hours(l.off_hours),
                hours(l.weekend)
            ));
        }
        line.pop();
        out.push_str(&line);
        out.push('\n');
    }
    for (label, loads) in &periods {
        let total = |p: &String| {
            loads
                .iter()
                .find(|l| l.user == *p)
                .map(|l| l.on_call)
                .unwrap_or_default()
        };
        let (Some(most), Some(least)) = (
            people.iter().max_by_key(|p| total(p)),
            people.iter().min_by_key(|p| total(p)),
        ) else {
            continue;
        };
        out.push_str(&format!(
            "Spread ({label} {weeks} wk): {} ({}) vs {} ({}): {} apart\n",
            hours(total(most)),
            mention(config, most),
            hours(total(least)),
            mention(config, least),
            hours(total(most) - total(least))
        ));
    }
    Ok(out)
}

/// `/oncall feed`: the schedule's private calendar link; with `rotate`
/// (its team's leads only), a new link that retires the old one.
async fn feed(core: &Core, inv: &Invocation, id: &str, rotate: bool) -> Result<String, String> {
    let s = schedule(&core.config, id)?;
    let failed = |e: crate::store::StoreError| {
        format!("Sorry, the feed link cannot be made just now ({e}).")
    };
    let seed = core.store.feed_seed().map_err(failed)?;
    let generation = if rotate {
        let team = team_of(&core.config, s)?;
        policy::may_rotate_feed(&core.config, &inv.user_id, team).map_err(|r| r.to_string())?;
        let generation = core.store.rotate_feed(id).map_err(failed)?;
        record_audit(
            core,
            &team.id,
            &inv.user_id,
            "feed",
            format!("rotated the calendar link of {id}"),
        );
        generation
    } else {
        core.store.feed_generation(id).map_err(failed)?
    };
    // The link must keep working after a crash (and a rotation must hold):
    // the seed and generation are on disk before the link is shown.
    core.store.durable().await.map_err(failed)?;
    let link = format!(
        "{}/schedules/{id}.ics?token={}",
        core.public_url,
        ical::feed_token(&seed, id, generation)
    );
    Ok(if rotate {
        format!("The old calendar link of `{id}` no longer works. The new one (keep it private):\n{link}")
    } else {
        format!("Subscribe to `{id}` in your calendar app (keep this link private):\n{link}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn check(text: &str, expected: Result<OncallCommand, &str>) {
        let now = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).unwrap();
        match (parse(text, chrono_tz::UTC, now), expected) {
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
        let t = |h| Utc.with_ymd_and_hms(2026, 11, 25, h, 0, 0).unwrap();
        check("", Ok(Who(None)));
        check("who", Ok(Who(None)));
        check("who platform", Ok(Who(Some("platform".into()))));
        check(
            "schedule primary",
            Ok(Schedule {
                id: "primary".into(),
                days: 7,
            }),
        );
        check(
            "shifts primary 14",
            Ok(Schedule {
                id: "primary".into(),
                days: 14,
            }),
        );
        check("mine", Ok(Mine));
        check(
            "override primary <@U0BOB|bob> now +8h",
            Ok(Override {
                schedule: "primary".into(),
                user: UserRef::Slack("U0BOB".into()),
                from: t(10),
                to: t(18),
            }),
        );
        // A mention whose id is not a Slack id stays a name, never a mention.
        check(
            "override primary <@U0BOB><!here> now +8h",
            Ok(Override {
                schedule: "primary".into(),
                user: UserRef::Name("<@U0BOB><!here>".into()),
                from: t(10),
                to: t(18),
            }),
        );
        check(
            "override primary @alice today 12:00 today 14:00",
            Ok(Override {
                schedule: "primary".into(),
                user: UserRef::Name("alice".into()),
                from: t(12),
                to: t(14),
            }),
        );
        check(
            "load platform",
            Ok(Load {
                team: "platform".into(),
                weeks: 4,
            }),
        );
        check(
            "load platform 8",
            Ok(Load {
                team: "platform".into(),
                weeks: 8,
            }),
        );
        check(
            "feed primary",
            Ok(Feed {
                schedule: "primary".into(),
                rotate: false,
            }),
        );
        check(
            "ical primary ROTATE",
            Ok(Feed {
                schedule: "primary".into(),
                rotate: true,
            }),
        );
        check("feed primary now", Err("is not `rotate`"));
        check("feed primary rotate twice", Err("Too many"));
        check("help", Ok(Help));
        check(
            "swap primary <@U0BOB> 2",
            Ok(Swap {
                schedule: "primary".into(),
                user: UserRef::Slack("U0BOB".into()),
                nth: 2,
                trade: true,
            }),
        );
        check(
            "cover primary @bob",
            Ok(Swap {
                schedule: "primary".into(),
                user: UserRef::Name("bob".into()),
                nth: 1,
                trade: false,
            }),
        );
        check("cover primary", Err("Which person?"));
        check("cover primary @bob 0", Err("between 1 and 20"));
        check("schedule", Err("Which schedule?"));
        check("schedule primary 0", Err("between 1 and 90"));
        check("schedule primary 91", Err("between 1 and 90"));
        check("schedule primary 7 extra", Err("Too many"));
        check("override primary", Err("Which person?"));
        check("override primary @bob", Err("From when to when?"));
        check("override primary @bob +8h now", Err("after the start"));
        check("override primary @bob someday", Err("not a time"));
        check("load", Err("Which team?"));
        check("mine please", Err("Too many"));
        check("dance", Err("I don't know"));
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
