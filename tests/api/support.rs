//! Test support: a fake Slack Web API on loopback, a signed-request client, and
//! helpers that start the real app (in-process or as the real binary).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tocsin::app::App;
use tocsin::clock::Clock;
use tocsin::settings::Settings;

pub const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const KEY: &str = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a";
/// The service with an escalation policy (alice at once, bob after 15 minutes, one repeat).
pub const PAGED_KEY: &str = "0123456789abcdef0123456789abcdef";
pub const CHANNEL: &str = "C0PLATFORM";
/// The workspace and app the fake Slack says the bot token belongs to, and
/// that the requests tests sign name.
pub const TEAM_ID: &str = "T0TEAM";
pub const APP_ID: &str = "A0APP";

pub const CONFIG: &str = r#"
[[users]]
id = "alice"
name = "Alice Example"
slack_id = "U0ALICE"
time_zone = "Europe/London"

[[users]]
id = "bob"
name = "Bob Example"
slack_id = "U0BOB"
time_zone = "America/New_York"

[[teams]]
id = "platform"
name = "Platform"
leads = ["alice"]
members = ["alice", "bob"]
alert_channel = "C0PLATFORM"

[[schedules]]
id = "platform-primary"
team = "platform"
time_zone = "Europe/London"
[[schedules.layers]]
name = "weekly"
start = "2026-11-02T09:00:00"
rotation = "weekly"
users = ["alice", "bob"]

[[escalation_policies]]
id = "platform-default"
repeat = 1
[[escalation_policies.levels]]
after_minutes = 0
targets = ["user:alice"]
[[escalation_policies.levels]]
after_minutes = 15
targets = ["user:bob"]

[[services]]
id = "api"
name = "Public API"
team = "platform"
integration_key = "5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a"

[[services]]
id = "payments"
name = "Payments"
team = "platform"
urgency = "low"
escalation_policy = "platform-default"
integration_key = "0123456789abcdef0123456789abcdef"
"#;

/// Event rules for the `api` service, in order: drop `[test]` alerts,
/// suppress `env = dev`, route `team = payments` to the payments service,
/// raise an outage with 100+ customers to critical and high urgency.
pub const API_RULES: &str = r#"
[[services.rules]]
when = [{ field = "summary", contains = "[test]" }]
action = "drop"

[[services.rules]]
when = [{ field = "custom_details.env", equals = "dev" }]
action = "suppress"

[[services.rules]]
when = [{ field = "custom_details.team", equals = "payments" }]
route = "payments"

[[services.rules]]
when = [{ field = "summary", matches = "(?i)outage" }, { field = "custom_details.customers", gte = 100 }]
severity = "critical"
urgency = "high"
"#;

/// The test configuration with `extra` (keys, then tables such as
/// `[[services.rules]]`) added to the `api` service.
pub fn with_api_settings(extra: &str) -> String {
    let line = "integration_key = \"5f0c1e9a7b3d4c2e8f6a0b1c2d3e4f5a\"\n";
    assert!(CONFIG.contains(line), "the api service ends with its key");
    CONFIG.replacen(line, &format!("{line}{extra}"), 1)
}

/// One call the fake Slack received.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    pub at: Instant,
}

/// How the fake answers the next calls, in order; afterwards it answers normally.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    RateLimited {
        retry_after_secs: u64,
    },
    ServerError,
    /// Does the work, then answers 500: the caller cannot tell it happened.
    LoseReply,
    /// Answers 200 with `ok: false` and this Slack error code.
    Refuse(&'static str),
    /// Does the work at once, then answers normally after this long.
    SlowReply(Duration),
}

#[derive(Default)]
struct FakeState {
    calls: Vec<Call>,
    faults: VecDeque<Fault>,
    down_until: Option<Instant>,
    /// (channel, ts, message as Slack would return it in history)
    messages: Vec<(String, String, Value)>,
    next_ts: u64,
    /// Off unless asked for: Slack's "1 message per second per channel" limit.
    channel_interval: Option<Duration>,
    last_post: HashMap<String, Instant>,
    rate_limited: usize,
    /// Channel names that exist (conversations.create answers `name_taken`).
    channel_names: Vec<String>,
    /// What apps.connections.open hands out (Socket Mode).
    socket_url: Option<String>,
    /// Faults for the next calls of one method only, optionally only those
    /// whose body contains some text.
    method_faults: Vec<(String, Option<String>, Fault)>,
    /// Until then every call, `auth.test` too, is answered `invalid_auth`.
    revoked_until: Option<Instant>,
    /// Methods whose calls are done, then answered `{"ok": true}` alone.
    bare: Vec<String>,
    /// Methods whose calls are answered with a body that is not JSON.
    garbled: Vec<String>,
    /// Calls other than `auth.test` refused while the token was revoked.
    refused_auth: usize,
}

/// A fake Slack Web API that answers in Slack's shapes.
#[derive(Clone)]
pub struct FakeSlack {
    pub addr: SocketAddr,
    state: Arc<Mutex<FakeState>>,
}

impl FakeSlack {
    pub async fn start() -> FakeSlack {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(FakeState {
            next_ts: 1,
            ..Default::default()
        }));
        let fake = FakeSlack { addr, state };
        let f = fake.clone();
        serve_on(listener, move |req| {
            let f = f.clone();
            async move { f.handle(req).await }
        });
        fake
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    pub fn response_url(&self, name: &str) -> String {
        format!("http://{}/respond/{name}", self.addr)
    }

    pub fn fail_next(&self, faults: &[Fault]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend(faults.iter().copied());
    }

    /// From now on, answers 429 (`Retry-After: 1`) to a `chat.postMessage`
    /// that comes less than `interval` after the last one accepted in the same
    /// channel, as Slack does.
    pub fn enforce_channel_rate(&self, interval: Duration) {
        self.state.lock().unwrap().channel_interval = Some(interval);
    }

    /// The next call of `method` (only) meets `fault`.
    pub fn fail_method(&self, method: &str, fault: Fault) {
        self.state
            .lock()
            .unwrap()
            .method_faults
            .push((method.to_string(), None, fault));
    }

    /// The next call of `method` whose body contains `text` meets `fault`.
    pub fn fail_when(&self, method: &str, text: &str, fault: Fault) {
        self.state.lock().unwrap().method_faults.push((
            method.to_string(),
            Some(text.to_string()),
            fault,
        ));
    }

    /// For `d`, every call is refused with `invalid_auth`, as Slack does
    /// while the bot token does not work (`auth.test` too).
    pub fn revoke_token_for(&self, d: Duration) {
        self.state.lock().unwrap().revoked_until = Some(Instant::now() + d);
    }

    /// From now on, `method` does its work and answers `{"ok": true}` without
    /// the fields the client library expects.
    pub fn answer_bare(&self, method: &str) {
        self.state.lock().unwrap().bare.push(method.to_string());
    }

    /// From now on, `method` is answered 200 with a body that is not JSON.
    pub fn answer_garbled(&self, method: &str) {
        self.state.lock().unwrap().garbled.push(method.to_string());
    }

    /// A message tocsin posted in an earlier run, with its metadata.
    pub fn add_posted(&self, channel: &str, text: &str, metadata: Value) {
        let mut s = self.state.lock().unwrap();
        let ts = format!("1700000000.{:06}", s.next_ts);
        s.next_ts += 1;
        let msg = json!({"type": "message", "ts": ts, "text": text, "bot_id": "B0BOT", "metadata": metadata});
        s.messages.push((channel.to_string(), ts, msg));
    }

    /// The WebSocket address apps.connections.open answers with.
    pub fn set_socket_url(&self, url: &str) {
        self.state.lock().unwrap().socket_url = Some(url.to_string());
    }

    /// Makes a channel name exist already, so creating it answers `name_taken`.
    pub fn take_channel_name(&self, name: &str) {
        self.state
            .lock()
            .unwrap()
            .channel_names
            .push(name.to_string());
    }

    /// A message a person wrote in `channel`, as history returns it.
    pub fn add_message(&self, channel: &str, ts: &str, text: &str) {
        let msg = json!({"type": "message", "ts": ts, "text": text, "user": "U0HUMAN"});
        self.state
            .lock()
            .unwrap()
            .messages
            .push((channel.to_string(), ts.to_string(), msg));
    }

    /// How many calls (other than `auth.test`) met a revoked token.
    pub fn refused_auth(&self) -> usize {
        self.state.lock().unwrap().refused_auth
    }

    /// How many posts `enforce_channel_rate` refused.
    pub fn rate_limited(&self) -> usize {
        self.state.lock().unwrap().rate_limited
    }

    /// Answers 503 to everything for `d`.
    pub fn go_down_for(&self, d: Duration) {
        self.state.lock().unwrap().down_until = Some(Instant::now() + d);
    }

    pub fn all_calls(&self) -> Vec<(String, Value)> {
        let s = self.state.lock().unwrap();
        s.calls
            .iter()
            .map(|c| (c.method.clone(), c.body.clone()))
            .collect()
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        let s = self.state.lock().unwrap();
        s.calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Waits until `method` has been called at least `n` times.
    pub async fn wait_for(&self, method: &str, n: usize, timeout: Duration) -> Vec<Call> {
        let end = Instant::now() + timeout;
        loop {
            let calls = self.calls(method);
            if calls.len() >= n || Instant::now() > end {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn handle(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let bytes = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let method = path
            .trim_start_matches("/api/")
            .trim_start_matches('/')
            .to_string();
        // A slow answer: the work is done (and seen) at once, the reply waits.
        let slow = {
            let mut s = self.state.lock().unwrap();
            let slow = |f: &Fault| matches!(f, Fault::SlowReply(_));
            let text = String::from_utf8_lossy(&bytes).into_owned();
            match s.method_faults.iter().position(|(m, t, _)| {
                *m == method && t.as_ref().is_none_or(|t| text.contains(t.as_str()))
            }) {
                Some(i) if slow(&s.method_faults[i].2) => Some(s.method_faults.remove(i).2),
                Some(_) => None,
                None if s.faults.front().is_some_and(slow) => s.faults.pop_front(),
                None => None,
            }
        };
        let reply = self.reply(&path, &method, &query, &bytes, slow.is_none());
        if let Some(Fault::SlowReply(d)) = slow {
            tokio::time::sleep(d).await;
        }
        reply
    }

    /// Answers one call; `faults`: whether a queued fault may meet it (a
    /// slow reply, taken by `handle`, is the call's one fault).
    fn reply(
        &self,
        path: &str,
        method: &str,
        query: &str,
        bytes: &Bytes,
        faults: bool,
    ) -> Response<Full<Bytes>> {
        let body: Value = serde_json::from_slice(bytes).unwrap_or_else(|_| {
            let form: Vec<(String, String)> = serde_urlencoded::from_bytes(if bytes.is_empty() {
                query.as_bytes()
            } else {
                bytes
            })
            .unwrap_or_default();
            Value::Object(
                form.into_iter()
                    .map(|(k, v)| (k, Value::String(v)))
                    .collect(),
            )
        });
        let method = method.to_string();
        // Files' bytes go to the URL files.getUploadURLExternal handed out.
        let body = if path.starts_with("/upload/") {
            json!({"file": path.trim_start_matches("/upload/"), "bytes": bytes.len(),
                   "png": bytes.starts_with(b"\x89PNG")})
        } else {
            body
        };
        let mut s = self.state.lock().unwrap();
        if s.down_until.is_some_and(|t| Instant::now() < t) {
            return respond(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"ok": false, "error": "service_unavailable"}),
                None,
            );
        }
        if s.revoked_until.is_some_and(|t| Instant::now() < t) {
            // Probes are recorded; other calls only counted.
            if method == "auth.test" {
                s.calls.push(Call {
                    method: method.clone(),
                    body: body.clone(),
                    at: Instant::now(),
                });
            } else {
                s.refused_auth += 1;
            }
            return respond(
                StatusCode::OK,
                json!({"ok": false, "error": "invalid_auth"}),
                None,
            );
        }
        if s.garbled.contains(&method) {
            s.calls.push(Call {
                method: method.clone(),
                body: body.clone(),
                at: Instant::now(),
            });
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from("<html>upstream error</html>")))
                .unwrap();
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        let targeted = s.method_faults.iter().position(|(m, t, _)| {
            *m == method && t.as_ref().is_none_or(|t| text.contains(t.as_str()))
        });
        // tocsin asks who it is once at start, whenever that happens to run:
        // faults scripted for "the next calls" are meant for the work after it.
        let lookup = matches!(method.as_str(), "auth.test" | "bots.info");
        let fault = match targeted {
            _ if !faults => None,
            Some(i) => Some(s.method_faults.remove(i).2),
            None if lookup => None,
            None => s.faults.pop_front(),
        };
        let lose_reply = matches!(fault, Some(Fault::LoseReply));
        if let Some(fault) = fault.filter(|_| !lose_reply) {
            return match fault {
                Fault::RateLimited { retry_after_secs } => respond(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"ok": false, "error": "ratelimited"}),
                    Some(retry_after_secs),
                ),
                Fault::Refuse(code) => {
                    respond(StatusCode::OK, json!({"ok": false, "error": code}), None)
                }
                // A slow reply was taken out (and waited for) by `handle`.
                Fault::ServerError | Fault::LoseReply | Fault::SlowReply(_) => respond(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"ok": false}),
                    None,
                ),
            };
        }
        if path.starts_with("/gone/") {
            return respond(StatusCode::NOT_FOUND, json!({"ok": false}), None);
        }
        if let Some(interval) = s.channel_interval.filter(|_| method == "chat.postMessage") {
            let channel = body["channel"].as_str().unwrap_or("").to_string();
            let now = Instant::now();
            if s.last_post
                .get(&channel)
                .is_some_and(|t| now - *t < interval)
            {
                s.rate_limited += 1;
                return respond(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"ok": false, "error": "ratelimited"}),
                    Some(1),
                );
            }
            s.last_post.insert(channel, now);
        }
        s.calls.push(Call {
            method: method.clone(),
            body: body.clone(),
            at: Instant::now(),
        });
        let reply = match method.as_str() {
            "chat.postMessage" => {
                let channel = body["channel"].as_str().unwrap_or("").to_string();
                // A message to a person lands in the bot's DM with them.
                let channel = if channel.starts_with('U') {
                    format!("D{channel}")
                } else {
                    channel
                };
                let ts = format!("1700000000.{:06}", s.next_ts);
                s.next_ts += 1;
                let mut msg = json!({"type": "message", "ts": ts, "text": body["text"], "blocks": body["blocks"]});
                if !body["metadata"].is_null() {
                    msg["metadata"] = body["metadata"].clone();
                }
                s.messages.push((channel.clone(), ts.clone(), msg.clone()));
                json!({"ok": true, "channel": channel, "ts": ts, "message": msg})
            }
            "conversations.open" => {
                let users = &body["users"];
                let user = users
                    .as_str()
                    .or_else(|| users[0].as_str())
                    .unwrap_or("")
                    .to_string();
                json!({"ok": true, "channel": {"id": format!("D{user}")}})
            }
            "chat.update" => json!({
                "ok": true, "channel": body["channel"], "ts": body["ts"], "text": body["text"],
                "message": {"type": "message", "text": body["text"], "blocks": body["blocks"], "edited": {"user": "U0BOT", "ts": body["ts"]}}
            }),
            "files.getUploadURLExternal" => {
                let id = format!("F{:04}", s.next_ts);
                s.next_ts += 1;
                json!({"ok": true, "file_id": id, "upload_url": format!("http://{}/upload/{id}", self.addr)})
            }
            m if m.starts_with("upload/") => {
                return Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from(format!("OK - {}", body["bytes"]))))
                    .unwrap();
            }
            "files.completeUploadExternal" => {
                json!({"ok": true, "files": body["files"]})
            }
            "conversations.history" => {
                let channel = body["channel"].as_str().unwrap_or("");
                // `latest` + `inclusive`: the messages up to and including that ts.
                let latest = body["latest"].as_str().map(str::to_string);
                let msgs: Vec<Value> = s
                    .messages
                    .iter()
                    .filter(|(c, ts, _)| {
                        c == channel && latest.as_ref().is_none_or(|l| ts.as_str() <= l.as_str())
                    })
                    .rev()
                    .map(|(_, _, m)| m.clone())
                    .collect();
                // Newest first, `limit` a page (Slack's default 100), then a cursor.
                let number = |v: &Value| v.as_u64().or_else(|| v.as_str()?.parse().ok());
                let limit = number(&body["limit"]).unwrap_or(100).clamp(1, 999) as usize;
                let from = number(&body["cursor"]).unwrap_or(0) as usize;
                let page: Vec<Value> = msgs.iter().skip(from).take(limit).cloned().collect();
                let more = from + limit < msgs.len();
                let next = if more {
                    (from + limit).to_string()
                } else {
                    String::new()
                };
                json!({"ok": true, "messages": page, "has_more": more,
                       "response_metadata": {"next_cursor": next}})
            }
            "conversations.create" => {
                let name = body["name"].as_str().unwrap_or("").to_string();
                if s.channel_names.contains(&name) {
                    json!({"ok": false, "error": "name_taken"})
                } else {
                    s.channel_names.push(name.clone());
                    let id = format!("C0ROOM{}", s.channel_names.len());
                    json!({"ok": true, "channel": {"id": id, "name": name, "created": 1700000000, "is_channel": true}})
                }
            }
            "conversations.list" => {
                let channels: Vec<Value> = s
                    .channel_names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| json!({"id": format!("C0ROOM{}", i + 1), "name": n, "created": 1700000000}))
                    .collect();
                json!({"ok": true, "channels": channels, "response_metadata": {"next_cursor": ""}})
            }
            "conversations.invite" => {
                json!({"ok": true, "channel": {"id": body["channel"], "created": 1700000000}})
            }
            "pins.add" | "conversations.archive" => json!({"ok": true}),
            "auth.test" => json!({
                "ok": true, "url": "https://x.slack.com/", "team": "X", "user": "tocsin",
                "team_id": TEAM_ID, "user_id": "U0BOT", "bot_id": "B0BOT"
            }),
            "bots.info" => json!({
                "ok": true,
                "bot": {"id": body["bot"], "deleted": false, "name": "tocsin", "updated": 1700000000,
                        "app_id": APP_ID, "user_id": "U0BOT",
                        "icons": {"image_36": "https://a.slack-edge.com/36.png"}}
            }),
            // Slack's people, by email: dave@example.com is in the workspace.
            "users.lookupByEmail" => match body["email"].as_str() {
                Some("dave@example.com") => json!({
                    "ok": true,
                    "user": {"id": "U0DAVE", "team_id": TEAM_ID, "name": "dave", "deleted": false,
                             "real_name": "Dave Example", "tz": "America/New_York",
                             "tz_label": "Eastern Standard Time", "tz_offset": -18000,
                             "profile": {"email": "dave@example.com", "real_name": "Dave Example",
                                         "display_name": "dave", "team": TEAM_ID},
                             "is_admin": false, "is_owner": false, "is_bot": false,
                             "is_app_user": false, "updated": 1700000000}
                }),
                _ => json!({"ok": false, "error": "users_not_found"}),
            },
            "apps.connections.open" => match &s.socket_url {
                Some(url) => json!({"ok": true, "url": url}),
                None => json!({"ok": false, "error": "not_allowed_token_type"}),
            },
            // views.publish answers like views.open: the view as stored, with its ids.
            "views.open" | "views.publish" => {
                let mut view = body["view"].clone();
                view["id"] = json!("V0VIEW");
                view["team_id"] = json!("T0TEAM");
                view["hash"] = json!("1.abc");
                view["state"] = json!({"values": {}});
                json!({"ok": true, "view": view})
            }
            m if path.starts_with("/respond/") => json!({"ok": true, "path": m}),
            _ => json!({"ok": false, "error": "unknown_method"}),
        };
        if lose_reply {
            return respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"ok": false}),
                None,
            );
        }
        if s.bare.contains(&method) && reply["ok"] == true {
            return respond(StatusCode::OK, json!({"ok": true}), None);
        }
        respond(StatusCode::OK, reply, None)
    }
}

fn respond(status: StatusCode, body: Value, retry_after: Option<u64>) -> Response<Full<Bytes>> {
    let mut b = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(s) = retry_after {
        b = b.header("retry-after", s.to_string());
    }
    b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

/// The environment a test app runs with.
pub fn env_for(fake: Option<&FakeSlack>, data: &Path, config: &Path) -> Vec<(String, String)> {
    let mut v = vec![
        ("TOCSIN_LISTEN".into(), "127.0.0.1:0".into()),
        ("TOCSIN_DATA".into(), data.display().to_string()),
        ("TOCSIN_CONFIG".into(), config.display().to_string()),
        ("SLACK_SIGNING_SECRET".into(), SECRET.into()),
        ("TOCSIN_SLACK_CHANNEL_INTERVAL_MS".into(), "0".into()),
        ("TOCSIN_CACHE_MB".into(), "16".into()),
        // Tests run wherever there is room; the disk tests set their own floor.
        ("TOCSIN_MIN_FREE_MB".into(), "0".into()),
    ];
    if let Some(f) = fake {
        v.push(("SLACK_BOT_TOKEN".into(), "xoxb-test-token".into()));
        v.push(("SLACK_API_URL".into(), f.api_url()));
    }
    v
}

/// A running in-process app with its own data directory.
pub struct TestApp {
    pub app: Option<App>,
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn start(fake: Option<&FakeSlack>) -> TestApp {
        Self::start_with(fake, &[]).await
    }

    pub async fn start_with(fake: Option<&FakeSlack>, extra: &[(&str, &str)]) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, fake, extra).await
    }

    /// Starts an app whose clock stands still at `clock`'s time until advanced.
    pub async fn start_at(
        dir: tempfile::TempDir,
        fake: Option<&FakeSlack>,
        clock: Clock,
    ) -> TestApp {
        Self::start_full(dir, fake, &[], clock, CONFIG).await
    }

    /// Like `start_at`, with a different configuration file.
    pub async fn start_at_with_config(
        dir: tempfile::TempDir,
        fake: Option<&FakeSlack>,
        clock: Clock,
        config: &str,
    ) -> TestApp {
        Self::start_full(dir, fake, &[], clock, config).await
    }

    /// Starts an app on an existing data directory (a restart).
    pub async fn start_in(
        dir: tempfile::TempDir,
        fake: Option<&FakeSlack>,
        extra: &[(&str, &str)],
    ) -> TestApp {
        Self::start_full(dir, fake, extra, Clock::system(), CONFIG).await
    }

    /// Starts an app with every knob: environment additions, clock and config.
    pub async fn start_full(
        dir: tempfile::TempDir,
        fake: Option<&FakeSlack>,
        extra: &[(&str, &str)],
        clock: Clock,
        config_text: &str,
    ) -> TestApp {
        let config = dir.path().join("tocsin.toml");
        std::fs::write(&config, config_text).unwrap();
        let mut env = env_for(fake, &dir.path().join("data"), &config);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let settings = Settings::from_lookup(|k| {
            env.iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        let app = App::build(settings, clock).await.unwrap();
        let base = format!("http://{}", app.addr());
        TestApp {
            app: Some(app),
            base,
            dir,
        }
    }

    pub fn app(&self) -> &App {
        self.app.as_ref().unwrap()
    }

    /// Shuts down gracefully and hands back the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Err(e) = self.app.take().unwrap().shutdown().await {
            panic!("the final flush failed: {e}");
        }
        self.dir
    }

    pub async fn enqueue(&self, body: &Value) -> (u16, Value) {
        post(
            &format!("{}/v2/enqueue", self.base),
            &[("content-type", "application/json")],
            body.to_string().into_bytes(),
        )
        .await
    }

    pub async fn trigger(&self, dedup_key: &str, summary: &str) -> (u16, Value) {
        self.enqueue(&trigger_body(dedup_key, summary)).await
    }

    /// Posts `body` to a Slack endpoint, signed as Slack signs it now.
    pub async fn slack(&self, path: &str, body: &str) -> (u16, Value) {
        let ts = self.app().core().clock.now().timestamp().to_string();
        self.slack_signed(
            path,
            body,
            &ts,
            &tocsin::slack::verify::sign(SECRET, &ts, body.as_bytes()),
        )
        .await
    }

    pub async fn slack_signed(&self, path: &str, body: &str, ts: &str, sig: &str) -> (u16, Value) {
        post(
            &format!("{}{path}", self.base),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("x-slack-request-timestamp", ts),
                ("x-slack-signature", sig),
            ],
            body.as_bytes().to_vec(),
        )
        .await
    }

    pub async fn command(&self, text: &str, user: &str, response_url: &str) -> (u16, Value) {
        self.slash("/incident", text, user, response_url).await
    }

    pub async fn slash(
        &self,
        command: &str,
        text: &str,
        user: &str,
        response_url: &str,
    ) -> (u16, Value) {
        self.slash_in(CHANNEL, command, text, user, response_url)
            .await
    }

    /// A slash command run in `channel`.
    pub async fn slash_in(
        &self,
        channel: &str,
        command: &str,
        text: &str,
        user: &str,
        response_url: &str,
    ) -> (u16, Value) {
        let trigger = next_trigger_id();
        let body = serde_urlencoded::to_string([
            ("token", "deprecated"),
            ("team_id", "T0TEAM"),
            ("team_domain", "example"),
            ("channel_id", channel),
            ("channel_name", "platform"),
            ("user_id", user),
            ("user_name", "someone"),
            ("command", command),
            ("text", text),
            ("api_app_id", "A0APP"),
            ("is_enterprise_install", "false"),
            ("response_url", response_url),
            ("trigger_id", trigger.as_str()),
        ])
        .unwrap();
        self.slack("/slack/commands", &body).await
    }

    /// Clicks a button on an incident message, as Slack reports it.
    pub async fn click(
        &self,
        action_id: &str,
        incident: u64,
        user: &str,
        response_url: &str,
    ) -> (u16, Value) {
        let payload = click_payload(action_id, incident, user, response_url);
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.slack("/slack/interactions", &body).await
    }
}

/// A new trigger id, as Slack gives every command and click its own: no two
/// requests tests send are the same (tocsin refuses a replayed request).
pub fn next_trigger_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("1.2.3.{n}")
}

/// A `block_actions` payload: `user` pressed `action_id` on incident `incident`'s message.
pub fn click_payload(action_id: &str, incident: u64, user: &str, response_url: &str) -> Value {
    let trigger = next_trigger_id();
    json!({
        "type": "block_actions",
        "team": {"id": "T0TEAM", "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP",
        "token": "deprecated",
        "container": {"type": "message", "message_ts": "1700000000.000001", "channel_id": CHANNEL, "is_ephemeral": false},
        "trigger_id": trigger,
        "channel": {"id": CHANNEL, "name": "platform"},
        "response_url": response_url,
        "actions": [{
            "type": "button",
            "action_id": action_id,
            "block_id": format!("incident:{incident}"),
            "text": {"type": "plain_text", "text": "Acknowledge"},
            "value": incident.to_string(),
            "action_ts": "1700000001.000001"
        }]
    })
}

pub fn trigger_body(dedup_key: &str, summary: &str) -> Value {
    json!({
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": summary, "source": "web-1", "severity": "critical"},
        "links": [{"href": "https://grafana.example.com/d/1", "text": "Dashboard"}]
    })
}

/// Posts one Events v2 trigger for `dedup_key`, titled `"{what} {dedup_key}"`;
/// the status code.
pub async fn enqueue(base: &str, what: &str, dedup_key: &str) -> u16 {
    let body = trigger_body(dedup_key, &format!("{what} {dedup_key}"));
    post(
        &format!("{base}/v2/enqueue"),
        &[("content-type", "application/json")],
        body.to_string().into_bytes(),
    )
    .await
    .0
}

pub fn action_body(dedup_key: &str, action: &str) -> Value {
    json!({"routing_key": KEY, "event_action": action, "dedup_key": dedup_key})
}

/// One HTTP POST; returns the status and the body as JSON (or `null`).
pub async fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// One HTTP GET with an optional `Authorization` header: status, content type, body.
pub async fn get_with(url: &str, auth: Option<&str>) -> (u16, String, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::get(url);
    if let Some(a) = auth {
        req = req.header("authorization", a);
    }
    let resp = client
        .request(req.body(Full::default()).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let kind = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, kind, String::from_utf8_lossy(&body).into_owned())
}

pub async fn get(url: &str) -> (u16, Value) {
    let (status, text) = get_text(url).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn get_text(url: &str) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The visible labels of the buttons in a Block Kit message body.
pub fn button_labels(body: &Value) -> Vec<String> {
    body["blocks"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter(|b| b["type"] == "actions")
                .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
                .filter_map(|e| e["text"]["text"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `cond` for up to 5 s; fails the test if it never holds.
/// [`wait_until`] for a condition that reads the store.
pub async fn wait_until_async<F, Fut>(cond: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = Instant::now() + Duration::from_secs(5);
    while !cond().await {
        assert!(Instant::now() < end, "condition not reached within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn wait_until(cond: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(Instant::now() < end, "condition not reached within 5 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Answers every HTTP/1.1 connection on `listener` with `handler`, in the background.
pub fn serve_on<H, F>(listener: tokio::net::TcpListener, handler: H)
where
    H: Fn(Request<hyper::body::Incoming>) -> F + Clone + Send + Sync + 'static,
    F: std::future::Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let handler = handler.clone();
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = handler(req);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

/// Debian's Alertmanager, found on `PATH`.
pub const ALERTMANAGER: &str = "prometheus-alertmanager";

/// Whether Alertmanager is installed here.
pub fn alertmanager_installed() -> bool {
    std::process::Command::new(ALERTMANAGER)
        .arg("--version")
        .output()
        .is_ok()
}

/// A real Alertmanager on loopback with its state in a temporary
/// directory and no clustering; killed when dropped.
pub struct Alertmanager {
    child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts it with `config` (YAML) and waits until it says it is ready.
    pub async fn start(config: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        // Alertmanager wants a port number; borrow a free one from the kernel.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = dir.path().join("alertmanager.yml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let child = std::process::Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", file.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let am = Alertmanager {
            child,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            // Not listening yet is normal for the first moments.
            let listening = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok();
            if listening && get_text(&format!("{}/-/ready", am.url)).await.0 == 200 {
                return am;
            }
            assert!(Instant::now() < end, "Alertmanager did not become ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The runtime the benchmarks run in: two worker threads, as the machines
/// they are measured on have two cores.
#[allow(dead_code)] // the benches' only, which include this file
pub fn bench_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
