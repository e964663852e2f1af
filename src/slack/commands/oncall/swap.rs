//! `/oncall swap` and `/oncall cover`: ask someone to trade shifts or take
//! one, by a DM with Accept and Decline buttons; and the answer to that DM.

use super::audit::record_audit;
use super::{
    known_user, overrides_of, parse_user, schedule, team_of, Args, OncallCommand, UserRef,
};
use crate::config::User;
use crate::domain::policy;
use crate::domain::schedule::{shifts, Shift};
use crate::ops::Core;
use crate::slack::commands::Reply;
use crate::slack::render::{self, mention_user as mention, SwapAsk};
use crate::store::{Outbound, SwapRequest, SwapState};
use chrono::{DateTime, Duration, Utc};

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
    policy::may_swap(config, team_of(config, s)?, &me.id, &other.id, trade)?;
    let Some(other_slack) = other.slack_id.clone() else {
        return Err(format!(
            "{} has no Slack id in the configuration, so I cannot ask them.",
            other.name
        )
        .into());
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
        return Err(
            format!("You have no shift #{nth} on `{schedule_id}` in the next 60 days.").into(),
        );
    };
    let theirs = if trade {
        match of(&other.id).first() {
            Some(t) => Some((t.start, t.end)),
            None => {
                return Err(format!(
                    "{} has no shift on `{schedule_id}` in the next 60 days to trade.",
                    mention(config, &other.id)
                )
                .into())
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
                    .map_err(|r| render::refusal(&r))
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
