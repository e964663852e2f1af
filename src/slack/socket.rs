//! Socket Mode: with `SLACK_APP_TOKEN` set, tocsin opens a WebSocket to Slack
//! (`apps.connections.open`) and receives events, slash commands and
//! interactions over it instead of over HTTP, so it needs no public address.
//!
//! Each envelope goes through the same handlers as the HTTP endpoints; the
//! handler's reply becomes the envelope's acknowledgement (the command's
//! reply, a modal's field errors). Slack authenticates the socket with the app
//! token, so there is no request signature to check. The connection is
//! reopened after a `disconnect` notice, a close or an error, with backoff.

use super::inbound::{self, Reply};
use crate::ops::Core;
use crate::settings::Secret;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use slack_morphism::prelude::*;
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

const BACKOFF_START: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(30);

/// Keeps a Socket Mode connection open until shutdown.
pub async fn run(
    core: Core,
    api_url: String,
    app_token: Secret,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut wait = BACKOFF_START;
    loop {
        let session = tokio::select! {
            r = session(&core, &api_url, &app_token) => r,
            _ = shutdown.changed() => return,
        };
        match session {
            // Slack asked us to reconnect (it rotates connections): at once.
            Ok(()) => wait = BACKOFF_START,
            Err(e) => {
                tracing::warn!(error = %e, ?wait, "Socket Mode connection lost; reconnecting");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                wait = (wait * 2).min(BACKOFF_CAP);
            }
        }
    }
}

/// The WebSocket address Slack hands out for one connection.
async fn connection_url(api_url: &str, app_token: &Secret) -> Result<String, String> {
    let https = super::api::https_or_http().map_err(|e| e.to_string())?;
    let connector = SlackClientHyperConnector::with_connector(https).with_slack_api_url(api_url);
    let client = SlackClient::new(connector);
    let token = SlackApiToken::new(app_token.expose().to_string().into());
    client
        .open_session(&token)
        .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
        .await
        .map(|r| r.url.0.to_string())
        .map_err(|e| format!("apps.connections.open: {e}"))
}

/// One connection: `Ok` when Slack asks for a new one, `Err` when it broke.
async fn session(core: &Core, api_url: &str, app_token: &Secret) -> Result<(), String> {
    let url = connection_url(api_url, app_token).await?;
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    tracing::info!("Socket Mode connected");
    while let Some(msg) = ws.next().await {
        let text = match msg.map_err(|e| e.to_string())? {
            Message::Text(t) => t,
            Message::Close(_) => return Err("Slack closed the connection".into()),
            // Pings are answered by the library as we read.
            _ => continue,
        };
        let envelope: Value = match serde_json::from_str(text.as_str()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "Socket Mode sent something that is not JSON; ignored");
                continue;
            }
        };
        match envelope["type"].as_str() {
            Some("hello") => tracing::debug!("Socket Mode hello"),
            Some("disconnect") => {
                tracing::info!(reason = ?envelope["reason"].as_str(), "Slack asked to reconnect");
                return Ok(());
            }
            Some(kind) => {
                let Some(id) = envelope["envelope_id"].as_str() else {
                    continue;
                };
                let reply = handle(core, kind, &envelope["payload"]).await;
                if reply.status != 200 {
                    tracing::warn!(kind, status = reply.status, body = ?reply.body, "Socket Mode envelope refused");
                }
                let mut ack = json!({ "envelope_id": id });
                if let (200, Some(body)) = (reply.status, reply.body) {
                    ack["payload"] = body;
                }
                ws.send(Message::Text(ack.to_string().into()))
                    .await
                    .map_err(|e| format!("acknowledging: {e}"))?;
            }
            None => {}
        }
    }
    Err("the connection ended".into())
}

/// Hands one envelope's payload to the handler its HTTP twin would use.
async fn handle(core: &Core, kind: &str, payload: &Value) -> Reply {
    match kind {
        "events_api" => inbound::events(core, payload.to_string().as_bytes()).await,
        "interactive" => {
            let form =
                serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap_or_default();
            inbound::interaction(core, form.as_bytes()).await
        }
        "slash_commands" => {
            // The same fields as the HTTP form, as a JSON object.
            let fields: Vec<(String, String)> = payload
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect();
            let form = serde_urlencoded::to_string(fields).unwrap_or_default();
            inbound::command(core, form.as_bytes()).await
        }
        other => {
            tracing::debug!(
                kind = other,
                "Socket Mode envelope of a kind tocsin does not use"
            );
            Reply {
                status: 200,
                body: None,
            }
        }
    }
}
