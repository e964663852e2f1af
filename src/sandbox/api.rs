//! The Web API methods tocsin's Slack receiver calls, answered in Slack's
//! documented shapes, so the receiver cannot tell the sandbox from Slack.
//! What they post is kept in the workspace and streamed to the page.

use super::workspace::{dm_id, ts_value, Channel, File, Kind};
use super::{Answer, Sandbox, BOT_ID, BOT_USER, TEAM_ID};
use serde_json::{json, Map, Value};

/// Answers `/sandbox/api/<method>`.
pub(super) async fn call(
    sb: &Sandbox,
    method: &str,
    query: Option<&str>,
    headers: &(dyn Fn(&str) -> Option<String> + Sync),
    body: &[u8],
) -> Answer {
    // What a click's reply and a file's bytes go to: addressed by URL, as in Slack.
    if let Some(rest) = method.strip_prefix("respond/") {
        return Answer::json(200, &respond(sb, rest, &args(body, None)).await);
    }
    if let Some(id) = method.strip_prefix("upload/") {
        return upload(sb, id, body).await;
    }
    let bearer = headers("authorization");
    let token_ok = bearer
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .is_some_and(|t| t == sb.0.token.expose());
    if !token_ok {
        return Answer::json(200, &json!({"ok": false, "error": "invalid_auth"}));
    }
    let a = args(body, query);
    let reply = match method {
        "auth.test" => json!({
            "ok": true, "url": format!("{}/sandbox", sb.0.base), "team": "tocsin sandbox",
            "user": "tocsin", "team_id": TEAM_ID, "user_id": BOT_USER, "bot_id": BOT_ID
        }),
        "bots.info" => json!({
            "ok": true,
            "bot": {"id": BOT_ID, "deleted": false, "name": "tocsin", "updated": 0,
                    "app_id": super::APP_ID, "user_id": BOT_USER, "icons": {}}
        }),
        "chat.postMessage" => post(sb, &a, None).await,
        "chat.postEphemeral" => match a["user"].as_str() {
            Some(user) => {
                let r = post(sb, &a, Some(user.to_string())).await;
                match r["ts"].as_str() {
                    Some(ts) => json!({"ok": true, "message_ts": ts}),
                    None => r,
                }
            }
            None => json!({"ok": false, "error": "user_not_found"}),
        },
        "chat.update" => update(sb, &a).await,
        "conversations.open" => open_dm(sb, &a).await,
        "conversations.history" => history(sb, &a).await,
        "conversations.create" => create(sb, &a).await,
        "conversations.list" => list(sb).await,
        "conversations.invite" => invite(sb, &a).await,
        "conversations.archive" => archive(sb, &a).await,
        "pins.add" => pin(sb, &a).await,
        "views.open" => open_view(sb, &a),
        "views.publish" => publish_home(&a),
        "files.getUploadURLExternal" => upload_url(sb, &a),
        "files.completeUploadExternal" => complete_upload(sb, &a).await,
        _ => json!({"ok": false, "error": "unknown_method"}),
    };
    Answer::json(200, &reply)
}

/// The call's arguments: a JSON body, or a form in the body or the query.
fn args(body: &[u8], query: Option<&str>) -> Value {
    if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(body) {
        return v;
    }
    let form = if body.is_empty() {
        query.unwrap_or("").as_bytes()
    } else {
        body
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(form).unwrap_or_default();
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| {
                // Web API forms carry structured arguments as JSON text.
                let v = match serde_json::from_str::<Value>(&v) {
                    Ok(j @ (Value::Array(_) | Value::Object(_))) => j,
                    _ => Value::String(v),
                };
                (k, v)
            })
            .collect::<Map<_, _>>(),
    )
}

/// A list argument: a JSON array or Slack's comma-separated text.
fn list_arg(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str())
            .map(String::from)
            .collect(),
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        _ => vec![],
    }
}

fn store_error(e: crate::store::StoreError) -> Value {
    tracing::error!(error = %e, "the sandbox could not keep a change");
    json!({"ok": false, "error": "internal_error"})
}

/// A channel argument as Slack reads it: a person's id means the bot's DM with them.
fn channel_arg(v: &Value) -> Option<String> {
    let c = v.as_str()?;
    Some(if c.starts_with('U') || c.starts_with('W') {
        dm_id(c)
    } else {
        c.to_string()
    })
}

fn message_json(m: &super::workspace::Message) -> Value {
    let mut v = json!({"type": "message", "ts": m.ts, "text": m.text, "user": m.user});
    if m.user == BOT_USER {
        v["bot_id"] = json!(BOT_ID);
    }
    if !m.blocks.is_null() {
        v["blocks"] = m.blocks.clone();
    }
    if !m.metadata.is_null() {
        v["metadata"] = m.metadata.clone();
    }
    if m.edited {
        v["edited"] = json!({"user": BOT_USER, "ts": m.ts});
    }
    v
}

async fn post(sb: &Sandbox, a: &Value, only_for: Option<String>) -> Value {
    let Some(channel) = channel_arg(&a["channel"]) else {
        return json!({"ok": false, "error": "channel_not_found"});
    };
    let now = sb.0.clock.now().timestamp();
    let mut ws = sb.0.ws.lock().await;
    match ws.channels.get(&channel) {
        None => return json!({"ok": false, "error": "channel_not_found"}),
        Some(c) if c.archived => return json!({"ok": false, "error": "is_archived"}),
        Some(_) => {}
    }
    let mut m = ws.draft(&channel, BOT_USER, now);
    m.text = a["text"].as_str().unwrap_or("").to_string();
    m.blocks = a["blocks"].clone();
    m.metadata = a["metadata"].clone();
    m.only_for = only_for;
    if let Err(e) = ws.save_message(&sb.0.store, m.clone()).await {
        return store_error(e);
    }
    drop(ws);
    sb.publish(json!({"kind": "message", "message": m}));
    json!({"ok": true, "channel": channel, "ts": m.ts, "message": message_json(&m)})
}

async fn update(sb: &Sandbox, a: &Value) -> Value {
    let (Some(channel), Some(ts)) = (channel_arg(&a["channel"]), a["ts"].as_str()) else {
        return json!({"ok": false, "error": "message_not_found"});
    };
    let mut ws = sb.0.ws.lock().await;
    let Some(mut m) = ws.message(&channel, ts).cloned() else {
        return json!({"ok": false, "error": "message_not_found"});
    };
    if let Some(t) = a["text"].as_str() {
        m.text = t.to_string();
    }
    if !a["blocks"].is_null() {
        m.blocks = a["blocks"].clone();
    }
    if !a["metadata"].is_null() {
        m.metadata = a["metadata"].clone();
    }
    m.edited = true;
    if let Err(e) = ws.save_message(&sb.0.store, m.clone()).await {
        return store_error(e);
    }
    drop(ws);
    sb.publish(json!({"kind": "message", "message": m}));
    json!({"ok": true, "channel": channel, "ts": ts, "text": m.text, "message": message_json(&m)})
}

async fn open_dm(sb: &Sandbox, a: &Value) -> Value {
    let users = list_arg(&a["users"]);
    let [user] = users.as_slice() else {
        return json!({"ok": false, "error": "user_not_found"});
    };
    let id = dm_id(user);
    let mut ws = sb.0.ws.lock().await;
    if !ws.channels.contains_key(&id) {
        let c = Channel {
            id: id.clone(),
            name: user.clone(),
            kind: Kind::Dm,
            user: Some(user.clone()),
            archived: false,
            members: vec![user.clone()],
            created: sb.0.clock.now().timestamp(),
        };
        if let Err(e) = ws.save_channel(&sb.0.store, c.clone()).await {
            return store_error(e);
        }
        sb.publish(json!({"kind": "channel", "channel": c}));
    }
    json!({"ok": true, "channel": {"id": id}})
}

async fn history(sb: &Sandbox, a: &Value) -> Value {
    let Some(channel) = channel_arg(&a["channel"]) else {
        return json!({"ok": false, "error": "channel_not_found"});
    };
    let number = |v: &Value| v.as_f64().or_else(|| v.as_str()?.parse().ok());
    let oldest = number(&a["oldest"]);
    let latest = number(&a["latest"]);
    let inclusive = a["inclusive"] == true || a["inclusive"] == "true" || a["inclusive"] == "1";
    let limit = number(&a["limit"]).unwrap_or(100.0).clamp(1.0, 999.0) as usize;
    let from = number(&a["cursor"]).unwrap_or(0.0) as usize;
    let ws = sb.0.ws.lock().await;
    if !ws.channels.contains_key(&channel) {
        return json!({"ok": false, "error": "channel_not_found"});
    }
    let within = |ts: f64| {
        let above = oldest.is_none_or(|o| if inclusive { ts >= o } else { ts > o });
        let below = latest.is_none_or(|l| if inclusive { ts <= l } else { ts < l });
        above && below
    };
    let all: Vec<Value> = ws
        .messages
        .iter()
        .rev()
        .filter(|m| m.channel == channel && m.only_for.is_none() && within(ts_value(&m.ts)))
        .map(message_json)
        .collect();
    let page: Vec<Value> = all.iter().skip(from).take(limit).cloned().collect();
    let more = from + limit < all.len();
    let next = if more {
        (from + limit).to_string()
    } else {
        String::new()
    };
    json!({"ok": true, "messages": page, "has_more": more, "response_metadata": {"next_cursor": next}})
}

fn channel_json(c: &Channel) -> Value {
    json!({"id": c.id, "name": c.name, "created": c.created, "is_channel": c.kind != Kind::Dm,
           "is_archived": c.archived})
}

async fn create(sb: &Sandbox, a: &Value) -> Value {
    let Some(name) = a["name"].as_str().map(str::to_string) else {
        return json!({"ok": false, "error": "invalid_name_required"});
    };
    let valid = !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return json!({"ok": false, "error": "invalid_name_specials"});
    }
    let mut ws = sb.0.ws.lock().await;
    if ws.channels.values().any(|c| c.name == name) {
        return json!({"ok": false, "error": "name_taken"});
    }
    let c = Channel {
        id: ws.next_id("C"),
        name,
        kind: Kind::Incident,
        user: None,
        archived: false,
        members: vec![],
        created: sb.0.clock.now().timestamp(),
    };
    if let Err(e) = ws.save_channel(&sb.0.store, c.clone()).await {
        return store_error(e);
    }
    drop(ws);
    sb.publish(json!({"kind": "channel", "channel": c}));
    json!({"ok": true, "channel": channel_json(&c)})
}

async fn list(sb: &Sandbox) -> Value {
    let ws = sb.0.ws.lock().await;
    let channels: Vec<Value> = ws
        .channels
        .values()
        .filter(|c| !c.archived && c.kind != Kind::Dm)
        .map(channel_json)
        .collect();
    json!({"ok": true, "channels": channels, "response_metadata": {"next_cursor": ""}})
}

/// Changes one channel as `f` says (`Err`: Slack's error code), keeps and
/// publishes it.
async fn edit_channel(
    sb: &Sandbox,
    a: &Value,
    f: impl FnOnce(&mut Channel) -> Result<(), &'static str>,
) -> Value {
    let Some(id) = a["channel"].as_str() else {
        return json!({"ok": false, "error": "channel_not_found"});
    };
    let mut ws = sb.0.ws.lock().await;
    let Some(mut c) = ws.channels.get(id).cloned() else {
        return json!({"ok": false, "error": "channel_not_found"});
    };
    if let Err(code) = f(&mut c) {
        return json!({"ok": false, "error": code});
    }
    if let Err(e) = ws.save_channel(&sb.0.store, c.clone()).await {
        return store_error(e);
    }
    drop(ws);
    sb.publish(json!({"kind": "channel", "channel": c}));
    json!({"ok": true, "channel": channel_json(&c)})
}

async fn invite(sb: &Sandbox, a: &Value) -> Value {
    let users = list_arg(&a["users"]);
    edit_channel(sb, a, |c| {
        if c.archived {
            return Err("is_archived");
        }
        let new: Vec<String> = users
            .iter()
            .filter(|u| !c.members.contains(u))
            .cloned()
            .collect();
        if new.is_empty() && !users.is_empty() {
            return Err("already_in_channel");
        }
        c.members.extend(new);
        Ok(())
    })
    .await
}

async fn archive(sb: &Sandbox, a: &Value) -> Value {
    let r = edit_channel(sb, a, |c| {
        if c.archived {
            return Err("already_archived");
        }
        c.archived = true;
        Ok(())
    })
    .await;
    if r["ok"] == true {
        json!({"ok": true})
    } else {
        r
    }
}

async fn pin(sb: &Sandbox, a: &Value) -> Value {
    let (Some(channel), Some(ts)) = (a["channel"].as_str(), a["timestamp"].as_str()) else {
        return json!({"ok": false, "error": "no_item_specified"});
    };
    let mut ws = sb.0.ws.lock().await;
    let Some(mut m) = ws.message(channel, ts).cloned() else {
        return json!({"ok": false, "error": "message_not_found"});
    };
    if m.pinned {
        return json!({"ok": false, "error": "already_pinned"});
    }
    m.pinned = true;
    if let Err(e) = ws.save_message(&sb.0.store, m.clone()).await {
        return store_error(e);
    }
    drop(ws);
    sb.publish(json!({"kind": "message", "message": m}));
    json!({"ok": true})
}

fn open_view(sb: &Sandbox, a: &Value) -> Value {
    let Some(trigger) = a["trigger_id"].as_str() else {
        return json!({"ok": false, "error": "invalid_trigger_id"});
    };
    let mut view = a["view"].clone();
    if !view.is_object() {
        return json!({"ok": false, "error": "invalid_arguments"});
    }
    let mut p = sb.0.passing.lock().unwrap_or_else(|e| e.into_inner());
    // A trigger opens one modal, as in Slack (where it also expires in 3 s).
    let Some(user) = p.triggers.remove(trigger) else {
        return json!({"ok": false, "error": "invalid_trigger_id"});
    };
    p.next += 1;
    let id = format!("V0SBX{}", p.next);
    view["id"] = json!(id);
    view["team_id"] = json!(TEAM_ID);
    view["state"] = json!({"values": {}});
    view["hash"] = json!(format!("{}.sbx", p.next));
    p.views.insert(id.clone(), (user.clone(), view.clone()));
    drop(p);
    sb.publish(json!({"kind": "view", "view": {"id": id, "user": user, "view": view}}));
    json!({"ok": true, "view": view})
}

/// The page has no Home tab: a published Home is taken as Slack takes it
/// (answered with the view and its ids), and not shown.
fn publish_home(a: &Value) -> Value {
    let mut view = a["view"].clone();
    if a["user_id"].as_str().is_none() || view["type"] != "home" {
        return json!({"ok": false, "error": "invalid_arguments"});
    }
    view["id"] = json!("V0SBXHOME");
    view["team_id"] = json!(TEAM_ID);
    view["state"] = json!({"values": {}});
    view["hash"] = json!("1.sbx");
    json!({"ok": true, "view": view})
}

fn upload_url(sb: &Sandbox, a: &Value) -> Value {
    let Some(name) = a["filename"].as_str() else {
        return json!({"ok": false, "error": "invalid_arguments"});
    };
    let mut p = sb.0.passing.lock().unwrap_or_else(|e| e.into_inner());
    p.next += 1;
    let id = format!("F0SBX{}", p.next);
    p.uploads.insert(id.clone(), name.to_string());
    json!({"ok": true, "file_id": id, "upload_url": format!("{}/sandbox/api/upload/{id}", sb.0.base)})
}

async fn upload(sb: &Sandbox, id: &str, body: &[u8]) -> Answer {
    let known = {
        let p = sb.0.passing.lock().unwrap_or_else(|e| e.into_inner());
        p.uploads.contains_key(id)
    };
    if !known {
        return Answer::text(404, "text/plain", "no such upload");
    }
    match sb
        .0
        .store
        .put_sandbox_record(&format!("f/{id}"), body)
        .await
    {
        Ok(()) => Answer::text(200, "text/plain", format!("OK - {}", body.len())),
        Err(e) => {
            store_error(e);
            Answer::text(503, "text/plain", "the file could not be kept")
        }
    }
}

async fn complete_upload(sb: &Sandbox, a: &Value) -> Value {
    let files = a["files"].as_array().cloned().unwrap_or_default();
    let Some(channel) = a["channel_id"].as_str() else {
        return json!({"ok": false, "error": "channel_not_found"});
    };
    let mut done = vec![];
    for f in &files {
        let Some(id) = f["id"].as_str() else { continue };
        let name = {
            let mut p = sb.0.passing.lock().unwrap_or_else(|e| e.into_inner());
            p.uploads.remove(id)
        };
        let Some(name) = name else {
            return json!({"ok": false, "error": "file_not_found"});
        };
        let bytes = match sb.0.store.sandbox_records().await {
            Ok(all) => all
                .into_iter()
                .find(|(k, _)| k == &format!("f/{id}"))
                .map(|(_, v)| v)
                .unwrap_or_default(),
            Err(e) => return store_error(e),
        };
        let title = f["title"].as_str().unwrap_or(&name).to_string();
        let file = File {
            id: id.to_string(),
            name,
            title: title.clone(),
            size: bytes.len(),
            png: bytes.starts_with(b"\x89PNG"),
        };
        let now = sb.0.clock.now().timestamp();
        let mut ws = sb.0.ws.lock().await;
        if !ws.channels.contains_key(channel) {
            return json!({"ok": false, "error": "channel_not_found"});
        }
        let mut m = ws.draft(channel, BOT_USER, now);
        m.text = title.clone();
        m.file = Some(file);
        if let Err(e) = ws.save_message(&sb.0.store, m.clone()).await {
            return store_error(e);
        }
        drop(ws);
        sb.publish(json!({"kind": "message", "message": m}));
        done.push(json!({"id": id, "title": title}));
    }
    json!({"ok": true, "files": done})
}

/// A reply through a click's or command's `response_url`
/// (`respond/<channel>/<user>/<ts>`): in place of the message clicked on,
/// or a private message to the person.
async fn respond(sb: &Sandbox, rest: &str, a: &Value) -> Value {
    let mut parts = rest.splitn(3, '/');
    let (Some(channel), Some(user), Some(ts)) = (parts.next(), parts.next(), parts.next()) else {
        return json!({"ok": false, "error": "invalid_response_url"});
    };
    let text = a["text"].as_str().unwrap_or("").to_string();
    let now = sb.0.clock.now().timestamp();
    let mut ws = sb.0.ws.lock().await;
    let replace = a["replace_original"] == true || a["replace_original"] == "true";
    let m = match ws.message(channel, ts).cloned() {
        Some(mut m) if replace => {
            m.text = text;
            m.blocks = a["blocks"].clone();
            m.edited = true;
            m
        }
        _ => {
            if !ws.channels.contains_key(channel) {
                return json!({"ok": false, "error": "channel_not_found"});
            }
            let mut m = ws.draft(channel, BOT_USER, now);
            m.text = text;
            m.blocks = a["blocks"].clone();
            m.only_for = Some(user.to_string());
            m
        }
    };
    if let Err(e) = ws.save_message(&sb.0.store, m.clone()).await {
        return store_error(e);
    }
    drop(ws);
    sb.publish(json!({"kind": "message", "message": m}));
    json!({"ok": true})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_read_from_json_forms_and_queries() {
        assert_eq!(args(br#"{"channel":"C1"}"#, None)["channel"], "C1");
        let a = args(b"", Some("channel=C1&limit=5&users=%5B%22U1%22%5D"));
        assert_eq!(a["channel"], "C1");
        assert_eq!(a["limit"], "5");
        assert_eq!(list_arg(&a["users"]), ["U1"]);
        assert_eq!(list_arg(&json!("U1, U2")), ["U1", "U2"]);
        assert!(args(b"not a form \xff", None)["channel"].is_null());
    }

    proptest::proptest! {
        #[test]
        fn any_body_or_query_reads_as_an_object(body: Vec<u8>, query: String) {
            let a = args(&body, Some(&query));
            proptest::prop_assert!(a.is_object());
            let _ = list_arg(&a["users"]);
            let _ = channel_arg(&a["channel"]);
        }
    }

    #[test]
    fn a_person_as_channel_is_their_dm() {
        assert_eq!(channel_arg(&json!("U0BOB")).unwrap(), "D0BOB");
        assert_eq!(channel_arg(&json!("C0X")).unwrap(), "C0X");
    }
}
