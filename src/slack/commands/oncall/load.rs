//! `/oncall load`: hours on call per member of a team, weeks back and ahead,
//! with nights and weekends apart, and how far apart the most and least are.

use super::{list_or_none, overrides_of, Args, OncallCommand};
use crate::domain::schedule::{load::load, shifts};
use crate::ops::Core;
use crate::slack::commands::Reply;
use crate::slack::render::mention_user as mention;
use chrono::{DateTime, Duration, Utc};

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(2)?;
    Ok(OncallCommand::Load {
        team: args.needed(0, "team")?,
        weeks: args.number(1, 4, 52, "weeks")?,
    })
}

fn hours(d: Duration) -> String {
    format!("{:.0} h", d.num_minutes() as f64 / 60.0)
}

pub(super) async fn apply(core: &Core, team_id: &str, weeks: u32, now: DateTime<Utc>) -> Reply {
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
            all.extend(shifts(s, &overrides_of(core, &s.id).await?, from, to));
        }
        periods.push((label, load(&all, tz_of)));
    }
    let mut out = format!(
        "*On-call load for {} ({weeks} week{} each way)*\n",
        team.name,
        if weeks == 1 { "" } else { "s" }
    );
    let zero = crate::domain::schedule::load::Load {
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

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::OncallCommand::*;

    #[test]
    fn load_parses() {
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
        check("load", Err("Which team?"));
    }
}
