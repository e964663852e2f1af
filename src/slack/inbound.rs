//! Slack's inbound requests: Events API, slash commands, interactions.
//!
//! Each handler answers quickly (Slack waits 3 s at most): state changes are
//! applied and made durable, and any Slack calls they cause go to the outbox.

use super::render::{actor_mention, slack_date};
use super::verify::{self, SignatureError};
use crate::app::Core;
use crate::commands::{self, Invocation};
use crate::incident::{Actor, NoChange, Transition};
use crate::store::{Changed, SlackOp};
use serde_json::{json, Value};
use slack_morphism::prelude::*;

/// An HTTP answer, independent of the server library.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Option<Value>,
}

impl Reply {
    fn ok() -> Reply {
        Reply {
            status: 200,
            body: None,
        }
    }
    fn json(body: Value) -> Reply {
        Reply {
            status: 200,
            body: Some(body),
        }
    }
    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply {
            status,
            body: Some(json!({ "error": message.into() })),
        }
    }
    fn ephemeral(text: String) -> Reply {
        Reply::json(json!({ "response_type": "ephemeral", "text": text }))
    }
}

/// Checks the signature headers; `Err` is the 401 to send.
pub fn authenticate(
    core: &Core,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), Reply> {
    let secret = core
        .slack_signing_secret
        .as_ref()
        .map(|s| s.expose())
        .unwrap_or("");
    match verify::verify(
        secret,
        timestamp,
        signature,
        body,
        core.clock.now().timestamp(),
    ) {
        Ok(()) => Ok(()),
        Err(e) => {
            if e == SignatureError::NoSecret {
                tracing::warn!(
                    "a Slack request arrived but SLACK_SIGNING_SECRET is not set; rejecting it"
                );
            } else {
                tracing::warn!(reason = %e, "rejected a Slack request");
            }
            Err(Reply::error(401, e.to_string()))
        }
    }
}

/// `POST /slack/events`.
pub fn events(core: &Core, body: &[u8]) -> Reply {
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Reply::error(400, format!("body is not valid JSON: {e}")),
    };
    match v["type"].as_str() {
        Some("url_verification") => match v["challenge"].as_str() {
            Some(c) => Reply::json(json!({ "challenge": c })),
            None => Reply::error(400, "url_verification without a 'challenge'"),
        },
        Some("event_callback") => {
            let Some(event_id) = v["event_id"].as_str() else {
                return Reply::error(400, "event_callback without an 'event_id'");
            };
            match core.store.first_sight_of_event(event_id, core.clock.now()) {
                Ok(true) => {
                    tracing::info!(
                        event_id,
                        kind = v["event"]["type"].as_str().unwrap_or("?"),
                        "Slack event"
                    );
                }
                Ok(false) => tracing::debug!(event_id, "retried Slack event ignored"),
                Err(e) => tracing::error!(error = %e, "cannot record the Slack event"),
            }
            Reply::ok()
        }
        Some(other) => Reply::error(400, format!("unknown event envelope type {other:?}")),
        None => Reply::error(400, "missing 'type'"),
    }
}

/// `POST /slack/commands`.
pub async fn command(core: &Core, body: &[u8]) -> Reply {
    let ev: SlackCommandEvent = match serde_urlencoded::from_bytes(body) {
        Ok(ev) => ev,
        Err(e) => return Reply::error(400, format!("not a slash command form: {e}")),
    };
    let inv = Invocation {
        command: ev.command.0.clone(),
        text: ev.text.clone().unwrap_or_default(),
        user_id: ev.user_id.0.clone(),
        channel_id: ev.channel_id.0.clone(),
    };
    let text = match inv.command.as_str() {
        "/incident" => commands::incident::run(core, &inv).await,
        "/oncall" => commands::oncall::run(core, &inv).await,
        other => format!("tocsin does not handle `{other}`."),
    };
    Reply::ephemeral(text)
}

/// The action ids on tocsin's buttons, and what each does.
const ACTIONS: &[(&str, Transition)] = &[
    ("incident_acknowledge", Transition::Acknowledge),
    ("incident_resolve", Transition::Resolve),
];

#[derive(serde::Deserialize)]
struct InteractionForm {
    payload: String,
}

/// `POST /slack/interactions`.
pub async fn interaction(core: &Core, body: &[u8]) -> Reply {
    let form: InteractionForm = match serde_urlencoded::from_bytes(body) {
        Ok(f) => f,
        Err(e) => return Reply::error(400, format!("expected a form with a 'payload' field: {e}")),
    };
    let ev: SlackInteractionEvent = match serde_json::from_str(&form.payload) {
        Ok(ev) => ev,
        Err(e) => return Reply::error(400, format!("'payload' is not a Slack interaction: {e}")),
    };
    let SlackInteractionEvent::BlockActions(ba) = ev else {
        return Reply::ok();
    };
    let Some(user) = ba.user.as_ref().map(|u| u.id.0.clone()) else {
        return Reply::error(400, "block_actions without a user");
    };
    let response_url = ba.response_url.as_ref().map(|u| u.0.to_string());
    for action in ba.actions.iter().flatten() {
        if let Some(accept) = match action.action_id.0.as_str() {
            "swap_accept" => Some(true),
            "swap_decline" => Some(false),
            _ => None,
        } {
            let Some(id) = action.value.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
                return Reply::error(400, "button value is not a request id");
            };
            match commands::oncall::answer_swap(core, id, &user, accept, response_url.as_deref())
                .await
            {
                Ok(None) => {}
                Ok(Some(note)) => respond_privately(core, response_url.as_deref(), note).await,
                Err(e) => {
                    tracing::error!(swap = id, error = %e, "swap answer could not be saved");
                    return Reply::error(500, "the answer could not be saved; please try again");
                }
            }
            continue;
        }
        if action.action_id.0.starts_with("incident_snooze") {
            let parsed = action
                .value
                .as_deref()
                .and_then(|v| v.split_once(':'))
                .and_then(|(id, m)| {
                    Some((
                        id.parse::<u64>().ok()?,
                        m.parse::<i64>()
                            .ok()
                            .filter(|m| (1..=7 * 24 * 60).contains(m))?,
                    ))
                });
            let Some((id, minutes)) = parsed else {
                return Reply::error(400, "button value is not ID:MINUTES");
            };
            match core.snooze(id, minutes).await {
                Ok(Ok(_)) => {}
                Ok(Err(why)) => respond_privately(core, response_url.as_deref(), why).await,
                Err(e) => {
                    tracing::error!(incident = id, error = %e, "snooze could not be saved");
                    return Reply::error(500, "the click could not be saved; please try again");
                }
            }
            continue;
        }
        if action.action_id.0 == "incident_escalate" {
            let Some(id) = action.value.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
                return Reply::error(400, "button value is not an incident id");
            };
            match core.escalate(id).await {
                Ok(Ok(_)) => {}
                Ok(Err(why)) => respond_privately(core, response_url.as_deref(), why).await,
                Err(e) => {
                    tracing::error!(incident = id, error = %e, "escalate could not be saved");
                    return Reply::error(500, "the click could not be saved; please try again");
                }
            }
            continue;
        }
        let Some((_, t)) = ACTIONS.iter().find(|(id, _)| *id == action.action_id.0) else {
            tracing::debug!(action = %action.action_id.0, "unhandled action");
            continue;
        };
        let Some(id) = action.value.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
            return Reply::error(400, "button value is not an incident id");
        };
        let actor = Actor::Slack {
            user_id: user.clone(),
        };
        let note = match core.transition(id, *t, actor).await {
            Ok(Changed::Applied { .. }) => None,
            Ok(Changed::Unchanged { incident, why }) => {
                let stamp = match why {
                    NoChange::AlreadyAcknowledged => incident.acknowledged.as_ref(),
                    NoChange::AlreadyResolved => incident.resolved.as_ref(),
                };
                Some(match stamp {
                    Some(s) => format!(
                        "#{id}: {why} (by {} {}).",
                        actor_mention(&s.by),
                        slack_date(s.at)
                    ),
                    None => format!("#{id}: {why}."),
                })
            }
            Ok(Changed::NotFound) => Some(format!("There is no incident #{id}.")),
            Err(e) => {
                tracing::error!(incident = id, error = %e, "click could not be applied");
                return Reply::error(500, "the click could not be saved; please try again");
            }
        };
        // Every click gets an answer: a no-op click is told why, privately.
        if let Some(text) = note {
            respond_privately(core, response_url.as_deref(), text).await;
        }
    }
    Reply::ok()
}

async fn respond_privately(core: &Core, response_url: Option<&str>, text: String) {
    let Some(url) = response_url else { return };
    let op = SlackOp::Respond {
        response_url: url.to_string(),
        text,
        replace: false,
    };
    if let Err(e) = core.enqueue(&format!("respond:{url}"), op).await {
        tracing::error!(error = %e, "cannot queue the reply to a click");
    }
}
