//! `/incident channel`, `commander`, `comms`, `update`, `note`, `severity`,
//! `timeline`, `subscribe` and `unsubscribe`: running a serious incident.
//! Each takes the incident already chosen (`here`): named, or the room's.

use super::super::oncall::{find_user, UserRef};
use crate::domain::incident::Incident;
use crate::domain::warroom::{Role, Sev};
use crate::ops::room::Answer;
use crate::ops::Core;
use crate::slack::commands::{Invocation, Reply};

/// The reply to a war-room change: `done` when it applied, else why not.
fn answer(r: Answer, id: u64, done: impl FnOnce(&Incident) -> String) -> Reply {
    match r {
        Ok(Ok(inc)) => Ok(done(&inc)),
        Ok(Err(why)) => Err(why.into()),
        Err(e) => {
            tracing::error!(incident = id, error = %e, "command failed");
            Err(
                format!("Sorry, #{id} could not be changed just now ({e}). Please try again.")
                    .into(),
            )
        }
    }
}

/// `/incident channel`: opens the incident's own channel.
pub(super) async fn open(core: &Core, inv: &Invocation, id: u64) -> Reply {
    answer(core.open_room(id, &inv.user_id).await, id, |_| {
        format!("Opening a channel for #{id}: its people and you are invited, and a live summary is pinned there.")
    })
}

/// `/incident commander` and `/incident comms`.
pub(super) async fn role(
    core: &Core,
    inv: &Invocation,
    id: u64,
    role: Role,
    who: &UserRef,
) -> Reply {
    let slack_id = match who {
        UserRef::Slack(s) => s.clone(),
        name => match find_user(&core.config, name).and_then(|u| u.slack_id.clone()) {
            Some(s) => s,
            None => return Err("That person is not in tocsin's configuration with a Slack id; mention them as @user.".into()),
        },
    };
    answer(
        core.set_role(id, role, &slack_id, &inv.user_id).await,
        id,
        |_| format!("<@{slack_id}> is now {} of #{id}.", role.label()),
    )
}

/// `/incident update`: a status update, and where it went.
pub(super) async fn update(core: &Core, inv: &Invocation, id: u64, text: &str) -> Reply {
    answer(core.post_update(id, &inv.user_id, text).await, id, |inc| {
        let mut places = vec![];
        if inc.coord.room.is_some() {
            places.push("the incident channel".to_string());
        }
        if crate::domain::warroom::stakeholder_channel(&core.config, &inc.service_id).is_some() {
            places.push("the stakeholder channel".to_string());
        }
        if !inc.coord.subscribers.is_empty() {
            places.push(format!("{} subscriber(s)", inc.coord.subscribers.len()));
        }
        if places.is_empty() {
            format!("Update recorded on #{id}; the incident has no channel, stakeholder channel or subscribers to tell.")
        } else {
            format!("Update posted on #{id} to {}.", places.join(", "))
        }
    })
}

/// `/incident note`: a line on the timeline only.
pub(super) async fn note(core: &Core, inv: &Invocation, id: u64, text: &str) -> Reply {
    answer(core.add_note(id, &inv.user_id, text).await, id, |_| {
        format!("Added to #{id}'s timeline.")
    })
}

pub(super) async fn severity(core: &Core, inv: &Invocation, id: u64, sev: Sev) -> Reply {
    answer(core.set_severity(id, sev, &inv.user_id).await, id, |inc| {
        format!("#{id} is now {}.", inc.sev().as_str())
    })
}

pub(super) async fn timeline(core: &Core, id: u64) -> Reply {
    match core.incident(id).await {
        Ok(Some(inc)) => crate::slack::render::timeline(&inc, &core.config)
            .map_err(|e| format!("Sorry, the timeline could not be shown ({e}).").into()),
        Ok(None) => Err(format!("There is no incident #{id}.").into()),
        Err(e) => Err(format!("Sorry, incidents cannot be read just now ({e}).").into()),
    }
}

/// `/incident subscribe` and `/incident unsubscribe`: status updates by DM.
pub(super) async fn subscribe(core: &Core, inv: &Invocation, id: u64, on: bool) -> Reply {
    answer(core.subscribe(id, &inv.user_id, on).await, id, |_| {
        if on {
            format!("You will get #{id}'s status updates and its resolve summary by DM.")
        } else {
            format!("You will no longer get #{id}'s updates.")
        }
    })
}
