//! `/oncall who`, `/oncall schedule` and `/oncall mine`: who is on call now,
//! a schedule's coming shifts, and the asker's own.

use super::{list_or_none, overrides_of, schedule, when, Args, OncallCommand};
use crate::config::{Schedule, User};
use crate::domain::schedule::{shifts, Override, Shift};
use crate::ops::Core;
use crate::slack::commands::Reply;
use crate::slack::render::mention_user as mention;
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

pub(super) fn parse_who(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(1)?;
    Ok(OncallCommand::Who(args.first()))
}

pub(super) fn parse_schedule(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(2)?;
    Ok(OncallCommand::Schedule {
        id: args.needed(0, "schedule")?,
        days: args.number(1, 7, 90, "days")?,
    })
}

pub(super) fn parse_mine(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(0)?;
    Ok(OncallCommand::Mine)
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

/// `/oncall who`: every schedule, or those of one team, or one schedule.
pub(super) async fn who(core: &Core, filter: Option<&str>, tz: Tz, now: DateTime<Utc>) -> Reply {
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
                )
                .into());
            }
        },
    };
    if chosen.is_empty() {
        return Ok("No schedules are configured yet.".into());
    }
    let mut out = String::from("*On call now*\n");
    for s in chosen {
        let shift = current(s, &overrides_of(core, &s.id).await?, now);
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

/// `/oncall schedule`: the next `days` of one schedule, at most 40 shifts.
pub(super) async fn upcoming(
    core: &Core,
    id: &str,
    days: u32,
    tz: Tz,
    now: DateTime<Utc>,
) -> Reply {
    let s = schedule(&core.config, id)?;
    let list = shifts(
        s,
        &overrides_of(core, id).await?,
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

/// `/oncall mine`: the asker's next ten shifts over 28 days, on any schedule.
pub(super) async fn mine(core: &Core, asker: Option<&User>, tz: Tz, now: DateTime<Utc>) -> Reply {
    let me = asker.ok_or(
        "You are not in tocsin's configuration (no user has your Slack id), so you have no shifts.",
    )?;
    let mut mine: Vec<(DateTime<Utc>, DateTime<Utc>, &str)> = vec![];
    for s in &core.config.schedules {
        for sh in shifts(
            s,
            &overrides_of(core, &s.id).await?,
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

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::OncallCommand::*;

    #[test]
    fn who_schedule_and_mine_parse() {
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
        check("schedule", Err("Which schedule?"));
        check("schedule primary 0", Err("between 1 and 90"));
        check("schedule primary 91", Err("between 1 and 90"));
        check("schedule primary 7 extra", Err("Too many"));
        check("mine please", Err("Too many"));
    }
}
