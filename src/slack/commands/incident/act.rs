//! `/incident ack`, `resolve`, `escalate`, `snooze` and `assign`: the
//! incident's own course, the same changes its buttons make.

use super::super::oncall::{find_user, UserRef};
use crate::domain::incident::Transition;
use crate::ops::Core;
use crate::slack::commands::{Invocation, Reply};
use crate::slack::mrkdwn;
use crate::slack::render::{mention_user, no_change, slack_date};
use crate::store::Changed;

/// Acknowledges or resolves `id` as the person who ran the command.
pub(super) async fn transition(core: &Core, inv: &Invocation, id: u64, t: Transition) -> Reply {
    match core.act(id, t, &inv.user_id).await {
        Ok(Err(why)) => Err(why.into()),
        Ok(Ok(Changed::Applied { incident, .. })) => Ok(format!(
            "#{id} *{}* is now {}.",
            mrkdwn::text(&incident.alert.summary),
            incident.state.as_str()
        )),
        Ok(Ok(Changed::Unchanged { incident, why })) => Err(no_change(&incident, why).into()),
        Ok(Ok(Changed::NotFound)) => Err(format!("There is no incident #{id}.").into()),
        Err(e) => {
            tracing::error!(incident = id, error = %e, "command failed");
            Err(
                format!("Sorry, #{id} could not be changed just now ({e}). Please try again.")
                    .into(),
            )
        }
    }
}

/// Merges `from` into `into` as the person who ran the command.
pub(super) async fn merge(core: &Core, inv: &Invocation, from: u64, into: u64) -> Reply {
    match core.merge(from, into, &inv.user_id).await {
        Ok(Ok(done)) => Ok(crate::slack::render::sentence(&done)),
        Ok(Err(why)) => Err(why.into()),
        Err(e) => {
            tracing::error!(incident = from, error = %e, "merge failed");
            Err(
                format!("Sorry, #{from} could not be merged just now ({e}). Please try again.")
                    .into(),
            )
        }
    }
}

pub(super) async fn escalate(core: &Core, inv: &Invocation, id: u64) -> Reply {
    match core.escalate(id, &inv.user_id).await {
        Ok(Ok(_)) => Ok(format!(
            "Escalating #{id}: the next level is being paged now."
        )),
        Ok(Err(why)) => Err(why.into()),
        Err(e) => Err(format!("Sorry, #{id} could not be escalated just now ({e}).").into()),
    }
}

pub(super) async fn snooze(core: &Core, inv: &Invocation, id: u64, minutes: i64) -> Reply {
    match core.snooze(id, minutes, &inv.user_id).await {
        Ok(Ok(inc)) => Ok(format!(
            "#{id} is snoozed until {}; it pages again then unless resolved.",
            inc.snoozed_until.map(slack_date).unwrap_or_default()
        )),
        Ok(Err(why)) => Err(why.into()),
        Err(e) => Err(format!("Sorry, #{id} could not be snoozed just now ({e}).").into()),
    }
}

/// Pages one configured person about `id` now.
pub(super) async fn assign(core: &Core, inv: &Invocation, id: u64, who: &UserRef) -> Reply {
    let Some(user) = find_user(&core.config, who) else {
        return Err("That person is not in tocsin's configuration.".into());
    };
    let mention = mention_user(&core.config, &user.id);
    match core.assign(id, &user.id, &inv.user_id).await {
        Ok(Ok(_)) => Ok(format!("Paging {mention} about #{id} now.")),
        Ok(Err(why)) => Err(why.into()),
        Err(e) => Err(format!("Sorry, #{id} could not be assigned just now ({e}).").into()),
    }
}
