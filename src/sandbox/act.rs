//! What a person does in the page, made into the request Slack would send
//! for it and signed as Slack signs it, then sent to tocsin's own `/slack/*`
//! endpoints over loopback: the same handlers, checks and wake-ups as with
//! Slack.

use super::workspace::Message;
use super::{Answer, Sandbox, APP_ID, TEAM_ID};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rand::Rng;
use serde_json::{json, Value};

/// Answers `POST /sandbox/act/<what>`.
pub(super) async fn act(sb: &Sandbox, what: &str, body: &[u8]) -> Answer {
    let a: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return bad("the body is not a JSON object"),
    };
    let Some(user) = a["user"].as_str().filter(|u| sb.knows(u)) else {
        return bad("`user` is not one of the configured people");
    };
    let user = user.to_string();
    let text = |k: &str| a[k].as_str().unwrap_or("").to_string();
    match what {
        "command" => command(sb, &user, &text("channel"), &text("text")).await,
        "click" => click(sb, &user, &a).await,
        "submit" => submit(sb, &user, &text("view"), &a["values"]).await,
        "close" => {
            sb.close_view(&text("view"));
            Answer::json(200, &json!({"ok": true}))
        }
        "react" => react(sb, &user, &text("channel"), &text("ts"), &text("name")).await,
        _ => Answer::json(
            404,
            &json!({"ok": false, "error": format!("no action {what:?}")}),
        ),
    }
}

fn bad(why: &str) -> Answer {
    Answer::json(400, &json!({"ok": false, "error": why}))
}

impl Sandbox {
    fn knows(&self, slack_id: &str) -> bool {
        self.0
            .config
            .users
            .iter()
            .any(|u| u.slack_id.as_deref() == Some(slack_id))
    }

    /// A trigger id for `user`, which one `views.open` may use.
    fn trigger(&self, user: &str) -> String {
        let mut p = self.0.passing.lock().unwrap_or_else(|e| e.into_inner());
        p.next += 1;
        let id = format!("{}.{}.sbx", p.next, rand::thread_rng().gen::<u32>());
        p.triggers.insert(id.clone(), user.to_string());
        id
    }

    fn close_view(&self, id: &str) {
        let gone = {
            let mut p = self.0.passing.lock().unwrap_or_else(|e| e.into_inner());
            p.views.remove(id).is_some()
        };
        if gone {
            self.publish(json!({"kind": "view_closed", "id": id}));
        }
    }

    fn response_url(&self, channel: &str, user: &str, ts: &str) -> String {
        format!("{}/sandbox/api/respond/{channel}/{user}/{ts}", self.0.base)
    }

    /// Posts `body` to tocsin's `path`, signed with the sandbox's secret;
    /// its status and JSON answer (`Null` if it had none).
    async fn send_signed(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> Result<(u16, Value), String> {
        let ts = self.0.clock.now().timestamp().to_string();
        let sig = crate::slack::verify::sign(self.0.secret.expose(), &ts, body.as_bytes());
        let req = hyper::Request::post(format!("{}{path}", self.0.base))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// Keeps a private message for `user` in `channel` and shows it.
    async fn private(&self, channel: &str, user: &str, reply: &Value) {
        let now = self.0.clock.now().timestamp();
        let mut ws = self.0.ws.lock().await;
        let mut m: Message = ws.draft(channel, super::BOT_USER, now);
        m.text = reply["text"].as_str().unwrap_or("").to_string();
        m.blocks = reply["blocks"].clone();
        m.only_for = Some(user.to_string());
        match ws.save_message(&self.0.store, m.clone()).await {
            Ok(()) => {
                drop(ws);
                self.publish(json!({"kind": "message", "message": m}));
            }
            Err(e) => tracing::error!(error = %e, "the sandbox could not keep a reply"),
        }
    }
}

/// A failure to reach tocsin itself, or tocsin's refusal, for the page.
fn answered(r: Result<(u16, Value), String>) -> Answer {
    match r {
        Ok((status, v)) => Answer::json(
            200,
            &json!({"ok": status == 200, "status": status, "reply": v}),
        ),
        Err(e) => Answer::json(
            502,
            &json!({"ok": false, "error": format!("tocsin did not answer: {e}")}),
        ),
    }
}

/// `/incident …` or `/oncall …` as `user` in `channel`; the answer is
/// private to them, as Slack shows an ephemeral reply.
async fn command(sb: &Sandbox, user: &str, channel: &str, line: &str) -> Answer {
    let line = line.trim();
    let (command, text) = line.split_once(' ').unwrap_or((line, ""));
    if !command.starts_with('/') {
        return bad("a command starts with / (try /oncall help)");
    }
    let known = { sb.0.ws.lock().await.channels.contains_key(channel) };
    if !known {
        return bad("no such channel");
    }
    let trigger = sb.trigger(user);
    let form = serde_urlencoded::to_string([
        ("token", "sandbox"),
        ("team_id", TEAM_ID),
        ("team_domain", "sandbox"),
        ("channel_id", channel),
        ("channel_name", channel),
        ("user_id", user),
        ("user_name", user),
        ("command", command),
        ("text", text.trim()),
        ("api_app_id", APP_ID),
        ("is_enterprise_install", "false"),
        ("response_url", &sb.response_url(channel, user, "0")),
        ("trigger_id", &trigger),
    ])
    .expect("a form of strings always encodes");
    let r = sb
        .send_signed("/slack/commands", "application/x-www-form-urlencoded", form)
        .await;
    if let Ok((200, reply)) = &r {
        if reply.is_object() {
            sb.private(channel, user, reply).await;
        }
    }
    answered(r)
}

/// A button pressed on the message at `ts` in `channel`.
async fn click(sb: &Sandbox, user: &str, a: &Value) -> Answer {
    let (channel, ts) = (
        a["channel"].as_str().unwrap_or(""),
        a["ts"].as_str().unwrap_or(""),
    );
    let (Some(action), Some(block)) = (a["action_id"].as_str(), a["block_id"].as_str()) else {
        return bad("a click names its action_id and block_id");
    };
    let message = { sb.0.ws.lock().await.message(channel, ts).cloned() };
    let Some(message) = message else {
        return bad("no such message");
    };
    let now = sb.0.clock.now().timestamp();
    let payload = json!({
        "type": "block_actions",
        "team": {"id": TEAM_ID, "domain": "sandbox"},
        "user": {"id": user, "username": user, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "sandbox",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                      "is_ephemeral": message.only_for.is_some()},
        "trigger_id": sb.trigger(user),
        "channel": {"id": channel, "name": channel},
        "response_url": sb.response_url(channel, user, ts),
        "actions": [{
            "type": "button",
            "action_id": action,
            "block_id": block,
            "text": {"type": "plain_text", "text": a["text"].as_str().unwrap_or("")},
            "value": a["value"],
            "action_ts": format!("{now}.000000"),
        }]
    });
    let form = serde_urlencoded::to_string([("payload", payload.to_string())])
        .expect("a form of strings always encodes");
    answered(
        sb.send_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            form,
        )
        .await,
    )
}

/// A modal submitted: its inputs as Slack reports them. Field errors come
/// back for the page to show beside their fields; otherwise it closes.
async fn submit(sb: &Sandbox, user: &str, view_id: &str, values: &Value) -> Answer {
    let view = {
        let p = sb.0.passing.lock().unwrap_or_else(|e| e.into_inner());
        p.views
            .get(view_id)
            .filter(|(u, _)| u == user)
            .map(|(_, v)| v.clone())
    };
    let Some(mut view) = view else {
        return bad("no such modal open for this person");
    };
    let mut state = serde_json::Map::new();
    for (block, input) in values.as_object().into_iter().flatten() {
        let action = input["action_id"].as_str().unwrap_or("value");
        let value = input["value"].as_str().unwrap_or("");
        let entry = if input["type"] == "static_select" {
            let picked = if value.is_empty() {
                Value::Null
            } else {
                json!({"value": value})
            };
            json!({"type": "static_select", "selected_option": picked})
        } else {
            json!({"type": "plain_text_input", "value": value})
        };
        state.insert(block.clone(), json!({ action: entry }));
    }
    view["state"] = json!({"values": state});
    let payload = json!({
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "sandbox"},
        "user": {"id": user, "username": user, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "sandbox",
        "trigger_id": sb.trigger(user),
        "view": view,
    });
    let form = serde_urlencoded::to_string([("payload", payload.to_string())])
        .expect("a form of strings always encodes");
    let r = sb
        .send_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            form,
        )
        .await;
    if let Ok((200, reply)) = &r {
        if reply["response_action"] != "errors" {
            sb.close_view(view_id);
        }
    }
    answered(r)
}

/// A reaction added to a message, then Slack's `reaction_added` event.
async fn react(sb: &Sandbox, user: &str, channel: &str, ts: &str, name: &str) -> Answer {
    let name = name.trim_matches(':');
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
    {
        return bad("a reaction is an emoji name like pushpin");
    }
    {
        let mut ws = sb.0.ws.lock().await;
        let Some(mut m) = ws.message(channel, ts).cloned() else {
            return bad("no such message");
        };
        let who = m.reactions.entry(name.to_string()).or_default();
        if who.iter().any(|u| u == user) {
            return Answer::json(200, &json!({"ok": false, "error": "already_reacted"}));
        }
        who.push(user.to_string());
        if let Err(e) = ws.save_message(&sb.0.store, m.clone()).await {
            return Answer::json(503, &json!({"ok": false, "error": e.to_string()}));
        }
        drop(ws);
        sb.publish(json!({"kind": "message", "message": m}));
    }
    let now = sb.0.clock.now().timestamp();
    let event_id = format!("Ev0SBX{:016x}", rand::thread_rng().gen::<u64>());
    let event = json!({
        "token": "sandbox",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": now,
        "event": {
            "type": "reaction_added",
            "user": user,
            "reaction": name,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": format!("{now}.000000"),
        }
    });
    answered(
        sb.send_signed("/slack/events", "application/json", event.to_string())
            .await,
    )
}
