//! The sandbox: an offline stand-in for the parts of Slack tocsin uses,
//! served at `/sandbox` on tocsin's own listener, for trying tocsin without
//! a Slack workspace.
//!
//! It is Slack seen from the other side, not a second code path: the real
//! Slack receiver's Web API base points at `/sandbox/api` (with a token
//! random per process), so the outbox, pacing, folding and storm digests run
//! unchanged; `api` answers those Web API methods and keeps what they post
//! in the store (`workspace`). What a person does in the page (`act`: a
//! button, a slash command, a modal, a reaction) becomes the request Slack
//! would send, signed with a signing secret random per process, and goes to
//! tocsin's own `/slack/*` endpoints over loopback. `live` streams changes
//! to the page (Server-Sent Events); the page (`page.html`, `page.css`,
//! `page.js`, compiled in) renders the Block Kit itself.

mod act;
mod api;
mod live;
mod workspace;

pub use live::Live;

use crate::clock::Clock;
use crate::config::Config;
use crate::settings::Secret;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};
use workspace::Workspace;

/// The sandbox workspace's ids, as Slack would name them.
const TEAM_ID: &str = "T0SANDBOX";
const APP_ID: &str = "A0SANDBOX";
const BOT_USER: &str = "U0TOCSIN";
const BOT_ID: &str = "B0TOCSIN";

/// An answer to one request under `/sandbox`.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Bytes,
}

impl Answer {
    fn json(status: u16, v: &Value) -> Answer {
        Answer {
            status,
            content_type: "application/json",
            body: Bytes::from(v.to_string()),
        }
    }
    fn text(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
        Answer {
            status,
            content_type,
            body: body.into(),
        }
    }
}

/// The running sandbox; a cheap handle.
#[derive(Clone)]
pub struct Sandbox(Arc<Inner>);

struct Inner {
    /// The Web API token tocsin's Slack receiver is given.
    token: Secret,
    /// Signs what the page does, as Slack signs its requests.
    secret: Secret,
    /// `http://host:port` of tocsin's listener, as the loopback reaches it.
    base: String,
    store: Store,
    config: Arc<Config>,
    clock: Clock,
    ws: tokio::sync::Mutex<Workspace>,
    /// What is open for a moment only: modals and the triggers that may open them.
    passing: Mutex<Passing>,
    live: broadcast::Sender<String>,
    shutdown: watch::Receiver<bool>,
}

#[derive(Default)]
struct Passing {
    /// trigger id → the person whose command or click gave it.
    triggers: HashMap<String, String>,
    /// view id → (whose, the view as tocsin sent it).
    views: HashMap<String, (String, Value)>,
    /// file id → its name, between asking for an upload URL and completing it.
    uploads: HashMap<String, String>,
    next: u64,
}

fn random_secret(prefix: &str) -> Secret {
    let bytes: [u8; 24] = rand::thread_rng().gen();
    Secret::new(format!("{prefix}{}", hex::encode(bytes)))
}

impl Sandbox {
    /// Loads the workspace from the store (adding the config's channels and
    /// DMs) for a tocsin listening on `addr`.
    pub async fn open(
        store: Store,
        config: Arc<Config>,
        clock: Clock,
        addr: SocketAddr,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Sandbox, StoreError> {
        let ws = Workspace::load(&store, &config, clock.now().timestamp()).await?;
        let host = if addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        Ok(Sandbox(Arc::new(Inner {
            token: random_secret("xoxb-sandbox-"),
            secret: random_secret(""),
            base: format!("http://{host}"),
            store,
            config,
            clock,
            ws: tokio::sync::Mutex::new(ws),
            passing: Mutex::default(),
            live: broadcast::channel(256).0,
            shutdown,
        })))
    }

    /// The Web API base the Slack receiver uses instead of Slack's.
    pub fn api_url(&self) -> String {
        format!("{}/sandbox/api", self.0.base)
    }

    pub fn token(&self) -> Secret {
        self.0.token.clone()
    }

    /// The signing secret tocsin's Slack endpoints check instead of Slack's.
    pub fn signing_secret(&self) -> Secret {
        self.0.secret.clone()
    }

    /// Where a person opens the page.
    pub fn page_url(&self) -> String {
        format!("{}/sandbox", self.0.base)
    }

    /// Changes streamed to a page until tocsin shuts down.
    pub fn live(&self) -> Live {
        Live::new(self.0.live.subscribe(), self.0.shutdown.clone())
    }

    /// Answers a request under `/sandbox` (but `/sandbox/live`).
    pub async fn answer(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &(dyn Fn(&str) -> Option<String> + Sync),
        body: Bytes,
    ) -> Answer {
        let rest = path.trim_start_matches("/sandbox");
        match (method, rest) {
            ("GET", "" | "/") => {
                Answer::text(200, "text/html; charset=utf-8", include_str!("page.html"))
            }
            ("GET", "/page.css") => {
                Answer::text(200, "text/css; charset=utf-8", include_str!("page.css"))
            }
            ("GET", "/page.js") => Answer::text(
                200,
                "text/javascript; charset=utf-8",
                include_str!("page.js"),
            ),
            ("GET", "/state") => Answer::json(200, &self.state().await),
            ("GET", p) if p.starts_with("/files/") => self.file(&p["/files/".len()..]).await,
            (_, p) if p.starts_with("/api/") => {
                api::call(self, &p["/api/".len()..], query, headers, &body).await
            }
            ("POST", p) if p.starts_with("/act/") => {
                // A JSON body makes another site's page ask first (CORS), and
                // nothing here answers that: only this page can act.
                let json =
                    headers("content-type").is_some_and(|t| t.starts_with("application/json"));
                if !json {
                    return Answer::json(
                        415,
                        &json!({"ok": false, "error": "send application/json"}),
                    );
                }
                act::act(self, &p["/act/".len()..], &body).await
            }
            _ => Answer::json(
                404,
                &json!({"ok": false, "error": format!("no sandbox page at {path}")}),
            ),
        }
    }

    /// Tells every open page about a change.
    fn publish(&self, event: Value) {
        let _ = self.0.live.send(event.to_string());
    }

    /// Everything a page shows: people, channels, messages, open modals,
    /// and what the test-alert form needs.
    async fn state(&self) -> Value {
        let ws = self.0.ws.lock().await;
        let users: Vec<Value> = self
            .0
            .config
            .users
            .iter()
            .filter_map(|u| {
                let slack = u.slack_id.as_ref()?;
                Some(json!({"id": slack, "name": u.name, "handle": u.id, "time_zone": u.time_zone.name()}))
            })
            .collect();
        let services: Vec<Value> = self
            .0
            .config
            .services
            .iter()
            .map(|s| json!({"id": s.id, "name": s.name, "key": s.integration_key}))
            .collect();
        let views: Vec<Value> = {
            let p = self.0.passing.lock().unwrap_or_else(|e| e.into_inner());
            p.views
                .iter()
                .map(|(id, (user, view))| json!({"id": id, "user": user, "view": view}))
                .collect()
        };
        json!({
            "team": TEAM_ID,
            "bot": BOT_USER,
            "base": self.0.base,
            "users": users,
            "services": services,
            "channels": ws.channels.values().collect::<Vec<_>>(),
            "messages": ws.messages,
            "views": views,
        })
    }

    async fn file(&self, id: &str) -> Answer {
        let found = match self.0.store.sandbox_records().await {
            Ok(all) => all.into_iter().find(|(k, _)| k == &format!("f/{id}")),
            Err(e) => {
                return Answer::json(503, &json!({"ok": false, "error": e.to_string()}));
            }
        };
        match found {
            Some((_, bytes)) if bytes.starts_with(b"\x89PNG") => {
                Answer::text(200, "image/png", bytes)
            }
            Some((_, bytes)) => Answer::text(200, "text/plain; charset=utf-8", bytes),
            None => Answer::json(404, &json!({"ok": false, "error": "file_not_found"})),
        }
    }
}
