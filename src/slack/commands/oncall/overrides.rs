//! `/oncall override`: put someone on call for a schedule over a span of time,
//! if the schedule's rules allow the asker to.

use super::{known_user, parse_user, schedule, team_of, when, Args, OncallCommand, UserRef};
use crate::domain::schedule::Override;
use crate::ops::Core;
use crate::slack::commands::when::parse_range;
use crate::slack::commands::{Invocation, Reply};
use crate::slack::render::mention_user as mention;
use crate::store::StoredOverride;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    let schedule = args.needed(0, "schedule")?;
    let user = parse_user(&args.needed(1, "person")?);
    if args.rest.len() < 3 {
        return Err(format!("From when to when? {}", args.usage()));
    }
    let (from, to) = parse_range(&args.rest[2..], args.tz, args.now)
        .map_err(|e| format!("{e}. {}", args.usage()))?;
    Ok(OncallCommand::Override {
        schedule,
        user,
        from,
        to,
    })
}

pub(super) async fn apply(
    core: &Core,
    inv: &Invocation,
    schedule_id: &str,
    target: &UserRef,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
) -> Reply {
    let config = &core.config;
    let s = schedule(config, schedule_id)?;
    let who = known_user(config, target)?;
    let team = team_of(config, s)?;
    let over = Override {
        user: who.id.clone(),
        start: from,
        end: to,
    };
    let detail = |stored: &StoredOverride| {
        format!(
            "#{} {} on call for {schedule_id} from {} to {}",
            stored.id,
            who.name,
            from.format("%Y-%m-%d %H:%M UTC"),
            to.format("%Y-%m-%d %H:%M UTC")
        )
    };
    let stored = core
        .add_override(s, team, over, &inv.user_id, detail)
        .await
        .map_err(|e| format!("Sorry, the override could not be saved ({e})."))??;
    Ok(format!(
        "Override #{}: {} is on call for `{schedule_id}` from {} to {}.",
        stored.id,
        mention(config, &who.id),
        when(from, tz),
        when(to, tz)
    ))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, t};
    use super::{OncallCommand::*, UserRef};

    #[test]
    fn override_parses() {
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
        check("override primary", Err("Which person?"));
        check("override primary @bob", Err("From when to when?"));
        check("override primary @bob +8h now", Err("after the start"));
        check("override primary @bob someday", Err("not a time"));
    }
}
