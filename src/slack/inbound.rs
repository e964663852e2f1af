//! Slack's inbound requests: Events API, slash commands, interactions.
//!
//! Each handler answers quickly (Slack waits 3 s at most): state changes are
//! applied and made durable, and any Slack calls they cause go to the outbox.

use super::commands::{self, Invocation};
use super::render::no_change;
use super::verify::{self, SignatureError};
use crate::domain::incident::Transition;
use crate::domain::warroom::Sev;
use crate::ops::Core;
use crate::store::{Changed, Outbound};
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
    /// A private reply: the text as Block Kit sections (each within Slack's
    /// 3,000-character limit, split at line ends), with the text as fallback.
    fn ephemeral(text: String) -> Reply {
        let mut sections: Vec<String> = vec![];
        for line in text.lines() {
            match sections.last_mut() {
                Some(s) if s.chars().count() + line.chars().count() < 2900 => {
                    s.push('\n');
                    s.push_str(line);
                }
                _ => sections.push(line.chars().take(2900).collect()),
            }
        }
        let blocks: Vec<serde_json::Value> = sections
            .iter()
            .filter(|s| !s.trim().is_empty())
            .take(50)
            .map(|s| json!({"type": "section", "text": {"type": "mrkdwn", "text": s}}))
            .collect();
        Reply::json(json!({ "response_type": "ephemeral", "text": text, "blocks": blocks }))
    }
}

pub use crate::ops::Installation;

/// `Err` (403) when the request names another workspace or app than this
/// installation's, or none; `Ok` while the installation is not known yet.
fn from_here(core: &Core, team: Option<&str>, app: Option<&str>) -> Result<(), Reply> {
    let Some(here) = core.installation.get() else {
        return Ok(());
    };
    let team_ok = team == Some(here.team_id.as_str());
    let app_ok = here.app_id.as_deref().is_none_or(|a| app == Some(a));
    if team_ok && app_ok {
        return Ok(());
    }
    tracing::warn!(
        team = team.unwrap_or("-"),
        app = app.unwrap_or("-"),
        "refused a Slack request from another workspace or app"
    );
    Err(Reply::error(
        403,
        "this request is for another Slack workspace or app than tocsin's installation",
    ))
}

/// Whether a request seen before (same signature, so same timestamp and
/// body) is refused. Events are not: Slack's retries are recognised by
/// `event_id` and answered 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replays {
    Refuse,
    Allow,
}

/// Checks the signature headers, and with `Replays::Refuse` that this exact
/// request was not seen before; `Err` is the 401 to send.
pub async fn authenticate(
    core: &Core,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    replays: Replays,
) -> Result<(), Reply> {
    verified(core, timestamp, signature, body)?;
    let Some(sig) = signature
        .map(str::trim)
        .filter(|_| replays == Replays::Refuse)
    else {
        return Ok(());
    };
    // The signature covers the timestamp and the body, so a request repeated
    // within the 5-minute window repeats it. The ids share the store's record
    // of Slack event ids, kept an hour: longer than the window, across restarts.
    match core.first_sight(&format!("request:{sig}")).await {
        Ok(true) => Ok(()),
        Ok(false) => {
            tracing::warn!("rejected a replayed Slack request (its signature was seen before)");
            Err(Reply::error(
                401,
                "this request was received before (a replay)",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot record a Slack request's signature");
            Err(Reply::error(
                503,
                "the request could not be recorded; please try again",
            ))
        }
    }
}

fn verified(
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
pub async fn events(core: &Core, body: &[u8]) -> Reply {
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
            if let Err(r) = from_here(core, v["team_id"].as_str(), v["api_app_id"].as_str()) {
                return r;
            }
            let Some(event_id) = v["event_id"].as_str() else {
                return Reply::error(400, "event_callback without an 'event_id'");
            };
            match core.first_sight(event_id).await {
                Ok(true) => {
                    tracing::info!(
                        event_id,
                        kind = v["event"]["type"].as_str().unwrap_or("?"),
                        "Slack event"
                    );
                    if let Err(e) = on_event(core, &v["event"]).await {
                        tracing::error!(event_id, error = %e, "a Slack event could not be recorded");
                        if let Err(e) = core.forget_sight(event_id).await {
                            tracing::error!(event_id, error = %e, "Slack's retry of this event will be dropped");
                        }
                        return Reply::error(503, "the event could not be saved; Slack will retry");
                    }
                }
                Ok(false) => tracing::debug!(event_id, "retried Slack event ignored"),
                Err(e) => {
                    // Not seen, not handled: Slack's retry gets another go.
                    tracing::warn!(error = %e, "cannot record the Slack event");
                    return Reply::error(503, "the event could not be saved; Slack will retry");
                }
            }
            Reply::ok()
        }
        Some(other) => Reply::error(400, format!("unknown event envelope type {other:?}")),
        None => Reply::error(400, "missing 'type'"),
    }
}

/// Acts on one event: the Home tab opened is published afresh; a :pushpin:
/// on a message in an incident's channel puts that message in the
/// incident's timeline (read from Slack by the worker).
async fn on_event(core: &Core, ev: &Value) -> Result<(), crate::store::StoreError> {
    // Someone opened tocsin's Home tab: draw it for them, as things are now.
    if ev["type"] == "app_home_opened" {
        let home_tab = ev["tab"].as_str().is_none_or(|t| t == "home");
        if let (Some(user), true) = (ev["user"].as_str(), home_tab) {
            core.publish_home(user).await?;
        }
        return Ok(());
    }
    let pushpin = ev["type"] == "reaction_added" && ev["reaction"] == "pushpin";
    if !pushpin || ev["item"]["type"] != "message" {
        return Ok(());
    }
    let (Some(channel), Some(ts), Some(user)) = (
        ev["item"]["channel"].as_str(),
        ev["item"]["ts"].as_str(),
        ev["user"].as_str(),
    ) else {
        return Ok(());
    };
    let Some(inc) = core.incident_by_room(channel).await? else {
        return Ok(());
    };
    let work = crate::domain::warroom::RoomOp::Pin {
        channel: channel.to_string(),
        ts: ts.to_string(),
        by: user.to_string(),
    };
    let op = Outbound::Room {
        incident: inc.id,
        work,
    };
    core.enqueue(&crate::domain::warroom::room_lane(inc.id), op)
        .await
        .map(drop)
}

/// `POST /slack/commands`.
pub async fn command(core: &Core, body: &[u8]) -> Reply {
    let ev: SlackCommandEvent = match serde_urlencoded::from_bytes(body) {
        Ok(ev) => ev,
        Err(e) => return Reply::error(400, format!("not a slash command form: {e}")),
    };
    #[derive(serde::Deserialize)]
    struct App {
        api_app_id: Option<String>,
    }
    let app = serde_urlencoded::from_bytes::<App>(body)
        .ok()
        .and_then(|a| a.api_app_id);
    if let Err(r) = from_here(core, Some(&ev.team_id.0), app.as_deref()) {
        return r;
    }
    let inv = Invocation {
        command: ev.command.0.clone(),
        text: ev.text.clone().unwrap_or_default(),
        user_id: ev.user_id.0.clone(),
        channel_id: ev.channel_id.0.clone(),
        trigger_id: Some(ev.trigger_id.0.clone()),
    };
    let text = match inv.command.as_str() {
        "/incident" => commands::incident::run(core, &inv).await,
        "/oncall" => commands::oncall::run(core, &inv).await,
        other => format!("tocsin does not handle `{other}`."),
    };
    Reply::ephemeral(text)
}

/// A click on one of tocsin's buttons, parsed from its action id and value.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Click {
    /// "Merge into #N": merge the first incident into the second.
    Merge(u64, u64),
    /// "Split out": the alert with this key, out of the incident.
    Split(u64, String),
    Transition(u64, Transition),
    Escalate(u64),
    /// Minutes.
    Snooze(u64, i64),
    /// A swap request answered: accepted or not.
    Swap(u64, bool),
    /// "Open channel" on an incident message.
    OpenRoom(u64),
    /// "Keep channel" on a resolve summary: no archive.
    KeepRoom(u64),
}

/// `None` for actions that are not tocsin's; `Some(Err)` for a malformed value.
fn parse_click(action_id: &str, value: Option<&str>) -> Option<Result<Click, &'static str>> {
    let id = || {
        value
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or("button value is not an id")
    };
    Some(match action_id {
        "incident_acknowledge" => id().map(|id| Click::Transition(id, Transition::Acknowledge)),
        "incident_resolve" => id().map(|id| Click::Transition(id, Transition::Resolve)),
        "incident_escalate" => id().map(Click::Escalate),
        "swap_accept" => id().map(|id| Click::Swap(id, true)),
        "swap_decline" => id().map(|id| Click::Swap(id, false)),
        "incident_open_channel" => id().map(Click::OpenRoom),
        "room_keep" => id().map(Click::KeepRoom),
        "incident_merge" => value
            .and_then(|v| v.split_once(':'))
            .and_then(|(a, b)| Some(Click::Merge(a.parse().ok()?, b.parse().ok()?)))
            .ok_or("button value is not FROM:INTO"),
        "alert_split" => value
            .and_then(|v| v.split_once(':'))
            .and_then(|(id, key)| Some(Click::Split(id.parse().ok()?, key.to_string())))
            .filter(|c| !matches!(c, Click::Split(_, k) if k.is_empty()))
            .ok_or("button value is not ID:KEY"),
        a if a.starts_with("incident_snooze") => value
            .and_then(|v| v.split_once(':'))
            .and_then(|(id, m)| {
                let minutes = m
                    .parse::<i64>()
                    .ok()
                    .filter(|m| (1..=7 * 24 * 60).contains(m))?;
                Some(Click::Snooze(id.parse().ok()?, minutes))
            })
            .ok_or("button value is not ID:MINUTES"),
        _ => return None,
    })
}

/// Applies a click as `user`. `Ok(Some(note))`: it changed nothing, and the
/// note says why; `Err`: it could not be saved.
async fn apply_click(
    core: &Core,
    click: Click,
    user: &str,
    response_url: Option<&str>,
) -> Result<Option<String>, String> {
    let declined = |r: Result<Result<_, _>, crate::store::StoreError>| match r {
        Ok(Ok(_)) => Ok(None),
        Ok(Err(why)) => Ok(Some(super::render::sentence(&why))),
        Err(e) => Err(e.to_string()),
    };
    match click {
        Click::Transition(id, t) => match core.act(id, t, user).await.map_err(|e| e.to_string())? {
            Err(why) => Ok(Some(super::render::sentence(&why))),
            Ok(Changed::Applied { .. }) => Ok(None),
            Ok(Changed::Unchanged { incident, why }) => Ok(Some(no_change(&incident, why))),
            Ok(Changed::NotFound) => Ok(Some(format!("There is no incident #{id}."))),
        },
        Click::Escalate(id) => declined(core.escalate(id, user).await),
        Click::Snooze(id, minutes) => declined(core.snooze(id, minutes, user).await),
        Click::OpenRoom(id) => declined(core.open_room(id, user).await),
        Click::KeepRoom(id) => declined(core.keep_room(id, user).await),
        Click::Merge(from, into) => regrouped(core.merge(from, into, user).await),
        Click::Split(id, key) => regrouped(core.split(id, &key, user).await),
        Click::Swap(id, accept) => {
            commands::oncall::answer_swap(core, id, user, accept, response_url).await
        }
    }
}

/// A merge or split, answered to the person either way: what it did, or why not.
fn regrouped(r: crate::ops::alert::Regrouped) -> Result<Option<String>, String> {
    match r {
        Ok(Ok(done)) | Ok(Err(done)) => Ok(Some(super::render::sentence(&done))),
        Err(e) => Err(e.to_string()),
    }
}

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
    let raw: Value = match serde_json::from_str(&form.payload) {
        Ok(v) => v,
        Err(e) => return Reply::error(400, format!("'payload' is not JSON: {e}")),
    };
    let team = raw["team"]["id"]
        .as_str()
        .or(raw["user"]["team_id"].as_str());
    if let Err(r) = from_here(core, team, raw["api_app_id"].as_str()) {
        return r;
    }
    if raw["type"] == "view_submission" {
        return view_submission(core, &raw).await;
    }
    let ev: SlackInteractionEvent = match serde_json::from_value(raw) {
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
        if super::home::shifts::is_shift_action(&action.action_id.0) {
            let trigger = ba.trigger_id.0.as_str();
            let value = action.value.as_deref();
            match super::home::shifts::clicked(core, &action.action_id.0, value, trigger, &user)
                .await
            {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "the shift form could not be queued");
                    return Reply::error(503, "the click could not be saved; please try again");
                }
                Err(why) => return Reply::error(400, why),
            }
        }
        let click = match parse_click(&action.action_id.0, action.value.as_deref()) {
            Some(Ok(click)) => click,
            Some(Err(why)) => return Reply::error(400, why),
            None => {
                tracing::debug!(action = %action.action_id.0, "unhandled action");
                continue;
            }
        };
        match apply_click(core, click.clone(), &user, response_url.as_deref()).await {
            Ok(None) => {}
            // Every click gets an answer: a no-op click is told why, privately.
            Ok(Some(note)) => respond_privately(core, response_url.as_deref(), note).await,
            Err(e) => {
                tracing::error!(?click, error = %e, "click could not be applied");
                return Reply::error(503, "the click could not be saved; please try again");
            }
        }
    }
    Reply::ok()
}

/// Slack's value for one input of a submitted modal: typed text or the option picked.
fn input<'a>(view: &'a Value, block: &str) -> Option<&'a str> {
    let v = &view["state"]["values"][block]["value"];
    v["value"]
        .as_str()
        .or_else(|| v["selected_option"]["value"].as_str())
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The `/incident new` form submitted: field errors are shown in the form
/// (`response_action: errors`); otherwise the incident is declared and the form closes.
async fn view_submission(core: &Core, payload: &Value) -> Reply {
    let view = &payload["view"];
    if view["callback_id"] == super::home::shifts::CALLBACK {
        return Reply::json(super::home::shifts::submitted(core, payload).await);
    }
    if view["callback_id"] != "incident_declare" {
        return Reply::ok();
    }
    let Some(user) = payload["user"]["id"].as_str() else {
        return Reply::error(400, "view_submission without a user");
    };
    let Some(view_id) = view["id"].as_str() else {
        return Reply::error(400, "view_submission without a view id");
    };
    let mut errors = serde_json::Map::new();
    let title = input(view, "title");
    match title {
        None => {
            errors.insert("title".into(), "Give the incident a title.".into());
        }
        Some(t) if t.chars().count() > 150 => {
            errors.insert("title".into(), "Keep the title to 150 characters.".into());
        }
        _ => {}
    }
    let service = input(view, "service");
    match service {
        None => {
            errors.insert("service".into(), "Pick the affected service.".into());
        }
        Some(s) if core.config.service(s).is_none() => {
            errors.insert(
                "service".into(),
                format!("`{s}` is not a configured service.").into(),
            );
        }
        _ => {}
    }
    let sev = input(view, "severity").and_then(Sev::parse);
    if sev.is_none() {
        errors.insert("severity".into(), "Pick a severity, SEV1 to SEV4.".into());
    }
    let (Some(title), Some(service), Some(sev), true) = (title, service, sev, errors.is_empty())
    else {
        return Reply::json(json!({ "response_action": "errors", "errors": errors }));
    };
    let d = crate::ops::room::Declaration {
        title: title.to_string(),
        service: service.to_string(),
        sev,
        description: input(view, "description").map(str::to_string),
        by: user.to_string(),
        key: view_id.to_string(),
    };
    match core.declare(&d).await {
        Ok(Ok(inc)) => {
            tracing::info!(incident = inc.id, "incident declared in Slack");
            Reply::ok()
        }
        Ok(Err(why)) => {
            let why = super::render::sentence(&why);
            Reply::json(json!({ "response_action": "errors", "errors": { "service": why } }))
        }
        Err(e) => {
            tracing::error!(error = %e, "a declared incident could not be saved");
            Reply::json(
                json!({ "response_action": "errors", "errors": { "title": "It could not be saved just now; please submit again." } }),
            )
        }
    }
}

async fn respond_privately(core: &Core, response_url: Option<&str>, text: String) {
    let Some(url) = response_url else { return };
    let op = Outbound::Respond {
        response_url: url.to_string(),
        text,
        replace: false,
    };
    if let Err(e) = core.enqueue(&format!("respond:{url}"), op).await {
        tracing::error!(error = %e, "cannot queue the reply to a click");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_replies_become_sections_within_slacks_limits() {
        let line = "x".repeat(99);
        let text: Vec<String> = (0..70).map(|_| line.clone()).collect();
        let r = Reply::ephemeral(text.join("\n"));
        let body = r.body.unwrap();
        let blocks = body["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        for b in blocks {
            assert!(b["text"]["text"].as_str().unwrap().chars().count() <= 3000);
        }
        let parsed: Vec<slack_morphism::prelude::SlackBlock> =
            serde_json::from_value(body["blocks"].clone()).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(body["text"].as_str().unwrap().len(), 70 * 100 - 1);
    }

    #[test]
    fn clicks_parse_from_action_ids_and_values() {
        use Click::*;
        type Case<'a> = (&'a str, Option<&'a str>, Option<Result<Click, ()>>);
        let cases: [Case; 9] = [
            (
                "incident_acknowledge",
                Some("42"),
                Some(Ok(Transition(
                    42,
                    crate::domain::incident::Transition::Acknowledge,
                ))),
            ),
            (
                "incident_resolve",
                Some("7"),
                Some(Ok(Transition(
                    7,
                    crate::domain::incident::Transition::Resolve,
                ))),
            ),
            ("incident_escalate", Some("3"), Some(Ok(Escalate(3)))),
            ("incident_snooze_1h", Some("3:60"), Some(Ok(Snooze(3, 60)))),
            ("incident_snooze_4h", Some("3:99999"), Some(Err(()))),
            ("swap_accept", Some("9"), Some(Ok(Swap(9, true)))),
            ("swap_decline", None, Some(Err(()))),
            ("incident_acknowledge", Some("#42"), Some(Err(()))),
            ("somebody_elses_button", Some("1"), None),
        ];
        for (action, value, want) in cases {
            let got = parse_click(action, value).map(|r| r.map_err(|_| ()));
            assert_eq!(got, want, "{action} {value:?}");
        }
    }
}
