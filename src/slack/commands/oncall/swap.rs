//! `/oncall swap` and `/oncall cover`: ask someone to trade shifts or take
//! one, by a DM with Accept and Decline buttons; and the answer to that DM.

use super::{find_user, known_user, overrides_of, parse_user, schedule, team_of};
use super::{Args, OncallCommand, UserRef};
use crate::config::{Config, User};
use crate::ops::schedule::{ShiftAsk, SwapAnswered, SwapFailure, SwapRefusal};
use crate::ops::schedule::{SwapReply, Unswappable};
use crate::ops::Core;
use crate::slack::commands::{Declined, Reply};
use crate::slack::render::{self, mention_user as mention};
use crate::store::{Outbound, SwapRequest, SwapState};
use chrono::{DateTime, Utc};

pub(super) fn parse(args: &Args) -> Result<OncallCommand, String> {
    args.too_many(3)?;
    Ok(OncallCommand::Swap {
        schedule: args.needed(0, "schedule")?,
        user: parse_user(&args.needed(1, "person")?),
        nth: args.number(2, 1, 20, "shifts")?,
        trade: args.name == "swap",
    })
}

/// Asks the other person by DM; their answer comes back through [`answer_swap`].
pub(super) async fn request(
    core: &Core,
    asker: Option<&User>,
    schedule_id: &str,
    target: &UserRef,
    nth: u32,
    trade: bool,
    now: DateTime<Utc>,
) -> Reply {
    let config = &core.config;
    let s = schedule(config, schedule_id)?;
    let me = asker.ok_or(
        "Only people in tocsin's configuration can ask for swaps (no user has your Slack id).",
    )?;
    let other = known_user(config, target)?;
    if other.id == me.id {
        return Err("Ask someone else: you cannot swap with yourself.".into());
    }
    let ask = ShiftAsk {
        schedule: s,
        team: team_of(config, s)?,
        requester: me,
        other,
        nth,
        trade,
    };
    let req = match core.ask_swap(&ask, now).await {
        Ok(Ok(req)) => req,
        Ok(Err(SwapRefusal::Policy(r))) => return Err(r.into()),
        Ok(Err(SwapRefusal::NoSlackId)) => {
            return Err(format!(
                "{} has no Slack id in the configuration, so I cannot ask them.",
                other.name
            )
            .into())
        }
        Ok(Err(SwapRefusal::NoShift)) => {
            return Err(
                format!("You have no shift #{nth} on `{schedule_id}` in the next 60 days.").into(),
            )
        }
        Ok(Err(SwapRefusal::NothingToTrade)) => {
            return Err(format!(
                "{} has no shift on `{schedule_id}` in the next 60 days to trade.",
                mention(config, &other.id)
            )
            .into())
        }
        Err(SwapFailure::Read(e)) => {
            return Err(format!("Sorry, overrides cannot be read just now ({e}).").into())
        }
        Err(SwapFailure::Save(e)) => {
            return Err(format!("Sorry, the request could not be saved ({e}).").into())
        }
    };
    Ok(format!(
        "I asked {} to {} your `{schedule_id}` shift ({} → {}). I'll DM you their answer.",
        mention(config, &other.id),
        if trade { "trade for" } else { "cover" },
        render::slack_date(req.mine.0),
        render::slack_date(req.mine.1)
    ))
}

/// From the Home's shift form: `asker` (a Slack id) asks `other` (a Slack
/// id) to cover, or with `trade` to trade for, their shift on `schedule`
/// that starts at `start`. `Err` is why not, worded for the form.
pub async fn ask_for_shift(
    core: &Core,
    asker: &str,
    schedule_id: &str,
    start: DateTime<Utc>,
    other: &str,
    trade: bool,
) -> Result<String, String> {
    let config = &core.config;
    let me = find_user(config, &UserRef::Slack(asker.to_string())).ok_or(
        "Only people in tocsin's configuration can ask for swaps (no user has your Slack id).",
    )?;
    let s = schedule(config, schedule_id)?;
    let now = core.clock.now();
    let overrides = overrides_of(core, schedule_id).await?;
    let nth = crate::domain::home::nth_shift(s, &overrides, &me.id, start, now).ok_or(
        "That shift is no longer yours (it is over, or someone else has it now); your Home shows your shifts as they are.",
    )?;
    let target = UserRef::Slack(other.to_string());
    request(core, Some(me), schedule_id, &target, nth, trade, now)
        .await
        .map_err(|Declined(why)| why)
}

/// What the answer to `req` says to whoever clicked (the question replaced,
/// so its buttons cannot be clicked again), and its audit line. The DM to
/// the requester and the line in the team's channel are notices.
fn reply_words(
    config: &Config,
    req: &SwapRequest,
    accept: bool,
    response_url: Option<&str>,
) -> SwapReply {
    let span = |(a, b): (DateTime<Utc>, DateTime<Utc>)| {
        format!("{} → {}", render::slack_date(a), render::slack_date(b))
    };
    let (who, requester) = (mention(config, &req.other), mention(config, &req.requester));
    let to_clicker = if accept {
        format!(
            ":white_check_mark: Accepted. You are on call for `{}` {}.",
            req.schedule,
            span(req.mine)
        )
    } else {
        ":x: Declined. I let them know.".to_string()
    };
    let respond = response_url.map(|url| {
        (
            format!("respond:{url}"),
            Outbound::Respond {
                response_url: url.to_string(),
                text: to_clicker,
                replace: true,
            },
        )
    });
    let trade = req
        .theirs
        .map(|t| format!("; {requester} covers {who} {}", span(t)))
        .unwrap_or_default();
    let audit = accept.then(|| {
        format!(
            "{who} covers {requester} on {} {}{trade} (asked by {requester})",
            req.schedule,
            span(req.mine)
        )
    });
    SwapReply { respond, audit }
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
    let reply = |req: &SwapRequest| reply_words(config, req, accept, response_url);
    let answered = core
        .answer_swap(id, clicker, accept, reply)
        .await
        .map_err(|e| e.to_string())?;
    Ok(match answered {
        SwapAnswered::Answered(_) => None,
        SwapAnswered::Gone => Some("That swap request no longer exists.".into()),
        SwapAnswered::NotYours(req) => Some(format!(
            "This request is for {}, not you.",
            mention(config, &req.other)
        )),
        SwapAnswered::Refused(req, why) => Some(match why {
            Unswappable::ScheduleGone => {
                format!("Schedule `{}` is no longer configured.", req.schedule)
            }
            Unswappable::NoTeam(team) => {
                format!("Schedule `{}` has no team `{team}`.", req.schedule)
            }
            Unswappable::Policy(r) => render::refusal(&r),
        }),
        SwapAnswered::Already(r) => Some(format!(
            "This request was already {}.",
            if r.state == SwapState::Accepted {
                "accepted"
            } else {
                "declined"
            }
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::check;
    use super::{OncallCommand::*, UserRef};

    #[test]
    fn swap_and_cover_parse() {
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
    }
}
